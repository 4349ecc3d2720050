"""Usage jobs: the hourly sync of every active service, and one service on demand.

Thin wrappers (DESIGN §2, §6). The hourly run goes through the services in chunks: it
first asks Interstellio for each service's days (no database writes while waiting on the
network), then stores the chunk in one transaction with a savepoint per service, so a
failing service is rolled back alone, counted as failed and listed in the run log, and
the run goes on. The upsert on (service_id, date) and the unique index of `usage_alerts`
make a re-run (or a second worker) store and alert nothing twice.
"""

import logging
from collections.abc import Callable
from datetime import date

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.integrations.http import ProviderError, ProviderUnavailable
from app.integrations.interstellio import InterstellioClient, is_configured
from app.models import CustomerService
from app.models.ops import TRIGGER_SOURCES
from app.usage import (
    USAGE_SYNC_SERVICE_JOB,
    FetchedUsage,
    fetch_service_usage,
    latest_usage_days,
    record_service_usage,
    sync_service_usage,
)
from jobs.runlog import RunCounts, recorded_run

log = logging.getLogger(__name__)

USAGE_SYNC_JOB = "usage_sync"
# Services stored per transaction (each in its own savepoint).
CHUNK_SIZE = 100
# After this many services in a row could not reach the provider, it is down: the rest
# of the run is not tried (each would wait out its timeouts) and the next run catches up.
OUTAGE_AFTER_CONSECUTIVE_FAILURES = 5


def run_trigger(trigger_source: str, triggered_by: str | None) -> tuple[str, str | None]:
    """A trigger the run log knows; any other (e.g. "after-commit") is recorded as
    scheduled, naming itself in `triggered_by`."""
    if trigger_source in TRIGGER_SOURCES:
        return trigger_source, triggered_by
    return "scheduled", triggered_by or trigger_source


def usage_sync(
    trigger_source: str = "scheduled",
    triggered_by: str | None = None,
    *,
    on_service: Callable[[int, int], None] | None = None,
) -> dict:
    """Sync the usage of every active service with a connection id, then its thresholds.

    Without Interstellio settings (development without sandboxes) nothing runs and no run
    is logged. `on_service(done, total)` reports progress (the CLI). Returns the run's
    counts.
    """
    if not is_configured():
        log.info("usage sync skipped: Interstellio is not configured")
        return {"processed": 0, "failed": 0, "skipped": 0}
    service_ids = db.session.scalars(
        select(CustomerService.id)
        .where(
            CustomerService.status == "active",
            CustomerService.connection_id.is_not(None),
            CustomerService.connection_id != "",
        )
        .order_by(CustomerService.id)
    ).all()
    db.session.rollback()  # hold no snapshot while the chunks commit
    today = clock.today()
    source, by = run_trigger(trigger_source, triggered_by)
    with (
        recorded_run(
            USAGE_SYNC_JOB,
            business_date=today,
            trigger_source=source,
            triggered_by=by,
            parameters={"date": today.isoformat(), "services": len(service_ids)},
        ) as counts,
        InterstellioClient.from_config() as client,
    ):
        outage = _Outage()
        for start in range(0, len(service_ids), CHUNK_SIZE):
            chunk = service_ids[start : start + CHUNK_SIZE]
            if outage.down:
                untried = len(service_ids) - start
                counts.skipped += untried
                counts.failures.append({"error": outage.describe(untried)})
                break
            _sync_chunk(chunk, client, today, counts, outage)
            if on_service:
                on_service(start + len(chunk), len(service_ids))
    return {"processed": counts.processed, "failed": counts.failed, "skipped": counts.skipped}


class _Outage:
    """Counts services in a row that could not reach Interstellio."""

    def __init__(self):
        self.in_a_row = 0

    @property
    def down(self) -> bool:
        return self.in_a_row >= OUTAGE_AFTER_CONSECUTIVE_FAILURES

    def note(self, error: Exception | None) -> None:
        self.in_a_row = self.in_a_row + 1 if isinstance(error, ProviderUnavailable) else 0

    def describe(self, untried: int) -> str:
        return (
            f"Interstellio unavailable for {self.in_a_row} services in a row; "
            f"{untried} services not tried this run."
        )


def _sync_chunk(
    service_ids: list[int], client, today: date, counts: RunCounts, outage: _Outage
) -> None:
    """Fetch the chunk's days, then store them in one transaction (a savepoint each)."""
    services = db.session.scalars(
        select(CustomerService)
        .where(CustomerService.id.in_(service_ids))
        .order_by(CustomerService.id)
    ).all()
    last_days = latest_usage_days(service_ids, today)
    fetched: list[tuple[CustomerService, FetchedUsage]] = []
    for position, service in enumerate(services):
        if outage.down:
            untried = len(services) - position
            counts.skipped += untried
            counts.failures.append({"error": outage.describe(untried)})
            break
        try:
            fetched.append(
                (
                    service,
                    fetch_service_usage(
                        service,
                        client=client,
                        today=today,
                        last_stored_day=last_days.get(service.id),
                    ),
                )
            )
        except Exception as error:
            _count_failure(counts, service, error)
            outage.note(error)
        else:
            outage.note(None)
    stored = 0
    for service, usage in fetched:
        try:
            with db.session.begin_nested():
                result = record_service_usage(service, usage, today=today)
        except Exception as error:
            _count_failure(counts, service, error)
            continue
        if result.synced:
            stored += 1
        else:
            counts.skipped += 1
    try:
        db.session.commit()
    except Exception as error:  # nothing of the chunk was kept
        db.session.rollback()
        log.exception("usage sync: a chunk of %d services could not be committed", len(services))
        counts.failed += stored
        counts.failures.append({"error": f"chunk not committed: {error}"[:500]})
        return
    counts.processed += stored


def _count_failure(counts: RunCounts, service: CustomerService, error: Exception) -> None:
    counts.failed += 1
    counts.failures.append(
        {
            "service_id": service.id,
            "connection_id": service.connection_id,
            "error": f"{type(error).__name__}: {error}"[:500],
        }
    )
    if not isinstance(error, ProviderError):
        log.exception("usage sync of service %s failed", service.id, exc_info=error)


def usage_sync_service(
    service_id: int, trigger_source: str = "manual", triggered_by: str | None = None
) -> dict:
    """Sync one service now (the console's "Sync usage now", `flask usage sync --service`).

    The run is logged with the service id; a provider failure makes it a failed run,
    never an exception. Returns the run's counts.
    """
    today = clock.today()
    source, by = run_trigger(trigger_source, triggered_by)
    with recorded_run(
        USAGE_SYNC_SERVICE_JOB,
        business_date=today,
        trigger_source=source,
        triggered_by=by,
        parameters={"date": today.isoformat(), "service_id": service_id},
    ) as counts:
        service = db.session.get(CustomerService, service_id)
        if service is None or not service.connection_id:
            counts.skipped = 1
        elif not is_configured():
            counts.failed = 1
            counts.failures.append(
                {"service_id": service_id, "error": "Interstellio is not configured."}
            )
        else:
            with InterstellioClient.from_config() as client:
                try:
                    result = sync_service_usage(service, client=client, today=today)
                    db.session.commit()
                except Exception as error:
                    db.session.rollback()
                    _count_failure(counts, service, error)
                else:
                    counts.processed = 1 if result.synced else 0
                    counts.skipped = 0 if result.synced else 1
    return {"processed": counts.processed, "failed": counts.failed, "skipped": counts.skipped}
