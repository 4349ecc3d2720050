"""Usage sync from the Interstellio sandbox over HTTP (operator groups 4.1 "Interstellio
service" and 4.2 "Usage cron"): fetch since the last stored day, KB→MB, upsert, a batch
of 100+ services logged with counts, failures and outages that never stop a run."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app import clock, create_app
from app.accounts import create_customer
from app.audit import Actor
from app.extensions import db
from app.integrations.interstellio import InterstellioClient
from app.models import CronExecutionLog, CustomerService, UsageHistory
from app.usage import sync_service_usage
from jobs.usage import OUTAGE_AFTER_CONSECUTIVE_FAILURES, usage_sync, usage_sync_service
from tests.conftest import make_test_config
from tests.usage.conftest import TODAY


def usage_rows(service_id: int) -> dict[date, UsageHistory]:
    rows = db.session.scalars(
        select(UsageHistory).where(UsageHistory.service_id == service_id)
    ).all()
    return {row.date: row for row in rows}


def last_run(job_name: str = "usage_sync") -> CronExecutionLog:
    return db.session.scalars(
        select(CronExecutionLog)
        .where(CronExecutionLog.job_name == job_name)
        .order_by(CronExecutionLog.id.desc())
    ).first()


def data_requests(sandbox, connection_id: str) -> list[dict]:
    return [
        call
        for call in sandbox.calls
        if call["path"].startswith(f"/v1/subscriber/{connection_id}/data")
    ]


def test_a_first_sync_fetches_every_day_from_activation_to_today_in_mb(sandboxes, usage_service):
    service = usage_service("CT-SYNC-0001", activation_date=date(2026, 11, 10))
    sandboxes.interstellio.set_usage("CT-SYNC-0001", date(2026, 11, 15), 2_097_152, 1_048_576)

    usage_sync()

    rows = usage_rows(service.id)
    assert sorted(rows) == [date(2026, 11, 10) + timedelta(days=n) for n in range(11)]
    day = rows[date(2026, 11, 15)]
    assert (day.download_mb, day.upload_mb, day.total_mb) == (
        Decimal("2048.00"),
        Decimal("1024.00"),
        Decimal("3072.00"),
    )
    assert day.source == "interstellio"
    assert (day.billing_cycle_start, day.billing_cycle_end) == (
        date(2026, 11, 1),
        date(2026, 12, 1),
    )
    assert day.synced_at == clock.now()


def test_a_re_sync_changes_the_days_numbers_and_never_duplicates_a_day(sandboxes, usage_service):
    service = usage_service("CT-SYNC-0002", activation_date=date(2026, 11, 18))
    sandboxes.interstellio.set_usage("CT-SYNC-0002", TODAY, 1024, 0)
    usage_sync()
    assert usage_rows(service.id)[TODAY].download_mb == Decimal("1.00")

    sandboxes.interstellio.set_usage("CT-SYNC-0002", TODAY, 10_240, 2048)  # the day went on
    usage_sync()

    rows = usage_rows(service.id)
    assert sorted(rows) == [date(2026, 11, 18), date(2026, 11, 19), TODAY]
    assert (rows[TODAY].download_mb, rows[TODAY].upload_mb) == (Decimal("10.00"), Decimal("2.00"))


def test_the_next_sync_starts_from_the_last_stored_day(sandboxes, usage_service):
    usage_service("CT-SYNC-0003", activation_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 11, 17)):
        usage_sync()
    usage_sync()

    first, second = data_requests(sandboxes.interstellio, "CT-SYNC-0003")
    assert first["json"] == {
        "start": "2026-11-01T00:00:00+02:00",
        "end": "2026-11-18T00:00:00+02:00",
    }
    # 17 Nov is fetched again (it was partial when stored), up to the end of today.
    assert second["json"] == {
        "start": "2026-11-17T00:00:00+02:00",
        "end": "2026-11-21T00:00:00+02:00",
    }
    rows = db.session.scalar(select(func.count(UsageHistory.id)))
    assert rows == 20  # 1 – 20 Nov, each day once


def test_a_manual_correction_is_not_overwritten_by_the_feed(app, sandboxes, usage_service):
    service = usage_service("CT-SYNC-0004", activation_date=date(2026, 11, 19))
    db.session.add(
        UsageHistory(
            service_id=service.id,
            customer_id=service.customer_id,
            date=date(2026, 11, 19),
            download_mb=Decimal("5.00"),
            upload_mb=Decimal("1.00"),
            source="manual",
        )
    )
    db.session.commit()

    usage_sync()

    rows = usage_rows(service.id)
    assert rows[date(2026, 11, 19)].source == "manual"
    assert rows[date(2026, 11, 19)].total_mb == Decimal("6.00")
    assert rows[TODAY].source == "interstellio"


def test_a_batch_of_120_services_is_synced_and_logged_with_counts(sandboxes, many_usage_services):
    services = many_usage_services(120)

    counts = usage_sync("scheduled")

    assert counts == {"processed": 120, "failed": 0, "skipped": 0}
    run = last_run()
    assert (run.status, run.records_processed, run.records_failed) == ("completed", 120, 0)
    assert run.trigger_source == "scheduled"
    assert run.business_date == TODAY
    assert run.execution_end is not None
    stored = db.session.scalar(select(func.count(UsageHistory.id)))
    assert stored == 120 * 20
    assert {row.service_id for row in db.session.scalars(select(UsageHistory))} == {
        service.id for service in services
    }


def test_one_failing_subscriber_is_listed_and_the_others_are_synced(sandboxes, usage_service):
    healthy = usage_service("CT-SYNC-0005")
    broken = usage_service("CT-SYNC-0006")
    also_healthy = usage_service("CT-SYNC-0007")
    sandboxes.interstellio.fail_subscriber("CT-SYNC-0006", 500)

    counts = usage_sync()

    assert counts == {"processed": 2, "failed": 1, "skipped": 0}
    run = last_run()
    assert run.status == "partial"
    [failure] = run.error_details["failures"]
    assert failure["service_id"] == broken.id
    assert failure["connection_id"] == "CT-SYNC-0006"
    assert "HTTP 500" in failure["error"]
    assert usage_rows(healthy.id) and usage_rows(also_healthy.id)
    assert not usage_rows(broken.id)


def test_a_provider_timing_out_gives_a_failed_run_and_the_next_run_catches_up(
    app, sandboxes, usage_service, monkeypatch
):
    first = usage_service("CT-SYNC-0008")
    second = usage_service("CT-SYNC-0009")
    with clock.frozen_at(date(2026, 11, 17)):
        usage_sync()
    monkeypatch.setitem(app.config, "PROVIDER_TIMEOUT_SECONDS", 0.2)
    sandboxes.interstellio.delay_next(0.5, count=100)

    counts = usage_sync()

    assert counts == {"processed": 0, "failed": 2, "skipped": 0}
    run = last_run()
    assert run.status == "failed"
    assert all("timed out" in failure["error"] for failure in run.error_details["failures"])
    assert max(usage_rows(first.id)) == date(2026, 11, 17)

    sandboxes.interstellio.clear_failures()
    with clock.frozen_at(date(2026, 11, 21)):
        assert usage_sync()["processed"] == 2
    for service in (first, second):
        assert sorted(usage_rows(service.id)) == [
            date(2026, 11, 1) + timedelta(n) for n in range(21)
        ]


def test_a_provider_down_for_every_service_is_not_tried_to_the_end_of_the_run(
    sandboxes, many_usage_services
):
    many_usage_services(OUTAGE_AFTER_CONSECUTIVE_FAILURES + 3)
    sandboxes.interstellio.fail_next(1000, status=503)

    counts = usage_sync()

    assert counts == {"processed": 0, "failed": OUTAGE_AFTER_CONSECUTIVE_FAILURES, "skipped": 3}
    run = last_run()
    assert run.status == "failed"
    assert "3 services not tried" in run.error_details["failures"][-1]["error"]


def test_only_active_services_with_a_connection_id_are_synced_by_the_hourly_run(
    sandboxes, usage_service, make_service
):
    active = usage_service("CT-SYNC-0010")
    usage_service("CT-SYNC-0011", status="suspended")
    usage_service("CT-SYNC-0012", status="cancelled")
    make_service(activation_date=date(2026, 11, 1))  # no connection id

    assert usage_sync()["processed"] == 1

    assert {row.service_id for row in db.session.scalars(select(UsageHistory))} == {active.id}


def test_one_service_is_synced_on_demand_and_its_run_logged(sandboxes, usage_service):
    service = usage_service("CT-SYNC-0013", status="suspended")

    counts = usage_sync_service(service.id, "manual", "support@staff.isp-console.co.za")

    assert counts["processed"] == 1
    run = last_run("usage_sync_service")
    assert run.status == "completed"
    assert run.execution_details["service_id"] == service.id
    assert run.triggered_by == "support@staff.isp-console.co.za"
    assert len(usage_rows(service.id)) == 20


def test_an_on_demand_sync_that_fails_is_a_failed_run_not_an_exception(sandboxes, usage_service):
    service = usage_service("CT-SYNC-0014")
    sandboxes.interstellio.fail_subscriber("CT-SYNC-0014", 503)

    counts = usage_sync_service(service.id)

    assert counts["failed"] == 1
    run = last_run("usage_sync_service")
    assert run.status == "failed"
    assert "HTTP 503" in run.error_details["failures"][0]["error"]


def test_without_provider_settings_the_hourly_sync_does_nothing(app, usage_service):
    usage_service("CT-SYNC-0015")

    assert usage_sync() == {"processed": 0, "failed": 0, "skipped": 0}
    assert last_run() is None


def test_flask_usage_sync_reports_and_exits_non_zero_on_failures(app, sandboxes, usage_service):
    service = usage_service("CT-SYNC-0016")
    usage_service("CT-SYNC-0017")
    runner = app.test_cli_runner()

    done = runner.invoke(args=["usage", "sync"])
    assert done.exit_code == 0, done.output
    assert "2 services synced" in done.output

    one = runner.invoke(args=["usage", "sync", "--service", str(service.id)])
    assert one.exit_code == 0, one.output
    assert "1 services synced" in one.output

    sandboxes.interstellio.fail_subscriber("CT-SYNC-0017", 500)
    partial = runner.invoke(args=["usage", "sync"])
    assert partial.exit_code == 1
    assert "1 failed" in partial.output
    assert "CT-SYNC-0017" in partial.output

    missing = runner.invoke(args=["usage", "sync", "--service", "999999"])
    assert missing.exit_code == 1
    assert "No service with id 999999" in missing.output


def test_flask_usage_sync_starts_the_sandboxes_when_no_provider_is_configured(app, usage_service):
    service = usage_service("CT-SYNC-0018")

    result = app.test_cli_runner().invoke(args=["usage", "sync"])

    assert result.exit_code == 0, result.output
    assert len(usage_rows(service.id)) == 20
    assert app.config["INTERSTELLIO_IDENTITY_URL"] is None  # pointed back afterwards


@pytest.mark.sqlite
def test_the_upsert_works_on_sqlite_too(tmp_path, running_sandboxes):
    """The same sync on a migrated SQLite database: a re-sync updates, never duplicates."""
    from flask_migrate import upgrade

    sqlite_app = create_app(
        make_test_config(f"sqlite:///{tmp_path / 'usage.db'}", **running_sandboxes.config)
    )
    running_sandboxes.reset()
    try:
        with sqlite_app.app_context():
            upgrade()
            customer = create_customer(
                actor=Actor.system("pytest"),
                reason="test fixture",
                first_name="Ayanda",
                last_name="Zulu",
                email="ayanda@example.co.za",
            )
            service = CustomerService(
                customer_id=customer.id,
                service_type="lte",
                package_name="LTE 100GB",
                installation_address="3 Main Road, Durban",
                monthly_price=Decimal("499.00"),
                billing_date=1,
                status="active",
                activation_date=date(2026, 11, 18),
                connection_id="CT-SQLITE-0001",
                data_cap="100GB",
            )
            db.session.add(service)
            db.session.commit()
            running_sandboxes.interstellio.set_usage("CT-SQLITE-0001", TODAY, 3072, 1024)
            with InterstellioClient.from_config() as client:
                sync_service_usage(service, client=client)
                db.session.commit()
                running_sandboxes.interstellio.set_usage("CT-SQLITE-0001", TODAY, 6144, 1024)
                sync_service_usage(service, client=client)
                db.session.commit()
            rows = usage_rows(service.id)
            assert sorted(rows) == [date(2026, 11, 18), date(2026, 11, 19), TODAY]
            assert rows[TODAY].total_mb == Decimal("7.00")
            db.session.remove()
            db.engine.dispose()
    finally:
        running_sandboxes.reset()
