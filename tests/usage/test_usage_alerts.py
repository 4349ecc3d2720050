"""Cap alerts (operator group 4.1 "80 %/95 % threshold detection", 4.2 "threshold warning
triggers"): once per threshold per service per calendar cycle, and the cycle is the
calendar period containing today."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Notification, UsageAlert, UsageHistory
from app.usage import crossed_thresholds, parse_cap_mb, usage_summary
from jobs.usage import usage_sync
from tests.usage.conftest import TODAY

KB_PER_MB = 1024


def alerts(service_id: int) -> list[tuple[date, int]]:
    rows = db.session.scalars(
        select(UsageAlert)
        .where(UsageAlert.service_id == service_id)
        .order_by(UsageAlert.cycle_start, UsageAlert.threshold)
    ).all()
    return [(row.cycle_start, row.threshold) for row in rows]


def usage_warnings(customer_id: int) -> list[Notification]:
    return db.session.scalars(
        select(Notification)
        .where(
            Notification.customer_id == customer_id,
            Notification.template == "data_usage_warning",
        )
        .order_by(Notification.id)
    ).all()


def use_mb(sandbox, connection_id: str, days: list[date], megabytes_per_day: int) -> None:
    for day in days:
        sandbox.set_usage(connection_id, day, megabytes_per_day * KB_PER_MB, 0)


def days_from(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@pytest.mark.parametrize(
    ("data_cap", "megabytes"),
    [
        ("500GB", "512000.00"),
        ("500 GB", "512000.00"),
        ("1.5gb", "1536.00"),
        ("500 MB", "500.00"),
        ("1TB", "1048576.00"),
        ("Unlimited", None),
        ("uncapped", None),
        ("", None),
        (None, None),
        ("0GB", None),
        ("lots", None),
    ],
)
def test_caps_are_parsed_from_the_package_text(data_cap, megabytes):
    assert parse_cap_mb(data_cap) == (Decimal(megabytes) if megabytes else None)


def test_thresholds_are_reached_exactly_at_80_and_95_percent():
    cap = Decimal("1000.00")
    assert crossed_thresholds(Decimal("799.99"), cap) == []
    assert crossed_thresholds(Decimal("800.00"), cap) == [80]
    assert crossed_thresholds(Decimal("949.99"), cap) == [80]
    assert crossed_thresholds(Decimal("950.00"), cap) == [80, 95]
    assert crossed_thresholds(Decimal("5000.00"), None) == []


def test_crossing_80_percent_warns_the_customer_once_per_cycle(sandboxes, usage_service):
    service = usage_service("CT-CAP-0001", data_cap="10GB")  # 10 240 MB
    sandbox = sandboxes.interstellio
    use_mb(sandbox, "CT-CAP-0001", days_from(date(2026, 11, 1), TODAY), 0)
    use_mb(sandbox, "CT-CAP-0001", days_from(date(2026, 11, 1), date(2026, 11, 10)), 850)

    usage_sync()

    assert alerts(service.id) == [(date(2026, 11, 1), 80)]
    [warning] = db.session.scalars(select(UsageAlert)).all()
    assert (warning.used_mb, warning.cap_mb) == (Decimal("8500.00"), Decimal("10240.00"))
    messages = usage_warnings(service.customer_id)
    assert messages and {m.context["threshold"] for m in messages} == {"80"}
    assert "83%" in messages[0].body
    assert warning.notification_id == messages[0].id

    usage_sync()  # the same cycle again: nothing new
    usage_sync()

    assert alerts(service.id) == [(date(2026, 11, 1), 80)]
    assert len(usage_warnings(service.customer_id)) == len(messages)


def test_crossing_95_percent_later_sends_the_critical_warning(sandboxes, usage_service):
    service = usage_service("CT-CAP-0002", data_cap="10GB")
    sandbox = sandboxes.interstellio
    use_mb(sandbox, "CT-CAP-0002", days_from(date(2026, 11, 1), TODAY), 0)
    use_mb(sandbox, "CT-CAP-0002", days_from(date(2026, 11, 1), date(2026, 11, 8)), 1024)
    usage_sync()
    first_messages = len(usage_warnings(service.customer_id))

    sandbox.set_usage("CT-CAP-0002", TODAY, 1800 * KB_PER_MB, 0)  # 8 192 + 1 800 = 97.5 %
    usage_sync()

    assert alerts(service.id) == [(date(2026, 11, 1), 80), (date(2026, 11, 1), 95)]
    messages = usage_warnings(service.customer_id)
    assert len(messages) == 2 * first_messages  # one more per channel
    assert {m.context["threshold"] for m in messages[first_messages:]} == {"95"}
    assert "close to your limit" in messages[-1].body


def test_a_jump_past_both_thresholds_records_both_and_sends_one_message(sandboxes, usage_service):
    service = usage_service("CT-CAP-0003", data_cap="1GB")  # 1 024 MB
    use_mb(sandboxes.interstellio, "CT-CAP-0003", days_from(date(2026, 11, 1), TODAY), 60)

    usage_sync()

    assert alerts(service.id) == [(date(2026, 11, 1), 80), (date(2026, 11, 1), 95)]
    messages = usage_warnings(service.customer_id)
    assert {m.channel for m in messages} == {"sms", "email"}
    assert {m.context["threshold"] for m in messages} == {"95"}


def test_the_next_cycle_alerts_again(sandboxes, usage_service):
    service = usage_service("CT-CAP-0004", data_cap="1GB")  # 1 024 MB
    sandbox = sandboxes.interstellio
    use_mb(sandbox, "CT-CAP-0004", days_from(date(2026, 11, 1), date(2026, 12, 3)), 0)
    use_mb(sandbox, "CT-CAP-0004", days_from(date(2026, 11, 1), TODAY), 45)  # 900 MB
    use_mb(sandbox, "CT-CAP-0004", days_from(date(2026, 12, 1), date(2026, 12, 3)), 45)
    usage_sync()
    usage_sync()
    assert alerts(service.id) == [(date(2026, 11, 1), 80)]

    with clock.frozen_at(date(2026, 12, 3)):
        usage_sync()  # a new cycle: 135 MB so far, no alert
        assert alerts(service.id) == [(date(2026, 11, 1), 80)]
        sandbox.set_usage("CT-CAP-0004", date(2026, 12, 3), 900 * KB_PER_MB, 0)
        usage_sync()  # 990 MB: 96.7 % of this cycle's cap

    assert alerts(service.id) == [
        (date(2026, 11, 1), 80),
        (date(2026, 12, 1), 80),
        (date(2026, 12, 1), 95),
    ]
    cycles = {m.dedupe_key.rsplit(":", 1)[0] for m in usage_warnings(service.customer_id)}
    assert cycles == {
        f"usage-80-{service.id}-2026-11-01",
        f"usage-95-{service.id}-2026-12-01",
    }


def test_unlimited_packages_never_alert(sandboxes, usage_service):
    service = usage_service("CT-CAP-0005", data_cap="Unlimited")
    use_mb(sandboxes.interstellio, "CT-CAP-0005", days_from(date(2026, 11, 1), TODAY), 900_000)

    usage_sync()

    assert alerts(service.id) == []
    assert usage_warnings(service.customer_id) == []


def test_usage_totals_use_the_calendar_cycle_not_the_billing_columns(app, usage_service):
    # Billing on the 25th: on 20 Nov the cycle is 25 Oct – 24 Nov, although the billing
    # columns have already moved on (billing runs seven days ahead).
    service = usage_service(
        "CT-CAP-0006",
        billing_date=25,
        data_cap="100GB",
        activation_date=date(2026, 9, 1),
        next_billing_date=date(2026, 12, 25),
        last_billing_date=date(2026, 11, 25),
    )
    for day in days_from(date(2026, 10, 20), TODAY):
        db.session.add(
            UsageHistory(
                service_id=service.id,
                customer_id=service.customer_id,
                date=day,
                download_mb=Decimal("100.00"),
                upload_mb=Decimal("24.00"),
                source="interstellio",
            )
        )
    db.session.commit()

    summary = usage_summary(service, TODAY)

    assert (summary.cycle.start, summary.cycle.end) == (date(2026, 10, 25), date(2026, 11, 25))
    assert [row.date for row in summary.rows] == days_from(date(2026, 10, 25), TODAY)
    assert summary.used_mb == Decimal("124.00") * 27
    assert summary.cap_mb == Decimal("102400.00")
    assert summary.percent == Decimal("3.3")
    assert summary.level == "ok"


def test_stored_days_carry_the_calendar_cycle_they_belong_to(sandboxes, usage_service):
    service = usage_service(
        "CT-CAP-0007",
        billing_date=30,
        activation_date=date(2027, 2, 26),
        next_billing_date=date(2027, 3, 30),
    )
    with clock.frozen_at(date(2027, 3, 2)):
        usage_sync()

    cycles = {
        row.date: (row.billing_cycle_start, row.billing_cycle_end)
        for row in db.session.scalars(
            select(UsageHistory).where(UsageHistory.service_id == service.id)
        )
    }
    # Billing day 30 in February is the 28th (2027 is not a leap year).
    assert cycles[date(2027, 2, 27)] == (date(2027, 1, 30), date(2027, 2, 28))
    assert cycles[date(2027, 2, 28)] == (date(2027, 2, 28), date(2027, 3, 30))
    assert cycles[date(2027, 3, 2)] == (date(2027, 2, 28), date(2027, 3, 30))
