"""Data usage: caps, the current cycle, the sync from Interstellio, cap alerts and the feed
watch (DESIGN §5.8).

- A cap is parsed from `data_cap` ("500GB" → 512 000 MB, "500 MB"); "Unlimited" or text
  that is not a size means no cap.
- The current cycle is the calendar period containing today (§5.3), never the billing
  columns, which run ahead; its usage is the sum of the days in [P, today].
- A sync fetches the days from the last stored day (fetched again: it was partial) or the
  activation date up to today, converts KB to MB (÷ 1024, half-up to 2 decimals) and
  upserts on (service_id, date). A manual correction is never overwritten by the feed.
- After each sync the current cycle is checked against 80 % (warning) and 95 % (critical):
  one `usage_alerts` row per service, cycle and threshold (its unique index is the guard),
  and one `data_usage_warning` notification for the highest threshold newly crossed.
- The watch lists active services whose usage has not arrived for 48 hours.
"""

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from app import clock
from app.audit import Actor, record_audit, require_reason
from app.billing.calendar import BILLING_DAYS, Period, period_containing
from app.errors import Conflict
from app.extensions import db
from app.integrations.interstellio import DailyUsage, InterstellioClient
from app.job_requests import request_job
from app.models import AuditLog, Customer, CustomerService, UsageAlert, UsageHistory
from app.models.usage import USAGE_THRESHOLDS
from app.notifications import queue_notification

MB_PER_GB = 1024
MB_PER_TB = 1024 * 1024
ZERO_MB = Decimal("0.00")
# A first sync reaches back at most this far: older days bill nothing and show nothing.
MAX_BACKFILL_DAYS = 186
# Usage "has not arrived for 48 h" when the newest stored day is older than this.
STALE_AFTER_DAYS = 2
# On demand, a suspended service may still be synced (its last active days).
SYNCABLE_ON_DEMAND = ("active", "suspended")
USAGE_SYNC_SERVICE_JOB = "usage_sync_service"
REQUEST_USAGE_SYNC = "request_usage_sync"

_CAP = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(MB|GB|TB)\s*$", re.IGNORECASE)
_CAP_FACTORS = {"MB": 1, "GB": MB_PER_GB, "TB": MB_PER_TB}


# --- pure rules --------------------------------------------------------------------------


def parse_cap_mb(data_cap: str | None) -> Decimal | None:
    """The cap in MB ("500GB" → 512000, "500 MB" → 500, "1.5 TB"); None for "Unlimited",
    an empty value or anything that is not a size."""
    match = _CAP.match(data_cap or "")
    if not match:
        return None
    amount = Decimal(match.group(1).replace(",", "."))
    cap = (amount * _CAP_FACTORS[match.group(2).upper()]).quantize(Decimal("0.01"))
    return cap if cap > 0 else None


def current_cycle(service: CustomerService, today: date) -> Period:
    """The calendar period of the service's billing day that contains today."""
    return period_containing(today, service.billing_date)


def percent_of_cap(used_mb: Decimal, cap_mb: Decimal | None) -> Decimal | None:
    """Usage as a percentage of the cap, half-up to one decimal; None without a cap."""
    if not cap_mb:
        return None
    return (used_mb * 100 / cap_mb).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def crossed_thresholds(used_mb: Decimal, cap_mb: Decimal | None) -> list[int]:
    """The thresholds (80, 95) that usage has reached, exactly (no rounding)."""
    if not cap_mb:
        return []
    return [threshold for threshold in USAGE_THRESHOLDS if used_mb * 100 >= cap_mb * threshold]


# --- reading what is stored ---------------------------------------------------------------


def latest_usage_day(service_id: int) -> date | None:
    return db.session.scalar(
        select(func.max(UsageHistory.date)).where(UsageHistory.service_id == service_id)
    )


def cycle_usage_mb(service: CustomerService, cycle: Period, today: date) -> Decimal:
    """The sum of the stored days in [P, today] (no day after today counts)."""
    last_day = min(today, cycle.end - timedelta(days=1))
    total = db.session.scalar(
        select(func.sum(UsageHistory.total_mb)).where(
            UsageHistory.service_id == service.id,
            UsageHistory.date >= cycle.start,
            UsageHistory.date <= last_day,
        )
    )
    return total or ZERO_MB


