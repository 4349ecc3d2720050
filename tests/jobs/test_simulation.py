"""`flask billing simulate`: the daily jobs day by day with the clock set, and customers
paying in a realistic, deterministic mix; the books balance, every period is invoiced
exactly once, and simulating the same days again changes nothing."""

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app import clock
from app.audit import Actor
from app.billing.ledger import check_books
from app.billing.simulation import HABITS, PlannedPayment, paying_habit, plan_payments
from app.demo import seed_demo_data
from app.extensions import db
from app.models import (
    Allocation,
    CronExecutionLog,
    CustomerInvoice,
    CustomerService,
    LedgerEntry,
    Notification,
    PaymentTransaction,
    UsageHistory,
)
from jobs.simulate import simulate_days
from tests.jobs.conftest import period_coverage_problems

SEEDED_ON = date(2026, 5, 31)
HISTORY_FROM = date(2026, 2, 1)


# --- the customers' behaviour (pure) --------------------------------------------------------


def test_the_same_seed_plans_the_same_payments():
    plan = {"customer_id": 17, "invoice_date": date(2026, 3, 25), "due_date": date(2026, 4, 1)}
    assert plan_payments(**plan, seed=3) == plan_payments(**plan, seed=3)
    habits = {paying_habit(customer_id, 3) for customer_id in range(200)}
    assert habits == {habit for habit, _ in HABITS}


def test_most_customers_pay_on_time_some_late_some_in_part_a_few_never():
    habits = Counter(paying_habit(customer_id, seed=11) for customer_id in range(2000))
    on_time = habits["debit_order"] + habits["eft_on_time"] + habits["card"]
    assert 0.70 < on_time / 2000 < 0.84
    assert 0.08 < habits["late"] / 2000 < 0.16
    assert 0.04 < habits["partial"] / 2000 < 0.10
    assert 0.02 < habits["never"] / 2000 < 0.07


@pytest.mark.parametrize(
    ("habit", "check"),
    [
        ("never", lambda plan, due: plan == []),
        ("late", lambda plan, due: len(plan) == 1 and plan[0].day >= due + timedelta(days=5)),
        (
            "partial",
            lambda plan, due: (
                [p.attempt for p in plan] == [1, 2]
                and Decimal("0.30") <= plan[0].share <= Decimal("0.70")
                and plan[1].share is None
                and plan[1].day > plan[0].day
            ),
        ),
        ("card", lambda plan, due: len(plan) == 1 and plan[0].day <= due),
    ],
)
def test_each_habit_pays_its_way(habit, check):
    customer_id = next(c for c in range(10_000) if paying_habit(c, seed=5) == habit)
    due = date(2026, 4, 1)
    plan = plan_payments(
        customer_id=customer_id, invoice_date=date(2026, 3, 25), due_date=due, seed=5
    )
    assert check(plan, due), plan


def test_a_share_never_pays_more_than_is_due():
    payment = PlannedPayment(date(2026, 4, 1), "eft", 1, share=Decimal("0.50"))
    assert payment.amount(Decimal("799.00"), Decimal("799.00")) == Decimal("399.50")
    assert payment.amount(Decimal("799.00"), Decimal("100.00")) == Decimal("100.00")


# --- the simulation over the database -------------------------------------------------------


@pytest.fixture
def seeded_history(app):
    """A small demo operator whose services are billed from HISTORY_FROM."""
    with clock.frozen_at(SEEDED_ON):
        seed_demo_data(
            actor=Actor.system("pytest"),
            reason="Demo data",
            today=SEEDED_ON,
            seed=2026,
            customers=30,
            billing_from=HISTORY_FROM,
        )
        db.session.commit()


def _books() -> dict:
    """Everything money-related, to compare before and after a repeated simulation."""
    return {
        model.__name__: db.session.scalar(select(func.count(model.id)))
        for model in (CustomerInvoice, PaymentTransaction, Allocation, LedgerEntry)
    } | {"ledger_sum": db.session.scalar(select(func.sum(LedgerEntry.amount)))}


