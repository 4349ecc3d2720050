"""The daily schedule (DESIGN §6), as data: `flask scheduler` enqueues from it and
`flask billing simulate` runs it, in this order, for each simulated day.

Times are South African wall-clock times (SAST, UTC+2 all year). RQ's own cron reads
cron strings in UTC, so the scheduler computes each instant from the business clock
instead (`app.clock.business_datetime`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from app import clock
from jobs import billing, payments, providers, usage
from jobs.notifications import send_notifications


@dataclass(frozen=True)
class DailyJob:
    """A job run once a day at a SAST time, with the business date as its argument."""

    name: str
    at: time  # SAST
    function: Callable
    queue: str

    def due_at(self, day: date) -> datetime:
        """The UTC instant of this job's run on a business day."""
        return clock.business_datetime(day, self.at)

    def job_id(self, day: date) -> str:
        """One id per job and day, so a restart or a second scheduler cannot queue it twice."""
        return f"scheduled-{self.name}-{day.isoformat()}"


@dataclass(frozen=True)
class IntervalJob:
    """A job run every `every` (hourly usage sync, the outbox senders), called as
    `function(trigger_source)`. `flask billing simulate` runs it at `simulate_at` (SAST) on
    every `simulate_every_days`-th simulated day."""

    name: str
    every: timedelta
    function: Callable
    queue: str
    simulate_at: time
    # A simulation runs it on every n-th simulated day (and the last): a weekly usage sync
    # fetches the week's days in one call per service, where daily would cost seven.
    simulate_every_days: int = 1

    def slot_start(self, now: datetime) -> datetime:
        """The start of the interval `now` falls in (intervals count from the Unix epoch)."""
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        slots = (now - epoch) // self.every
        return epoch + slots * self.every

    def job_id(self, now: datetime) -> str:
        """One id per job and interval: a second scheduler cannot queue it twice."""
        return f"interval-{self.name}-{self.slot_start(now):%Y%m%dT%H%M%S}"


SCHEDULE: tuple[DailyJob, ...] = (
    DailyJob("invoice_run", time(2, 0), billing.invoice_run, "billing"),
    DailyJob("overdue_run", time(2, 30), billing.overdue_run, "billing"),
    DailyJob("debit_order_run", time(6, 0), payments.debit_order_run, "payments"),
    DailyJob("netcash_statement_run", time(9, 0), payments.netcash_statement_run, "payments"),
)


# Periodic jobs; the integrations add theirs here.
INTERVAL_JOBS: tuple[IntervalJob, ...] = (
    IntervalJob(
        "send_notifications",
        timedelta(minutes=1),
        send_notifications,
        "notifications",
        time(23, 45),
    ),
    IntervalJob("usage_sync", timedelta(hours=1), usage.usage_sync, "usage", time(23, 0), 7),
    IntervalJob(
        "provider_tasks_run",
        timedelta(minutes=1),
        providers.provider_tasks_run,
        "default",
        time(23, 30),
    ),
    IntervalJob(
        "mandate_status_poll",
        timedelta(hours=1),
        payments.mandate_status_poll,
        "payments",
        time(8, 0),
    ),
)


def due_today(now: datetime) -> list[DailyJob]:
    """The jobs whose time has come on the business day of `now` (in schedule order)."""
    today = now.astimezone(clock.BUSINESS_TZ).date()
    return [job for job in SCHEDULE if job.due_at(today) <= now]
