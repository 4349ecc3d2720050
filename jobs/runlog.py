"""The job run log: one `cron_execution_log` row per run, with counts (DESIGN §6).

A run done in one process uses `recorded_run`. A run fanned out to workers (the invoice
run) is opened with `start_chunked_run` and each chunk adds its counts with `record_chunk`
in the chunk's own transaction, so the one row adds up every chunk that committed and is
closed when the last chunk is in.
"""

import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import CronExecutionLog

MAX_LISTED_FAILURES = 100


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
    visible) and closed with counts and status at the end, in its own transaction.

    An exception is re-raised carrying `run_log_id`, so whoever catches it knows the
    failure is already recorded."""
    run = _open_run(job_name, business_date, trigger_source, triggered_by, parameters)
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
        error.run_log_id = run.id
        raise
    details = {"failures": counts.failures[:MAX_LISTED_FAILURES]} if counts.failures else None
    _finish(run, counts, _status(counts), error_details=details)


def start_chunked_run(
    job_name: str,
    *,
    chunks_total: int,
    business_date: date | None = None,
    trigger_source: str = "scheduled",
    triggered_by: str | None = None,
    parameters: dict | None = None,
) -> CronExecutionLog:
    """Open the row of a run split into `chunks_total` chunks (flushed; the caller commits
    it together with the requests for the chunk jobs). A run without chunks is complete."""
    run = _open_run(job_name, business_date, trigger_source, triggered_by, parameters)
    run.chunks_total = chunks_total
    run.chunks_done = 0
    if chunks_total == 0:
        _close(run, RunCounts(), "completed")
    db.session.flush()
    return run


def record_chunk(
    run_id: int, chunk_number: int, counts: RunCounts, *, crashed: bool = False
) -> CronExecutionLog:
    """Add one chunk's counts to its run, in the caller's transaction (flushed).

    The run row is locked, so chunks committing at once add up. A chunk counts once: a
    chunk that already committed and runs again (a re-delivered job) changes nothing; a
    chunk that crashed is recorded as failed until a retry commits it. The run is closed
    once every chunk is in, and re-closed if a crashed chunk later succeeds.
    """
    run = db.session.scalars(
        select(CronExecutionLog)
        .where(CronExecutionLog.id == run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    details = dict(run.execution_details or {})
    chunks = dict(details.get("chunks", {}))
    key = str(chunk_number)
    if chunks.get(key, {}).get("status") == "done":
        return run
    chunks[key] = {
        "status": "crashed" if crashed else "done",
        "processed": counts.processed,
        "skipped": counts.skipped,
        "failed": counts.failed,
        "failures": counts.failures[:MAX_LISTED_FAILURES],
    }
    details["chunks"] = chunks
    run.execution_details = details
    total = RunCounts(
        processed=sum(chunk["processed"] for chunk in chunks.values()),
        skipped=sum(chunk["skipped"] for chunk in chunks.values()),
        failed=sum(chunk["failed"] for chunk in chunks.values()),
        failures=[failure for chunk in chunks.values() for failure in chunk["failures"]],
    )
    run.chunks_done = sum(chunk["status"] == "done" for chunk in chunks.values())
    _set_counts(run, total)
    if len(chunks) >= (run.chunks_total or 0):
        failures = total.failures[:MAX_LISTED_FAILURES]
        _close(
            run, total, _status(total), error_details={"failures": failures} if failures else None
        )
    db.session.flush()
    return run


def record_failed_job(
    job_name: str, error: Exception, *, parameters: dict, trigger_source: str = "manual"
) -> None:
    """A job that failed before it could record its own run: one failed row (committed)."""
    run = _open_run(job_name, None, trigger_source, None, parameters)
    _close(
        run,
        RunCounts(failed=1),
        "failed",
        error_message=str(error)[:2000],
        error_details={
            "traceback": "".join(traceback.format_exception(error, limit=20)),
        },
    )
    db.session.commit()


def _open_run(job_name, business_date, trigger_source, triggered_by, parameters):
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
    return run


def _status(counts: RunCounts) -> str:
    if counts.failed and counts.processed:
        return "partial"
    if counts.failed:
        return "failed"
    return "completed"


def _set_counts(run: CronExecutionLog, counts: RunCounts) -> None:
    run.records_processed = counts.processed
    run.records_failed = counts.failed
    run.records_skipped = counts.skipped


def _close(run: CronExecutionLog, counts: RunCounts, status: str, **fields) -> None:
    run.execution_end = clock.now()
    run.duration_seconds = round((run.execution_end - run.execution_start).total_seconds(), 3)
    run.status = status
    _set_counts(run, counts)
    for key, value in fields.items():
        setattr(run, key, value)


def _finish(run, counts: RunCounts, status: str, **fields) -> None:
    run = db.session.merge(run)
    _close(run, counts, status, **fields)
    db.session.commit()
