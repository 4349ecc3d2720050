"""Provider tasks: suspend/cancel disable the subscriber and activate/reactivate enable it,
through the outbox, after commit, with retries across runs; the sandbox shows the result."""

from datetime import date, timedelta

from sqlalchemy import select

from app import clock
from app.audit import Actor
from app.errors import Conflict
from app.extensions import db
from app.lifecycle import activate_service, cancel_service, reactivate_service, suspend_service
from app.models import AuditLog, CronExecutionLog, ProviderTask
from app.provider_tasks import MAX_ATTEMPTS, RETRY_DELAYS, retry_provider_task
from jobs.providers import provider_tasks_run
from tests.usage.conftest import TODAY

SUPPORT = Actor.system("pytest-support")


def tasks(service_id: int) -> list[ProviderTask]:
    return db.session.scalars(
        select(ProviderTask).where(ProviderTask.service_id == service_id).order_by(ProviderTask.id)
    ).all()


def runs() -> list[CronExecutionLog]:
    return db.session.scalars(
        select(CronExecutionLog)
        .where(CronExecutionLog.job_name == "provider_tasks_run")
        .order_by(CronExecutionLog.id)
    ).all()


def suspend(service) -> None:
    suspend_service(
        service, actor=SUPPORT, reason="Customer asked", suspension_type="customer_request"
    )
    db.session.commit()


def test_suspending_disables_the_subscriber_right_after_commit(sandboxes, usage_service):
    service = usage_service("CT-TASK-0001")

    suspend(service)

    assert sandboxes.interstellio.subscribers["CT-TASK-0001"]["enabled"] is False
    [task] = tasks(service.id)
    assert (task.action, task.status, task.attempts) == ("disable_subscriber", "done", 1)
    assert task.completed_at is not None
    [run] = runs()
    assert (run.status, run.records_processed) == ("completed", 1)
    assert run.triggered_by == "after-commit"


def test_reactivating_enables_the_subscriber_again(sandboxes, usage_service):
    service = usage_service("CT-TASK-0002")
    suspend(service)

    reactivate_service(service, actor=SUPPORT, reason="Paid up")
    db.session.commit()

    assert sandboxes.interstellio.subscribers["CT-TASK-0002"]["enabled"] is True
    assert [(t.action, t.status) for t in tasks(service.id)] == [
        ("disable_subscriber", "done"),
        ("enable_subscriber", "done"),
    ]


def test_activation_enables_and_cancellation_disables(sandboxes, usage_service):
    service = usage_service("CT-TASK-0003", status="pending", activation_date=None)
    sandboxes.interstellio.subscribers["CT-TASK-0003"] = {"id": "CT-TASK-0003", "enabled": False}

    activate_service(service, actor=SUPPORT, reason="Installed", activation_date=TODAY)
    db.session.commit()
    assert sandboxes.interstellio.subscribers["CT-TASK-0003"]["enabled"] is True

    cancel_service(service, actor=SUPPORT, reason="Moving away")
    db.session.commit()
    assert sandboxes.interstellio.subscribers["CT-TASK-0003"]["enabled"] is False


def test_a_task_failing_on_500_is_retried_with_growing_pauses_then_fails(sandboxes, usage_service):
    service = usage_service("CT-TASK-0004")
    sandboxes.interstellio.fail_subscriber("CT-TASK-0004", 500)

    suspend(service)  # first attempt, right after commit

    [task] = tasks(service.id)
    assert (task.status, task.attempts) == ("pending", 1)
    assert task.next_attempt_at == clock.now() + RETRY_DELAYS[0]
    assert "HTTP 500" in task.last_error
    assert provider_tasks_run() == {"processed": 0, "failed": 0, "skipped": 0}  # not due yet

    moment = clock.now()
    for attempt in range(2, MAX_ATTEMPTS + 1):
        moment = task.next_attempt_at + timedelta(seconds=1)
        with clock.frozen_at(moment):
            assert provider_tasks_run()["failed"] == 1
        db.session.expire_all()
        assert task.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert task.status == "pending"
            assert task.next_attempt_at == moment + RETRY_DELAYS[attempt - 1]

    assert task.status == "failed"
    assert task.next_attempt_at is None
    assert f"attempt {MAX_ATTEMPTS} of {MAX_ATTEMPTS}" in task.last_error
    assert "CT-TASK-0004" not in sandboxes.interstellio.subscribers  # no call got through
    assert {run.status for run in runs()} == {"failed"}
    with clock.frozen_at(moment + timedelta(days=1)):
        assert provider_tasks_run()["failed"] == 0  # a failed task waits for a person


