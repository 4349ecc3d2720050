"""The provider-tasks job: perform the due outbox rows for Interstellio (every minute, and
after each commit that wrote one).

Each task is attempted and committed in its own transaction under its row lock, so a
second worker skips it and a failing task never stops the others. A run with nothing due,
or without Interstellio settings (tasks then wait, pending), logs nothing.
"""

import logging

from app import clock
from app.extensions import db
from app.integrations.interstellio import InterstellioClient, is_configured
from app.provider_tasks import PROVIDER_TASKS_JOB, due_task_ids, perform_task
from jobs.runlog import recorded_run
from jobs.usage import run_trigger

log = logging.getLogger(__name__)


def provider_tasks_run(trigger_source: str = "scheduled", triggered_by: str | None = None) -> dict:
    """Perform the due Interstellio tasks (enable/disable subscribers), each once.

    Returns the run's counts: done tasks are processed, superseded or skipped ones
    skipped, and failed attempts (to be retried, or failed for good) failed.
    """
    counts_out = {"processed": 0, "failed": 0, "skipped": 0}
    if not is_configured():
        return counts_out
    now = clock.now()
    task_ids = due_task_ids(now)
    db.session.rollback()
    if not task_ids:
        return counts_out
    source, by = run_trigger(trigger_source, triggered_by)
    with (
        recorded_run(
            PROVIDER_TASKS_JOB,
            business_date=clock.today(),
            trigger_source=source,
            triggered_by=by,
            parameters={"tasks": len(task_ids)},
        ) as counts,
        InterstellioClient.from_config() as client,
    ):
        for task_id in task_ids:
            try:
                outcome = perform_task(task_id, client=client, now=now)
                db.session.commit()
            except Exception as error:
                db.session.rollback()
                log.exception("provider task %s could not be attempted", task_id)
                counts.failed += 1
                counts.failures.append({"task_id": task_id, "error": f"{error}"[:500]})
                continue
            if outcome.outcome == "done":
                counts.processed += 1
            elif outcome.outcome in ("retrying", "failed"):
                counts.failed += 1
                counts.failures.append(
                    {"task_id": task_id, "outcome": outcome.outcome, "error": outcome.error}
                )
            else:
                counts.skipped += 1
    counts_out.update(processed=counts.processed, failed=counts.failed, skipped=counts.skipped)
    return counts_out
