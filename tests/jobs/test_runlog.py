"""Every job run leaves one cron_execution_log row with its status and counts."""

from datetime import date

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CronExecutionLog
from jobs.runlog import recorded_run


def _only_run():
    return db.session.scalars(select(CronExecutionLog)).one()


def test_completed_run_records_counts_and_duration(app):
    with recorded_run(
        "invoice_run",
        business_date=date(2026, 11, 25),
        trigger_source="manual",
        triggered_by="ops@isp-console.co.za",
        parameters={"date": "2026-11-25"},
    ) as c:
        assert _only_run().status == "running"
        c.processed, c.skipped = 12, 3
    run = _only_run()
    assert (run.status, run.records_processed, run.records_skipped) == ("completed", 12, 3)
    assert run.execution_end >= run.execution_start
    assert run.duration_seconds >= 0
    assert run.execution_details == {"date": "2026-11-25"}


def test_run_with_some_failures_is_partial_and_lists_them(app):
    with recorded_run("usage_sync") as counts:
        counts.processed, counts.failed = 9, 1
        counts.failures.append({"service_id": 4, "error": "timeout"})
    run = _only_run()
    assert run.status == "partial"
    assert run.error_details == {"failures": [{"service_id": 4, "error": "timeout"}]}


def test_crashed_run_is_marked_failed_with_the_error(app):
    with pytest.raises(RuntimeError), recorded_run("debit_orders"):
        raise RuntimeError("NetCash unreachable")
    run = _only_run()
    assert run.status == "failed"
    assert run.error_message == "NetCash unreachable"
    assert "Traceback" in run.error_details["traceback"]


def test_unknown_status_values_are_refused_by_the_database(app):
    from sqlalchemy.exc import IntegrityError

    from app import clock

    db.session.add(CronExecutionLog(job_name="x", execution_start=clock.now(), status="success"))
    with pytest.raises(IntegrityError, match="ck_cron_execution_log_status"):
        db.session.flush()
