"""Provider tasks: the outbox rows for calls to Interstellio, performed after commit.

`app.lifecycle` writes one row per lifecycle action on a service with a connection id:
`enable_subscriber` (activate, reactivate) or `disable_subscriber` (suspend, cancel).
A worker performs due rows one at a time, each in its own transaction under a row lock
(so two workers never send one task twice):

- success: `done`;
- the provider unreachable or failing (timeouts, 429/5xx after the call's own retries):
  tried again later with growing pauses, `failed` after MAX_ATTEMPTS;
- the provider refusing the request (a 4xx): `failed` at once, for a person to look at;
- the provider not configured (development without sandboxes): left `pending`.

The newest task of a service states what the subscriber should be: an older task not yet
performed is never sent after it (it is closed as superseded), and cannot be retried.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from app.audit import Actor, record_audit, require_reason, snapshot
from app.errors import Conflict
from app.extensions import db
from app.integrations.http import ProviderError, ProviderNotConfigured, ProviderUnavailable
from app.integrations.interstellio import PROVIDER, InterstellioClient
from app.job_requests import request_job
from app.models import ProviderTask

log = logging.getLogger(__name__)

# The subscriber's `enabled` flag each action asks for.
SUBSCRIBER_ACTIONS = {"enable_subscriber": True, "disable_subscriber": False}
MAX_ATTEMPTS = 6
# Pause after the n-th failed attempt (the last attempt fails the task instead).
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=4),
)
PROVIDER_TASKS_JOB = "provider_tasks_run"
RETRY_PROVIDER_TASK = "retry_provider_task"
RETRYABLE_STATUSES = ("pending", "failed")


@dataclass(frozen=True)
class TaskOutcome:
    """What one attempt at a task came to: done, retrying, failed, superseded or skipped."""

    task_id: int
    outcome: str
    error: str | None = None


def due_task_ids(now: datetime, limit: int = 500) -> list[int]:
    """Pending Interstellio tasks whose next attempt is due, oldest first."""
    return list(
        db.session.scalars(
            select(ProviderTask.id)
            .where(
                ProviderTask.provider == PROVIDER,
                ProviderTask.status == "pending",
                or_(ProviderTask.next_attempt_at.is_(None), ProviderTask.next_attempt_at <= now),
            )
            .order_by(ProviderTask.id)
            .limit(limit)
        )
    )


def newer_task(task: ProviderTask) -> ProviderTask | None:
    """The newest later task for the same service and provider, if any."""
    if task.service_id is None:
        return None
    return db.session.scalar(
        select(ProviderTask)
        .where(
            ProviderTask.service_id == task.service_id,
            ProviderTask.provider == task.provider,
            ProviderTask.id > task.id,
        )
        .order_by(ProviderTask.id.desc())
        .limit(1)
    )


def perform_task(task_id: int, *, client: InterstellioClient, now: datetime) -> TaskOutcome:
    """Attempt one due task in the caller's transaction (flushed, not committed).

    The row is locked and skipped when another worker holds it or it is no longer due.
    """
    task = db.session.scalars(
        select(ProviderTask)
        .where(ProviderTask.id == task_id, ProviderTask.status == "pending")
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if task is None or (task.next_attempt_at is not None and task.next_attempt_at > now):
        return TaskOutcome(task_id, "skipped")
    newer = newer_task(task)
    if newer is not None:
        task.status = "done"
        task.completed_at = now
        task.next_attempt_at = None
        task.last_error = f"Not sent: superseded by task #{newer.id} ({newer.action})."
        db.session.flush()
        return TaskOutcome(task.id, "superseded")
    enabled = SUBSCRIBER_ACTIONS.get(task.action)
    connection_id = (task.payload or {}).get("connection_id")
    if enabled is None or not connection_id:
        problem = f"Unknown action {task.action!r}." if enabled is None else "No connection id."
        return _give_up(task, problem, now)
    task.attempts += 1
    try:
        client.set_enabled(connection_id, enabled)
    except ProviderNotConfigured:
        task.attempts -= 1  # nothing was tried
        db.session.flush()
        return TaskOutcome(task.id, "skipped")
    except ProviderUnavailable as error:
        return _retry_later(task, str(error), now)
    except ProviderError as error:
        return _give_up(task, str(error), now)
    task.status = "done"
    task.completed_at = now
    task.next_attempt_at = None
    task.last_error = None
    db.session.flush()
    return TaskOutcome(task.id, "done")


def _retry_later(task: ProviderTask, error: str, now: datetime) -> TaskOutcome:
    if task.attempts >= MAX_ATTEMPTS:
        return _give_up(task, f"{error} (attempt {task.attempts} of {MAX_ATTEMPTS})", now)
    delay = RETRY_DELAYS[min(task.attempts, len(RETRY_DELAYS)) - 1]
    task.next_attempt_at = now + delay
    task.last_error = f"{error} (attempt {task.attempts} of {MAX_ATTEMPTS})"
    db.session.flush()
    log.warning("provider task %s: %s; next attempt at %s", task.id, error, task.next_attempt_at)
    return TaskOutcome(task.id, "retrying", task.last_error)


def _give_up(task: ProviderTask, error: str, now: datetime) -> TaskOutcome:
    task.status = "failed"
    task.next_attempt_at = None
    task.last_error = error
    db.session.flush()
    log.error("provider task %s failed: %s", task.id, error)
    return TaskOutcome(task.id, "failed", error)


def retry_provider_task(task: ProviderTask, *, actor: Actor, reason: str) -> ProviderTask:
    """Put a failed (or waiting) task back in the queue with its attempts reset, audited
    with a reason; the provider-tasks job is asked for once the caller commits.

    Refused for a task that is done, or that a newer task of the service replaced.
    """
    reason = require_reason(reason)
    task = db.session.scalars(
        select(ProviderTask)
        .where(ProviderTask.id == task.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if task.status not in RETRYABLE_STATUSES:
        raise Conflict(f"Only failed or pending tasks can be retried; this one is {task.status}.")
    newer = newer_task(task)
    if newer is not None:
        raise Conflict(
            f"Task #{newer.id} ({newer.action}) replaced this one for the service; "
            "retry that one instead."
        )
    before = snapshot(task)
    task.status = "pending"
    task.attempts = 0
    task.next_attempt_at = None
    db.session.flush()
    record_audit(
        actor=actor,
        entity=task,
        action=RETRY_PROVIDER_TASK,
        reason=reason,
        before=before,
        after=snapshot(task),
        customer_id=task.customer_id,
    )
    request_job(PROVIDER_TASKS_JOB, "manual", actor.label, queue="default")
    db.session.flush()
    return task


def pending_task_counts() -> dict[str, int]:
    """How many provider tasks are pending and failed (the console's summary)."""
    rows = db.session.execute(
        select(ProviderTask.status, db.func.count(ProviderTask.id))
        .where(ProviderTask.status.in_(RETRYABLE_STATUSES))
        .group_by(ProviderTask.status)
    ).all()
    counts = dict.fromkeys(RETRYABLE_STATUSES, 0)
    counts.update({status: count for status, count in rows})
    return counts
