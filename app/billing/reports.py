"""Finance figures for the console: the dashboard, receivables aging, the invoice-run preview.

Every figure is computed in the database with a bounded number of queries (one per figure,
never one per row), so the pages stay fast with hundreds of thousands of invoices. Amounts
are VAT-inclusive unless a name says otherwise (DESIGN §5.1).
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, extract, func, select, tuple_

from app.audit import Actor
from app.billing.calendar import BILLING_DAYS, Period, billing_date_after
from app.billing.invoicing import InvoiceRunResult, IssuedInvoice, describe_span, run_invoices
from app.billing.money import ZERO, as_money, split_vat
from app.extensions import db
from app.models import (
    Allocation,
    CreditNote,
    CronExecutionLog,
    Customer,
    CustomerInvoice,
    CustomerService,
    PaymentTransaction,
)
from app.settings import int_setting, vat_rate_on

# Invoices whose money is still owed (cancelled and paid ones owe nothing).
RECEIVABLE_STATUSES = ("unpaid", "partial", "overdue")
# A service whose new period costs more than this much more or less than its previous one is
# flagged in the invoice-run preview, so a wrong price is caught before invoices go out.
AMOUNT_CHANGE_THRESHOLD_PERCENT = Decimal("20")
# Large IN lists are split so that no statement carries more parameters than a driver takes.
IN_LIST_SIZE = 5000
CHART_MONTHS = 12


def _money(value) -> Decimal:
    """A SQL sum as money: NULL (no rows) is zero; a bare integer zero becomes 0.00."""
    if value is None:
        return ZERO
    return as_money(value)


def _in_batches(ids: Iterable[int]) -> Iterator[list[int]]:
    ids = sorted(set(ids))
    for start in range(0, len(ids), IN_LIST_SIZE):
        yield ids[start : start + IN_LIST_SIZE]


# --- Receivables aging --------------------------------------------------------------------


@dataclass(frozen=True)
class AgingBucket:
    """Money due on invoices whose due date lies `min_days`–`max_days` days in the past."""

    key: str
    label: str
    min_days: int | None  # None: not yet due
    max_days: int | None  # None: no upper bound


AGING_BUCKETS = (
    AgingBucket("not_due", "Not yet due", None, -1),
    AgingBucket("days_0_30", "0–30 days", 0, 30),
    AgingBucket("days_31_60", "31–60 days", 31, 60),
    AgingBucket("days_61_90", "61–90 days", 61, 90),
    AgingBucket("days_over_90", "90+ days", 91, None),
)


def _receivable():
    return (
        CustomerInvoice.status.in_(RECEIVABLE_STATUSES),
        CustomerInvoice.amount_due > 0,
    )


def _bucket_sums(today: date) -> list:
    """One `SUM(CASE …)` column per aging bucket, by days past the due date.

    Sums of CASE expressions (rather than GROUP BY a CASE) keep each date a single bound
    parameter, which PostgreSQL needs to match a grouped expression.
    """
    columns = []
    for bucket in AGING_BUCKETS:
        conditions = []
        if bucket.min_days is not None:
            conditions.append(CustomerInvoice.due_date <= today - timedelta(days=bucket.min_days))
        if bucket.max_days is not None:
            conditions.append(CustomerInvoice.due_date >= today - timedelta(days=bucket.max_days))
        in_bucket = conditions[0] if len(conditions) == 1 else conditions[0] & conditions[1]
        columns.append(
            func.sum(case((in_bucket, CustomerInvoice.amount_due), else_=0)).label(bucket.key)
        )
    return columns


def _bucket_amounts(sums) -> dict[str, Decimal]:
    return {bucket.key: _money(value) for bucket, value in zip(AGING_BUCKETS, sums, strict=True)}


@dataclass(frozen=True)
class Aging:
    """Receivables by age on a date: {bucket key: amount}, in `AGING_BUCKETS` order."""

    on: date
    amounts: dict[str, Decimal]
    invoices: int

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), ZERO)

    @property
    def past_due(self) -> Decimal:
        return self.total - self.amounts["not_due"]

    def rows(self) -> list[tuple[AgingBucket, Decimal]]:
        return [(bucket, self.amounts[bucket.key]) for bucket in AGING_BUCKETS]


def receivables_aging(today: date) -> Aging:
    """Money due on unpaid, partial and overdue invoices, by days past their due date."""
    row = db.session.execute(
        select(func.count(CustomerInvoice.id), *_bucket_sums(today)).where(*_receivable())
    ).one()
    invoices, *sums = row
    return Aging(
        on=today,
        amounts={
            bucket.key: _money(value) for bucket, value in zip(AGING_BUCKETS, sums, strict=True)
        },
        invoices=invoices,
    )


@dataclass(frozen=True)
class CustomerAging:
    """One customer's line of the aging report."""

    account_number: str
    customer_name: str
    email: str
    amounts: dict[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), ZERO)


