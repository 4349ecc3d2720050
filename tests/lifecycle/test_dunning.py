"""Dunning rules: each acts once per invoice and attempt, audited with the system as actor."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app import clock
from app.billing.calendar import Period
from app.billing.invoicing import issue_period_invoice
from app.billing.overdue import mark_overdue_invoices
from app.billing.payments import record_payment
from app.business_days import add_business_days, is_business_day
from app.dunning import run_dunning
from app.extensions import db
from app.models import (
    CustomerPaymentMethod,
    DunningAction,
    Notification,
    ServiceActionLog,
    ServiceSuspension,
    Setting,
)


def _invoice(service, actor, *, invoice_date, start, end):
    """Invoice [start, end) and advance the service's dates as the invoice run would."""
    with clock.frozen_at(invoice_date):
        invoice = issue_period_invoice(
            service,
            Period(start, end),
            invoice_type="recurring",
            invoice_date=invoice_date,
            actor=actor,
        )
        service.last_billing_date, service.next_billing_date = start, end
        db.session.commit()
    return invoice


def _day(day):
    """Mark overdue then run dunning for `day`, committing like the 02:30 job."""
    with clock.frozen_at(day):
        mark_overdue_invoices(day)
        result = run_dunning(day)
        db.session.commit()
    return result


def _templates():
    # Issued invoices are announced too (invoice_generated); the rules' messages are these.
    dunning = select(Notification).where(Notification.template != "invoice_generated")
    return sorted({n.template for n in db.session.scalars(dunning)})


def test_sa_business_days_skip_weekends_and_public_holidays(app):
    assert not is_business_day(date(2026, 12, 16))  # Day of Reconciliation
    assert not is_business_day(date(2026, 12, 26))  # Saturday
    assert is_business_day(date(2026, 12, 29))
    # Christmas (Friday) and the weekend are skipped: the 28th and 29th count.
    assert add_business_days(date(2026, 12, 24), 2) == date(2026, 12, 29)


def test_extra_public_holidays_come_from_the_setting(app):
    db.session.add(
        Setting(key="extra_public_holidays", value="2026-11-27", effective_from=date(2026, 1, 1))
    )
    db.session.commit()
    assert not is_business_day(date(2026, 11, 27))


def test_reminder_three_days_before_due_is_sent_once(make_service, billing_actor):
    service = make_service(next_billing_date=None)
    invoice = _invoice(
        service,
        billing_actor,
        invoice_date=date(2026, 11, 24),
        start=date(2026, 12, 1),
        end=date(2027, 1, 1),
    )  # due 1 Dec
    assert _day(date(2026, 11, 27)).reminders == []
    assert _day(date(2026, 11, 28)).reminders == [invoice.id]
    assert _day(date(2026, 11, 28)).reminders == []  # re-run: nothing twice
    assert _templates() == ["payment_reminder"]
    assert db.session.scalar(select(func.count()).select_from(DunningAction)) == 1


def test_mandate_holders_get_a_debit_announcement_instead(make_service, billing_actor):
    service = make_service(next_billing_date=None)
    db.session.add(
        CustomerPaymentMethod(
            customer_id=service.customer_id,
            method_type="debit_order",
            display_name="Debit Order - FNB ***1234",
            last_four="1234",
            mandate_status="active",
            debit_day=1,
            is_primary=True,
            is_active=True,
        )
    )
    db.session.commit()
    invoice = _invoice(
        service,
        billing_actor,
        invoice_date=date(2026, 11, 24),
        start=date(2026, 12, 1),
        end=date(2027, 1, 1),
    )
    result = _day(date(2026, 11, 28))
    assert result.debit_announcements == [invoice.id] and result.reminders == []
    sms = db.session.scalars(
        select(Notification).where(
            Notification.channel == "sms", Notification.template == "debit_announcement"
        )
    ).one()
    assert "we will debit R799.00 on 2026-12-01" in sms.body


def test_overdue_notice_when_marked_overdue(make_service, billing_actor):
    service = make_service(next_billing_date=None)
    invoice = _invoice(
        service,
        billing_actor,
        invoice_date=date(2026, 11, 1),
        start=date(2026, 11, 1),
        end=date(2026, 12, 1),
    )  # due 8 Nov
    assert _day(date(2026, 11, 11)).overdue_notices == []
    assert _day(date(2026, 11, 12)).overdue_notices == [invoice.id]
    assert _day(date(2026, 11, 13)).overdue_notices == []


