"""The notification sender job: every minute, and after each commit that queues messages.

Thin (DESIGN §2, §6): it runs `send_due_notifications` and records the run. A pass with
nothing to send (no due rows, or no configured provider for them) records nothing, so the
every-minute schedule does not fill the job log with empty runs. Idempotent: rows are
claimed chunk by chunk (skipping rows another sender holds) and committed as claimed
before anything is sent, so a second sender at the same time sends nothing twice.
"""

from app import clock
from app.models.ops import TRIGGER_SOURCES
from app.notifications.sender import (
    DEFAULT_BATCH,
    due_notification_ids,
    ready_channels,
    send_due_notifications,
)
from jobs.runlog import recorded_run


def send_notifications(
    trigger_source: str = "scheduled", triggered_by: str | None = None, limit: int = DEFAULT_BATCH
) -> int:
    """Send the SMS and e-mails whose time has come; returns how many were sent."""
    if not due_notification_ids(1, ready_channels(), clock.now()):
        return 0
    if trigger_source not in TRIGGER_SOURCES:  # "after-commit": automatic, like the schedule
        trigger_source, triggered_by = "scheduled", triggered_by or trigger_source
    with recorded_run(
        "send_notifications",
        trigger_source=trigger_source,
        triggered_by=triggered_by,
        parameters={"limit": limit},
    ) as counts:
        result = send_due_notifications(limit)
        counts.processed = result.sent
        counts.failed = result.retrying + result.failed
        counts.skipped = result.skipped + result.expired
        counts.failures.extend(result.failures)
    return result.sent
