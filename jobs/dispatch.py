"""Handing committed job requests to whoever runs them (DESIGN §2, §6).

An `after_commit` hook on the app's session takes the requests the transaction made
(`app.job_requests.request_job`) and, once the outermost transaction has committed:
- with `REDIS_URL`: enqueues each on its RQ queue (deterministic ids stay unique);
- without: runs each in this process, one after the other, each in a fresh app context
  with its own session, so never inside the caller's transaction. A failing job is
  logged and recorded in the run log; it never fails the caller, whose work is
  already committed.

`flask billing simulate` forces the in-process runner with `jobs_in_process()`.
"""

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db
from app.job_requests import (
    JOB_ID,
    QUEUES,
    JobRequest,
    register_request_hooks,
    take_committed_requests,
)
from jobs import billing, payments, providers, usage
from jobs.notifications import send_notifications
from jobs.runlog import record_failed_job

log = logging.getLogger(__name__)

# Every job that can be requested, by name.
JOBS: dict[str, Callable] = {
    function.__name__: function
    for function in (
        billing.invoice_run,
        billing.invoice_run_chunk,
        billing.overdue_run,
        billing.dunning_run,
        billing.render_invoice_pdf,
        send_notifications,
        usage.usage_sync,
        usage.usage_sync_service,
        providers.provider_tasks_run,
        payments.debit_order_run,
        payments.netcash_statement_run,
        payments.mandate_status_poll,
        payments.request_mandate,
    )
}

# Jobs asked for after a commit only to do sooner what is otherwise done on demand or on
# schedule, each with the setting that switches those requests off (e.g. PDFs in tests and
# simulations: they are rendered on download).
OPTIONAL_JOBS = {
    "render_invoice_pdf": "RENDER_PDFS_INLINE",
    # The sender also runs every minute; a simulation sends once per simulated day instead.
    "send_notifications": "SEND_NOTIFICATIONS_AFTER_COMMIT",
}

# A failing job is tried twice more at once; a job whose worker died is retried the same
# way when RQ's registry clean-up finds it abandoned. The jobs are idempotent.
RETRIES = 2

_thread = threading.local()


def register_dispatch(app: Flask) -> None:
    """Give the app its dispatcher and install the session hooks (once per process)."""
    prefix = app.config.get("RQ_PREFIX") or ""
    if prefix and not JOB_ID.match(prefix):
        raise RuntimeError(f"RQ_PREFIX may contain only letters, digits, _ and -: {prefix!r}")
    app.extensions["job_dispatcher"] = JobDispatcher(app)
    register_request_hooks()
    if not event.contains(db.session, "after_commit", _dispatch_committed):
        event.listen(db.session, "after_commit", _dispatch_committed)


def dispatcher() -> "JobDispatcher":
    """The current app's dispatcher."""
    return current_app.extensions["job_dispatcher"]


@contextmanager
def jobs_in_process():
    """Run the jobs this thread asks for in-process, even when Redis is configured."""
    previous = getattr(_thread, "in_process", False)
    _thread.in_process = True
    try:
        yield
    finally:
        _thread.in_process = previous


def _dispatch_committed(session: Session) -> None:
    """`after_commit`: pass on what the transaction asked for, once it is really committed.

    SQLAlchemy also fires `after_commit` when a savepoint is released; the outer
    transaction may still roll back then, so requests wait for the outermost commit.
    """
    if session.in_nested_transaction():
        return
    requests = take_committed_requests(session)
    if requests:
        dispatcher().dispatch(requests)


@dataclass(frozen=True)
class JobFailure:
    """A job the in-process runner could not finish."""

    request: JobRequest
    error: str


class JobDispatcher:
    """Sends job requests to RQ, or to the in-process runner when there is no Redis."""

    def __init__(self, app: Flask):
        self.app = app
        self.prefix = app.config.get("RQ_PREFIX") or ""
        self.runner = InProcessRunner(app)
        self._redis: Redis | None = None

    @property
    def uses_rq(self) -> bool:
        return bool(self.app.config.get("REDIS_URL")) and not getattr(_thread, "in_process", False)

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(self.app.config["REDIS_URL"])
        return self._redis

    def queue(self, name: str) -> Queue:
        """The RQ queue for one of our queue names (prefixed)."""
        if name not in QUEUES:
            raise ValueError(f"unknown queue {name!r}")
        return Queue(self.prefix + name, connection=self.redis)

    def wanted(self, request: JobRequest) -> bool:
        setting = OPTIONAL_JOBS.get(request.name)
        return setting is None or bool(self.app.config.get(setting))

    def dispatch(self, requests: Iterable[JobRequest]) -> None:
        """Enqueue or run the requests; a failure is logged, never raised to the caller."""
        requests = [request for request in requests if self.wanted(request)]
        if not self.uses_rq:
            self.runner.submit(requests)
            return
        for request in requests:
            try:
                self.enqueue(request)
            except Exception:
                log.exception("could not enqueue job %s%s", request.name, request.args)

    def enqueue(self, request: JobRequest, **options) -> Job | None:
        """Put one request on its queue; None when a job with its id is already there.

        `options` go to `Queue.enqueue` (e.g. `result_ttl`, which is how long a unique
        id stays taken after the job finished).
        """
        function = JOBS[request.name]
        job_id = self.prefix + (request.job_id or f"{request.name}-{uuid.uuid4().hex}")
        try:
            return self.queue(request.queue).enqueue(
                function,
                *request.args,
                job_id=job_id,
                unique=request.job_id is not None,
                retry=Retry(max=RETRIES),
                **options,
            )
        except DuplicateJobError:
            log.info("job %s is already queued or recently done; not queued again", job_id)
            return None


class InProcessRunner:
    """Runs requested jobs in this process, after the commit that asked for them.

    Jobs run one at a time, each in a fresh app context (so its own session). A job that
    asks for more jobs gets them run after it finishes, not inside it.
    """

    def __init__(self, app: Flask):
        self.app = app
        self.failures: deque[JobFailure] = deque(maxlen=100)
        self._local = threading.local()

    def submit(self, requests: Iterable[JobRequest]) -> list[JobFailure]:
        """Run the requests (and what they ask for); returns the failures, if any."""
        pending = getattr(self._local, "pending", None)
        if pending is not None:  # a running job asked for these: they go after it
            pending.extend(requests)
            return []
        self._local.pending = pending = deque(requests)
        failures = []
        try:
            while pending:
                failure = self._run(pending.popleft())
                if failure is not None:
                    failures.append(failure)
        finally:
            self._local.pending = None
        return failures

    def _run(self, request: JobRequest) -> JobFailure | None:
        with self.app.app_context():
            try:
                JOBS[request.name](*request.args)
            except Exception as error:
                db.session.rollback()
                log.exception("in-process job %s%s failed", request.name, request.args)
                failure = JobFailure(request, f"{type(error).__name__}: {error}")
                self.failures.append(failure)
                if getattr(error, "run_log_id", None) is None:
                    self._record(request, error)
                return failure
        return None

    @staticmethod
    def _record(request: JobRequest, error: Exception) -> None:
        try:
            record_failed_job(
                request.name,
                error,
                parameters={"args": list(request.args), "runner": "in-process"},
            )
        except Exception:
            db.session.rollback()
            log.exception("could not record the failure of job %s", request.name)
