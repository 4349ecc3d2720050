"""The operator's Phase-1 database tests (seed-spec-digest §6.1), those whose subject exists.

Numbered as in the operator's list. Not here, on purpose:
- #5-#7 (orders backfill, orphans, validation report) come with the backfill issue (§5.11).
- #11, #12, #17 (row-level security for customers and admins) are application rules in this
  design, not database policies: every portal/API query is scoped by the logged-in customer
  and a foreign id answers 404 (DESIGN §8); the console and API access tests cover them.
- The seed's `auth_user_id` (#3) has no counterpart: staff and customers are separate
  principals with their own tables, so only `consumer_orders.customer_id` is a foreign key.
"""

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app import clock
from app.accounts import create_customer, update_customer
from app.audit import snapshot
from app.billing.numbering import number_invoices
from app.errors import InvalidInput
from app.extensions import db
from app.models import (
    ConsumerOrder,
    CronExecutionLog,
    Customer,
    CustomerService,
    ServiceActionLog,
    UsageHistory,
)
from tests.db import rows
from tests.db.concurrency import create_customers_concurrently
from tests.db.rows import refused

TODAY = date(2026, 11, 25)


def add(row):
    db.session.add(row)
    db.session.flush()
    return row


# 1.1 Customers and account numbers


def test_1_account_number_format_is_ct_year_five_digits(app):
    with clock.frozen_at(TODAY):
        numbers = [rows.customer().account_number for _ in range(3)]

    assert all(re.fullmatch(r"CT-2026-\d{5}", number) for number in numbers)
    assert numbers == ["CT-2026-00001", "CT-2026-00002", "CT-2026-00003"]


def test_2_concurrent_creations_never_share_an_account_number(concurrent_app):
    numbers = create_customers_concurrently(concurrent_app, 10)

    assert len(set(numbers)) == 10
    stored = db.session.scalars(select(Customer.account_number))
    assert sorted(stored) == sorted(numbers)


def test_3_consumer_orders_may_only_name_an_existing_customer(any_db):
    customer = rows.customer()

    def order(number, customer_id):
        return add(
            ConsumerOrder(order_number=number, email="x@example.co.za", customer_id=customer_id)
        )

    assert order("ORD-1", customer.id).customer is customer
    assert order("ORD-2", None).customer is None  # not yet matched: the backfill's work
    with refused("fk_consumer_orders_customer_id_customers", "FOREIGN KEY constraint failed"):
        order("ORD-3", 999_999)


def test_4_account_number_is_assigned_on_creation_and_never_regenerated(any_db):
    with pytest.raises(InvalidInput, match="account_number"):
        create_customer(
            actor=rows.ACTOR,
            reason="import",
            first_name="Given",
            last_name="Number",
            email="given@example.co.za",
            account_number="CT-2020-00001",
        )
    with clock.frozen_at(TODAY):
        customer = rows.customer()
    assigned = customer.account_number

    with clock.frozen_at(date(2027, 2, 1)):
        update_customer(customer, actor=rows.ACTOR, reason="new surname", last_name="Dlamini")
        db.session.commit()
    db.session.expire_all()

    assert db.session.get(Customer, customer.id).account_number == assigned == "CT-2026-00001"
    with pytest.raises(IntegrityError, match="account_number"), db.session.begin_nested():
        add(Customer(first_name="No", last_name="Number", email="none@example.co.za"))


# 1.3 Services


def test_8_service_status_takes_pending_active_suspended_cancelled_only(any_db):
    service = rows.service(rows.customer(), status="pending")
    for status in ("active", "suspended", "active", "cancelled"):
        service.status = status
        db.session.flush()
    db.session.expire_all()
    assert db.session.get(CustomerService, service.id).status == "cancelled"

    for status in ("terminated", "activated", "Active", ""):
        with refused("ck_customer_services_status"):
            service.status = status


def test_9_billing_date_takes_1_5_25_or_30_only(any_db):
    owner = rows.customer()
    assert [rows.service(owner, billing_date=d).billing_date for d in (1, 5, 25, 30)] == [
        1,
        5,
        25,
        30,
    ]
    with refused("ck_customer_services_billing_date"):
        rows.service(owner, billing_date=15)  # the seed's order workflow used 15


def test_10_services_belong_to_an_existing_customer_and_load_with_it(any_db):
    owner, other = rows.customer(), rows.customer()
    fibre = rows.service(owner, package_name="Fibre 100/50")
    lte = rows.service(owner, package_name="LTE 50GB", service_type="lte")
    rows.service(other)
    rows.invoice(owner, fibre)
    db.session.commit()
    db.session.expire_all()

    loaded = db.session.get(Customer, owner.id)
    assert [s.package_name for s in loaded.services] == ["Fibre 100/50", "LTE 50GB"]
    assert db.session.get(CustomerService, lte.id).customer is loaded

    with refused("fk_customer_services_customer_id_customers", "FOREIGN KEY constraint failed"):
        db.session.get(CustomerService, lte.id).customer_id = 999_999
    # Customers are never deleted: their invoices (RESTRICT) and append-only audit rows
    # (which an ON DELETE SET NULL would have to update) refuse it.
    refusal = pytest.raises(DBAPIError, match="append-only|FOREIGN KEY|fk_customer_invoices")
    with refusal, db.session.begin_nested():
        db.session.execute(text("DELETE FROM customers WHERE id = :id"), {"id": owner.id})
    assert db.session.get(Customer, owner.id).services == [fibre, lte]


