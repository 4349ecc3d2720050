"""Console fixtures: one row of every model the console shows, and page helpers."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app import clock
from app.audit import record_audit, snapshot
from app.billing.numbering import number_credit_notes, number_invoices
from app.extensions import db
from app.models import (
    Allocation,
    ConsumerOrder,
    CreditNote,
    CronExecutionLog,
    CustomerInvoice,
    CustomerPaymentMethod,
    CustomerService,
    DebitOrderBatch,
    DebitOrderItem,
    DunningAction,
    LedgerEntry,
    NetcashPostback,
    NetcashStatementLine,
    Notification,
    PaymentRequest,
    PaymentTransaction,
    ProviderTask,
    ServiceActionLog,
    ServiceSuspension,
    Setting,
    UsageHistory,
    ValidationError,
)
from tests.billing.conftest import make_service  # noqa: F401  (services ready to bill)

# What a Fernet token looks like; no page or export may ever contain it.
CIPHERTEXT = "gAAAAABmSECRETciphertextOfBankAccount62012345678"
CSRF_META = re.compile(rb'<meta name="csrf-token" content="([^"]+)"')


def money(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


@pytest.fixture
def console_rows(make_customer, system_actor):
    """A customer with a service, an invoice, a credit note, a payment, a masked payment
    method, usage, logs and every other kind of row the console lists; returns their ids."""
    customer = make_customer(first_name="Lerato", last_name="Dlamini", phone="082 555 0199")
    today = clock.today()
    service = CustomerService(
        customer_id=customer.id,
        service_type="fibre",
        package_name="Fibre 100/50",
        speed_download="100Mbps",
        speed_upload="50Mbps",
        data_cap="Unlimited",
        installation_address="12 Jacaranda Street",
        installation_city="Pretoria",
        connection_id="IS-0001",
        monthly_price=money("899.00"),
        installation_fee=money("0.00"),
        router_fee=money("0.00"),
        billing_date=1,
        next_billing_date=today.replace(day=1) + timedelta(days=32),
        status="active",
        activation_date=today - timedelta(days=40),
        provider_name="Openserve",
    )
    db.session.add(service)
    db.session.flush()
    invoice = CustomerInvoice(
        customer_id=customer.id,
        service_id=service.id,
        invoice_date=today,
        due_date=today + timedelta(days=7),
        period_start=today,
        period_end=today + timedelta(days=30),
        subtotal=money("781.74"),
        vat_rate=money("15.00"),
        vat_amount=money("117.26"),
        total_amount=money("899.00"),
        amount_paid=money("500.00"),
        amount_credited=money("100.00"),
        line_items=[{"description": "Fibre 100/50", "quantity": 1, "amount": "899.00"}],
        invoice_type="recurring",
        status="partial",
    )
    db.session.add(invoice)
    db.session.flush()
    number_invoices([invoice])
    credit_note = CreditNote(
        customer_id=customer.id,
        invoice_id=invoice.id,
        credit_note_date=today,
        subtotal=money("86.96"),
        vat_rate=money("15.00"),
        vat_amount=money("13.04"),
        total_amount=money("100.00"),
        reason="Outage credit",
        actor="pytest",
    )
    db.session.add(credit_note)
    db.session.flush()
    number_credit_notes([credit_note])
    method = CustomerPaymentMethod(
        customer_id=customer.id,
        method_type="debit_order",
        display_name="Debit Order - FNB ***5678",
        last_four="5678",
        bank_name="FNB",
        encrypted_details=CIPHERTEXT,
        mandate_reference="MANDATE-0001",
        mandate_status="active",
        debit_day=1,
        is_primary=True,
        is_active=True,
    )
    db.session.add(method)
    db.session.flush()
    payment = PaymentTransaction(
        transaction_id="PAY-0001",
        customer_id=customer.id,
        invoice_id=invoice.id,
        payment_method_id=method.id,
        method="debit_order",
        amount=money("500.00"),
        status="completed",
        payment_date=today,
        actor="pytest",
    )
    db.session.add(payment)
    db.session.flush()
    batch = DebitOrderBatch(
        action_date=today,
        status="authorised",
        item_count=1,
        total_amount=money("399.00"),
        file="H\tbank account 62012345678\n",
    )
    db.session.add(batch)
    db.session.flush()
    db.session.add_all(
        [
            Allocation(
                source="payment",
                payment_id=payment.id,
                invoice_id=invoice.id,
                amount=payment.amount,
            ),
            Allocation(
                source="credit_note",
                credit_note_id=credit_note.id,
                invoice_id=invoice.id,
                amount=credit_note.total_amount,
            ),
            LedgerEntry(
                customer_id=customer.id,
                entry_type="invoice",
                amount=money("899.00"),
                entry_date=today,
                description=f"Invoice {invoice.invoice_number}",
                invoice_id=invoice.id,
                actor="pytest",
            ),
            LedgerEntry(
                customer_id=customer.id,
                entry_type="payment",
                amount=money("-500.00"),
                entry_date=today,
                description="Debit order",
                payment_id=payment.id,
                actor="pytest",
            ),
            DebitOrderItem(
                batch_id=batch.id,
                invoice_id=invoice.id,
                customer_id=customer.id,
                payment_method_id=method.id,
                amount=money("399.00"),
                action_date=today,
                attempt_number=1,
                status="submitted",
            ),
            PaymentRequest(
                customer_id=customer.id,
                invoice_id=invoice.id,
                amount_requested=money("299.00"),
                reference="PN-0001",
                secret="pay-now-shared-secret-value",
                status="pending",
            ),
            NetcashStatementLine(
                transaction_id="100000042",
                statement_date=today,
                transaction_date=today,
                code="DRU",
                description="Unpaid Code 02 Not provided for",
                amount=money("399.00"),
                sign="-",
                extra1="DOI-1",
                unpaid_code="02",
                outcome="returned",
                customer_id=customer.id,
            ),
            NetcashPostback(
                kind="paynow",
                outcome="refused",
                message="The secret does not match request PN-0001.",
                reference="PN-0001",
                customer_id=customer.id,
                payload={"Reference": "PN-0001", "Extra2": "(hidden)"},
            ),
            UsageHistory(
                service_id=service.id,
                customer_id=customer.id,
                date=today - timedelta(days=1),
                upload_mb=money("1024.50"),
                download_mb=money("20480.25"),
                source="interstellio",
            ),
            ServiceSuspension(
                service_id=service.id,
                customer_id=customer.id,
                suspension_type="technical",
                reason="Line fault",
                suspended_at=clock.now() - timedelta(days=20),
                reactivated_at=clock.now() - timedelta(days=19),
            ),
            ServiceActionLog(
                service_id=service.id,
                customer_id=customer.id,
                actor="support@staff.isp-console.co.za",
                action_type="activate",
                reason="Installation completed",
                previous_status="pending",
                new_status="active",
            ),
            DunningAction(
                invoice_id=invoice.id,
                customer_id=customer.id,
                rule="payment_reminder",
                attempt=1,
                acted_on=today,
                outcome="sent",
            ),
            Notification(
                customer_id=customer.id,
                channel="sms",
                template="invoice_generated",
                recipient=customer.phone,
                body=f"Your invoice {invoice.invoice_number} is ready.",
                status="sent",
            ),
            ProviderTask(
                provider="interstellio",
                action="enable_subscriber",
                service_id=service.id,
                customer_id=customer.id,
                status="done",
            ),
            CronExecutionLog(
                job_name="invoice_run",
                business_date=today,
                execution_start=clock.now(),
                execution_end=clock.now(),
                duration_seconds=1.5,
                status="completed",
                records_processed=1,
            ),
            ValidationError(
                table_name="consumer_orders",
                record_id="ORD-0002",
                error_type="orphaned_order",
                error_message="No customer with e-mail nobody@example.co.za",
            ),
            ConsumerOrder(
                order_number="ORD-0001",
                customer_id=customer.id,
                email=customer.email,
                first_name=customer.first_name,
                last_name=customer.last_name,
                package_name="Fibre 100/50",
                package_price=money("899.00"),
                status="completed",
                payment_date=today - timedelta(days=45),
            ),
            Setting(
                key="vat_rate", value="15", effective_from=date(2018, 4, 1), description="VAT %"
            ),
        ]
    )
    customer.billing.account_balance = money("299.00")
    db.session.flush()
    record_audit(
        actor=system_actor,
        entity=service,
        action="update",
        reason="Router swapped",
        before={**snapshot(service), "router_model": "Old router"},
        after={**snapshot(service), "router_model": "New router"},
        customer_id=customer.id,
    )
    db.session.commit()
    return {
        "customer": customer.id,
        "service": service.id,
        "invoice": invoice.id,
        "invoice_number": invoice.invoice_number,
        "credit_note": credit_note.id,
        "payment_method": method.id,
        "payment": payment.id,
        "setting": db.session.scalar(db.select(Setting.id)),
    }


@pytest.fixture
def csrf_token_of():
    """The token of a page's `<meta name="csrf-token">` tag."""

    def _token(response) -> str:
        match = CSRF_META.search(response.data)
        assert match, "page has no csrf-token meta tag"
        return match.group(1).decode()

    return _token
