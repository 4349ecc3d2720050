"""Dunning over a simulated quarter: exactly the services the rules name are suspended and
reactivated (checked against the data afterwards, rule by rule)."""

from datetime import date, timedelta

from sqlalchemy import select

from app import clock
from app.audit import Actor
from app.billing.allocation import amount_due
from app.billing.ledger import check_books
from app.billing.overdue import mark_overdue_invoices
from app.business_days import add_business_days, is_business_day
from app.demo import seed_demo_data
from app.dunning import run_dunning
from app.extensions import db
from app.models import (
    CustomerInvoice,
    CustomerService,
    DunningAction,
    PaymentTransaction,
    ServiceSuspension,
)
from jobs.simulate import simulate_days

QUARTER_START = date(2026, 2, 1)
QUARTER_END = date(2026, 4, 30)
CHECK_DAY = date(2026, 5, 4)  # a Monday: the rules may suspend on it


def _owes_beyond_grace(customer_id: int, today: date) -> bool:
    """Money due on an invoice past due + 3 days, debit orders counted after 5 business days."""
    invoices = db.session.scalars(
        select(CustomerInvoice).where(
            CustomerInvoice.customer_id == customer_id,
            CustomerInvoice.status != "cancelled",
            CustomerInvoice.due_date < today - timedelta(days=3),
        )
    ).all()
    recent_debits = db.session.scalars(
        select(PaymentTransaction).where(
            PaymentTransaction.customer_id == customer_id,
            PaymentTransaction.method == "debit_order",
            PaymentTransaction.status == "completed",
        )
    ).all()
    in_window = [p for p in recent_debits if add_business_days(p.payment_date, 5) > today]
    return any(amount_due(invoice) > 0 for invoice in invoices) or bool(in_window)


def test_a_simulated_quarter_suspends_and_reactivates_exactly_the_expected_services(app):
    with clock.frozen_at(QUARTER_END):
        seed_demo_data(
            actor=Actor.system("pytest"),
            reason="Demo data",
            today=QUARTER_END,
            seed=7,
            customers=60,
            billing_from=QUARTER_START,
        )
        db.session.commit()
    simulate_days(QUARTER_START, QUARTER_END, seed=11)
    # The next night's rules, without that day's payments, so the state is exact.
    with clock.frozen_at(CHECK_DAY):
        mark_overdue_invoices(CHECK_DAY)
        run_dunning(CHECK_DAY)
        db.session.commit()
    assert check_books() == []

    actions = db.session.scalars(select(DunningAction)).all()
    suspensions = [a for a in actions if a.rule == "suspension"]
    reactivations = [a for a in actions if a.rule == "reactivation"]
    assert suspensions and reactivations, "the quarter should exercise both rules"

    # Each suspension: a business day, 14+ days after the due date, all services suspended.
    for action in suspensions:
        invoice = db.session.get(CustomerInvoice, action.invoice_id)
        assert is_business_day(action.acted_on)
        assert (action.acted_on - invoice.due_date).days >= 14
        suspended_that_day = db.session.scalars(
            select(ServiceSuspension).where(
                ServiceSuspension.customer_id == action.customer_id,
                ServiceSuspension.suspension_type == "non_payment",
            )
        ).all()
        days = {s.suspended_at.astimezone(clock.BUSINESS_TZ).date() for s in suspended_that_day}
        assert action.acted_on in days

    # Still suspended for non-payment ⇔ still owing; nobody owing 14+ days is left active.
    open_suspensions = db.session.scalars(
        select(ServiceSuspension).where(
            ServiceSuspension.suspension_type == "non_payment",
            ServiceSuspension.reactivated_at.is_(None),
        )
    ).all()
    for suspension in open_suspensions:
        assert _owes_beyond_grace(suspension.customer_id, CHECK_DAY), suspension.customer_id
    long_overdue = db.session.scalars(
        select(CustomerInvoice).where(
            CustomerInvoice.status == "overdue",
            CustomerInvoice.due_date <= CHECK_DAY - timedelta(days=14),
        )
    ).all()
    for invoice in long_overdue:
        active = db.session.scalars(
            select(CustomerService).where(
                CustomerService.customer_id == invoice.customer_id,
                CustomerService.status == "active",
            )
        ).all()
        assert not active, f"customer {invoice.customer_id} owes since {invoice.due_date}"

    # Each reactivation found the customer paid up at the time and reactivated every
    # non-payment suspension of that customer.
    for action in reactivations:
        rows = db.session.scalars(
            select(ServiceSuspension).where(
                ServiceSuspension.customer_id == action.customer_id,
                ServiceSuspension.suspension_type == "non_payment",
                ServiceSuspension.reactivated_at.is_not(None),
            )
        ).all()
        reactivated_on = {r.reactivated_at.astimezone(clock.BUSINESS_TZ).date() for r in rows}
        assert action.acted_on in reactivated_on
