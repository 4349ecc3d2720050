"""Operations → Run a job: the schedule with each job's last run, and starting a job by hand
with a reason and the job's permission; the job runs after the commit and records its run."""

from datetime import date

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import AuditLog, CronExecutionLog
from jobs.schedule import INTERVAL_JOBS, SCHEDULE

TODAY = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(TODAY):
        yield


def _runs(job_name: str) -> list[CronExecutionLog]:
    return db.session.scalars(
        select(CronExecutionLog).where(CronExecutionLog.job_name == job_name)
    ).all()


def test_the_page_lists_every_scheduled_and_periodic_job_with_its_time(client, auth):
    auth.login("viewer")
    page = client.get("/admin/jobs/").get_data(as_text=True)
    for job in [*SCHEDULE, *INTERVAL_JOBS]:
        assert f'data-job="{job.name}"' in page
    assert "daily at 02:00 SAST" in page
    assert "never" in page  # no run recorded yet
    assert "not permitted" in page  # a viewer may start nothing
    assert 'class="run-job-form"' not in page


def test_finance_starts_the_overdue_run_for_a_date_and_it_runs_and_is_audited(client, auth):
    auth.login("finance")
    response = client.post(
        "/admin/jobs/run",
        data={"job": "overdue_run", "date": "2026-11-20", "reason": "Re-run after a fix"},
    )
    assert response.status_code == 302
    (run,) = _runs("overdue_run")
    assert run.business_date == date(2026, 11, 20)
    assert run.trigger_source == "manual"
    assert run.status == "completed"
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "request_job"))
    assert audit.reason == "Re-run after a fix"
    assert audit.after == {
        "job": "overdue_run",
        "args": ["2026-11-20", "manual"],
        "queue": "billing",
    }
    assert audit.actor.startswith("finance")  # staff label of the logged-in user
    page = client.get("/admin/jobs/").get_data(as_text=True)
    assert "completed" in page


def test_starting_a_job_without_a_reason_runs_nothing(client, auth):
    auth.login("finance")
    response = client.post("/admin/jobs/run", data={"job": "overdue_run", "reason": " "})
    assert response.status_code == 200
    assert "A reason is required." in response.get_data(as_text=True)
    assert _runs("overdue_run") == []
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "request_job")) is None


def test_money_jobs_need_billing_manage(client, auth):
    auth.login("support")
    response = client.post(
        "/admin/jobs/run", data={"job": "invoice_run", "date": "2026-11-25", "reason": "x"}
    )
    assert response.status_code == 403
    assert _runs("invoice_run") == []


def test_an_unknown_job_is_not_found(client, auth):
    auth.login("admin")
    response = client.post("/admin/jobs/run", data={"job": "drop_tables", "reason": "x"})
    assert response.status_code == 404