@dataclass
class UsageSummary:
    """A service's usage in its current cycle, as the console and portal show it."""

    service: CustomerService
    today: date
    cycle: Period
    rows: list[UsageHistory]
    used_mb: Decimal
    cap_mb: Decimal | None
    alerts: list[UsageAlert]
    last_day: date | None

    @property
    def percent(self) -> Decimal | None:
        return percent_of_cap(self.used_mb, self.cap_mb)

    @property
    def level(self) -> str:
        """ "critical" at 95 % or more, "warning" at 80 % or more, else "ok" (banners)."""
        crossed = crossed_thresholds(self.used_mb, self.cap_mb)
        if 95 in crossed:
            return "critical"
        if 80 in crossed:
            return "warning"
        return "ok"

    @property
    def cycle_last_day(self) -> date:
        return self.cycle.end - timedelta(days=1)


def usage_summary(service: CustomerService, today: date | None = None) -> UsageSummary:
    """Daily rows, total, cap and alerts of the service's current calendar cycle."""
    today = today or clock.today()
    cycle = current_cycle(service, today)
    rows = db.session.scalars(
        select(UsageHistory)
        .where(
            UsageHistory.service_id == service.id,
            UsageHistory.date >= cycle.start,
            UsageHistory.date <= today,
        )
        .order_by(UsageHistory.date)
    ).all()
    alerts = db.session.scalars(
        select(UsageAlert)
        .where(UsageAlert.service_id == service.id, UsageAlert.cycle_start == cycle.start)
        .order_by(UsageAlert.threshold)
    ).all()
    return UsageSummary(
        service=service,
        today=today,
        cycle=cycle,
        rows=list(rows),
        used_mb=sum((row.total_mb for row in rows), ZERO_MB),
        cap_mb=parse_cap_mb(service.data_cap),
        alerts=list(alerts),
        last_day=latest_usage_day(service.id),
    )


@dataclass(frozen=True)
class CapUsage:
    """One capped active service's use of its cap in its current cycle."""

    service_id: int
    account_number: str
    package_name: str
    connection_id: str | None
    cycle: Period
    used_mb: Decimal
    cap_mb: Decimal

    @property
    def percent(self) -> Decimal:
        return percent_of_cap(self.used_mb, self.cap_mb)


def services_near_cap(today: date, minimum_percent: int = 80) -> list[CapUsage]:
    """Active capped services at or above `minimum_percent` of their cap this cycle,
    highest first (one query per billing day: each has its own cycle)."""
    found = []
    for billing_day in BILLING_DAYS:
        cycle = period_containing(today, billing_day)
        rows = db.session.execute(
            select(
                CustomerService.id,
                Customer.account_number,
                CustomerService.package_name,
                CustomerService.connection_id,
                CustomerService.data_cap,
                func.sum(UsageHistory.total_mb),
            )
            .join(Customer, Customer.id == CustomerService.customer_id)
            .join(UsageHistory, UsageHistory.service_id == CustomerService.id)
            .where(
                CustomerService.status == "active",
                CustomerService.billing_date == billing_day,
                UsageHistory.date >= cycle.start,
                UsageHistory.date <= today,
            )
            .group_by(
                CustomerService.id,
                Customer.account_number,
                CustomerService.package_name,
                CustomerService.connection_id,
                CustomerService.data_cap,
            )
        ).all()
        for service_id, account, package, connection_id, data_cap, used in rows:
            cap = parse_cap_mb(data_cap)
            if cap and used * 100 >= cap * minimum_percent:
                found.append(
                    CapUsage(service_id, account, package, connection_id, cycle, used, cap)
                )
    return sorted(found, key=lambda usage: usage.used_mb / usage.cap_mb, reverse=True)


# --- the feed watch ----------------------------------------------------------------------


@dataclass(frozen=True)
class StaleFeed:
    """An active service whose usage has not arrived for 48 hours or more."""

    service_id: int
    customer_id: int
    account_number: str
    package_name: str
    connection_id: str
    activation_date: date | None
    last_day: date | None  # the newest stored day; None when nothing arrived since activation

    def days_without_usage(self, today: date) -> int:
        since = self.last_day or (self.activation_date - timedelta(days=1))
        return (today - since).days