def aging_by_customer(today: date) -> list[CustomerAging]:
    """The aging report per customer who owes money, by account number (one query)."""
    rows = db.session.execute(
        select(
            Customer.account_number,
            Customer.company_name,
            Customer.first_name,
            Customer.last_name,
            Customer.email,
            *_bucket_sums(today),
        )
        .join(CustomerInvoice, CustomerInvoice.customer_id == Customer.id)
        .where(*_receivable())
        .group_by(
            Customer.id,
            Customer.account_number,
            Customer.company_name,
            Customer.first_name,
            Customer.last_name,
            Customer.email,
        )
        .order_by(Customer.account_number)
    )
    return [
        CustomerAging(
            account_number=account_number,
            customer_name=company_name or f"{first_name} {last_name}",
            email=email,
            amounts={
                bucket.key: _money(value) for bucket, value in zip(AGING_BUCKETS, sums, strict=True)
            },
        )
        for account_number, company_name, first_name, last_name, email, *sums in rows
    ]


def amount_overdue(today: date) -> Decimal:
    """Money due on invoices past their due date plus the grace days (the overdue rule,
    §5.5), whether or not the daily run has marked them yet."""
    grace = int_setting("overdue_grace_days", today)
    return _money(
        db.session.scalar(
            select(func.sum(CustomerInvoice.amount_due)).where(
                *_receivable(), CustomerInvoice.due_date < today - timedelta(days=grace)
            )
        )
    )


# --- Recurring revenue and monthly totals --------------------------------------------------


@dataclass(frozen=True)
class RecurringRevenue:
    """Monthly recurring revenue of the active services; prices are VAT-inclusive."""

    active_services: int
    monthly_total: Decimal
    vat_rate: Decimal
    vat_amount: Decimal
    monthly_total_excl_vat: Decimal


def monthly_recurring_revenue(today: date) -> RecurringRevenue:
    """Sum of the monthly prices of active services, with the VAT in it at today's rate."""
    count, total = db.session.execute(
        select(func.count(CustomerService.id), func.sum(CustomerService.monthly_price)).where(
            CustomerService.status == "active"
        )
    ).one()
    total = _money(total)
    rate = vat_rate_on(today)
    split = split_vat(total, rate)
    return RecurringRevenue(
        active_services=count,
        monthly_total=total,
        vat_rate=rate,
        vat_amount=split.vat_amount,
        monthly_total_excl_vat=split.subtotal,
    )


@dataclass(frozen=True)
class MonthTotals:
    """What was invoiced (net of credit notes) and collected in one calendar month."""

    month: date  # the first day of the month
    invoiced: Decimal
    collected: Decimal


