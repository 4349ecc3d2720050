"""Dunning: reminders, overdue notices, suspension and reactivation by rule (DESIGN §5.5).

Each rule acts at most once per invoice and collection attempt: a `dunning_actions` row
(unique on invoice, rule, attempt) is written with the action, so a re-run or a second
scheduler does nothing twice. Automatic actions are audited with the system as actor and
the rule as reason.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import clock
from app.audit import Actor
from app.billing.allocation import amount_due
from app.billing.calendar import billing_date_on_or_after
from app.billing.money import ZERO, format_rand
from app.billing.overdue import mark_overdue_invoices
from app.business_days import add_business_days, is_business_day
from app.extensions import db
from app.lifecycle import reactivate_service, suspend_service
from app.models import (
    Allocation,
    Customer,
    CustomerInvoice,
    CustomerPaymentMethod,
    CustomerService,
    DunningAction,
    PaymentTransaction,
    ServiceSuspension,
)
from app.notifications import queue_notification
from app.settings import bool_setting, int_setting

SYSTEM = Actor.system("dunning")
OPEN_STATUSES = ("unpaid", "partial", "overdue")


@dataclass
class DunningResult:
    """What a dunning run did (or, in a preview, would do)."""

    reminders: list[int] = field(default_factory=list)  # invoice ids
    debit_announcements: list[int] = field(default_factory=list)
    overdue_notices: list[int] = field(default_factory=list)
    suspended_customers: list[int] = field(default_factory=list)
    suspended_services: list[int] = field(default_factory=list)
    reactivated_services: list[int] = field(default_factory=list)
    held_back_customers: list[int] = field(default_factory=list)  # over the per-run cap
    warnings: list[str] = field(default_factory=list)

    @property
    def actions(self) -> int:
        return (
            len(self.reminders)
            + len(self.debit_announcements)
            + len(self.overdue_notices)
            + len(self.suspended_services)
            + len(self.reactivated_services)
        )


def _claim(invoice: CustomerInvoice, rule: str, today: date, attempt: int = 1, **details) -> bool:
    """Record that `rule` acts on `invoice` now; False when it already did (the guard)."""
    exists = db.session.scalar(
        select(DunningAction.id).where(
            DunningAction.invoice_id == invoice.id,
            DunningAction.rule == rule,
            DunningAction.attempt == attempt,
        )
    )
    if exists is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(
                DunningAction(
                    invoice_id=invoice.id,
                    customer_id=invoice.customer_id,
                    rule=rule,
                    attempt=attempt,
                    acted_on=today,
                    details={key: str(value) for key, value in details.items()},
                )
            )
            db.session.flush()
    except IntegrityError:
        return False  # a concurrent run claimed it first
    return True


def active_mandate(customer_id: int) -> CustomerPaymentMethod | None:
    """The customer's active, primary debit-order mandate, if any."""
    return db.session.scalar(
        select(CustomerPaymentMethod).where(
            CustomerPaymentMethod.customer_id == customer_id,
            CustomerPaymentMethod.method_type == "debit_order",
            CustomerPaymentMethod.mandate_status == "active",
            CustomerPaymentMethod.is_active.is_(True),
        )
    )


def send_reminders(today: date, result: DunningResult) -> None:
    """Remind of invoices falling due in N days; mandate holders hear when we debit."""
    due_on = today + timedelta(days=int_setting("reminder_days_before_due", today))
    invoices = db.session.scalars(
        select(CustomerInvoice)
        .where(
            CustomerInvoice.status.in_(("unpaid", "partial")), CustomerInvoice.due_date == due_on
        )
        .order_by(CustomerInvoice.id)
    ).all()
    for invoice in invoices:
        owed = amount_due(invoice)
        if owed <= 0:
            continue
        mandate = active_mandate(invoice.customer_id)
        customer = db.session.get(Customer, invoice.customer_id)
        if mandate is not None:
            debit_day = mandate.debit_day or (
                invoice.service.billing_date if invoice.service else 1
            )
            debit_on = billing_date_on_or_after(invoice.due_date, debit_day)
            if _claim(invoice, "debit_announcement", today, debit_on=debit_on):
                queue_notification(
                    customer,
                    "debit_announcement",
                    {
                        "amount": format_rand(owed),
                        "debit_date": debit_on.isoformat(),
                        "invoice_number": invoice.invoice_number,
                    },
                )
                result.debit_announcements.append(invoice.id)
        elif _claim(invoice, "payment_reminder", today):
            queue_notification(
                customer,
                "payment_reminder",
                {
                    "amount": format_rand(owed),
                    "due_date": invoice.due_date.isoformat(),
                    "invoice_number": invoice.invoice_number,
                },
            )
            result.reminders.append(invoice.id)


def send_overdue_notices(today: date, result: DunningResult) -> None:
    """One notice per invoice marked overdue."""
    invoices = db.session.scalars(
        select(CustomerInvoice)
        .where(CustomerInvoice.status == "overdue")
        .order_by(CustomerInvoice.id)
    ).all()
    for invoice in invoices:
        if _claim(invoice, "overdue_notice", today):
            queue_notification(
                db.session.get(Customer, invoice.customer_id),
                "payment_overdue",
                {
                    "amount": format_rand(amount_due(invoice)),
                    "due_date": invoice.due_date.isoformat(),
                    "invoice_number": invoice.invoice_number,
                },
            )
            result.overdue_notices.append(invoice.id)


