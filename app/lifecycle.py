"""Service lifecycle: activate, suspend, reactivate, cancel and change (DESIGN §5.4, §5.7).

Each operation runs in the caller's transaction with a row lock on the service (then the
customer's billing row), refuses states it does not start from, moves money per §5.4,
writes the suspension row, the service action log (reason, notes, before/after), the
customer's account status, and outbox rows for notifications and provider calls. The
caller commits once, or rolls back everything.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from app import clock
from app.accounts import derive_account_status
from app.audit import Actor, latest_service_action_id, require_reason, snapshot
from app.billing.allocation import amount_due
from app.billing.calendar import BILLING_DAYS, Period, billing_date_after, period_containing
from app.billing.credit_notes import credit_days_from
from app.billing.invoicing import describe_span, issue_installation_invoice, issue_period_invoice
from app.billing.ledger import lock_billing
from app.billing.money import ZERO, format_rand
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.job_requests import request_job
from app.models import (
    CreditNote,
    Customer,
    CustomerInvoice,
    CustomerService,
    ProviderTask,
    ServiceActionLog,
    ServiceSuspension,
)
from app.models.billing import PERIOD_INVOICE_TYPES
from app.models.services import SUSPENSION_TYPES
from app.notifications import queue_notification
from app.settings import bool_setting

BACKDATE_LIMIT_DAYS = 60

ALLOWED_FROM = {
    "activate": ("pending",),
    "suspend": ("active",),
    "reactivate": ("suspended",),
    "cancel": ("pending", "active", "suspended"),
    "change": ("active", "suspended"),
}


@dataclass
class ActionResult:
    """What an action did: the service and the documents it issued."""

    service: CustomerService
    action: str
    invoices: list[CustomerInvoice] = field(default_factory=list)
    credit_notes: list[CreditNote] = field(default_factory=list)

    def money_effects(self) -> list[str]:
        """Readable lines such as "Pro-rata invoice R426.13 for 15 Nov – 30 Nov 2026"."""
        return self._effects(with_numbers=False)

    def document_effects(self) -> list[str]:
        """The same lines naming the documents, once committed: "Pro-rata invoice
        INV-2026-00001 R426.13 for 15 Nov – 30 Nov 2026"."""
        return self._effects(with_numbers=True)

    def _effects(self, *, with_numbers: bool) -> list[str]:
        lines = []
        for invoice in self.invoices:
            kind = {"pro_rata": "Pro-rata invoice", "installation": "Installation invoice"}.get(
                invoice.invoice_type, f"{invoice.invoice_type.replace('_', ' ').title()} invoice"
            )
            number = invoice.invoice_number if with_numbers else None
            lines.append(_effect_line(kind, number, invoice.total_amount, invoice))
        for note in self.credit_notes:
            number = note.credit_note_number if with_numbers else None
            lines.append(_effect_line("Credit note", number, note.total_amount, note))
        return lines or ["No money moves."]


def _effect_line(kind: str, number: str | None, amount: Decimal, document) -> str:
    span = (
        f" for {describe_span(Period(document.period_start, document.period_end))}"
        if document.period_start
        else ""
    )
    return f"{kind}{f' {number}' if number else ''} {format_rand(amount)}{span}"


# --- Shared steps -------------------------------------------------------------------------


