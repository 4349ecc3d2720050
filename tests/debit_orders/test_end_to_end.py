"""End to end: a support agent adds a debit order in the console, the customer signs in the
NetCash sandbox, the mandate turns active, the debit-order run on the right day collects the
customer's open invoice, and the statement confirms it (issue 5, "Done when")."""

from datetime import date, time
from decimal import Decimal

from sqlalchemy import select

from app import clock
from app.billing.ledger import check_books
from app.extensions import db
from app.models import CustomerInvoice, CustomerPaymentMethod, DebitOrderItem, PaymentTransaction
from jobs.payments import debit_order_run, netcash_statement_run


def at(day: date, hour: int):
    return clock.frozen_at(clock.business_datetime(day, time(hour, 0)))


def test_console_debit_order_to_confirmed_collection(
    client, auth, sandboxes, make_customer, make_service, invoice_due
):
    with at(date(2026, 11, 20), 10):
        customer = make_customer(first_name="Naledi", phone="072 123 4567")
        service = make_service(customer, billing_date=1, next_billing_date=None)
        auth.login("support")
        added = client.post(
            f"/admin/debit_order_methods/customer/{customer.id}/add",
            data={
                "bank_name": "Standard Bank",
                "account_number": "0012345678",
                "account_type": "current",
                "holder_name": "Naledi Nkosi",
                "debit_day": "1",
                "holiday_option": "next",
                "make_primary": "y",
                "auto_pay": "y",
                "reason": "Customer chose debit order at sign-up",
            },
        )
        assert added.status_code == 302
        method = db.session.scalars(select(CustomerPaymentMethod)).one()
        assert method.mandate_status == "pending_signature" and method.mandate_url

        # The customer opens the link and signs; NetCash posts the result back.
        assert sandboxes.netcash.sign_mandate(method.mandate_url) == 200
        db.session.expire_all()
        assert db.session.get(CustomerPaymentMethod, method.id).mandate_status == "active"

    invoice = invoice_due(service, period_start=date(2026, 12, 1), invoice_date=date(2026, 11, 24))
    for day, job, hour in [
        (date(2026, 11, 26), debit_order_run, 6),  # batch for 1 December
        (date(2026, 12, 1), debit_order_run, 6),  # collected (provisional)
        (date(2026, 12, 2), netcash_statement_run, 9),  # confirmed
    ]:
        with at(day, hour):
            job(day.isoformat(), "scheduled")

    db.session.expire_all()
    [upload] = sandboxes.netcash.uploaded_batches
    [line] = upload["lines"]
    assert (line["account_reference"], line["amount_cents"]) == (customer.account_number, 79900)
    invoice = db.session.get(CustomerInvoice, invoice.id)
    assert invoice.status == "paid"
    item = db.session.scalars(select(DebitOrderItem)).one()
    assert item.status == "confirmed"
    payment = db.session.get(PaymentTransaction, item.payment_transaction_id)
    assert (payment.status, payment.amount, payment.method) == (
        "completed",
        Decimal("799.00"),
        "debit_order",
    )
    assert check_books() == []