def test_a_retried_task_is_pending_again_with_fresh_attempts_and_completes(
    sandboxes, usage_service
):
    service = usage_service("CT-TASK-0005")
    sandboxes.interstellio.fail_subscriber("CT-TASK-0005", 400)  # refused: no retries
    suspend(service)
    [task] = tasks(service.id)
    assert (task.status, task.attempts) == ("failed", 1)

    sandboxes.interstellio.fail_subscriber("CT-TASK-0005", None)
    retry_provider_task(task, actor=SUPPORT, reason="Interstellio fixed the profile")
    db.session.commit()

    db.session.expire_all()
    assert (task.status, task.attempts, task.last_error) == ("done", 1, None)
    assert sandboxes.interstellio.subscribers["CT-TASK-0005"]["enabled"] is False
    audit = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "retry_provider_task")
    ).one()
    assert audit.entity_id == str(task.id)
    assert audit.reason == "Interstellio fixed the profile"
    assert audit.before["status"] == "failed" and audit.after["status"] == "pending"


def test_a_done_task_cannot_be_retried(sandboxes, usage_service):
    service = usage_service("CT-TASK-0006")
    suspend(service)
    [task] = tasks(service.id)

    try:
        retry_provider_task(task, actor=SUPPORT, reason="Again")
    except Conflict as refused:
        assert "this one is done" in refused.message
    else:
        raise AssertionError("a done task was retried")


def test_an_older_task_is_never_sent_after_a_newer_one(sandboxes, usage_service):
    service = usage_service("CT-TASK-0007")
    sandboxes.interstellio.fail_subscriber("CT-TASK-0007", 503)
    suspend(service)  # the disable waits for its next attempt
    sandboxes.interstellio.fail_subscriber("CT-TASK-0007", None)

    reactivate_service(service, actor=SUPPORT, reason="Suspended by mistake")
    db.session.commit()
    with clock.frozen_at(clock.now() + timedelta(hours=1)):
        provider_tasks_run()

    disable, enable = tasks(service.id)
    assert (enable.status, disable.status) == ("done", "done")
    assert "superseded by task" in disable.last_error
    assert sandboxes.interstellio.subscribers["CT-TASK-0007"]["enabled"] is True
    try:
        retry_provider_task(disable, actor=SUPPORT, reason="Again")
    except Conflict as refused:
        assert "replaced this one" in refused.message or "done" in refused.message
    else:
        raise AssertionError("a replaced task was retried")


def test_a_replaced_failed_task_cannot_be_retried(app, usage_service):
    service = usage_service("CT-TASK-0008")
    old = ProviderTask(
        provider="interstellio",
        action="disable_subscriber",
        service_id=service.id,
        customer_id=service.customer_id,
        payload={"connection_id": "CT-TASK-0008"},
        status="failed",
        attempts=MAX_ATTEMPTS,
    )
    new = ProviderTask(
        provider="interstellio",
        action="enable_subscriber",
        service_id=service.id,
        customer_id=service.customer_id,
        payload={"connection_id": "CT-TASK-0008"},
        status="done",
        attempts=1,
    )
    db.session.add_all([old, new])
    db.session.commit()

    try:
        retry_provider_task(old, actor=SUPPORT, reason="Again")
    except Conflict as refused:
        assert f"Task #{new.id} (enable_subscriber) replaced this one" in refused.message
    else:
        raise AssertionError("a replaced task was retried")


def test_without_provider_settings_tasks_stay_pending_and_nothing_is_logged(app, usage_service):
    service = usage_service("CT-TASK-0009")

    suspend(service)

    [task] = tasks(service.id)
    assert (task.status, task.attempts, task.last_error) == ("pending", 0, None)
    assert runs() == []


def test_services_without_a_connection_id_get_no_task(sandboxes, make_service):
    service = make_service(activation_date=date(2026, 11, 1))

    suspend(service)

    assert tasks(service.id) == []
    assert runs() == []
