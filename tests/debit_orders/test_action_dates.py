"""Action dates (DESIGN §5.9): the collection date is the mandate's debit day on or after
the due date, moved off weekends and SA public holidays by the mandate's holiday option,
and never earlier than the first valid TwoDay date (three business days ahead)."""

from datetime import date, time

import pytest
from sqlalchemy import select

from app import clock
from app.debit_orders import first_valid_action_date, move_to_business_day
from app.extensions import db
from app.models import DebitOrderItem, Setting
from jobs.payments import debit_order_run


@pytest.mark.parametrize(
    ("day", "option", "expected"),
    [
        (date(2026, 12, 25), "preceding", date(2026, 12, 24)),  # Christmas (Fri)
        (date(2026, 12, 25), "next", date(2026, 12, 28)),  # 26th (Sat) and Sunday skipped
        (date(2026, 11, 1), "next", date(2026, 11, 2)),  # a Sunday
        (date(2026, 11, 1), "preceding", date(2026, 10, 30)),
        (date(2026, 8, 9), "next", date(2026, 8, 11)),  # Women's Day (Sun) → Mon 10th too
        (date(2026, 12, 1), "preceding", date(2026, 12, 1)),  # a business day stays
    ],
)
def test_a_debit_day_off_a_business_day_moves_as_the_holiday_option_says(
    app, day, option, expected
):
    assert move_to_business_day(day, option) == expected


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 11, 26), date(2026, 12, 1)),  # Thu: Fri, Mon, Tue
        (date(2026, 11, 27), date(2026, 12, 2)),
        (date(2026, 11, 28), date(2026, 12, 2)),  # a Saturday run
        (date(2026, 12, 22), date(2026, 12, 28)),  # 23rd, 24th, then past Christmas
        (date(2026, 4, 1), date(2026, 4, 8)),  # Good Friday and Family Day skipped
    ],
)
def test_the_first_valid_action_date_is_three_business_days_ahead(app, today, expected):
    assert first_valid_action_date(today) == expected


def test_an_operator_holiday_setting_moves_the_first_valid_date(app):
    db.session.add(
        Setting(key="extra_public_holidays", value="2026-12-01", effective_from=date(2026, 1, 1))
    )
    db.session.commit()
    assert first_valid_action_date(date(2026, 11, 26)) == date(2026, 12, 2)


def test_each_mandate_is_collected_on_its_own_moved_debit_day(
    sandboxes, debit_customer, invoice_due
):
    """Billing day 25: Christmas 2026 is a Friday. "Preceding" collects on Thursday the
    24th (batch sent on Monday the 21st), "next" on Monday the 28th (sent on the 22nd)."""
    invoices = {}
    for option in ("preceding", "next"):
        with clock.frozen_at(date(2026, 12, 10)):
            _, service, method = debit_customer(
                mandate="pending", billing_day=25, holiday_option=option
            )
            sandboxes.netcash.sign_mandate(method.mandate_url)
        invoices[option] = invoice_due(
            service, period_start=date(2026, 12, 25), invoice_date=date(2026, 12, 18)
        )

    def action_dates():
        db.session.expire_all()
        return {
            option: db.session.scalar(
                select(DebitOrderItem.action_date).where(DebitOrderItem.invoice_id == invoice.id)
            )
            for option, invoice in invoices.items()
        }

    for day, expected in [
        (date(2026, 12, 18), {"preceding": None, "next": None}),
        (date(2026, 12, 21), {"preceding": date(2026, 12, 24), "next": None}),
        (date(2026, 12, 22), {"preceding": date(2026, 12, 24), "next": date(2026, 12, 28)}),
    ]:
        with clock.frozen_at(clock.business_datetime(day, time(6, 0))):
            debit_order_run(day.isoformat(), "manual")
        assert action_dates() == expected
    assert [b["action_date"] for b in sandboxes.netcash.uploaded_batches] == [
        date(2026, 12, 24),
        date(2026, 12, 28),
    ]
