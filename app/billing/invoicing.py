"""Issuing invoices and the invoice run (DESIGN §5.1–5.4, §6).

Billing is in advance: `next_billing_date` is the first day not yet invoiced. The daily run
invoices every billable service whose `next_billing_date` ≤ run date + 7 days, one invoice
per period, catching up missed periods in order, and advances the dates in the same
transaction. Each service is invoiced inside a savepoint (a failing service rolls back
alone); the invoices get their numbers as the last step before commit (app.billing.numbering).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from app import clock
from app.audit import Actor, record_audit, require_reason
from app.billing.allocation import apply_account_credit
from app.billing.calendar import Period, billing_date_after
from app.billing.ledger import lock_billing, post_entry
from app.billing.money import ZERO, ChargePiece, charge_for_span, split_vat
from app.billing.numbering import queue_for_numbering
from app.errors import InvalidInput
from app.extensions import db
from app.job_requests import audit_job_request, request_job
from app.models import (
    AuditLog,
    CronExecutionLog,
    Customer,
    CustomerInvoice,
    CustomerService,
    ServiceSuspension,
)
from app.notifications import announce_invoice
from app.settings import int_setting, vat_rate_on

DEFAULT_CHUNK_SIZE = 200


# --- Line items ---------------------------------------------------------------------------


def describe_span(span: Period) -> str:
    """ "15 Nov – 30 Nov 2026": the last day printed inclusive."""
    last = span.end - timedelta(days=1)
    if span.start.year != last.year:
        return f"{span.start:%-d %b %Y} – {last:%-d %b %Y}"
    return f"{span.start:%-d %b} – {last:%-d %b %Y}"


def service_line(service: CustomerService, piece: ChargePiece, line_type: str) -> dict:
    """A line item that shows its computation ("…, 16/30 days")."""
    label = f"{service.package_name} – "
    if piece.is_whole_period:
        description = label + describe_span(piece.span)
        quantity = "1"
    else:
        fraction = f"{piece.span.days}/{piece.period.days}"
        description = f"{label}pro-rata {describe_span(piece.span)}, {fraction} days"
        quantity = fraction
    return {
        "description": description,
        "quantity": quantity,
        "unit_price": str(service.monthly_price),
        "amount": str(piece.amount),
        "type": line_type,
        "period_start": piece.span.start.isoformat(),
        "period_end": piece.span.end.isoformat(),
        "days": piece.span.days,
        "period_days": piece.period.days,
    }


def fee_line(description: str, amount: Decimal, line_type: str) -> dict:
    return {
        "description": description,
        "quantity": "1",
        "unit_price": str(amount),
        "amount": str(amount),
        "type": line_type,
    }


# --- Issuing ------------------------------------------------------------------------------


def issued_to_snapshot(customer: Customer) -> dict:
    """Supplier and customer details as printed, frozen so a re-rendered PDF is identical."""
    config = current_app.config
    address_lines = [
        customer.billing_address_line1,
        customer.billing_address_line2,
        customer.billing_suburb,
        customer.billing_city,
        " ".join(p for p in (customer.billing_province, customer.billing_postal_code) if p),
    ]
    return {
        "supplier": {
            "name": config["SUPPLIER_NAME"],
            "address": config["SUPPLIER_ADDRESS"],
            "vat_number": config["SUPPLIER_VAT_NUMBER"],
            "registration_number": config["SUPPLIER_REGISTRATION_NUMBER"],
            "email": config["SUPPLIER_EMAIL"],
            "phone": config["SUPPLIER_PHONE"],
            "bank": {
                "bank_name": config["SUPPLIER_BANK_NAME"],
                "account_name": config["SUPPLIER_BANK_ACCOUNT_NAME"],
                "account_number": config["SUPPLIER_BANK_ACCOUNT_NUMBER"],
                "branch_code": config["SUPPLIER_BANK_BRANCH_CODE"],
            },
        },
        "customer": {
            "name": customer.company_name or customer.full_name,
            "contact": customer.full_name,
            "account_number": customer.account_number,
            "email": customer.email,
            "address_lines": [line for line in address_lines if line],
            "vat_number": customer.vat_number if customer.account_type == "business" else None,
        },
    }


def issue_invoice(
    *,
    customer: Customer,
    service: CustomerService | None,
    invoice_type: str,
    lines: list[dict],
    invoice_date: date,
    actor: Actor,
    period: Period | None = None,
) -> CustomerInvoice:
    """Issue one invoice: VAT on the total, ledger entry, balance, and account credit applied.

    The number is assigned when the transaction commits (numbering is the last step).
    """
    total = sum((Decimal(line["amount"]) for line in lines), ZERO)
    rate = vat_rate_on(invoice_date)
    split = split_vat(total, rate)
    invoice = CustomerInvoice(
        customer_id=customer.id,
        service_id=service.id if service is not None else None,
        invoice_date=invoice_date,
        due_date=invoice_date + timedelta(days=int_setting("payment_terms_days", invoice_date)),
        period_start=period.start if period else None,
        period_end=period.end if period else None,
        covered_until=period.end if period else None,
        subtotal=split.subtotal,
        vat_rate=rate,
        vat_amount=split.vat_amount,
        total_amount=split.total,
        amount_paid=ZERO,
        amount_credited=ZERO,
        line_items=lines,
        invoice_type=invoice_type,
        status="paid" if total == 0 else "unpaid",
        issued_to=issued_to_snapshot(customer),
    )
    db.session.add(invoice)
    db.session.flush()
    queue_for_numbering(invoice)
    announce_invoice(invoice)  # invoice_generated, once numbered at commit
    request_job(
        "render_invoice_pdf", invoice.id, queue="billing", job_id=f"invoice-pdf-{invoice.id}"
    )
    if total > 0:
        post_entry(
            customer_id=customer.id,
            entry_type="invoice",
            amount=total,
            entry_date=invoice_date,
            description=f"Invoice {invoice_type} {lines[0]['description']}",
            actor=actor,
            invoice_id=invoice.id,
        )
        apply_account_credit(customer.id)
    return invoice


def issue_period_invoice(
    service: CustomerService,
    span: Period,
    *,
    invoice_type: str,
    invoice_date: date,
    actor: Actor,
) -> CustomerInvoice:
    """Invoice the service days [span.start, span.end) (split per period when crossing)."""
    pieces = charge_for_span(service.monthly_price, service.billing_date, span.start, span.end)
    lines = [service_line(service, piece, invoice_type) for piece in pieces]
    return issue_invoice(
        customer=service.customer,
        service=service,
        invoice_type=invoice_type,
        lines=lines,
        invoice_date=invoice_date,
        actor=actor,
        period=span,
    )


def issue_installation_invoice(
    service: CustomerService, *, invoice_date: date, actor: Actor
) -> CustomerInvoice | None:
    """The once-off installation and router invoice, when either fee is non-zero."""
    lines = []
    if service.installation_fee > 0:
        lines.append(
            fee_line(
                f"Installation – {service.package_name}", service.installation_fee, "installation"
            )
        )
    if service.router_fee > 0:
        router = service.router_model or "router"
        lines.append(fee_line(f"Router – {router}", service.router_fee, "equipment"))
    if not lines:
        return None
    return issue_invoice(
        customer=service.customer,
        service=service,
        invoice_type="installation",
        lines=lines,
        invoice_date=invoice_date,
        actor=actor,
    )


# --- The invoice run ----------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedInvoice:
    """What a run issued, kept as plain values so a rolled-back preview can report it."""

    customer_id: int
    service_id: int
    billing_day: int
    period_start: date
    total_amount: Decimal
    invoice_id: int | None = None  # of no use after a preview, which rolls the rows back


@dataclass
class InvoiceRunResult:
    """What an invoice run (or one chunk of it) did."""

    run_date: date
    issued: list[IssuedInvoice] = field(default_factory=list)
    skipped: int = 0
    failed: int = 0
    failures: list[dict] = field(default_factory=list)

    @property
    def total_amount(self) -> Decimal:
        return sum((item.total_amount for item in self.issued), ZERO)

    def totals_by_billing_day(self) -> dict[int, dict]:
        summary: dict[int, dict] = defaultdict(lambda: {"invoices": 0, "total": ZERO})
        for item in self.issued:
            summary[item.billing_day]["invoices"] += 1
            summary[item.billing_day]["total"] += item.total_amount
        return dict(sorted(summary.items()))

    def merge(self, other: "InvoiceRunResult") -> None:
        self.issued.extend(other.issued)
        self.skipped += other.skipped
        self.failed += other.failed
        self.failures.extend(other.failures)


def billing_horizon(run_date: date) -> date:
    """Invoices go out this many days before their period starts (a setting, 7 days)."""
    return run_date + timedelta(days=int_setting("invoice_days_ahead", run_date))


def _skips_billing(service: CustomerService) -> bool:
    """A suspended service is skipped while its open suspension has `skip_billing`."""
    if service.status != "suspended":
        return False
    suspension = db.session.scalar(
        select(ServiceSuspension).where(
            ServiceSuspension.service_id == service.id,
            ServiceSuspension.reactivated_at.is_(None),
        )
    )
    return suspension is None or suspension.skip_billing


def plan_invoice_run(run_date: date, chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[list[int]]:
    """Service ids due by the horizon, in chunks that keep a customer's services together."""
    rows = db.session.execute(
        select(CustomerService.customer_id, CustomerService.id)
        .where(
            CustomerService.status.in_(("active", "suspended")),
            CustomerService.next_billing_date <= billing_horizon(run_date),
        )
        .order_by(CustomerService.customer_id, CustomerService.id)
    ).all()
    chunks: list[list[int]] = []
    current: list[int] = []
    last_customer = None
    for customer_id, service_id in rows:
        if len(current) >= chunk_size and customer_id != last_customer:
            chunks.append(current)
            current = []
        current.append(service_id)
        last_customer = customer_id
    if current:
        chunks.append(current)
    return chunks