def suspend_for_non_payment(today: date, result: DunningResult) -> None:
    """Suspend all active services of customers with an invoice N days past due.

    Off when the setting says so; never on weekends or public holidays; at most the set
    number of customers per run — the rest are listed for a person with a warning.
    """
    if not bool_setting("auto_suspension_enabled", today):
        return
    if not is_business_day(today):
        result.warnings.append(f"No automatic suspensions on {today}: not a business day.")
        return
    cutoff = today - timedelta(days=int_setting("dunning_suspension_days", today))
    cap = int_setting("auto_suspension_max_per_run", today)
    invoices = db.session.scalars(
        select(CustomerInvoice)
        .join(CustomerService, CustomerService.customer_id == CustomerInvoice.customer_id)
        .where(
            CustomerInvoice.status == "overdue",
            CustomerInvoice.due_date <= cutoff,
            CustomerService.status == "active",
        )
        .order_by(CustomerInvoice.due_date, CustomerInvoice.id)
        .distinct()
    ).all()
    by_customer: dict[int, CustomerInvoice] = {}
    for invoice in invoices:
        by_customer.setdefault(invoice.customer_id, invoice)
    for customer_id, invoice in by_customer.items():
        if len(result.suspended_customers) >= cap:
            result.held_back_customers.append(customer_id)
            continue
        if not _claim(invoice, "suspension", today):
            continue
        services = db.session.scalars(
            select(CustomerService)
            .where(CustomerService.customer_id == customer_id, CustomerService.status == "active")
            .order_by(CustomerService.id)
        ).all()
        reason = (
            f"Dunning rule: invoice {invoice.invoice_number} unpaid "
            f"{(today - invoice.due_date).days} days after its due date"
        )
        for service in services:
            suspend_service(
                service,
                actor=SYSTEM,
                reason=reason,
                suspension_type="non_payment",
                skip_billing=True,
            )
            result.suspended_services.append(service.id)
        result.suspended_customers.append(customer_id)
    if result.held_back_customers:
        result.warnings.append(
            f"{len(result.held_back_customers)} customers are due for suspension beyond the "
            f"cap of {cap} per run; review them in the console."
        )


def _still_owing(customer_id: int, today: date) -> bool:
    """Any invoice past due + grace still unpaid, counting debit-order money only once its
    return window (N business days after the collection) has passed."""
    grace = int_setting("overdue_grace_days", today)
    window = int_setting("debit_order_return_window_business_days", today)
    invoices = db.session.scalars(
        select(CustomerInvoice).where(
            CustomerInvoice.customer_id == customer_id,
            CustomerInvoice.status != "cancelled",
            CustomerInvoice.due_date < today - timedelta(days=grace),
        )
    ).all()
    for invoice in invoices:
        unsettled = amount_due(invoice)
        debit_allocations = db.session.execute(
            select(Allocation.amount, PaymentTransaction.payment_date)
            .join(PaymentTransaction, PaymentTransaction.id == Allocation.payment_id)
            .where(
                Allocation.invoice_id == invoice.id,
                Allocation.reversed_at.is_(None),
                PaymentTransaction.method == "debit_order",
            )
        ).all()
        for amount, paid_on in debit_allocations:
            if add_business_days(paid_on, window) > today:
                unsettled += amount
        if unsettled > ZERO:
            return True
    return False


def reactivate_paid_up(today: date, result: DunningResult) -> None:
    """Reactivate services suspended for non-payment once nothing is overdue any more."""
    suspensions = db.session.scalars(
        select(ServiceSuspension)
        .join(CustomerService, CustomerService.id == ServiceSuspension.service_id)
        .where(
            ServiceSuspension.reactivated_at.is_(None),
            ServiceSuspension.suspension_type == "non_payment",
            CustomerService.status == "suspended",
        )
        .order_by(ServiceSuspension.customer_id, ServiceSuspension.service_id)
    ).all()
    by_customer = defaultdict(list)
    for suspension in suspensions:
        by_customer[suspension.customer_id].append(suspension)
    for customer_id, customer_suspensions in by_customer.items():
        if _still_owing(customer_id, today):
            continue
        trigger = db.session.scalar(
            select(DunningAction)
            .where(DunningAction.customer_id == customer_id, DunningAction.rule == "suspension")
            .order_by(DunningAction.id.desc())
        )
        if trigger is not None:
            invoice = db.session.get(CustomerInvoice, trigger.invoice_id)
            if not _claim(invoice, "reactivation", today, attempt=trigger.attempt):
                continue
        for suspension in customer_suspensions:
            reactivate_service(
                suspension.service,
                actor=SYSTEM,
                reason="Dunning rule: nothing overdue any more",
            )
            result.reactivated_services.append(suspension.service_id)


