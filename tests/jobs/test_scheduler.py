"""The scheduler: SAST times computed from the business clock, one id per job and day so
nothing is queued twice, today's missed runs caught up, and one scheduler at a time."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from rq import Queue

from app import clock
from jobs import schedule
from jobs.dispatch import JOBS
from jobs.schedule import INTERVAL_JOBS, SCHEDULE, IntervalJob, due_today
from jobs.scheduler import Scheduler

DAY = date(2026, 11, 25)


def _sast(hour: int, minute: int = 0) -> datetime:
    return clock.business_datetime(DAY, time(hour, minute))


def _billing_queue(rq_app) -> Queue:
    return rq_app.extensions["job_dispatcher"].queue("billing")


def _scheduler(rq_app) -> Scheduler:
    return Scheduler(rq_app.extensions["job_dispatcher"])


BILLING_JOBS = ("invoice_run", "overdue_run")


@pytest.fixture
def only_billing_jobs(monkeypatch):
    """The schedule reduced to the two night billing jobs, so counts stay exact."""
    monkeypatch.setattr(
        schedule, "SCHEDULE", tuple(job for job in SCHEDULE if job.name in BILLING_JOBS)
    )
    monkeypatch.setattr("jobs.scheduler.INTERVAL_JOBS", ())


def test_two_am_sast_is_midnight_utc():
    by_name = {job.name: job for job in SCHEDULE}
    invoice_run, overdue_run = by_name["invoice_run"], by_name["overdue_run"]
    assert invoice_run.due_at(DAY) == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    assert overdue_run.due_at(DAY) == datetime(2026, 11, 25, 0, 30, tzinfo=UTC)
    # 23:30 UTC on the 24th is already 01:30 on the 25th in Johannesburg.
    assert due_today(datetime(2026, 11, 24, 23, 30, tzinfo=UTC)) == []


def test_jobs_come_due_in_schedule_order():
    assert due_today(_sast(1, 59)) == []
    assert [job.name for job in due_today(_sast(2, 0))] == ["invoice_run"]
    assert [job.name for job in due_today(_sast(2, 30))] == ["invoice_run", "overdue_run"]
    times = [job.at for job in SCHEDULE]
    assert times == sorted(times)


def test_every_periodic_job_is_registered_and_has_one_id_per_interval():
    for job in INTERVAL_JOBS:
        assert JOBS[job.name] is job.function
    hourly = IntervalJob("usage_sync", timedelta(hours=1), print, "usage", time(23))
    assert hourly.job_id(_sast(9, 5)) == hourly.job_id(_sast(9, 59))
    assert hourly.job_id(_sast(9, 59)) != hourly.job_id(_sast(10, 0))
    assert hourly.job_id(_sast(10, 0)) == "interval-usage_sync-20261125T080000"


def test_every_scheduled_job_is_a_registered_job():
    for job in SCHEDULE:
        assert JOBS[job.name] is job.function
        assert job.job_id(DAY) == f"scheduled-{job.name}-2026-11-25"


def test_a_tick_queues_each_due_job_once_per_day_with_its_date(
    rq_app, rq_prefix, only_billing_jobs
):
    scheduler = _scheduler(rq_app)
    assert scheduler.tick(_sast(2, 5)) == ["scheduled-invoice_run-2026-11-25"]
    assert scheduler.tick(_sast(2, 10)) == []
    assert scheduler.tick(_sast(2, 31)) == ["scheduled-overdue_run-2026-11-25"]
    queue = _billing_queue(rq_app)
    assert queue.job_ids == [
        f"{rq_prefix}scheduled-invoice_run-2026-11-25",
        f"{rq_prefix}scheduled-overdue_run-2026-11-25",
    ]
    job = queue.fetch_job(f"{rq_prefix}scheduled-invoice_run-2026-11-25")
    assert (job.func_name, job.args) == ("jobs.billing.invoice_run", ("2026-11-25",))


def test_a_restarted_or_second_scheduler_queues_nothing_twice(rq_app, only_billing_jobs):
    _scheduler(rq_app).tick(_sast(3, 0))
    again = _scheduler(rq_app)  # a fresh process: no memory of what it queued
    assert again.tick(_sast(3, 0)) == []
    assert _billing_queue(rq_app).count == 2


def test_periodic_jobs_are_queued_once_per_interval_even_by_two_schedulers(
    rq_app, rq_prefix, monkeypatch
):
    job = IntervalJob("overdue_run", timedelta(hours=1), JOBS["overdue_run"], "default", time(23))
    monkeypatch.setattr("jobs.scheduler.INTERVAL_JOBS", (job,))
    monkeypatch.setattr(schedule, "SCHEDULE", ())
    first, second = _scheduler(rq_app), _scheduler(rq_app)
    assert first.tick(_sast(9, 5)) == ["interval-overdue_run-20261125T070000"]
    assert first.tick(_sast(9, 30)) == []
    assert second.tick(_sast(9, 45)) == []  # another process, same interval: refused by RQ
    assert first.tick(_sast(10, 1)) == ["interval-overdue_run-20261125T080000"]
    queue = rq_app.extensions["job_dispatcher"].queue("default")
    assert queue.count == 2
    queued = queue.fetch_job(f"{rq_prefix}interval-overdue_run-20261125T080000")
    assert queued.args == ("scheduled",)


def test_on_start_the_scheduler_catches_up_todays_missed_runs(rq_app, only_billing_jobs):
    scheduler = _scheduler(rq_app)
    stop = []
    with clock.frozen_at(_sast(10, 0)):  # started long after 02:00 and 02:30
        assert scheduler.run(should_stop=lambda: bool(stop), sleep=stop.append)
    assert _billing_queue(rq_app).count == 2
    assert scheduler.lock.acquire()  # released when it stopped
    scheduler.lock.release()


def test_a_second_scheduler_cannot_take_the_lock(rq_app):
    first, second = _scheduler(rq_app), _scheduler(rq_app)
    assert first.lock.acquire()
    try:
        assert not second.lock.acquire()
        assert second.run(wait=False) is False
        assert first.lock.renew()
    finally:
        first.lock.release()
    assert second.lock.acquire()
    assert not first.lock.renew()  # the lock is someone else's now
    second.lock.release()


def test_the_scheduler_command_refuses_while_another_holds_the_lock(rq_app, only_billing_jobs):
    runner = rq_app.test_cli_runner()
    holder = _scheduler(rq_app)
    # The `app` fixture's context is active underneath: the commands must see rq_app.
    with rq_app.app_context():
        assert holder.lock.acquire()
        try:
            result = runner.invoke(args=["scheduler", "--no-wait"])
            assert result.exit_code == 1
            assert "Another scheduler holds the lock" in result.output
            assert runner.invoke(args=["scheduler", "--once"]).exit_code == 1
        finally:
            holder.lock.release()
        with clock.frozen_at(_sast(2, 15)):
            result = runner.invoke(args=["scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert "Queued: scheduled-invoice_run-2026-11-25" in result.output


@pytest.mark.parametrize("command", [["scheduler", "--once"], ["worker", "--burst"]])
def test_workers_and_the_scheduler_need_redis(app, command):
    result = app.test_cli_runner().invoke(args=command)
    assert result.exit_code == 1
    assert "REDIS_URL is not set" in result.output