def test_services_are_suspended_fourteen_days_after_due_on_a_business_day(
    make_customer, make_service, billing_actor
):
    customer = make_customer()
    first = make_service(customer, next_billing_date=None)
    second = make_service(customer, next_billing_date=None, package_name="LTE 60GB")
    _invoice(
        first,
        billing_actor,
        invoice_date=date(2026, 11, 1),
        start=date(2026, 11, 1),
        end=date(2026, 12, 1),
    )  # due 8 Nov
    assert _day(date(2026, 11, 21)).suspended_services == []  # 13 days (and a Saturday)
    assert _day(date(2026, 11, 22)).suspended_services == []  # Sunday: never
    result = _day(date(2026, 11, 23))
    assert sorted(result.suspended_services) == [first.id, second.id]
    suspensions = db.session.scalars(select(ServiceSuspension)).all()
    assert {s.suspension_type for s in suspensions} == {"non_payment"}
    assert all(s.skip_billing for s in suspensions)
    log = db.session.scalars(select(ServiceActionLog)).first()
    assert log.actor == "dunning" and log.reason.startswith("Dunning rule")
    assert "service_suspended_non_payment" in _templates()
    assert _day(date(2026, 11, 24)).suspended_services == []


def test_automatic_suspension_can_be_switched_off(make_service, billing_actor):
    service = make_service(next_billing_date=None)
    db.session.add(
        Setting(key="auto_suspension_enabled", value="false", effective_from=date(2026, 1, 1))
    )
    db.session.commit()
    _invoice(
        service,
        billing_actor,
        invoice_date=date(2026, 11, 1),
        start=date(2026, 11, 1),
        end=date(2026, 12, 1),
    )
    assert _day(date(2026, 11, 23)).suspended_services == []


def test_the_per_run_cap_leaves_the_rest_with_a_warning(make_service, billing_actor):
    db.session.add(
        Setting(key="auto_suspension_max_per_run", value="1", effective_from=date(2026, 1, 1))
    )
    db.session.commit()
    services = [make_service(next_billing_date=None) for _ in range(3)]
    for service in services:
        _invoice(
            service,
            billing_actor,
            invoice_date=date(2026, 11, 1),
            start=date(2026, 11, 1),
            end=date(2026, 12, 1),
        )
    result = _day(date(2026, 11, 23))
    assert len(result.suspended_customers) == 1 and len(result.held_back_customers) == 2
    assert "beyond the cap of 1" in result.warnings[0]


def test_paying_reactivates_but_debit_orders_count_after_their_return_window(
    make_service, billing_actor
):
    service = make_service(next_billing_date=None)
    _invoice(
        service,
        billing_actor,
        invoice_date=date(2026, 11, 1),
        start=date(2026, 11, 1),
        end=date(2026, 12, 1),
    )
    _day(date(2026, 11, 23))
    with clock.frozen_at(date(2026, 11, 25)):
        record_payment(
            customer=service.customer,
            amount=Decimal("799.00"),
            method="debit_order",
            idempotency_key="do-1",
            actor=billing_actor,
            reason="Debit order",
        )
        db.session.commit()
    assert _day(date(2026, 11, 26)).reactivated_services == []  # inside the return window
    assert _day(date(2026, 12, 1)).reactivated_services == []
    result = _day(date(2026, 12, 2))  # 5 business days after 25 Nov
    assert result.reactivated_services == [service.id]
    db.session.refresh(service)
    assert service.status == "active"
    assert "service_reactivated" in _templates()
    assert _day(date(2026, 12, 3)).reactivated_services == []


@pytest.mark.parametrize("method", ["eft", "cash"])
def test_other_payments_reactivate_the_next_day(make_service, billing_actor, method):
    service = make_service(next_billing_date=None)
    _invoice(
        service,
        billing_actor,
        invoice_date=date(2026, 11, 1),
        start=date(2026, 11, 1),
        end=date(2026, 12, 1),
    )
    _day(date(2026, 11, 23))
    with clock.frozen_at(date(2026, 11, 24)):
        record_payment(
            customer=service.customer,
            amount=Decimal("799.00"),
            method=method,
            idempotency_key="p-1",
            actor=billing_actor,
            reason="Paid",
        )
        db.session.commit()
    assert _day(date(2026, 11, 25)).reactivated_services == [service.id]