# 1.4 Invoices and payments


def test_13_invoice_numbers_are_inv_year_serial_in_sequence(any_db):
    with clock.frozen_at(TODAY):
        owner = rows.customer()
        invoices = [rows.invoice(owner) for _ in range(3)]
        number_invoices(invoices)

    numbers = [invoice.invoice_number for invoice in invoices]
    assert all(re.fullmatch(r"INV-\d{4}-\d{5}", number) for number in numbers)
    assert numbers == ["INV-2026-00001", "INV-2026-00002", "INV-2026-00003"]


def test_14_amount_due_is_computed_and_cannot_be_written(any_db):
    invoice = rows.invoice(rows.customer(), total_amount=Decimal("899.00"))
    invoice.amount_paid, invoice.amount_credited = Decimal("500.00"), Decimal("100.00")
    db.session.flush()
    db.session.refresh(invoice)
    assert invoice.amount_due == Decimal("299.00")

    with pytest.raises(DBAPIError, match="amount_due"), db.session.begin_nested():
        db.session.execute(
            text("UPDATE customer_invoices SET amount_due = 0 WHERE id = :id"), {"id": invoice.id}
        )
    db.session.refresh(invoice)
    assert invoice.amount_due == Decimal("299.00")


def test_15_payment_methods_keep_a_display_name_and_never_leak_details(any_db):
    method = rows.payment_method(
        rows.customer(),
        display_name="Debit Order - FNB ***4321",
        last_four="4321",
        encrypted_details="gAAAAABsecret-fernet-token",
    )
    db.session.commit()
    db.session.expire_all()

    stored = db.session.get(type(method), method.id)
    assert (stored.display_name, stored.last_four) == ("Debit Order - FNB ***4321", "4321")
    assert str(stored) == "Debit Order - FNB ***4321"
    audited = snapshot(stored)
    assert "encrypted_details" not in audited
    assert "gAAAAABsecret" not in repr(audited)
    assert audited["last_four"] == "4321"


def test_16_transaction_ids_are_unique(any_db):
    owner = rows.customer()
    rows.payment(owner, transaction_id="NC-TRACE-0001")

    with refused("uq_payment_transactions_transaction_id", "payment_transactions.transaction_id"):
        rows.payment(owner, transaction_id="NC-TRACE-0001", amount=Decimal("1.00"))


# 1.5 Usage, service actions, job runs


def test_18_usage_is_unique_per_service_and_date(any_db):
    service = rows.service(rows.customer())

    def day(on):
        return add(UsageHistory(service_id=service.id, customer_id=service.customer_id, date=on))

    day(date(2026, 11, 1))
    day(date(2026, 11, 2))
    with refused("uq_usage_history_service_date", "usage_history.service_id, usage_history.date"):
        day(date(2026, 11, 1))


def test_19_service_actions_need_a_reason_and_keep_both_snapshots(any_db):
    service = rows.service(rows.customer(), status="pending")
    before = snapshot(service)
    service.status = "active"
    db.session.flush()

    def log(reason, action_type="activate"):
        return add(
            ServiceActionLog(
                service_id=service.id,
                customer_id=service.customer_id,
                actor="support@isp-console.co.za",
                action_type=action_type,
                reason=reason,
                previous_status="pending",
                new_status="active",
                previous_data=before,
                new_data=snapshot(service),
            )
        )

    entry = log("Installation completed by Vumatel")
    db.session.commit()
    db.session.expire_all()

    stored = db.session.get(ServiceActionLog, entry.id)
    assert (stored.previous_status, stored.new_status) == ("pending", "active")
    assert stored.previous_data["status"] == "pending"
    assert stored.new_data["status"] == "active"
    assert stored.new_data["monthly_price"] == "799.00"
    for blank in ("", "   "):
        with refused("ck_service_action_log_reason_required"):
            log(blank)
    with pytest.raises(IntegrityError, match="reason"), db.session.begin_nested():
        log(None)
    with refused("ck_service_action_log_action_type"):
        log("Seed spelling", action_type="activated")


def test_20_job_runs_record_a_known_status_and_non_negative_counts(any_db):
    def run(**values):
        defaults = {"job_name": "generate_invoices", "execution_start": rows.utc(2026, 11, 25)}
        return add(CronExecutionLog(**(defaults | values)))

    for status in ("running", "completed", "partial", "failed"):
        assert run(status=status, records_processed=3).status == status
    with refused("ck_cron_execution_log_status"):
        run(status="success")  # what the seed's own sample code wrote
    for count in ("records_processed", "records_failed", "records_skipped"):
        with refused("ck_cron_execution_log_counts_non_negative"):
            run(status="completed", **{count: -1})
    with refused("ck_cron_execution_log_trigger_source"):
        run(trigger_source="vercel_cron")

    stored = db.session.scalars(select(CronExecutionLog.status).order_by(CronExecutionLog.id))
    assert list(stored) == ["running", "completed", "partial", "failed"]
