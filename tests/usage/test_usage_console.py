"""Console: the usage watch (stale feeds, services near their cap), the usage page of a
service with "Sync usage now", and the provider-task list with "Retry"; every action needs
a reason and its permission."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, CronExecutionLog, ProviderTask, UsageHistory
from app.usage import stale_usage_feeds
from tests.usage.conftest import TODAY


def store_usage(service, days: list[date], megabytes: str = "100.00") -> None:
    for day in days:
        db.session.add(
            UsageHistory(
                service_id=service.id,
                customer_id=service.customer_id,
                date=day,
                download_mb=Decimal(megabytes),
                upload_mb=Decimal("0.00"),
                source="interstellio",
            )
        )
    db.session.commit()


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


@pytest.fixture
def feeds(usage_service, make_service):
    """Services whose usage last arrived at various days; returns them by name."""
    services = {
        "fresh": usage_service("CT-WATCH-01", activation_date=ago(30)),
        "two_days": usage_service("CT-WATCH-02", activation_date=ago(30)),
        "three_days": usage_service("CT-WATCH-03", activation_date=ago(30)),
        "never_since_activation": usage_service("CT-WATCH-04", activation_date=ago(5)),
        "just_activated": usage_service("CT-WATCH-05", activation_date=ago(1)),
        "activated_two_days_ago": usage_service("CT-WATCH-06", activation_date=ago(2)),
        "suspended": usage_service("CT-WATCH-07", activation_date=ago(30), status="suspended"),
        "no_connection": make_service(activation_date=ago(30)),
    }
    store_usage(services["fresh"], [ago(1), ago(0)])
    store_usage(services["two_days"], [ago(3), ago(2)])
    store_usage(services["three_days"], [ago(4), ago(3)])
    store_usage(services["suspended"], [ago(10)])
    return services


def test_the_48_hour_watch_lists_exactly_the_stale_feeds(app, feeds):
    stale = stale_usage_feeds(TODAY)

    assert [feed.service_id for feed in stale] == [
        feeds["never_since_activation"].id,  # nothing for 5 days
        feeds["three_days"].id,
        feeds["activated_two_days_ago"].id,
    ]
    assert [feed.days_without_usage(TODAY) for feed in stale] == [6, 3, 3]
    assert stale[1].last_day == ago(3)
    assert stale[0].last_day is None


def test_the_usage_watch_page_shows_the_stale_feeds_and_services_near_their_cap(
    client, auth, feeds, usage_service
):
    capped = usage_service("CT-WATCH-08", data_cap="1GB")
    store_usage(capped, [date(2026, 11, 1), date(2026, 11, 2)], megabytes="450.00")
    auth.login("viewer")

    page = client.get("/admin/usage_watch/").get_data(as_text=True)

    stale_section = page.split('id="stale-feeds"')[1].split("</table>")[0]
    for name in ("never_since_activation", "three_days", "activated_two_days_ago"):
        assert f'data-service-id="{feeds[name].id}"' in stale_section
    for name in ("fresh", "two_days", "just_activated", "suspended", "no_connection"):
        assert f'data-service-id="{feeds[name].id}"' not in stale_section
    near_cap = page.split('id="near-cap"')[1].split("</table>")[0]
    assert f'data-service-id="{capped.id}"' in near_cap
    assert "87.9 %" in near_cap
    assert "table-warning" in near_cap


def test_a_service_is_found_by_its_connection_id(client, auth, usage_service):
    service = usage_service("CT-WATCH-09")
    auth.login("viewer")

    found = client.get("/admin/usage_watch/", query_string={"q": "CT-WATCH-09"})
    missing = client.get("/admin/usage_watch/", query_string={"q": "CT-NOPE"})

    assert found.status_code == 302
    assert found.headers["Location"].endswith(f"/admin/usage_watch/service/{service.id}")
    assert "No service with id or connection id" in missing.get_data(as_text=True)


def test_the_service_list_and_the_customer_page_link_to_the_usage_page(client, auth, usage_service):
    service = usage_service("CT-LINK-01")
    auth.login("viewer")
    link = f"/admin/usage_watch/service/{service.id}"
    assert link in client.get("/admin/services/").get_data(as_text=True)
    customer_page = client.get(f"/admin/customers/{service.customer_id}/")
    assert link in customer_page.get_data(as_text=True)
    assert client.get(link).status_code == 200


def test_the_service_usage_page_shows_the_cycles_days_and_percent_of_cap(
    client, auth, usage_service
):
    service = usage_service("CT-WATCH-10", data_cap="10GB", billing_date=5)
    store_usage(service, [date(2026, 11, 4), date(2026, 11, 5), date(2026, 11, 6)], "2048.00")
    auth.login("viewer")

    page = client.get(f"/admin/usage_watch/service/{service.id}").get_data(as_text=True)

    assert "Current cycle 5 Nov – 4 Dec 2026" in page
    assert 'data-day="2026-11-04"' not in page  # the previous cycle
    assert 'data-day="2026-11-05"' in page and 'data-day="2026-11-06"' in page
    assert '<strong id="cycle-used">4.00 GB</strong>' in page
    assert "40.0 %" in page
    assert 'id="sync-now"' not in page  # a viewer may not sync


def test_sync_usage_now_needs_a_reason(client, auth, sandboxes, usage_service):
    service = usage_service("CT-WATCH-11")
    auth.login("support")

    response = client.post(f"/admin/usage_watch/service/{service.id}/sync", data={"reason": " "})

    assert response.status_code == 200
    assert "A reason is required." in response.get_data(as_text=True)
    assert db.session.scalars(select(UsageHistory)).all() == []
    assert (
        db.session.scalars(select(AuditLog).where(AuditLog.action == "request_usage_sync")).all()
        == []
    )


def test_sync_usage_now_syncs_after_commit_audits_and_reports(
    client, auth, sandboxes, usage_service
):
    service = usage_service("CT-WATCH-12", activation_date=date(2026, 11, 15))
    auth.login("support")
    page = client.get(f"/admin/usage_watch/service/{service.id}").get_data(as_text=True)
    assert 'id="sync-now"' in page

    response = client.post(
        f"/admin/usage_watch/service/{service.id}/sync",
        data={"reason": "Customer says the portal is behind"},
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert "Usage synced (run #" in page
    assert 'data-day="2026-11-15"' in page and 'data-day="2026-11-20"' in page
    assert 'id="last-sync-run" data-status="completed"' in page
    audit = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "request_usage_sync")
    ).one()
    assert (audit.entity_type, audit.entity_id) == ("customer_services", str(service.id))
    assert audit.reason == "Customer says the portal is behind"
    run = db.session.scalars(
        select(CronExecutionLog).where(CronExecutionLog.job_name == "usage_sync_service")
    ).one()
    assert (run.trigger_source, run.triggered_by) == ("manual", audit.actor)


def test_a_failed_sync_now_is_reported_on_the_page(client, auth, sandboxes, usage_service):
    service = usage_service("CT-WATCH-13")
    sandboxes.interstellio.fail_subscriber("CT-WATCH-13", 500)
    auth.login("admin")

    response = client.post(
        f"/admin/usage_watch/service/{service.id}/sync",
        data={"reason": "Check the feed"},
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert "Usage sync failed" in page
    assert "HTTP 500" in page


def test_a_service_without_a_connection_id_cannot_be_synced(client, auth, make_service):
    service = make_service(activation_date=date(2026, 11, 1))
    auth.login("support")

    response = client.post(
        f"/admin/usage_watch/service/{service.id}/sync", data={"reason": "Try anyway"}
    )

    assert response.status_code == 200
    assert "no Interstellio connection id" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["viewer", "finance"])
def test_sync_usage_now_needs_the_permission(client, auth, usage_service, role):
    service = usage_service("CT-WATCH-14")
    auth.login(role)

    response = client.post(
        f"/admin/usage_watch/service/{service.id}/sync", data={"reason": "Curious"}
    )

    assert response.status_code == 403
    assert (
        db.session.scalars(select(AuditLog).where(AuditLog.action == "request_usage_sync")).all()
        == []
    )


def test_anonymous_visitors_are_sent_to_the_login(client, usage_service):
    service = usage_service("CT-WATCH-15")
    for url in ("/admin/usage_watch/", f"/admin/usage_watch/service/{service.id}"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/admin/login" in response.headers["Location"]


@pytest.fixture
def failed_task(usage_service):
    service = usage_service("CT-WATCH-20")
    task = ProviderTask(
        provider="interstellio",
        action="disable_subscriber",
        service_id=service.id,
        customer_id=service.customer_id,
        payload={"connection_id": "CT-WATCH-20"},
        status="failed",
        attempts=6,
        last_error="interstellio: HTTP 500 after 3 attempt(s) (attempt 6 of 6)",
    )
    done = ProviderTask(
        provider="interstellio",
        action="enable_subscriber",
        service_id=usage_service("CT-WATCH-21").id,
        payload={"connection_id": "CT-WATCH-21"},
        status="done",
        attempts=1,
    )
    db.session.add_all([task, done])
    db.session.commit()
    return task


def test_the_provider_task_list_counts_failed_and_pending_and_offers_retry_on_them(
    client, auth, failed_task
):
    auth.login("support")

    page = client.get("/admin/provider_tasks/").get_data(as_text=True)

    assert "1 failed" in page and "0 pending" in page
    assert f"/admin/provider_tasks/{failed_task.id}/retry" in page
    assert page.count("/retry") == 1  # not on the done task
    failed_only = client.get("/admin/provider_tasks/?flt0_status_equals=failed")
    assert "CT-WATCH-21" not in failed_only.get_data(as_text=True)


def test_console_retry_needs_a_reason_then_the_task_is_pending_and_completes(
    client, auth, sandboxes, failed_task
):
    auth.login("support")
    url = f"/admin/provider_tasks/{failed_task.id}/retry"
    form = client.get(url).get_data(as_text=True)
    assert 'name="reason"' in form

    refused = client.post(url, data={"reason": ""})
    assert "A reason is required." in refused.get_data(as_text=True)
    db.session.expire_all()
    assert failed_task.status == "failed"

    done = client.post(url, data={"reason": "Interstellio outage is over"}, follow_redirects=True)

    assert f"Task #{failed_task.id} (disable_subscriber) retried: done" in done.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert (failed_task.status, failed_task.attempts) == ("done", 1)
    assert sandboxes.interstellio.subscribers["CT-WATCH-20"]["enabled"] is False
    audit = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "retry_provider_task")
    ).one()
    assert audit.reason == "Interstellio outage is over"


@pytest.mark.parametrize("role", ["viewer", "finance"])
def test_console_retry_needs_the_permission(client, auth, failed_task, role):
    auth.login(role)

    assert client.get(f"/admin/provider_tasks/{failed_task.id}/retry").status_code == 403
    response = client.post(
        f"/admin/provider_tasks/{failed_task.id}/retry", data={"reason": "Please"}
    )

    assert response.status_code == 403
    assert "/retry" not in client.get("/admin/provider_tasks/").get_data(as_text=True)
    db.session.expire_all()
    assert failed_task.status == "failed"
