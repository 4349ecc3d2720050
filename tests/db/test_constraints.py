"""The database itself refuses rows that break the data rules of DESIGN §4, on PostgreSQL and
on SQLite, and names the constraint it enforced (SQLite reports unique and foreign-key
violations by column instead of by name)."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.extensions import db
from app.models import (
    Allocation,
    AuditLog,
    Customer,
    CustomerService,
    DebitOrderBatch,
    DebitOrderItem,
    DunningAction,
    LedgerEntry,
    ServiceActionLog,
    ServiceSuspension,
    StaffUser,
    UsageAlert,
    UsageHistory,
    ValidationError,
)
from app.models.billing import INVOICE_STATUSES
from app.models.payments import MANDATE_STATUSES, PAYMENT_STATUSES
from app.models.services import SERVICE_STATUSES
from tests.db import rows
from tests.db.rows import refused

NOV, DEC, JAN = date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)


@pytest.fixture
def owner(any_db):
    customer = rows.customer()
    db.session.commit()
    return customer


@pytest.fixture
def fibre(owner):
    service = rows.service(owner)
    db.session.commit()
    return service


def add(row):
    db.session.add(row)
    db.session.flush()
    return row


# Services and billing profiles


def test_services_bill_only_on_the_1st_5th_25th_or_30th(owner):
    for day in (1, 5, 25, 30):
        assert rows.service(owner, billing_date=day).billing_date == day
    for day in (0, 15, 28, 31):
        with refused("ck_customer_services_billing_date"):
            rows.service(owner, billing_date=day)


def test_a_preferred_billing_date_outside_1_5_25_30_is_refused(owner):
    for day in (1, 5, 25, 30):
        owner.billing.preferred_billing_date = day
        db.session.flush()
    for day in (15, 31):
        with refused("ck_customer_billing_preferred_billing_date"):
            owner.billing.preferred_billing_date = day


def test_service_prices_and_fees_cannot_be_negative(owner):
    for column in ("monthly_price", "installation_fee", "router_fee"):
        assert getattr(rows.service(owner, **{column: Decimal("0.00")}), column) == 0
        with refused(f"ck_customer_services_{column}_non_negative"):
            rows.service(owner, **{column: Decimal("-0.01")})


def test_connection_ids_are_unique_but_may_be_missing(owner):
    rows.service(owner, connection_id="ISL-000123")
    rows.service(owner, connection_id=None)
    rows.service(owner, connection_id=None)

    with refused(
        "uq_customer_services_connection_id",
        "UNIQUE constraint failed: customer_services.connection_id",
    ):
        rows.service(owner, connection_id="ISL-000123")


def test_a_service_for_a_customer_that_does_not_exist_is_refused(any_db):
    with refused("fk_customer_services_customer_id_customers", "FOREIGN KEY constraint failed"):
        add(
            CustomerService(
                customer_id=999_999,
                service_type="lte",
                package_name="LTE 20GB",
                installation_address="1 Nowhere Road",
                monthly_price=Decimal("299.00"),
                billing_date=1,
            )
        )


# Status sets


def test_statuses_outside_the_documented_sets_are_refused(owner):
    cases = [  # (builder, column, documented values, a value outside them, constraint)
        (rows.service, "status", SERVICE_STATUSES, "paused", "ck_customer_services_status"),
        (rows.invoice, "status", INVOICE_STATUSES, "draft", "ck_customer_invoices_status"),
        (rows.payment, "status", PAYMENT_STATUSES, "success", "ck_payment_transactions_status"),
        (
            rows.payment_method,
            "mandate_status",
            MANDATE_STATUSES,
            "pending",
            "ck_customer_payment_methods_mandate_status",
        ),
    ]
    for build, column, allowed, refused_value, constraint in cases:
        for value in allowed:
            extra = {"is_primary": False} if build is rows.payment_method else {}
            assert getattr(build(owner, **{column: value}, **extra), column) == value
        with refused(constraint):
            build(owner, **{column: refused_value})


# Invoice amounts and dates

# A negative total cannot come alone: a part is negative too, and nothing paid exceeds it.
NEGATIVE_TOTAL = (
    "ck_customer_invoices_total_amount_non_negative",
    "ck_customer_invoices_subtotal_non_negative",
    "ck_customer_invoices_amount_paid_within_total",
    "ck_customer_invoices_settled_within_total",
)


def test_invoice_amounts_cannot_be_negative(owner):
    def amounts(subtotal, vat, total):
        return {
            "subtotal": Decimal(subtotal),
            "vat_amount": Decimal(vat),
            "total_amount": Decimal(total),
        }

    with refused("ck_customer_invoices_subtotal_non_negative"):
        rows.invoice(owner, **amounts("-1.00", "101.00", "100.00"))
    with refused("ck_customer_invoices_vat_amount_non_negative"):
        rows.invoice(owner, **amounts("101.00", "-1.00", "100.00"))
    with refused(NEGATIVE_TOTAL):
        rows.invoice(owner, **amounts("-1.00", "0.00", "-1.00"))
    with refused("ck_customer_invoices_amount_paid_non_negative"):
        rows.invoice(owner, amount_paid=Decimal("-0.01"))
    with refused("ck_customer_invoices_amount_credited_non_negative"):
        rows.invoice(owner, amount_credited=Decimal("-0.01"))


def test_an_invoice_cannot_be_paid_beyond_its_total(owner):
    invoice = rows.invoice(owner, total_amount=Decimal("799.00"))
    invoice.amount_paid = Decimal("799.00")
    db.session.flush()

    # Overpaying breaks both rules; each database reports the one it checks first.
    with refused(
        (
            "ck_customer_invoices_amount_paid_within_total",
            "ck_customer_invoices_settled_within_total",
        )
    ):
        invoice.amount_paid = Decimal("799.01")


def test_payments_and_credits_together_cannot_exceed_the_total(owner):
    invoice = rows.invoice(owner, total_amount=Decimal("799.00"))
    invoice.amount_paid, invoice.amount_credited = Decimal("700.00"), Decimal("99.00")
    db.session.flush()

    with refused("ck_customer_invoices_settled_within_total"):
        invoice.amount_credited = Decimal("99.01")


def test_subtotal_plus_vat_must_equal_the_total(owner):
    with refused("ck_customer_invoices_total_is_subtotal_plus_vat"):
        rows.invoice(owner, total_amount=Decimal("799.00"), vat_amount=Decimal("104.21"))


def test_an_invoice_cannot_fall_due_before_its_date(owner):
    rows.invoice(owner, invoice_date=NOV, due_date=NOV)

    with refused("ck_customer_invoices_due_after_invoice_date"):
        rows.invoice(owner, invoice_date=NOV, due_date=date(2026, 10, 31))


def test_amount_due_is_computed_as_total_less_paid_less_credited(owner):
    invoice = rows.invoice(owner, total_amount=Decimal("799.00"))
    db.session.refresh(invoice)
    assert invoice.amount_due == Decimal("799.00")

    invoice.amount_paid, invoice.amount_credited = Decimal("400.10"), Decimal("0.20")
    db.session.flush()
    db.session.refresh(invoice)

    assert invoice.amount_due == Decimal("398.70")


# Unique document numbers and references


def test_account_numbers_are_unique(owner):
    with refused("uq_customers_account_number", "customers.account_number"):
        add(
            Customer(
                first_name="Copy",
                last_name="Cat",
                email="copy@example.co.za",
                account_number=owner.account_number,
            )
        )


def test_invoice_numbers_are_unique(owner):
    rows.invoice(owner, invoice_number="INV-2026-00001")
    rows.invoice(owner, invoice_number=None)
    rows.invoice(owner, invoice_number=None)  # unnumbered rows of a run in progress

    with refused("uq_customer_invoices_invoice_number", "customer_invoices.invoice_number"):
        rows.invoice(owner, invoice_number="INV-2026-00001")


def test_credit_note_numbers_are_unique(owner):
    invoice = rows.invoice(owner)
    rows.credit_note(invoice, credit_note_number="CN-2026-00001")

    with refused("uq_credit_notes_credit_note_number", "credit_notes.credit_note_number"):
        rows.credit_note(invoice, credit_note_number="CN-2026-00001")


def test_transaction_ids_are_unique(owner):
    rows.payment(owner, transaction_id="NETCASH-123456")

    with refused("uq_payment_transactions_transaction_id", "payment_transactions.transaction_id"):
        rows.payment(owner, transaction_id="NETCASH-123456")


def test_email_addresses_are_unique_regardless_of_case(any_db):
    def customer(email, account_number):
        names = {"first_name": "Thandi", "last_name": "Nkosi"}
        return Customer(email=email, account_number=account_number, **names)

    def staff(email):
        return StaffUser(email=email, name="Staff", password_hash="x", role="viewer")

    add(customer("Thandi.Nkosi@Example.co.za", "CT-2026-00001"))
    add(staff("Thandi.Nkosi@Example.co.za"))  # staff and customers are separate principals

    constraint = "uq_customers_email_lower"
    with refused(constraint, f"index '{constraint}'"):
        add(customer("thandi.nkosi@example.CO.ZA", "CT-2026-00002"))
    constraint = "uq_staff_users_email_lower"
    with refused(constraint, f"index '{constraint}'"):
        add(staff("THANDI.NKOSI@example.co.za"))


# Usage


def usage(service, day=NOV, **overrides) -> UsageHistory:
    values = {"service_id": service.id, "customer_id": service.customer_id, "date": day}
    return add(UsageHistory(**(values | overrides)))


def test_usage_is_recorded_once_per_service_and_day(fibre, owner):
    usage(fibre, NOV)
    usage(fibre, date(2026, 11, 2))
    usage(rows.service(owner), NOV)

    with refused("uq_usage_history_service_date", "usage_history.service_id, usage_history.date"):
        usage(fibre, NOV)


def test_usage_total_is_computed_as_upload_plus_download(fibre):
    day = usage(fibre, upload_mb=Decimal("1024.25"), download_mb=Decimal("20480.75"))
    db.session.refresh(day)
    assert day.total_mb == Decimal("21505.00")

    day.download_mb = Decimal("0.10")
    db.session.flush()
    db.session.refresh(day)
    assert day.total_mb == Decimal("1024.35")


def test_a_usage_alert_is_raised_once_per_service_cycle_and_threshold(fibre):
    def alert(threshold, cycle_start=NOV):
        return add(
            UsageAlert(
                service_id=fibre.id,
                customer_id=fibre.customer_id,
                cycle_start=cycle_start,
                threshold=threshold,
                used_mb=Decimal("409600.00"),
                cap_mb=Decimal("512000.00"),
            )
        )

    alert(80)
    alert(95)
    alert(80, cycle_start=DEC)

    with refused(
        "uq_usage_alerts_service_cycle_threshold",
        "usage_alerts.service_id, usage_alerts.cycle_start, usage_alerts.threshold",
    ):
        alert(80)


# No two live period invoices on one service day


def period_invoice(owner, service, start, end, **overrides):
    return rows.invoice(owner, service, period_start=start, period_end=end, **overrides)


LIVE_PERIOD = "customer_invoices_live_service"  # the unique index or the exclusion guard
OVERLAP = "ex_customer_invoices_live_service_days"


def test_two_live_invoices_for_one_service_period_are_refused(owner, fibre):
    period_invoice(owner, fibre, NOV, DEC)

    with refused(LIVE_PERIOD):
        period_invoice(owner, fibre, NOV, DEC, invoice_type="pro_rata")


def test_overlapping_live_invoices_for_one_service_are_refused(owner, fibre):
    period_invoice(owner, fibre, NOV, DEC)

    with refused(OVERLAP):
        period_invoice(owner, fibre, date(2026, 11, 15), date(2026, 12, 15))
    with refused(OVERLAP):
        period_invoice(owner, fibre, date(2026, 11, 15), DEC, invoice_type="pro_rata")
    with refused(OVERLAP):
        period_invoice(owner, fibre, date(2026, 10, 1), date(2026, 11, 2))


def test_adjacent_periods_and_other_services_may_be_invoiced(owner, fibre):
    period_invoice(owner, fibre, NOV, DEC)
    period_invoice(owner, fibre, DEC, JAN)
    period_invoice(owner, fibre, date(2026, 10, 25), NOV, invoice_type="pro_rata")
    period_invoice(owner, rows.service(owner), NOV, DEC)


def test_cancelled_and_installation_invoices_do_not_block_a_period(owner, fibre):
    period_invoice(owner, fibre, NOV, DEC, status="cancelled")
    period_invoice(owner, fibre, NOV, DEC, invoice_type="installation")
    period_invoice(owner, fibre, NOV, DEC)
    period_invoice(owner, fibre, date(2026, 11, 15), DEC, status="cancelled")


def test_an_update_cannot_move_a_live_invoice_onto_a_covered_day(owner, fibre):
    period_invoice(owner, fibre, NOV, DEC)
    december = period_invoice(owner, fibre, DEC, JAN)
    cancelled = period_invoice(owner, fibre, NOV, DEC, status="cancelled")

    with refused(OVERLAP):
        december.period_start = date(2026, 11, 30)
    with refused(LIVE_PERIOD):
        cancelled.status = "unpaid"


def test_a_credited_tail_may_be_invoiced_again_but_no_day_still_covered(owner, fibre):
    november = period_invoice(owner, fibre, NOV, DEC)
    november.covered_until = date(2026, 11, 16)  # credit note for 16-30 November
    db.session.flush()

    period_invoice(owner, fibre, date(2026, 11, 16), DEC, invoice_type="pro_rata")
    with refused(OVERLAP):
        period_invoice(owner, fibre, date(2026, 11, 15), date(2026, 11, 16))


def test_coverage_ends_inside_the_invoice_period(owner, fibre):
    november = period_invoice(owner, fibre, NOV, DEC)

    for outside in (NOV, date(2026, 12, 2)):
        with refused("ck_customer_invoices_covered_within_period"):
            november.covered_until = outside


def test_an_open_ended_live_period_covers_every_later_day(owner, fibre):
    period_invoice(owner, fibre, NOV, None)

    with refused(OVERLAP):
        period_invoice(owner, fibre, date(2027, 5, 1), date(2027, 6, 1))
    period_invoice(owner, fibre, date(2026, 10, 1), NOV)


# Payment methods and debit orders


def test_a_customer_has_at_most_one_active_primary_payment_method(owner):
    first = rows.payment_method(owner, is_primary=True)
    rows.payment_method(owner, is_primary=False)
    rows.payment_method(rows.customer(), is_primary=True)  # another customer's primary

    with refused(
        "uq_customer_payment_methods_one_primary",
        "customer_payment_methods.customer_id",
    ):
        rows.payment_method(owner, is_primary=True)

    first.is_primary, first.is_active = False, False  # soft-deleted former primary
    db.session.flush()
    rows.payment_method(owner, is_primary=True)


def test_a_primary_payment_method_must_be_active(owner):
    with refused("ck_customer_payment_methods_primary_is_active"):
        rows.payment_method(owner, is_primary=True, is_active=False)


def test_an_invoice_has_at_most_one_live_debit_order_item(owner):
    invoice = rows.invoice(owner)
    method = rows.payment_method(owner)
    batch = add(DebitOrderBatch(action_date=date(2026, 11, 4)))

    def item(attempt, status="pending"):
        return add(
            DebitOrderItem(
                batch_id=batch.id,
                invoice_id=invoice.id,
                customer_id=owner.id,
                payment_method_id=method.id,
                amount=invoice.total_amount,
                action_date=batch.action_date,
                attempt_number=attempt,
                status=status,
            )
        )

    first = item(1)
    with refused("uq_debit_order_items_live_invoice", "debit_order_items.invoice_id"):
        item(2)

    first.status = "returned"
    db.session.flush()
    item(2)
    with refused(
        "uq_debit_order_items_invoice_attempt",
        "debit_order_items.invoice_id, debit_order_items.attempt_number",
    ):
        item(2, status="failed")


def test_a_dunning_rule_acts_once_per_invoice_and_attempt(owner):
    invoice = rows.invoice(owner)

    def action(rule, attempt):
        return add(
            DunningAction(
                invoice_id=invoice.id,
                customer_id=owner.id,
                rule=rule,
                attempt=attempt,
                acted_on=date(2026, 11, 10),
            )
        )

    action("payment_reminder", 1)
    action("payment_reminder", 2)
    action("overdue_notice", 1)

    with refused(
        "uq_dunning_actions_invoice_rule_attempt",
        "dunning_actions.invoice_id, dunning_actions.rule, dunning_actions.attempt",
    ):
        action("payment_reminder", 1)


# Allocations and the ledger


def test_an_allocation_references_exactly_the_source_it_names(owner):
    invoice = rows.invoice(owner)
    payment = rows.payment(owner)
    note = rows.credit_note(invoice)

    def allocation(source, payment_id=None, credit_note_id=None):
        return add(
            Allocation(
                source=source,
                payment_id=payment_id,
                credit_note_id=credit_note_id,
                invoice_id=invoice.id,
                amount=Decimal("10.00"),
            )
        )

    allocation("payment", payment_id=payment.id)
    allocation("credit_note", credit_note_id=note.id)
    for source, payment_id, credit_note_id in [
        ("payment", None, note.id),
        ("credit_note", payment.id, None),
        ("payment", payment.id, note.id),
        ("payment", None, None),
    ]:
        with refused("ck_allocations_source_matches_reference"):
            allocation(source, payment_id, credit_note_id)


def test_a_ledger_entry_sign_matches_its_type(owner):
    def entry(entry_type, amount):
        return add(
            LedgerEntry(
                customer_id=owner.id,
                entry_type=entry_type,
                amount=Decimal(amount),
                entry_date=NOV,
                description=entry_type,
                actor="pytest",
            )
        )

    allowed = [
        ("invoice", "799.00"),
        ("payment", "-500.00"),
        ("credit_note", "-10.00"),
        ("refund", "50.00"),
        ("reversal", "50.00"),
        ("adjustment", "-5.00"),
        ("adjustment", "5.00"),
    ]
    for entry_type, amount in allowed:
        assert entry(entry_type, amount).id is not None
    wrong_sign = [
        ("invoice", "-799.00"),
        ("payment", "500.00"),
        ("credit_note", "10.00"),
        ("refund", "-50.00"),
        ("reversal", "-50.00"),
        ("adjustment", "0.00"),
    ]
    for entry_type, amount in wrong_sign:
        with refused("ck_ledger_entries_amount_sign_matches_type"):
            entry(entry_type, amount)


def test_each_document_reaches_the_ledger_once(owner):
    invoice = rows.invoice(owner)
    payment = rows.payment(owner)

    def entry(entry_type, amount, **document):
        return add(
            LedgerEntry(
                customer_id=owner.id,
                entry_type=entry_type,
                amount=Decimal(amount),
                entry_date=NOV,
                description=entry_type,
                actor="pytest",
                **document,
            )
        )

    entry("invoice", "799.00", invoice_id=invoice.id)
    entry("payment", "-799.00", payment_id=payment.id, invoice_id=invoice.id)
    entry("reversal", "799.00", payment_id=payment.id)  # a returned debit order

    with refused("uq_ledger_entries_invoice", "ledger_entries.invoice_id"):
        entry("invoice", "799.00", invoice_id=invoice.id)
    with refused("uq_ledger_entries_payment", "ledger_entries.payment_id"):
        entry("payment", "-799.00", payment_id=payment.id)


# Data problems


def test_an_open_data_problem_is_recorded_once(any_db):
    def problem(resolved=False):
        return add(
            ValidationError(
                table_name="consumer_orders",
                record_id="42",
                error_type="orphaned_order",
                error_message="No customer with this e-mail",
                resolved=resolved,
            )
        )

    first = problem()
    with refused(
        "uq_validation_errors_open",
        "validation_errors.table_name, validation_errors.record_id, validation_errors.error_type",
    ):
        problem()

    first.resolved = True
    db.session.flush()
    problem()  # the same problem found again after it was resolved
    problem(resolved=True)


def test_a_service_has_at_most_one_open_suspension(owner, fibre):
    def suspension(reactivated_at=None):
        return add(
            ServiceSuspension(
                service_id=fibre.id,
                customer_id=owner.id,
                suspension_type="non_payment",
                reason="Invoice INV-2026-00001 overdue",
                suspended_at=rows.utc(2026, 11, 20),
                reactivated_at=reactivated_at,
            )
        )

    first = suspension()
    with refused("uq_service_suspensions_open", "service_suspensions.service_id"):
        suspension()

    first.reactivated_at = rows.utc(2026, 11, 22)
    db.session.flush()
    suspension()


# Append-only audit tables


def audit_rows(owner, service):
    audit = add(
        AuditLog(
            actor="pytest",
            entity_type="customers",
            entity_id=str(owner.id),
            customer_id=owner.id,
            action="update",
            reason="typo in surname",
        )
    )
    action = add(
        ServiceActionLog(
            service_id=service.id,
            customer_id=owner.id,
            actor="system",
            action_type="activate",
            reason="installation completed",
            previous_status="pending",
            new_status="active",
        )
    )
    db.session.commit()
    return {"audit_log": audit.id, "service_action_log": action.id}


def test_audit_tables_refuse_updates_and_deletes(owner, fibre):
    ids = audit_rows(owner, fibre)
    statements = (
        "UPDATE {table} SET reason = 'rewritten' WHERE id = :id",
        "DELETE FROM {table} WHERE id = :id",
    )

    for table, row_id in ids.items():
        for statement in statements:
            refusal = pytest.raises(DBAPIError, match=f"audit table {table} is append-only")
            with refusal, db.session.begin_nested():
                db.session.execute(text(statement.format(table=table)), {"id": row_id})

    kept = [
        db.session.scalar(text(f"SELECT reason FROM {table} WHERE id = :id"), {"id": row_id})
        for table, row_id in ids.items()
    ]
    assert kept == ["typo in surname", "installation completed"]


def test_audit_rows_cannot_be_edited_through_the_orm_either(owner, fibre):
    ids = audit_rows(owner, fibre)
    entry = db.session.get(AuditLog, ids["audit_log"])

    with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
        entry.reason = "nothing happened"
        db.session.flush()