def run_dunning(today: date) -> DunningResult:
    """All dunning rules for one day, in order. The caller commits (or rolls back: preview)."""
    result = DunningResult()
    send_reminders(today, result)
    send_overdue_notices(today, result)
    suspend_for_non_payment(today, result)
    reactivate_paid_up(today, result)
    db.session.flush()
    return result


def amount_owed(customer_id: int) -> Decimal:
    """What a customer owes on open invoices (for messages and previews)."""
    invoices = db.session.scalars(
        select(CustomerInvoice).where(
            CustomerInvoice.customer_id == customer_id,
            CustomerInvoice.status.in_(OPEN_STATUSES),
        )
    ).all()
    return sum((amount_due(invoice) for invoice in invoices), ZERO)


# --- Preview: what the next run would do ----------------------------------------------------


@dataclass(frozen=True)
class PreviewCustomer:
    customer_id: int
    account_number: str
    name: str


@dataclass(frozen=True)
class PreviewInvoice:
    """An invoice a rule would act on, with its customer and what is owed on it."""

    customer: PreviewCustomer
    invoice_id: int
    invoice_number: str | None
    amount_due: Decimal
    due_date: date
    note: str = ""


@dataclass(frozen=True)
class PreviewService:
    """A service a rule would suspend or reactivate, with its customer."""

    customer: PreviewCustomer
    service_id: int
    package_name: str


@dataclass(frozen=True)
class DunningPreview:
    """What marking overdue invoices and the dunning run of `day` would do, with names."""

    day: date
    newly_overdue: list[PreviewInvoice]
    reminders: list[PreviewInvoice]
    debit_announcements: list[PreviewInvoice]
    overdue_notices: list[PreviewInvoice]
    suspensions: list[PreviewService]
    reactivations: list[PreviewService]
    held_back: list[PreviewCustomer]
    warnings: list[str]

    @property
    def actions(self) -> int:
        return (
            len(self.newly_overdue)
            + len(self.reminders)
            + len(self.debit_announcements)
            + len(self.overdue_notices)
            + len(self.suspensions)
            + len(self.reactivations)
        )


def preview_dunning(day: date) -> DunningPreview:
    """Mark overdue invoices and run dunning for `day` exactly as the daily job would, with
    the clock pinned to that day (for this thread only), describe what happened, and roll
    everything back: no status, dunning action, notification, suspension or number stays.
    """
    try:
        with clock.frozen_in_this_thread(day):
            newly_overdue = mark_overdue_invoices(day)
            result = run_dunning(day)
            return _describe_preview(day, [invoice.id for invoice in newly_overdue], result)
    finally:
        db.session.rollback()


def _describe_preview(day: date, newly_overdue: list[int], result: DunningResult):
    invoice_ids = {
        *newly_overdue,
        *result.reminders,
        *result.debit_announcements,
        *result.overdue_notices,
    }
    invoices = {
        invoice.id: invoice
        for invoice in db.session.scalars(
            select(CustomerInvoice).where(CustomerInvoice.id.in_(invoice_ids))
        )
    }
    service_ids = {*result.suspended_services, *result.reactivated_services}
    services = {
        service.id: service
        for service in db.session.scalars(
            select(CustomerService).where(CustomerService.id.in_(service_ids))
        )
    }
    customer_ids = {
        *(invoice.customer_id for invoice in invoices.values()),
        *(service.customer_id for service in services.values()),
        *result.held_back_customers,
    }
    customers = {
        customer.id: PreviewCustomer(customer.id, customer.account_number, customer.full_name)
        for customer in db.session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))
    }
    debit_dates = dict(
        db.session.execute(
            select(DunningAction.invoice_id, DunningAction.details).where(
                DunningAction.invoice_id.in_(result.debit_announcements),
                DunningAction.rule == "debit_announcement",
                DunningAction.acted_on == day,
            )
        ).all()
    )

    def invoice_lines(ids: list[int]) -> list[PreviewInvoice]:
        lines = []
        for invoice_id in ids:
            invoice = invoices[invoice_id]
            debit_on = (debit_dates.get(invoice_id) or {}).get("debit_on")
            lines.append(
                PreviewInvoice(
                    customer=customers[invoice.customer_id],
                    invoice_id=invoice.id,
                    invoice_number=invoice.invoice_number,
                    amount_due=amount_due(invoice),
                    due_date=invoice.due_date,
                    note=f"debit on {debit_on}" if debit_on else "",
                )
            )
        return lines

    def service_lines(ids: list[int]) -> list[PreviewService]:
        return [
            PreviewService(
                customer=customers[services[service_id].customer_id],
                service_id=service_id,
                package_name=services[service_id].package_name,
            )
            for service_id in ids
        ]

    return DunningPreview(
        day=day,
        newly_overdue=invoice_lines(newly_overdue),
        reminders=invoice_lines(result.reminders),
        debit_announcements=invoice_lines(result.debit_announcements),
        overdue_notices=invoice_lines(result.overdue_notices),
        suspensions=service_lines(result.suspended_services),
        reactivations=service_lines(result.reactivated_services),
        held_back=[customers[customer_id] for customer_id in result.held_back_customers],
        warnings=list(result.warnings),
    )
