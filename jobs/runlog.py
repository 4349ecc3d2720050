"""The job run log: one `cron_execution_log` row per run, with counts (DESIGN §6)."""

import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from app import clock
from app.extensions import db
from app.models import CronExecutionLog


@dataclass
class RunCounts:
    """What a run did; the job increments these as it goes."""

    processed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list = field(default_factory=list)


@contextmanager
def recorded_run(
    job_name: str,
    *,
    business_date: date | None = None,
    trigger_source: str = "scheduled",
    triggered_by: str | None = None,
    parameters: dict | None = None,
):
    """Record a job run: the row is committed at start (so a crash leaves "running"
    visible) and closed with counts and status at the end, in its own transaction."""
    run = CronExecutionLog(
        job_name=job_name,
        business_date=business_date,
        execution_start=clock.now(),
        status="running",
        trigger_source=trigger_source,
        triggered_by=triggered_by,
        execution_details=parameters or {},
    )
    db.session.add(run)
    db.session.commit()
    counts = RunCounts()
    try:
        yield counts
    except Exception as error:
        db.session.rollback()
        _finish(
            run,
            counts,
            "failed",
            error_message=str(error),
            error_details={"traceback": traceback.format_exc(limit=20)},
        )
        raise
    if counts.failed and counts.processed:
        status = "partial"
    elif counts.failed:
        status = "failed"
    else:
        status = "completed"
    details = {"failures": counts.failures[:100]} if counts.failures else None
    _finish(run, counts, status, error_details=details)


def _finish(run, counts: RunCounts, status: str, **fields) -> None:
    run = db.session.merge(run)
    run.execution_end = clock.now()
    run.duration_seconds = round((run.execution_end - run.execution_start).total_seconds(), 3)
    run.status = status
    run.records_processed = counts.processed
    run.records_failed = counts.failed
    run.records_skipped = counts.skipped
    for key, value in fields.items():
        setattr(run, key, value)
    db.session.commit()
