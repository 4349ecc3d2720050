"""Jobs asked for in a transaction run only after it commits: on RQ with Redis, in-process
(in their own app context and session) without; a rollback asks for nothing."""

import logging
from datetime import date

import pytest
from rq import Queue
from sqlalchemy import select

from app.extensions import db
from app.job_requests import request_job
from app.models import CronExecutionLog, Setting
from jobs.dispatch import JOBS, dispatcher


@pytest.fixture(params=["postgresql", "sqlite"])
def any_app(request):
    """The in-process runner on both databases (SQLite in WAL mode)."""
    return request.getfixturevalue("app" if request.param == "postgresql" else "sqlite_app")


@pytest.fixture
def probe(monkeypatch):
    """A registered job that notes what it saw: its session and a committed setting."""
    calls = []

    def probe_job(key):
        value = db.session.scalar(select(Setting.value).where(Setting.key == key))
        calls.append({"key": key, "session": db.session(), "value": value})

    monkeypatch.setitem(JOBS, "probe", probe_job)
    return calls


def _add_setting(key: str, value: str = "committed") -> None:
    db.session.add(Setting(key=key, value=value, effective_from=date(2026, 1, 1)))


def test_in_process_job_runs_after_commit_in_its_own_session(any_app, probe):
    caller_session = db.session()
    _add_setting("probe-a")
    request_job("probe", "probe-a")
    db.session.flush()
    assert probe == []  # asked for, not run: the transaction is still open
    db.session.commit()
    (call,) = probe
    assert call["session"] is not caller_session
    assert call["value"] == "committed"  # it sees what the caller committed


def test_rollback_runs_nothing(any_app, probe):
    _add_setting("probe-b")
    request_job("probe", "probe-b")
    db.session.rollback()
    db.session.commit()
    assert probe == []


def test_a_rolled_back_savepoint_forgets_only_its_own_requests(any_app, probe):
    _add_setting("probe-c")
    request_job("probe", "kept-before")
    with pytest.raises(RuntimeError), db.session.begin_nested():
        request_job("probe", "dropped")
        raise RuntimeError("this service failed")
    with db.session.begin_nested():
        request_job("probe", "kept-after")
    assert probe == []  # a released savepoint is not a commit
    db.session.commit()
    assert [call["key"] for call in probe] == ["kept-before", "kept-after"]


def test_a_failing_job_is_logged_and_recorded_and_the_caller_goes_on(any_app, monkeypatch, caplog):
    def broken_job(invoice_id):
        raise RuntimeError(f"renderer crashed on {invoice_id}")

    monkeypatch.setitem(JOBS, "broken", broken_job)
    _add_setting("still-committed")
    request_job("broken", 42)
    with caplog.at_level(logging.ERROR, logger="jobs.dispatch"):
        db.session.commit()  # does not raise
    assert "in-process job broken(42,) failed" in caplog.text
    assert db.session.scalar(select(Setting.value).where(Setting.key == "still-committed"))
    run = db.session.scalars(select(CronExecutionLog)).one()
    assert (run.job_name, run.status, run.records_failed) == ("broken", "failed", 1)
    assert run.error_message == "renderer crashed on 42"
    assert run.execution_details == {"args": [42], "runner": "in-process"}
    assert dispatcher().runner.failures[-1].request.name == "broken"


def test_jobs_asked_for_by_a_job_run_after_it(any_app, monkeypatch):
    order = []

    def parent():
        order.append("parent started")
        request_job("child", "first")
        request_job("child", "second")
        db.session.commit()
        order.append("parent finished")

    monkeypatch.setitem(JOBS, "parent", parent)
    monkeypatch.setitem(JOBS, "child", order.append)
    request_job("parent")
    db.session.commit()
    assert order == ["parent started", "parent finished", "first", "second"]


def test_optional_jobs_are_dropped_when_switched_off(app, monkeypatch):
    rendered = []
    monkeypatch.setitem(JOBS, "render_invoice_pdf", rendered.append)
    assert app.config["RENDER_PDFS_INLINE"] is False  # tests render PDFs only when asked
    request_job("render_invoice_pdf", 7, queue="billing")
    db.session.commit()
    assert rendered == []
    monkeypatch.setitem(app.config, "RENDER_PDFS_INLINE", True)
    request_job("render_invoice_pdf", 7, queue="billing")
    db.session.commit()
    assert rendered == [7]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"queue": "emails"}, "unknown queue"),
        ({"job_id": "invoice pdf/7"}, "letters, digits"),
    ],
)
def test_bad_queue_names_and_job_ids_are_refused_at_once(app, kwargs, message):
    with pytest.raises(ValueError, match=message):
        request_job("render_invoice_pdf", 7, **kwargs)


# --- RQ -------------------------------------------------------------------------------------


def _billing_queue(rq_app) -> Queue:
    return rq_app.extensions["job_dispatcher"].queue("billing")


def test_with_redis_a_commit_enqueues_on_the_named_queue(rq_app, rq_prefix):
    queue = _billing_queue(rq_app)
    with rq_app.app_context():
        request_job("overdue_run", "2026-11-25", queue="billing")
        db.session.commit()
    (job,) = queue.get_jobs()
    assert job.func_name == "jobs.billing.overdue_run"
    assert job.args == ("2026-11-25",)
    assert job.id.startswith(f"{rq_prefix}overdue_run-")
    assert job.retries_left == 2


def test_with_redis_a_rollback_enqueues_nothing(rq_app):
    with rq_app.app_context():
        request_job("overdue_run", "2026-11-25", queue="billing")
        db.session.rollback()
        db.session.commit()
    assert _billing_queue(rq_app).count == 0


def test_a_deterministic_job_id_is_enqueued_once(rq_app, rq_prefix):
    rq_app.config["RENDER_PDFS_INLINE"] = True
    with rq_app.app_context():
        for _ in range(2):
            request_job("render_invoice_pdf", 7, queue="billing", job_id="invoice-pdf-7")
            db.session.commit()
    assert _billing_queue(rq_app).job_ids == [f"{rq_prefix}invoice-pdf-7"]


def test_simulations_force_the_in_process_runner_even_with_redis(rq_app, monkeypatch):
    from jobs.dispatch import jobs_in_process

    ran = []
    monkeypatch.setitem(JOBS, "probe", ran.append)
    with rq_app.app_context(), jobs_in_process():
        request_job("probe", "here")
        db.session.commit()
    assert ran == ["here"]
    assert rq_app.extensions["job_dispatcher"].queue("default").count == 0
