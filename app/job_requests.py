"""Background work asked for by domain code, handed over only when its transaction commits.

Domain functions never import `jobs/` (DESIGN §2): they call `request_job("name", *args)`,
which only notes the request in the session. When the outermost transaction commits,
`jobs.dispatch` passes the requests on (RQ with `REDIS_URL`, the in-process runner
without); a rollback, of the whole transaction or of the savepoint the request was made
in, forgets them. So a job never runs for a change that did not commit.
"""

import re
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from app.audit import require_reason
from app.extensions import db
from app.models import AuditLog, CronExecutionLog

# RQ queues by purpose (DESIGN §6).
QUEUES = ("billing", "usage", "payments", "notifications", "default")
# RQ 2.8+ accepts only these characters in job ids.
JOB_ID = re.compile(r"^[A-Za-z0-9_-]+$")

_REQUESTS_KEY = "job_requests"


@dataclass(frozen=True)
class JobRequest:
    """A job to run after commit: the registered job name, its arguments and its queue.

    `job_id`, when given, makes the job unique: a second request with the same id while
    the first is queued or recently finished is dropped.
    """

    name: str
    args: tuple = ()
    queue: str = "default"
    job_id: str | None = None


@dataclass(frozen=True)
class _Pending:
    request: JobRequest
    transaction: SessionTransaction  # the innermost transaction it was asked in


def request_job(name: str, *args, queue: str = "default", job_id: str | None = None) -> None:
    """Ask for job `name(*args)` on `queue` once the current transaction commits.

    Arguments must be plain values (ids, ISO dates, strings): they are serialised for RQ.
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; queues are {', '.join(QUEUES)}")
    if job_id is not None and not JOB_ID.match(job_id):
        raise ValueError(f"job id {job_id!r} may contain only letters, digits, _ and -")
    session = db.session()
    # The request belongs to the current transaction: begin one if none is open yet.
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    pending = _Pending(JobRequest(name, tuple(args), queue, job_id), transaction)
    session.info.setdefault(_REQUESTS_KEY, []).append(pending)


def take_committed_requests(session: Session) -> list[JobRequest]:
    """The requests of a transaction that has just committed (and forget them)."""
    return [pending.request for pending in session.info.pop(_REQUESTS_KEY, [])]


def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """`after_soft_rollback`: drop what was asked inside the rolled-back (sub)transaction."""
    if previous_transaction.parent is None:
        session.info.pop(_REQUESTS_KEY, None)
        return
    kept = [
        pending
        for pending in session.info.get(_REQUESTS_KEY, [])
        if not _inside(pending.transaction, previous_transaction)
    ]
    session.info[_REQUESTS_KEY] = kept


def _forget_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    """`after_transaction_end`: a root transaction closed without commit asks for nothing."""
    if transaction.parent is None:
        session.info.pop(_REQUESTS_KEY, None)


def _inside(transaction: SessionTransaction, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def register_request_hooks() -> None:
    """Install the rollback hooks on the app's session class (once per process)."""
    if not event.contains(db.session, "after_soft_rollback", _forget_rolled_back):
        event.listen(db.session, "after_soft_rollback", _forget_rolled_back)
        event.listen(db.session, "after_transaction_end", _forget_uncommitted)


REQUEST_JOB_ACTION = "request_job"


def audit_job_request(*, action: str, after: dict, actor, reason: str) -> AuditLog:
    """The audit row of a job asked for by hand. No run row exists yet (the job writes it
    when it starts), so the row names the table the run will appear in and carries the
    job's parameters."""
    entry = AuditLog(
        staff_user_id=actor.staff_user_id,
        actor=actor.label,
        ip_address=actor.ip_address,
        entity_type=CronExecutionLog.__tablename__,
        entity_id=None,
        action=action,
        reason=require_reason(reason),
        before=None,
        after=after,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def request_manual_job(name: str, args: tuple, *, queue: str, actor, reason: str) -> AuditLog:
    """Ask for a job by hand (console or API), audited with a reason; it starts once the
    caller commits and records its own run with trigger source "manual"."""
    reason = require_reason(reason)
    request_job(name, *args, queue=queue)
    after = {"job": name, "args": list(args), "queue": queue}
    return audit_job_request(action=REQUEST_JOB_ACTION, after=after, actor=actor, reason=reason)