def invoice_services(service_ids: list[int], run_date: date, *, actor: Actor) -> InvoiceRunResult:
    """Invoice the due periods of these services up to the horizon (one chunk of a run).

    Locks the services (id order), then their customers' billing rows (customer id order),
    re-checks status and dates under the lock so a concurrent lifecycle action wins
    cleanly, and invoices each service in its own savepoint. The caller commits.
    """
    result = InvoiceRunResult(run_date)
    horizon = billing_horizon(run_date)
    services = db.session.scalars(
        select(CustomerService)
        .where(CustomerService.id.in_(service_ids))
        .order_by(CustomerService.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    for customer_id in sorted({service.customer_id for service in services}):
        lock_billing(customer_id)
    for service in services:
        if service.status not in ("active", "suspended") or service.next_billing_date is None:
            continue
        if service.next_billing_date > horizon:
            continue  # another run got here first
        if _skips_billing(service):
            result.skipped += 1
            continue
        try:
            with db.session.begin_nested():
                invoices = _invoice_due_periods(service, horizon, run_date, actor=actor)
            result.issued.extend(
                IssuedInvoice(
                    customer_id=service.customer_id,
                    service_id=service.id,
                    billing_day=service.billing_date,
                    period_start=invoice.period_start,
                    total_amount=invoice.total_amount,
                    invoice_id=invoice.id,
                )
                for invoice in invoices
            )
        except Exception as error:  # one failing service never stops the chunk
            result.failed += 1
            result.failures.append({"service_id": service.id, "error": str(error)[:500]})
    return result


def generate_invoices_now(
    service_ids: list[int], *, run_date: date, actor: Actor, reason: str
) -> InvoiceRunResult:
    """Invoice selected services now ("Generate invoices now"), with a reason on each.

    The same chunk logic as the daily run, so nothing is invoiced twice and only periods
    due by the horizon are billed. The run date cannot be in the future.
    """
    reason = require_reason(reason)
    _refuse_future_run_date(run_date)
    result = invoice_services(sorted(set(service_ids)), run_date, actor=actor)
    by_service = defaultdict(list)
    for item in result.issued:
        by_service[item.service_id].append(
            {"period_start": item.period_start.isoformat(), "total": str(item.total_amount)}
        )
    for service_id, issued in by_service.items():
        service = db.session.get(CustomerService, service_id)
        record_audit(
            actor=actor,
            entity=service,
            action="generate_invoices",
            reason=reason,
            before=None,
            after={"invoices": issued, "next_billing_date": service.next_billing_date.isoformat()},
            customer_id=service.customer_id,
        )
    return result


def _refuse_future_run_date(run_date: date) -> None:
    """A person invoices "now": never as of a day that has not come yet."""
    if run_date > clock.today():
        raise InvalidInput("Invoices cannot be generated for a future date.", field="date")


def _invoice_due_periods(
    service: CustomerService, horizon: date, run_date: date, *, actor: Actor
) -> list[CustomerInvoice]:
    issued = []
    while service.next_billing_date <= horizon:
        start = service.next_billing_date
        period = Period(start, billing_date_after(start, service.billing_date))
        issued.append(
            issue_period_invoice(
                service, period, invoice_type="recurring", invoice_date=run_date, actor=actor
            )
        )
        service.last_billing_date = period.start
        service.next_billing_date = period.end
    db.session.flush()
    return issued


def run_invoices(
    run_date: date,
    *,
    actor: Actor,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    dry_run: bool = False,
    on_chunk=None,
    reason: str | None = None,
) -> InvoiceRunResult:
    """The whole run in this process, committing chunk by chunk (or rolling back: preview).

    A preview runs exactly the same code and rolls every chunk back, so it never takes a
    number. `on_chunk(done, total)` reports progress. With a `reason` (a person asked for
    the run: "Generate invoices now" for every due service), each chunk goes through
    `generate_invoices_now`, so every invoiced service gets an audit row with that reason.
    """
    if reason is not None:
        reason = require_reason(reason)
        _refuse_future_run_date(run_date)
    result = InvoiceRunResult(run_date)
    chunks = plan_invoice_run(run_date, chunk_size)
    for index, chunk in enumerate(chunks, start=1):
        if reason is None:
            chunk_result = invoice_services(chunk, run_date, actor=actor)
        else:
            chunk_result = generate_invoices_now(
                chunk, run_date=run_date, actor=actor, reason=reason
            )
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
        result.merge(chunk_result)
        if on_chunk:
            on_chunk(index, len(chunks))
    return result


# --- Starting the run from the console -----------------------------------------------------

INVOICE_RUN_JOB = "invoice_run"
REQUEST_INVOICE_RUN = "request_invoice_run"


def request_invoice_run(run_date: date, *, actor: Actor, reason: str) -> AuditLog:
    """Ask for the invoice run of `run_date` on the billing queue, audited with a reason.

    The job starts once the caller commits: it plans the chunks, writes the run's
    `cron_execution_log` row and fans the chunks out (jobs.billing.invoice_run). Returns the
    audit row, which `requested_invoice_run` uses to find that run row once it exists.
    """
    reason = require_reason(reason)
    request_job(INVOICE_RUN_JOB, run_date.isoformat(), "manual", actor.label, queue="billing")
    return audit_job_request(
        action=REQUEST_INVOICE_RUN,
        after={"job": INVOICE_RUN_JOB, "business_date": run_date.isoformat(), "queue": "billing"},
        actor=actor,
        reason=reason,
    )


def requested_invoice_run(request: AuditLog) -> CronExecutionLog | None:
    """The run started for a `request_invoice_run` audit row, or None while it waits for a
    worker: the first manual run of that date by that actor started since the request."""
    return db.session.scalar(
        select(CronExecutionLog)
        .where(
            CronExecutionLog.job_name == INVOICE_RUN_JOB,
            CronExecutionLog.business_date == date.fromisoformat(request.after["business_date"]),
            CronExecutionLog.trigger_source == "manual",
            CronExecutionLog.triggered_by == request.actor,
            CronExecutionLog.execution_start >= request.created_at,
        )
        .order_by(CronExecutionLog.execution_start, CronExecutionLog.id)
        .limit(1)
    )
