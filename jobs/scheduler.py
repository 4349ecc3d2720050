"""`flask scheduler`: enqueues the daily jobs at their SAST times; exactly one may run.

One scheduler holds a Redis lock (SET NX with an expiry, renewed on every tick); a second
one waits for it (or refuses with `--no-wait`). Each daily job is enqueued with an id made
of its name and business date and `unique=True`, kept long enough to cover the day, so a
restart, a catch-up or a second scheduler never queues a job twice for a day. On start it
catches up the jobs of today whose time has already passed. Periodic jobs (usage sync, the
outbox senders) are enqueued once per interval the same way, with the interval in the id.
The jobs themselves are idempotent too (the database is the real guard).
"""

import contextlib
import logging
import time as wall_time
from collections.abc import Callable
from datetime import date, datetime

from redis.exceptions import LockError
from redis.lock import Lock

from app import clock
from app.job_requests import JobRequest
from jobs.dispatch import JobDispatcher
from jobs.schedule import INTERVAL_JOBS, DailyJob, IntervalJob, due_today

log = logging.getLogger(__name__)

LOCK_SECONDS = 60
TICK_SECONDS = 15
# How long a day's job id stays taken after the job finished: past the end of the day.
SCHEDULED_RESULT_TTL = 2 * 24 * 3600


class SchedulerLock:
    """The Redis lock that makes one scheduler the only one (redis-py's token lock)."""

    def __init__(self, dispatcher: JobDispatcher, *, seconds: int = LOCK_SECONDS):
        self._lock = Lock(
            dispatcher.redis, f"{dispatcher.prefix}isp-console:scheduler", timeout=seconds
        )

    def acquire(self) -> bool:
        return self._lock.acquire(blocking=False)

    def renew(self) -> bool:
        """Extend the lock to its full time; False when it was lost (expired or taken)."""
        try:
            self._lock.reacquire()
        except LockError:
            return False
        return True

    def release(self) -> None:
        with contextlib.suppress(LockError):  # already expired: nothing to give back
            self._lock.release()


class Scheduler:
    """Enqueues today's due daily jobs once each; `tick()` is one pass."""

    def __init__(self, dispatcher: JobDispatcher):
        self.dispatcher = dispatcher
        self.lock = SchedulerLock(dispatcher)
        self._handled: set[tuple[str, date]] = set()
        self._handled_slots: set[str] = set()

    def tick(self, now: datetime | None = None) -> list[str]:
        """Enqueue every job due by `now` today not yet queued; returns the ids queued."""
        now = now or clock.now()
        today = now.astimezone(clock.BUSINESS_TZ).date()
        queued = []
        for job in due_today(now):
            if (job.name, today) in self._handled:
                continue
            if self.enqueue(job, today) is not None:
                queued.append(job.job_id(today))
            self._handled.add((job.name, today))
        self._handled = {key for key in self._handled if key[1] == today}
        for job in INTERVAL_JOBS:
            job_id = job.job_id(now)
            if job_id in self._handled_slots:
                continue
            if self.enqueue_interval(job, now) is not None:
                queued.append(job_id)
            self._handled_slots.add(job_id)
        current = {job.job_id(now) for job in INTERVAL_JOBS}
        self._handled_slots &= current
        return queued

    def enqueue_interval(self, job: IntervalJob, now: datetime):
        """Queue a periodic job once for the interval `now` falls in."""
        request = JobRequest(job.name, ("scheduled",), job.queue, job.job_id(now))
        # The id stays taken for the rest of the interval (and a little after).
        ttl = int(job.every.total_seconds()) + 60
        return self.dispatcher.enqueue(request, result_ttl=ttl)

    def enqueue(self, job: DailyJob, day: date):
        request = JobRequest(job.name, (day.isoformat(),), job.queue, job.job_id(day))
        queued = self.dispatcher.enqueue(request, result_ttl=SCHEDULED_RESULT_TTL)
        if queued is not None:
            log.info("queued %s for %s (%s SAST)", job.name, day, job.at.strftime("%H:%M"))
        return queued

    def run(
        self,
        *,
        wait: bool = True,
        should_stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = wall_time.sleep,
    ) -> bool:
        """Take the lock (standing by while another scheduler holds it, unless `wait` is
        False), then tick until stopped. Returns False when refused without waiting."""
        standing_by = False
        while not should_stop():
            if not self.lock.acquire():
                if not wait:
                    return False
                if not standing_by:
                    log.info("another scheduler holds the lock; standing by")
                    standing_by = True
                sleep(TICK_SECONDS)
                continue
            standing_by = False
            log.info("scheduler lock taken; catching up today's due jobs")
            try:
                while not should_stop() and self.lock.renew():
                    self._tick_logging_errors()
                    sleep(TICK_SECONDS)
            finally:
                self.lock.release()
            if not should_stop():
                log.warning("scheduler lock lost; standing by")
        return True

    def _tick_logging_errors(self) -> None:
        try:
            self.tick()
        except Exception:  # Redis away for a moment: try again on the next tick
            log.exception("scheduler tick failed")