def _first_of_month(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def _sums_by_month(date_column, amount_column, *conditions, since: date, until: date) -> dict:
    year, month = extract("year", date_column), extract("month", date_column)
    rows = db.session.execute(
        select(year, month, func.sum(amount_column))
        .where(date_column >= since, date_column <= until, *conditions)
        .group_by(year, month)
    )
    return {date(int(y), int(m), 1): _money(total) for y, m, total in rows}


def invoiced_and_collected(today: date, months: int = CHART_MONTHS) -> list[MonthTotals]:
    """The last `months` calendar months up to today's: invoiced net of credit notes, and
    completed payments (reversed ones do not count) by the date the money arrived."""
    since = _first_of_month(today, months - 1)
    invoiced = _sums_by_month(
        CustomerInvoice.invoice_date, CustomerInvoice.total_amount, since=since, until=today
    )
    credited = _sums_by_month(
        CreditNote.credit_note_date, CreditNote.total_amount, since=since, until=today
    )
    collected = _sums_by_month(
        PaymentTransaction.payment_date,
        PaymentTransaction.amount,
        PaymentTransaction.status == "completed",
        since=since,
        until=today,
    )
    result = []
    for back in range(months - 1, -1, -1):
        month = _first_of_month(today, back)
        result.append(
            MonthTotals(
                month=month,
                invoiced=invoiced.get(month, ZERO) - credited.get(month, ZERO),
                collected=collected.get(month, ZERO),
            )
        )
    return result


# --- Job runs ------------------------------------------------------------------------------


def last_job_runs() -> list[CronExecutionLog]:
    """The most recently started run of every job, by job name (one query)."""
    ranked = select(
        CronExecutionLog.id,
        func.row_number()
        .over(
            partition_by=CronExecutionLog.job_name,
            order_by=(CronExecutionLog.execution_start.desc(), CronExecutionLog.id.desc()),
        )
        .label("recency"),
    ).subquery()
    return db.session.scalars(
        select(CronExecutionLog)
        .join(ranked, ranked.c.id == CronExecutionLog.id)
        .where(ranked.c.recency == 1)
        .order_by(CronExecutionLog.job_name)
    ).all()


def recent_runs(job_name: str, limit: int = 10) -> list[CronExecutionLog]:
    """The newest runs of one job."""
    return db.session.scalars(
        select(CronExecutionLog)
        .where(CronExecutionLog.job_name == job_name)
        .order_by(CronExecutionLog.execution_start.desc(), CronExecutionLog.id.desc())
        .limit(limit)
    ).all()


# --- The dashboard -------------------------------------------------------------------------


@dataclass(frozen=True)
class FinanceDashboard:
    """Everything the console home shows, as of one business date."""

    today: date
    revenue: RecurringRevenue
    overdue: Decimal
    aging: Aging
    months: list[MonthTotals]
    last_runs: list[CronExecutionLog]


def finance_dashboard(today: date) -> FinanceDashboard:
    return FinanceDashboard(
        today=today,
        revenue=monthly_recurring_revenue(today),
        overdue=amount_overdue(today),
        aging=receivables_aging(today),
        months=invoiced_and_collected(today),
        last_runs=last_job_runs(),
    )


# --- The invoice-run preview ---------------------------------------------------------------


@dataclass(frozen=True)
class BillingDayTotals:
    billing_day: int
    invoices: int
    total: Decimal


@dataclass(frozen=True)
class AmountChange:
    """A previewed period invoice compared with the same service's previous period."""

    service_id: int
    billing_day: int
    period: Period
    previous_amount: Decimal
    new_amount: Decimal
    account_number: str = ""
    package_name: str = ""

    @property
    def change_percent(self) -> Decimal | None:
        """The change relative to the previous amount; None when that was zero."""
        if self.previous_amount == 0:
            return None
        change = (self.new_amount - self.previous_amount) * 100 / self.previous_amount
        return change.quantize(Decimal("0.1"))

    @property
    def period_label(self) -> str:
        return describe_span(self.period)

    def exceeds(self, threshold_percent: Decimal) -> bool:
        if self.previous_amount == 0:
            return self.new_amount != 0
        change = abs(self.new_amount - self.previous_amount) * 100 / self.previous_amount
        return change > threshold_percent


@dataclass(frozen=True)
class InvoiceRunPreview:
    """What the invoice run of a date would do, from a dry run that was rolled back."""

    run_date: date
    by_billing_day: list[BillingDayTotals]
    invoices: int
    total: Decimal
    services: int
    skipped: int
    failed: int
    failures: list[dict]
    compared: int  # previewed invoices that had a previous period to compare with
    without_previous: int
    flagged: list[AmountChange] = field(default_factory=list)
    threshold_percent: Decimal = AMOUNT_CHANGE_THRESHOLD_PERCENT


def preview_invoice_run(
    run_date: date,
    *,
    actor: Actor,
    chunk_size: int,
    threshold_percent: Decimal = AMOUNT_CHANGE_THRESHOLD_PERCENT,
) -> InvoiceRunPreview:
    """Run the invoice run of `run_date` through the same code as the real run, roll it
    back, and compare each previewed period with the service's previous period.

    Ends with a rollback, so the session is clean and nothing (no invoice, no number, no
    job) survives, whatever happened inside.
    """
    try:
        result = run_invoices(run_date, actor=actor, chunk_size=chunk_size, dry_run=True)
        changes = compare_with_previous_periods(result.issued)
        flagged = _with_service_labels([c for c in changes if c.exceeds(threshold_percent)])
    finally:
        db.session.rollback()
    return InvoiceRunPreview(
        run_date=run_date,
        by_billing_day=_totals_by_billing_day(result),
        invoices=len(result.issued),
        total=result.total_amount,
        services=len({item.service_id for item in result.issued}),
        skipped=result.skipped,
        failed=result.failed,
        failures=result.failures,
        compared=len(changes),
        without_previous=len(result.issued) - len(changes),
        flagged=flagged,
        threshold_percent=threshold_percent,
    )


def _totals_by_billing_day(result: InvoiceRunResult) -> list[BillingDayTotals]:
    """Every billing day, also those with nothing to invoice (they show as zero)."""
    totals = result.totals_by_billing_day()
    days = sorted(set(BILLING_DAYS) | set(totals))
    return [
        BillingDayTotals(
            day,
            totals.get(day, {}).get("invoices", 0),
            totals.get(day, {}).get("total", ZERO),
        )
        for day in days
    ]


def previous_recurring_totals(service_ids: Iterable[int]) -> dict[int, tuple[date, Decimal]]:
    """Each service's latest live recurring invoice: {service id: (period start, total)}."""
    latest: dict[int, tuple[date, Decimal]] = {}
    for batch in _in_batches(service_ids):
        ranked = (
            select(
                CustomerInvoice.service_id,
                CustomerInvoice.period_start,
                CustomerInvoice.total_amount,
                func.row_number()
                .over(
                    partition_by=CustomerInvoice.service_id,
                    order_by=(CustomerInvoice.period_start.desc(), CustomerInvoice.id.desc()),
                )
                .label("recency"),
            )
            .where(
                CustomerInvoice.service_id.in_(batch),
                CustomerInvoice.invoice_type == "recurring",
                CustomerInvoice.status != "cancelled",
            )
            .subquery()
        )
        rows = db.session.execute(
            select(ranked.c.service_id, ranked.c.period_start, ranked.c.total_amount).where(
                ranked.c.recency == 1
            )
        )
        latest.update({service_id: (start, total) for service_id, start, total in rows})
    return latest


def compare_with_previous_periods(issued: list[IssuedInvoice]) -> list[AmountChange]:
    """Each previewed period against the period before it: the service's latest live
    recurring invoice for its first previewed period, then the previewed one before.

    A service without a previous recurring invoice (its first after activation) has
    nothing to compare with and is left out.
    """
    by_service: dict[int, list[IssuedInvoice]] = defaultdict(list)
    for item in issued:
        by_service[item.service_id].append(item)
    previous = previous_recurring_totals(by_service)
    changes = []
    for service_id, items in by_service.items():
        before = previous.get(service_id)
        previous_amount = before[1] if before is not None else None
        for item in sorted(items, key=lambda i: i.period_start):
            if previous_amount is not None:
                changes.append(
                    AmountChange(
                        service_id=service_id,
                        billing_day=item.billing_day,
                        period=Period(
                            item.period_start,
                            billing_date_after(item.period_start, item.billing_day),
                        ),
                        previous_amount=previous_amount,
                        new_amount=item.total_amount,
                    )
                )
            previous_amount = item.total_amount
    return changes


def _with_service_labels(changes: list[AmountChange]) -> list[AmountChange]:
    """The flagged changes with account number and package name (one query)."""
    labels = {}
    for batch in _in_batches(change.service_id for change in changes):
        rows = db.session.execute(
            select(CustomerService.id, Customer.account_number, CustomerService.package_name)
            .join(Customer, Customer.id == CustomerService.customer_id)
            .where(CustomerService.id.in_(batch))
        )
        labels.update({service_id: (account, package) for service_id, account, package in rows})
    labelled = [
        replace(
            change,
            account_number=labels.get(change.service_id, ("", ""))[0],
            package_name=labels.get(change.service_id, ("", ""))[1],
        )
        for change in changes
    ]
    return sorted(labelled, key=lambda c: (c.account_number, c.service_id, c.period.start))


# --- "Generate invoices now": what happened to each selected service -----------------------


@dataclass(frozen=True)
class GeneratedInvoice:
    invoice_number: str | None
    period_label: str
    total: Decimal


@dataclass(frozen=True)
class ServiceGeneration:
    """The outcome of "Generate invoices now" for one selected service."""

    service_id: int
    account_number: str
    package_name: str
    status: str
    next_billing_date: date | None
    invoices: list[GeneratedInvoice]
    error: str | None = None

    @property
    def outcome(self) -> str:
        if self.error:
            return "failed"
        if self.invoices:
            return "invoiced"
        if self.status not in ("active", "suspended"):
            return "not billable"
        if self.status == "suspended":
            return "nothing due (billing paused)"
        return "nothing due"


def describe_generation(
    service_ids: list[int], result: InvoiceRunResult
) -> list[ServiceGeneration]:
    """Per selected service: the invoices issued (with their numbers, once committed), the
    error of a failed one, or why nothing was due (two queries)."""
    errors = {failure["service_id"]: failure["error"] for failure in result.failures}
    issued_keys = [(item.service_id, item.period_start) for item in result.issued]
    numbers: dict[tuple[int, date], CustomerInvoice] = {}
    if issued_keys:
        invoices = db.session.scalars(
            select(CustomerInvoice).where(
                tuple_(CustomerInvoice.service_id, CustomerInvoice.period_start).in_(issued_keys),
                CustomerInvoice.status != "cancelled",
            )
        )
        numbers = {(inv.service_id, inv.period_start): inv for inv in invoices}
    rows = db.session.execute(
        select(CustomerService, Customer.account_number)
        .join(Customer, Customer.id == CustomerService.customer_id)
        .where(CustomerService.id.in_(service_ids))
        .order_by(Customer.account_number, CustomerService.id)
    ).all()
    by_service: dict[int, list[IssuedInvoice]] = defaultdict(list)
    for item in result.issued:
        by_service[item.service_id].append(item)
    outcomes = []
    for service, account_number in rows:
        generated = []
        for item in sorted(by_service[service.id], key=lambda i: i.period_start):
            invoice = numbers.get((service.id, item.period_start))
            end = billing_date_after(item.period_start, item.billing_day)
            generated.append(
                GeneratedInvoice(
                    invoice_number=invoice.invoice_number if invoice else None,
                    period_label=describe_span(Period(item.period_start, end)),
                    total=item.total_amount,
                )
            )
        outcomes.append(
            ServiceGeneration(
                service_id=service.id,
                account_number=account_number,
                package_name=service.package_name,
                status=service.status,
                next_billing_date=service.next_billing_date,
                invoices=generated,
                error=errors.get(service.id),
            )
        )
    return outcomes


# --- An invoice's allocations ---------------------------------------------------------------


@dataclass(frozen=True)
class AllocationLine:
    source: str
    reference: str
    amount: Decimal
    created_at: datetime
    reversed_at: datetime | None
    reversal_reason: str | None


def invoice_allocations(invoice_id: int) -> list[AllocationLine]:
    """The payments and credit notes allocated to an invoice, reversed ones included."""
    rows = db.session.execute(
        select(Allocation, PaymentTransaction.transaction_id, CreditNote.credit_note_number)
        .outerjoin(PaymentTransaction, PaymentTransaction.id == Allocation.payment_id)
        .outerjoin(CreditNote, CreditNote.id == Allocation.credit_note_id)
        .where(Allocation.invoice_id == invoice_id)
        .order_by(Allocation.created_at, Allocation.id)
    )
    return [
        AllocationLine(
            source=allocation.source,
            reference=(transaction_id if allocation.source == "payment" else note_number) or "",
            amount=allocation.amount,
            created_at=allocation.created_at,
            reversed_at=allocation.reversed_at,
            reversal_reason=allocation.reversal_reason,
        )
        for allocation, transaction_id, note_number in rows
    ]