def stale_usage_feeds(today: date | None = None) -> list[StaleFeed]:
    """Active services with a connection id whose newest stored usage day is older than
    two days before today, or with no usage at all although activated two or more days
    ago; longest silent first."""
    today = today or clock.today()
    threshold = today - timedelta(days=STALE_AFTER_DAYS)
    latest = (
        select(UsageHistory.service_id, func.max(UsageHistory.date).label("last_day"))
        .group_by(UsageHistory.service_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            CustomerService.id,
            CustomerService.customer_id,
            Customer.account_number,
            CustomerService.package_name,
            CustomerService.connection_id,
            CustomerService.activation_date,
            latest.c.last_day,
        )
        .join(Customer, Customer.id == CustomerService.customer_id)
        .outerjoin(latest, latest.c.service_id == CustomerService.id)
        .where(
            CustomerService.status == "active",
            CustomerService.connection_id.is_not(None),
            CustomerService.connection_id != "",
            (
                (latest.c.last_day < threshold)
                | (latest.c.last_day.is_(None) & (CustomerService.activation_date <= threshold))
            ),
        )
    ).all()
    feeds = [StaleFeed(*row) for row in rows]
    return sorted(feeds, key=lambda feed: (-feed.days_without_usage(today), feed.service_id))


# --- the sync ------------------------------------------------------------------------------


@dataclass
class SyncResult:
    """What one service's sync fetched and stored."""

    service_id: int
    first_day: date | None = None
    last_day: date | None = None
    days_stored: int = 0
    alerts: list[int] = field(default_factory=list)

    @property
    def synced(self) -> bool:
        return self.first_day is not None


def sync_window(
    service: CustomerService, today: date, last_stored_day: date | None = None
) -> tuple[date, date] | None:
    """The days to fetch: from the newest stored day (or the activation date) to today,
    never more than MAX_BACKFILL_DAYS back; None when there is nothing to fetch.

    `last_stored_day` is the newest stored day when the caller already knows it (bulk)."""
    if not service.connection_id:
        return None
    first = last_stored_day or service.activation_date
    if first is None:  # active without an activation date (imported): this cycle only
        first = current_cycle(service, today).start
    first = max(first, today - timedelta(days=MAX_BACKFILL_DAYS - 1))
    if service.activation_date:
        first = max(first, service.activation_date)
    return (first, today) if first <= today else None


def latest_usage_days(service_ids: list[int], today: date) -> dict[int, date]:
    """The newest stored day of each service (within the backfill reach), in one query."""
    rows = db.session.execute(
        select(UsageHistory.service_id, func.max(UsageHistory.date))
        .where(
            UsageHistory.service_id.in_(service_ids),
            UsageHistory.date >= today - timedelta(days=MAX_BACKFILL_DAYS),
        )
        .group_by(UsageHistory.service_id)
    ).all()
    return dict(rows)


@dataclass(frozen=True)
class FetchedUsage:
    """The days fetched for one service, not yet stored."""

    window: tuple[date, date] | None
    days: list[DailyUsage]


def fetch_service_usage(
    service: CustomerService,
    *,
    client: InterstellioClient,
    today: date,
    last_stored_day: date | None,
) -> FetchedUsage:
    """Ask Interstellio for the days of `sync_window`; writes nothing. Provider failures
    raise `ProviderError`/`ProviderUnavailable`."""
    window = sync_window(service, today, last_stored_day)
    if window is None:
        return FetchedUsage(None, [])
    return FetchedUsage(window, client.daily_usage(service.connection_id, *window))


def record_service_usage(
    service: CustomerService, fetched: FetchedUsage, *, today: date
) -> SyncResult:
    """Upsert the fetched days and check the cap thresholds (flushed, not committed)."""
    result = SyncResult(service.id)
    if fetched.window is None:
        return result
    result.first_day, result.last_day = fetched.window
    result.days_stored = store_daily_usage(service, fetched.days)
    result.alerts = check_usage_thresholds(service, today=today)
    return result


def sync_service_usage(
    service: CustomerService, *, client: InterstellioClient, today: date | None = None
) -> SyncResult:
    """Fetch and upsert the service's daily usage, then check its cap thresholds.

    Runs in the caller's transaction (flushed, not committed). Provider failures raise
    `ProviderError`/`ProviderUnavailable` before anything is written.
    """
    today = today or clock.today()
    fetched = fetch_service_usage(
        service, client=client, today=today, last_stored_day=latest_usage_day(service.id)
    )
    return record_service_usage(service, fetched, today=today)