def test_a_simulated_season_balances_and_invoices_every_period_once(seeded_history):
    summary = simulate_days(HISTORY_FROM, SEEDED_ON, seed=4)
    assert summary.failures == []
    assert summary.days == 120
    assert check_books() == []
    assert period_coverage_problems(invoiced_through=SEEDED_ON + timedelta(days=7)) == []
    active = db.session.scalar(
        select(func.count(CustomerService.id)).where(CustomerService.status == "active")
    )
    assert summary.invoices >= active * 4  # about one invoice a month per active service
    statuses = Counter(db.session.scalars(select(CustomerInvoice.status)))
    assert statuses["paid"] > statuses["overdue"] > 0
    methods = Counter(db.session.scalars(select(PaymentTransaction.method)))
    assert set(methods) == {"debit_order", "eft", "card"}
    numbers = db.session.scalars(select(CustomerInvoice.invoice_number)).all()
    assert len(set(numbers)) == len(numbers) == summary.invoices
    assert min(numbers) == "INV-2026-00001"
    runs = Counter(
        (run.job_name, run.trigger_source, run.status)
        for run in db.session.scalars(select(CronExecutionLog))
    )
    assert runs == {
        ("invoice_run", "simulate", "completed"): 120,
        ("overdue_run", "simulate", "completed"): 120,
        ("dunning_run", "simulate", "completed"): 120,
        ("debit_order_run", "simulate", "completed"): 120,
        ("netcash_statement_run", "simulate", "completed"): 120,
        ("mandate_status_poll", "simulate", "completed"): 120,
    }


def test_simulating_the_same_days_again_changes_nothing(seeded_history):
    simulate_days(HISTORY_FROM, SEEDED_ON, seed=4)
    before = _books()
    # Re-running the last simulated day (a day killed half-way and run again) adds nothing.
    # Earlier days are not replayed: with dunning, replaying the past after later payments
    # would be time travel, not a re-run.
    again = simulate_days(SEEDED_ON, SEEDED_ON, seed=4)
    assert (again.invoices, again.payments, again.failures) == (0, 0, [])
    assert _books() == before


def test_the_simulate_command_reports_and_exits_0(app, seeded_history):
    result = app.test_cli_runner().invoke(
        args=["billing", "simulate", "--from", "2026-02-01", "--to", "2026-02-28", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "Simulated 28 days in" in result.output
    assert check_books() == []
    result = app.test_cli_runner().invoke(
        args=["billing", "simulate", "--from", "2026-02-28", "--to", "2026-02-01"]
    )
    assert result.exit_code == 2


def test_seed_demo_with_history_simulates_once_and_a_second_run_changes_nothing(app):
    cli = app.test_cli_runner()
    args = ["seed-demo", "--customers", "12", "--today", "2026-05-31", "--history-months", "2"]
    result = cli.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "Simulating the billing history from 2026-03-31 to 2026-05-31" in result.output
    assert check_books() == []
    assert period_coverage_problems(invoiced_through=date(2026, 6, 7)) == []
    first_invoice = db.session.scalars(
        select(CustomerInvoice).order_by(CustomerInvoice.invoice_date)
    ).first()
    assert first_invoice.invoice_date == date(2026, 3, 31)
    books = _books()
    again = cli.invoke(args=args)
    assert again.exit_code == 0
    assert "Demo data already present" in again.output and "Simulating" not in again.output
    assert _books() == books


def test_simulated_days_with_the_sandboxes_sync_usage_weekly_and_send_each_day(
    seeded_history, sandboxes
):
    """A simulated fortnight against the provider sandboxes: usage syncs on days 0 and 7 and
    the last day, the debit-order runs each day, and the day's messages go out in the day's
    one sender run (not after every commit), through the sandboxes."""
    first, last = date(2026, 2, 1), date(2026, 2, 14)
    summary = simulate_days(first, last, seed=4)
    assert summary.failures == []
    runs = Counter(
        (run.job_name, run.business_date or run.execution_start.date())
        for run in db.session.scalars(
            select(CronExecutionLog).where(CronExecutionLog.trigger_source == "simulate")
        )
    )
    usage_days = sorted(day for name, day in runs if name == "usage_sync")
    assert len(usage_days) == 3  # the first day, a week later and the last day
    assert sum(1 for name, _ in runs if name == "debit_order_run") == 14
    sender_runs = [day for name, day in runs if name == "send_notifications"]
    assert 0 < len(sender_runs) <= 14  # at most once a simulated day
    assert db.session.scalar(select(func.count(UsageHistory.id))) > 0
    statuses = Counter(db.session.scalars(select(Notification.status)))
    assert statuses["queued"] == 0
    sent_sms = db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.channel == "sms", Notification.status.in_(("sent", "delivered"))
        )
    )
    assert sent_sms == len(sandboxes.clickatell.messages) > 0
    assert check_books() == []
