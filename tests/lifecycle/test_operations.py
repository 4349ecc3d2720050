"""Service lifecycle operations: states, money per DESIGN §5.4, logs, outbox, rollback."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app import clock
from app.billing import invoicing
from app.billing.invoicing import run_invoices
from app.billing.ledger import check_books
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.lifecycle import (
    activate_service,
    cancel_service,
    change_service,
    reactivate_service,
    suspend_service,
)
from app.models import (
    CreditNote,
    CustomerInvoice,
    LedgerEntry,
    Notification,
    ProviderTask,
    ServiceActionLog,
    ServiceSuspension,
)


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def _invoices(service):
    return db.session.scalars(
        select(CustomerInvoice)
        .where(CustomerInvoice.service_id == service.id)
        .order_by(CustomerInvoice.id)
    ).all()


@pytest.fixture
def pending_service(make_service):
    return make_service(
        status="pending", next_billing_date=None, activation_date=None, connection_id="ct-fibre-001"
    )


def test_activation_mid_cycle_bills_the_remaining_days(pending_service, billing_actor):
    with clock.frozen_at(date(2026, 11, 15)):
        result = activate_service(pending_service, actor=billing_actor, reason="Installed")
        db.session.commit()
    (invoice,) = result.invoices
    assert (invoice.invoice_type, invoice.total_amount) == ("pro_rata", Decimal("426.13"))
    assert (invoice.period_start, invoice.period_end) == (date(2026, 11, 15), date(2026, 12, 1))
    assert result.money_effects() == ["Pro-rata invoice R426.13 for 15 Nov – 30 Nov 2026"]
    service = result.service
    assert (service.status, service.activation_date, service.next_billing_date) == (
        "active",
        date(2026, 11, 15),
        date(2026, 12, 1),
    )
    assert service.customer.account_status == "active"
    log = db.session.scalars(select(ServiceActionLog)).one()
    assert (log.action_type, log.reason, log.previous_status, log.new_status) == (
        "activate",
        "Installed",
        "pending",
        "active",
    )
    assert log.previous_data["status"] == "pending" and log.new_data["status"] == "active"
    task = db.session.scalars(select(ProviderTask)).one()
    assert (task.action, task.payload) == ("enable_subscriber", {"connection_id": "ct-fibre-001"})
    activated = select(Notification).where(Notification.template == "service_activated")
    channels = sorted(n.channel for n in db.session.scalars(activated))
    assert channels == ["email", "sms"]


def test_activation_on_a_billing_date_bills_the_whole_period(pending_service, billing_actor):
    with clock.frozen_at(date(2026, 11, 1)):
        result = activate_service(pending_service, actor=billing_actor, reason="Installed")
    assert result.invoices[0].total_amount == Decimal("799.00")


def test_activation_also_invoices_installation_and_router(make_service, billing_actor):
    service = make_service(
        status="pending",
        next_billing_date=None,
        activation_date=None,
        installation_fee="999.00",
        router_fee="500.00",
    )
    with clock.frozen_at(date(2026, 11, 15)):
        result = activate_service(service, actor=billing_actor, reason="Installed")
    assert [inv.invoice_type for inv in result.invoices] == ["pro_rata", "installation"]
    assert result.invoices[1].total_amount == Decimal("1499.00")


@pytest.mark.parametrize(
    "activation_date, message",
    [(date(2026, 11, 16), "future"), (date(2026, 9, 15), "at most 60 days")],
)
def test_activation_dates_outside_the_window_are_refused(
    pending_service, billing_actor, activation_date, message
):
    with clock.frozen_at(date(2026, 11, 15)), pytest.raises(InvalidInput, match=message) as error:
        activate_service(
            pending_service, actor=billing_actor, reason="x", activation_date=activation_date
        )
    assert error.value.field == "activation_date"


def test_every_action_needs_a_reason(pending_service, billing_actor):
    with pytest.raises(InvalidInput) as error:
        activate_service(pending_service, actor=billing_actor, reason=" ")
    assert error.value.field == "reason"


ACTIONS = {
    "activate": lambda s, a: activate_service(s, actor=a, reason="r"),
    "suspend": lambda s, a: suspend_service(s, actor=a, reason="r", suspension_type="technical"),
    "reactivate": lambda s, a: reactivate_service(s, actor=a, reason="r"),
    "cancel": lambda s, a: cancel_service(s, actor=a, reason="r"),
    "change": lambda s, a: change_service(s, actor=a, reason="r", package_name="Fibre 200"),
}
ALLOWED = {
    "activate": {"pending"},
    "suspend": {"active"},
    "reactivate": {"suspended"},
    "cancel": {"pending", "active", "suspended"},
    "change": {"active", "suspended"},
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("state", ["pending", "active", "suspended", "cancelled"])
def test_transition_matrix(make_service, billing_actor, action, state):
    service = make_service(
        status=state,
        next_billing_date=date(2026, 12, 1),
        activation_date=None if state == "pending" else date(2026, 6, 1),
    )
    if state == "suspended":
        db.session.add(
            ServiceSuspension(
                service_id=service.id,
                customer_id=service.customer_id,
                suspension_type="technical",
                reason="x",
                skip_billing=True,
                suspended_at=clock.now(),
            )
        )
        db.session.commit()
    with clock.frozen_at(date(2026, 11, 20)):
        if state in ALLOWED[action]:
            result = ACTIONS[action](service, billing_actor)
            db.session.commit()
            expected = {
                "activate": "active",
                "suspend": "suspended",
                "reactivate": "active",
                "cancel": "cancelled",
                "change": state,
            }[action]
            assert result.service.status == expected
            assert _count(ServiceActionLog) == 1
        else:
            with pytest.raises(Conflict, match=f"Cannot {action}"):
                ACTIONS[action](service, billing_actor)
            db.session.rollback()
            db.session.refresh(service)
            assert service.status == state
            assert _count(ServiceActionLog) == 0


def test_skip_billing_suspension_credits_periods_invoiced_ahead(make_service, billing_actor):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 10, 25)):
        run_invoices(date(2026, 10, 25), actor=billing_actor)  # November
    with clock.frozen_at(date(2026, 11, 25)):
        run_invoices(date(2026, 11, 25), actor=billing_actor)  # December, 7 days ahead
        result = suspend_service(
            service,
            actor=billing_actor,
            reason="Customer travelling",
            suspension_type="customer_request",
        )
        db.session.commit()
    november, december = _invoices(service)
    (note,) = result.credit_notes
    assert note.invoice_id == december.id and note.total_amount == Decimal("799.00")
    assert december.status == "cancelled"
    assert november.status != "cancelled" and november.amount_credited == 0  # partly used
    assert result.service.next_billing_date == date(2026, 12, 1)
    suspension = db.session.scalars(select(ServiceSuspension)).one()
    assert suspension.skip_billing and suspension.suspension_type == "customer_request"
    assert result.service.customer.account_status == "suspended"
    assert check_books() == []


def test_suspension_without_skip_billing_keeps_invoices(make_service, billing_actor):
    service = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 25)):
        run_invoices(date(2026, 11, 25), actor=billing_actor)
        result = suspend_service(
            service,
            actor=billing_actor,
            reason="Line fault",
            suspension_type="technical",
            skip_billing=False,
        )
    assert result.credit_notes == []
    assert result.service.next_billing_date == date(2027, 1, 1)


def test_reactivation_after_skipped_periods_bills_from_today(make_service, billing_actor):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 10, 20)):
        suspend_service(
            service, actor=billing_actor, reason="Travel", suspension_type="customer_request"
        )
        db.session.commit()
    with clock.frozen_at(date(2026, 12, 10)):
        run_invoices(date(2026, 12, 10), actor=billing_actor)  # skipped
        result = reactivate_service(service, actor=billing_actor, reason="Back home")
        db.session.commit()
    (invoice,) = result.invoices
    assert (invoice.period_start, invoice.period_end) == (date(2026, 12, 10), date(2027, 1, 1))
    assert invoice.total_amount == Decimal("567.03")  # 22/31 of 799
    assert result.service.next_billing_date == date(2027, 1, 1)
    assert db.session.scalars(select(ServiceSuspension)).one().reactivated_at is not None
    assert len(_invoices(service)) == 1  # skipped days never billed


def test_reactivation_within_an_invoiced_period_charges_nothing(make_service, billing_actor):
    service = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 10)):
        suspend_service(service, actor=billing_actor, reason="Fault", suspension_type="technical")
        db.session.commit()
    with clock.frozen_at(date(2026, 11, 12)):
        result = reactivate_service(service, actor=billing_actor, reason="Fixed")
    assert result.invoices == [] and result.money_effects() == ["No money moves."]


def test_cancellation_credits_invoiced_days_from_the_cancellation_date(make_service, billing_actor):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 10, 25)):
        run_invoices(date(2026, 10, 25), actor=billing_actor)
    with clock.frozen_at(date(2026, 11, 25)):
        run_invoices(date(2026, 11, 25), actor=billing_actor)
        result = cancel_service(
            service,
            actor=billing_actor,
            reason="Moving abroad",
            cancellation_date=date(2026, 11, 16),
        )
        db.session.commit()
    november, december = _invoices(service)
    partial, full = result.credit_notes
    assert partial.invoice_id == november.id
    assert partial.total_amount == Decimal("399.50")  # 15/30 of 799
    assert (full.invoice_id, full.total_amount) == (december.id, Decimal("799.00"))
    assert result.invoices == []  # days before 16 Nov were invoiced already
    assert november.covered_until == date(2026, 11, 16)
    assert result.service.status == "cancelled"
    assert result.service.customer.account_status == "cancelled"
    assert check_books() == []


def test_cancellation_invoices_active_days_not_yet_billed(make_service, billing_actor):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 11, 11)):
        result = cancel_service(service, actor=billing_actor, reason="Bad coverage")
    (invoice,) = result.invoices
    assert (invoice.period_start, invoice.period_end) == (date(2026, 11, 1), date(2026, 11, 11))
    assert invoice.total_amount == Decimal("266.33")  # 10/30 of 799
    assert result.credit_notes == []


def test_cancelling_a_pending_service_moves_no_money(pending_service, billing_actor):
    with clock.frozen_at(date(2026, 11, 11)):
        result = cancel_service(pending_service, actor=billing_actor, reason="Never installed")
    assert result.invoices == [] and result.credit_notes == []
    assert _count(LedgerEntry) == 0 and _count(ProviderTask) == 0


def test_price_change_credits_old_and_charges_new_from_the_effective_date(
    make_service, billing_actor
):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 10, 25)):
        run_invoices(date(2026, 10, 25), actor=billing_actor)
    with clock.frozen_at(date(2026, 11, 16)):
        result = change_service(
            service,
            actor=billing_actor,
            reason="Upgrade",
            monthly_price=Decimal("999.00"),
            package_name="Fibre 200",
        )
        db.session.commit()
    (note,) = result.credit_notes
    (charge,) = result.invoices
    assert note.total_amount == Decimal("399.50")  # 15/30 of 799
    assert charge.total_amount == Decimal("499.50")  # 15/30 of 999
    assert (charge.period_start, charge.period_end) == (date(2026, 11, 16), date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 25)):
        run_invoices(date(2026, 11, 25), actor=billing_actor)
    assert _invoices(service)[-1].total_amount == Decimal("999.00")
    assert result.service.package_name == "Fibre 200"
    assert check_books() == []


def test_billing_day_change_bridges_to_the_new_day(make_service, billing_actor):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 10, 25)):
        run_invoices(date(2026, 10, 25), actor=billing_actor)
    with clock.frozen_at(date(2026, 11, 10)):
        result = change_service(
            service, actor=billing_actor, reason="Payday is the 25th", billing_date=25
        )
        db.session.commit()
    (note,) = result.credit_notes
    (bridge,) = result.invoices
    assert note.total_amount == Decimal("559.30")  # 21/30 of 799
    assert (bridge.period_start, bridge.period_end) == (date(2026, 11, 10), date(2026, 11, 25))
    assert bridge.total_amount == Decimal("386.61")  # 15/31 of 799 (period 25 Oct – 25 Nov)
    assert result.service.next_billing_date == date(2026, 11, 25)
    with clock.frozen_at(date(2026, 11, 20)):
        run_invoices(date(2026, 11, 20), actor=billing_actor)
    latest = _invoices(service)[-1]
    assert (latest.period_start, latest.period_end) == (date(2026, 11, 25), date(2026, 12, 25))
    assert check_books() == []


def test_a_failure_in_invoicing_leaves_nothing_behind(pending_service, billing_actor, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("PDF storage down")

    monkeypatch.setattr(invoicing, "issue_installation_invoice", broken)
    monkeypatch.setattr("app.lifecycle.issue_installation_invoice", broken)
    with clock.frozen_at(date(2026, 11, 15)), pytest.raises(RuntimeError):
        activate_service(pending_service, actor=billing_actor, reason="Installed")
    db.session.rollback()
    db.session.refresh(pending_service)
    assert pending_service.status == "pending"
    for model in (CustomerInvoice, LedgerEntry, ServiceActionLog, Notification, ProviderTask):
        assert _count(model) == 0


def test_a_double_submitted_suspension_acts_once(make_service, billing_actor):
    service = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 20)):
        suspend_service(service, actor=billing_actor, reason="r", suspension_type="fraud")
        db.session.commit()
        with pytest.raises(Conflict, match="already|Cannot suspend"):
            suspend_service(service, actor=billing_actor, reason="r", suspension_type="fraud")
    db.session.rollback()
    assert _count(ServiceSuspension) == 1


def test_two_concurrent_suspensions_give_one_suspension(app, make_service, billing_actor):
    service = make_service(next_billing_date=date(2026, 12, 1))
    service_id, service_class = service.id, type(service)
    outcomes = []
    barrier = threading.Barrier(2)

    def suspend_in_own_session():
        with app.app_context():
            try:
                barrier.wait()
                suspend_service(
                    db.session.get(service_class, service_id),
                    actor=billing_actor,
                    reason="outage",
                    suspension_type="technical",
                )
                db.session.commit()
                outcomes.append("suspended")
            except Conflict:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=suspend_in_own_session) for _ in range(2)]
    with clock.frozen_at(date(2026, 11, 20)):  # the clock is process-wide: pin it once
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert sorted(outcomes) == ["refused", "suspended"]
    assert _count(ServiceSuspension) == 1
    assert _count(CreditNote) == 0


def test_several_actions_on_one_service_in_one_day_each_queue_their_provider_call(
    make_service, billing_actor
):
    service = make_service(next_billing_date=date(2026, 12, 1), connection_id="ct-lte-42")
    with clock.frozen_at(date(2026, 11, 20)):
        suspend_service(service, actor=billing_actor, reason="a", suspension_type="technical")
        reactivate_service(service, actor=billing_actor, reason="b")
        suspend_service(service, actor=billing_actor, reason="c", suspension_type="technical")
        db.session.commit()
    actions = db.session.scalars(select(ProviderTask.action).order_by(ProviderTask.id)).all()
    assert actions == ["disable_subscriber", "enable_subscriber", "disable_subscriber"]