def store_daily_usage(service: CustomerService, days: list[DailyUsage]) -> int:
    """Upsert the days on (service_id, date); a day stored by hand ("manual") is kept."""
    if not days:
        return 0
    now = clock.now()
    rows = []
    for usage in days:
        cycle = period_containing(usage.day, service.billing_date)
        rows.append(
            {
                "service_id": service.id,
                "customer_id": service.customer_id,
                "date": usage.day,
                "download_mb": usage.download_mb,
                "upload_mb": usage.upload_mb,
                # The cycle's end is exclusive (the next billing date), like invoice periods.
                "billing_cycle_start": cycle.start,
                "billing_cycle_end": cycle.end,
                "source": "interstellio",
                "synced_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    # One statement with many parameter sets: compiled once and cached, sent as a batch.
    db.session.execute(_upsert_statement(db.session.get_bind().dialect.name), rows)
    db.session.flush()
    return len(rows)


_UPSERTS: dict = {}


def _upsert_statement(dialect: str):
    """INSERT … ON CONFLICT (service_id, date) DO UPDATE, unless the stored day is manual."""
    if dialect not in _UPSERTS:
        table = UsageHistory.__table__
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(table)
        excluded = statement.excluded
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=[table.c.service_id, table.c.date],
            set_={
                name: excluded[name]
                for name in (
                    "download_mb",
                    "upload_mb",
                    "billing_cycle_start",
                    "billing_cycle_end",
                    "source",
                    "synced_at",
                    "updated_at",
                )
            },
            where=table.c.source != "manual",
        )
    return _UPSERTS[dialect]


def check_usage_thresholds(service: CustomerService, *, today: date) -> list[int]:
    """Record the thresholds the current cycle has newly reached and notify the customer
    once, for the highest of them. Returns the thresholds newly recorded.

    A threshold already recorded for this cycle (by this or a concurrent sync) is skipped:
    the unique index on (service, cycle start, threshold) decides.
    """
    cap = parse_cap_mb(service.data_cap)
    if cap is None:
        return []
    cycle = current_cycle(service, today)
    used = cycle_usage_mb(service, cycle, today)
    crossed = crossed_thresholds(used, cap)
    if not crossed:
        return []
    known = set(
        db.session.scalars(
            select(UsageAlert.threshold).where(
                UsageAlert.service_id == service.id, UsageAlert.cycle_start == cycle.start
            )
        )
    )
    new = [threshold for threshold in crossed if threshold not in known]
    if not new:
        return []
    try:
        with db.session.begin_nested():
            alerts = {
                threshold: UsageAlert(
                    service_id=service.id,
                    customer_id=service.customer_id,
                    cycle_start=cycle.start,
                    threshold=threshold,
                    used_mb=used,
                    cap_mb=cap,
                )
                for threshold in new
            }
            db.session.add_all(alerts.values())
            db.session.flush()
            highest = max(new)
            # One message for a jump past both thresholds: the critical one says it all.
            notifications = queue_notification(
                service.customer,
                "data_usage_warning",
                {
                    "percent": int((used * 100 / cap).quantize(Decimal(1), rounding=ROUND_HALF_UP)),
                    "package_name": service.package_name,
                    "threshold": highest,
                },
                dedupe_key=f"usage-{highest}-{service.id}-{cycle.start.isoformat()}",
            )
            if notifications:
                alerts[highest].notification_id = notifications[0].id
                db.session.flush()
    except IntegrityError:
        return []  # a concurrent sync recorded them first; it notified
    return new


# --- on demand, from the console -----------------------------------------------------------


def request_usage_sync(service: CustomerService, *, actor: Actor, reason: str) -> AuditLog:
    """Ask for one service's usage sync on the usage queue, audited with a reason; the
    job runs once the caller commits."""
    reason = require_reason(reason)
    if not service.connection_id:
        raise Conflict("This service has no Interstellio connection id: there is no usage feed.")
    if service.status not in SYNCABLE_ON_DEMAND:
        raise Conflict(f"Usage is synced for active or suspended services, not {service.status}.")
    request_job(USAGE_SYNC_SERVICE_JOB, service.id, "manual", actor.label, queue="usage")
    entry = record_audit(
        actor=actor,
        entity=service,
        action=REQUEST_USAGE_SYNC,
        reason=reason,
        before=None,
        after={"job": USAGE_SYNC_SERVICE_JOB, "queue": "usage"},
        customer_id=service.customer_id,
    )
    db.session.flush()
    return entry