def lock_service(service_id: int) -> CustomerService:
    """The service row, locked for this transaction (always taken before billing rows)."""
    service = db.session.scalars(
        select(CustomerService)
        .where(CustomerService.id == service_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if service is None:
        raise InvalidInput("No such service.", field="service_id")
    return service


def _require_state(service: CustomerService, action: str) -> None:
    allowed = ALLOWED_FROM[action]
    if service.status not in allowed:
        raise Conflict(
            f"Cannot {action} a service that is {service.status} "
            f"(only from {' or '.join(allowed)})."
        )


def _action_date(value: date | None, *, field_name: str, today: date) -> date:
    """Today, or a backdated day within the window; never in the future."""
    day = value or today
    if day > today:
        raise InvalidInput("The date cannot be in the future.", field=field_name)
    if day < today - timedelta(days=BACKDATE_LIMIT_DAYS):
        raise InvalidInput(
            f"The date can be backdated by at most {BACKDATE_LIMIT_DAYS} days.", field=field_name
        )
    return day


def _log_action(
    service: CustomerService,
    action: str,
    *,
    actor: Actor,
    reason: str,
    notes: str | None,
    before: dict,
    previous_status: str,
) -> ServiceActionLog:
    entry = ServiceActionLog(
        service_id=service.id,
        customer_id=service.customer_id,
        staff_user_id=actor.staff_user_id,
        actor=actor.label,
        action_type=action,
        reason=reason,
        notes=(notes or "").strip() or None,
        previous_status=previous_status,
        new_status=service.status,
        previous_data=before,
        new_data=snapshot(service),
    )
    db.session.add(entry)
    return entry


def refresh_account_status(customer: Customer) -> None:
    """Re-derive the customer's account status from all their services (DESIGN §4)."""
    statuses = db.session.scalars(
        select(CustomerService.status).where(CustomerService.customer_id == customer.id)
    ).all()
    customer.account_status = derive_account_status(statuses)


def _provider_task(service: CustomerService, action: str, log_entry: ServiceActionLog) -> None:
    """Outbox row for the provider call; keyed by the action it belongs to (one per action)."""
    if not service.connection_id:
        return
    db.session.add(
        ProviderTask(
            provider="interstellio",
            action=action,
            service_id=service.id,
            customer_id=service.customer_id,
            payload={"connection_id": service.connection_id},
            dedupe_key=f"{action}:service-action-{log_entry.id}",
            status="pending",
            attempts=0,
        )
    )
    # Performed after commit (and every minute); harmless without provider settings.
    request_job("provider_tasks_run", "after-commit", queue="default")


def _open_suspension(service: CustomerService) -> ServiceSuspension | None:
    return db.session.scalar(
        select(ServiceSuspension).where(
            ServiceSuspension.service_id == service.id,
            ServiceSuspension.reactivated_at.is_(None),
        )
    )


def _live_period_invoices(service: CustomerService, *, ending_after: date):
    """Live recurring/pro-rata invoices of the service still covering days after a date."""
    return db.session.scalars(
        select(CustomerInvoice)
        .where(
            CustomerInvoice.service_id == service.id,
            CustomerInvoice.status != "cancelled",
            CustomerInvoice.invoice_type.in_(PERIOD_INVOICE_TYPES),
            CustomerInvoice.covered_until > ending_after,
        )
        .order_by(CustomerInvoice.period_start)
        .with_for_update()
    ).all()


def _finish(
    result: ActionResult,
    *,
    actor,
    reason,
    notes,
    before,
    previous_status,
    provider_action: str | None = None,
) -> None:
    refresh_account_status(result.service.customer)
    entry = _log_action(
        result.service,
        result.action,
        actor=actor,
        reason=reason,
        notes=notes,
        before=before,
        previous_status=previous_status,
    )
    db.session.flush()
    if provider_action:
        _provider_task(result.service, provider_action, entry)
        db.session.flush()


# --- Operations ---------------------------------------------------------------------------


def activate_service(
    service: CustomerService,
    *,
    actor: Actor,
    reason: str,
    activation_date: date | None = None,
    notes: str | None = None,
) -> ActionResult:
    """Pending → active: pro-rata invoice for [a, N), installation invoice, provider enable."""
    reason = require_reason(reason)
    service = lock_service(service.id)
    _require_state(service, "activate")
    today = clock.today()
    day = _action_date(activation_date, field_name="activation_date", today=today)
    lock_billing(service.customer_id)
    before, previous = snapshot(service), service.status
    period = period_containing(day, service.billing_date)
    result = ActionResult(service, "activate")
    result.invoices.append(
        issue_period_invoice(
            service,
            Period(day, period.end),
            invoice_type="pro_rata",
            invoice_date=today,
            actor=actor,
        )
    )
    installation = issue_installation_invoice(service, invoice_date=today, actor=actor)
    if installation is not None:
        result.invoices.append(installation)
    service.status = "active"
    service.activation_date = day
    service.last_billing_date = day
    service.next_billing_date = period.end
    queue_notification(
        service.customer,
        "service_activated",
        {
            "package_name": service.package_name,
            "installation_address": service.installation_address,
            "activation_date": day.isoformat(),
            "invoice_total": format_rand(result.invoices[0].total_amount),
        },
    )
    _finish(
        result,
        actor=actor,
        reason=reason,
        notes=notes,
        before=before,
        previous_status=previous,
        provider_action="enable_subscriber",
    )
    return result


def suspend_service(
    service: CustomerService,
    *,
    actor: Actor,
    reason: str,
    suspension_type: str,
    skip_billing: bool = True,
    notes: str | None = None,
) -> ActionResult:
    """Active → suspended. With `skip_billing`, periods starting after today that are
    already invoiced get a full credit note each and `next_billing_date` moves back."""
    reason = require_reason(reason)
    if suspension_type not in SUSPENSION_TYPES:
        raise InvalidInput(
            f"Suspension type must be one of {', '.join(SUSPENSION_TYPES)}.",
            field="suspension_type",
        )
    service = lock_service(service.id)
    _require_state(service, "suspend")
    today = clock.today()
    lock_billing(service.customer_id)
    before, previous = snapshot(service), service.status
    result = ActionResult(service, "suspend")
    if skip_billing:
        ahead = [
            inv
            for inv in _live_period_invoices(service, ending_after=today)
            if inv.period_start > today
        ]
        for invoice in ahead:
            result.credit_notes.append(
                credit_days_from(
                    invoice,
                    invoice.period_start,
                    actor=actor,
                    reason=f"Suspended ({suspension_type}): {reason}",
                )
            )
        if ahead:
            service.next_billing_date = ahead[0].period_start
            service.last_billing_date = billing_date_before(ahead[0].period_start, service)
    db.session.add(
        ServiceSuspension(
            service_id=service.id,
            customer_id=service.customer_id,
            suspension_type=suspension_type,
            reason=reason,
            notes=notes,
            skip_billing=skip_billing,
            suspended_at=clock.now(),
            suspended_by_id=actor.staff_user_id,
        )
    )
    service.status = "suspended"
    service.suspension_date = today
    customer = service.customer
    if suspension_type == "non_payment":
        owed = db.session.scalars(
            select(CustomerInvoice).where(
                CustomerInvoice.customer_id == customer.id,
                CustomerInvoice.status.in_(("unpaid", "partial", "overdue")),
            )
        ).all()
        queue_notification(
            customer,
            "service_suspended_non_payment",
            {
                "package_name": service.package_name,
                "amount_due": format_rand(sum((amount_due(inv) for inv in owed), ZERO)),
            },
        )
    else:
        queue_notification(
            customer,
            "service_suspended",
            {
                "package_name": service.package_name,
                "suspension_label": suspension_type.replace("_", " "),
            },
        )
    _finish(
        result,
        actor=actor,
        reason=reason,
        notes=notes,
        before=before,
        previous_status=previous,
        provider_action="disable_subscriber",
    )
    return result


def billing_date_before(day: date, service: CustomerService) -> date | None:
    """The billing date before `day` (the start of the last invoiced period), if any."""
    start = period_containing(day - timedelta(days=1), service.billing_date).start
    return start if service.activation_date and start >= service.activation_date else None


def reactivate_service(
    service: CustomerService,
    *,
    actor: Actor,
    reason: str,
    notes: str | None = None,
) -> ActionResult:
    """Suspended → active. Skipped periods are never billed: if `next_billing_date` ≤ today,
    a pro-rata invoice covers [today, N); otherwise the period is already invoiced."""
    reason = require_reason(reason)
    service = lock_service(service.id)
    _require_state(service, "reactivate")
    today = clock.today()
    lock_billing(service.customer_id)
    before, previous = snapshot(service), service.status
    result = ActionResult(service, "reactivate")
    suspension = _open_suspension(service)
    if suspension is not None:
        suspension.reactivated_at = clock.now()
        suspension.reactivated_by_id = actor.staff_user_id
    if service.next_billing_date is None or service.next_billing_date <= today:
        period = period_containing(today, service.billing_date)
        result.invoices.append(
            issue_period_invoice(
                service,
                Period(today, period.end),
                invoice_type="pro_rata",
                invoice_date=today,
                actor=actor,
            )
        )
        service.last_billing_date = today
        service.next_billing_date = period.end
    service.status = "active"
    service.suspension_date = None
    queue_notification(
        service.customer, "service_reactivated", {"package_name": service.package_name}
    )
    _finish(
        result,
        actor=actor,
        reason=reason,
        notes=notes,
        before=before,
        previous_status=previous,
        provider_action="enable_subscriber",
    )
    return result


def cancel_service(
    service: CustomerService,
    *,
    actor: Actor,
    reason: str,
    cancellation_date: date | None = None,
    notes: str | None = None,
) -> ActionResult:
    """Cancel from pending, active or suspended. Invoiced days from c on are credited (a
    setting, on by default); active days before c not yet invoiced get a final pro-rata
    invoice. A pending service moves no money."""
    reason = require_reason(reason)
    service = lock_service(service.id)
    _require_state(service, "cancel")
    today = clock.today()
    day = _action_date(cancellation_date, field_name="cancellation_date", today=today)
    lock_billing(service.customer_id)
    before, previous = snapshot(service), service.status
    result = ActionResult(service, "cancel")
    if previous != "pending":
        if service.activation_date and day < service.activation_date:
            raise InvalidInput(
                "The cancellation date is before the activation date.", field="cancellation_date"
            )
        if bool_setting("credit_on_cancellation", today):
            for invoice in _live_period_invoices(service, ending_after=day):
                result.credit_notes.append(
                    credit_days_from(invoice, day, actor=actor, reason=f"Cancelled: {reason}")
                )
        billed_until = service.next_billing_date
        active_until = day
        suspension = _open_suspension(service)
        if previous == "suspended" and suspension is not None and suspension.skip_billing:
            active_until = min(day, service.suspension_date or day)
        if billed_until is not None and billed_until < active_until:
            result.invoices.append(
                issue_period_invoice(
                    service,
                    Period(billed_until, active_until),
                    invoice_type="pro_rata",
                    invoice_date=today,
                    actor=actor,
                )
            )
    service.status = "cancelled"
    service.cancellation_date = day
    service.cancellation_reason = reason
    service.next_billing_date = None
    credit_total = sum((note.total_amount for note in result.credit_notes), ZERO)
    queue_notification(
        service.customer,
        "service_cancelled",
        {
            "package_name": service.package_name,
            "cancellation_date": day.isoformat(),
            "credit_total": format_rand(credit_total) if credit_total else "",
        },
    )
    _finish(
        result,
        actor=actor,
        reason=reason,
        notes=notes,
        before=before,
        previous_status=previous,
        provider_action=None if previous == "pending" else "disable_subscriber",
    )
    return result


def change_service(
    service: CustomerService,
    *,
    actor: Actor,
    reason: str,
    effective_date: date | None = None,
    monthly_price: Decimal | None = None,
    package_name: str | None = None,
    billing_date: int | None = None,
    notes: str | None = None,
) -> ActionResult:
    """Change package/price or billing day from date e (DESIGN §5.4).

    Price: invoiced days from e are credited at the old price and charged at the new one.
    Billing day: invoiced days from e are credited and a bridging pro-rata invoice covers
    [e, first new billing date); billing then follows the new day.
    """
    reason = require_reason(reason)
    if monthly_price is None and package_name is None and billing_date is None:
        raise InvalidInput("Nothing to change.", field="monthly_price")
    if monthly_price is not None and (
        not isinstance(monthly_price, Decimal)
        or monthly_price < 0
        or monthly_price != monthly_price.quantize(Decimal("0.01"))
    ):
        raise InvalidInput("The price must be a rand amount in cents.", field="monthly_price")
    if billing_date is not None and billing_date not in BILLING_DAYS:
        raise InvalidInput(
            f"The billing day must be one of {', '.join(map(str, BILLING_DAYS))}.",
            field="billing_date",
        )
    service = lock_service(service.id)
    _require_state(service, "change")
    today = clock.today()
    day = _action_date(effective_date, field_name="effective_date", today=today)
    lock_billing(service.customer_id)
    before, previous = snapshot(service), service.status
    result = ActionResult(service, "change")
    new_day = billing_date if billing_date not in (None, service.billing_date) else None
    new_price = monthly_price if monthly_price not in (None, service.monthly_price) else None
    billed_until = service.next_billing_date
    reprice = new_day is not None or new_price is not None
    if reprice and billed_until is not None and billed_until > day:
        for invoice in _live_period_invoices(service, ending_after=day):
            result.credit_notes.append(
                credit_days_from(invoice, day, actor=actor, reason=f"Changed: {reason}")
            )
    if package_name:
        service.package_name = package_name.strip()
    if new_price is not None:
        service.monthly_price = new_price
    if new_day is not None:
        service.billing_date = new_day
    if reprice and billed_until is not None and billed_until > day:
        charge_until = billed_until
        if new_day is not None:
            charge_until = billing_date_after(day, new_day)
            if day == period_containing(day, new_day).start:
                charge_until = day  # e is itself a new billing date: the run bills from e
        if charge_until > day:
            result.invoices.append(
                issue_period_invoice(
                    service,
                    Period(day, charge_until),
                    invoice_type="pro_rata",
                    invoice_date=today,
                    actor=actor,
                )
            )
        service.last_billing_date = day
        service.next_billing_date = charge_until
    _finish(
        result,
        actor=actor,
        reason=reason,
        notes=notes,
        before=before,
        previous_status=previous,
    )
    return result


# --- Reviewed actions (console: review the money effect, then confirm) -------------------

OPERATIONS = {
    "activate": activate_service,
    "suspend": suspend_service,
    "reactivate": reactivate_service,
    "cancel": cancel_service,
    "change": change_service,
}


def perform_reviewed_action(
    service: CustomerService,
    action: str,
    *,
    last_action_seen: int | None,
    actor: Actor,
    reason: str,
    **options,
) -> ActionResult:
    """Run `action` as a person reviewed it, so that a confirmed form acts once (§5.7).

    `last_action_seen` is the newest action logged on the service when the form was shown.
    Under the service's row lock, a state that no longer allows the action is refused with
    the state's own message; otherwise any action logged since (a repeated change, or a
    colleague's action) makes the review stale, and it is refused too.
    """
    service = lock_service(service.id)
    _require_state(service, action)
    if latest_service_action_id(service.id) != last_action_seen:
        raise Conflict(
            "This service was changed after the action was reviewed (see its timeline); "
            "review the action again."
        )
    return OPERATIONS[action](service, actor=actor, reason=reason, **options)


def preview_service_action(service: CustomerService, action: str, **arguments) -> list[str]:
    """What `perform_reviewed_action` would do, in words, without doing it: the real
    operation runs and everything is rolled back (no number taken, no job asked for)."""
    try:
        return perform_reviewed_action(service, action, **arguments).money_effects()
    finally:
        db.session.rollback()
