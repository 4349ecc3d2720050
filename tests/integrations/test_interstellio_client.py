"""The Interstellio client against the sandbox over HTTP (operator group 4.1 "Interstellio
service": fetch, KB→MB, error handling with retry), and the sandbox's protocol limits."""

from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest

from app import clock
from app.integrations.http import ProviderError, ProviderNotConfigured, ProviderUnavailable
from app.integrations.interstellio import InterstellioClient, kb_to_mb
from app.integrations.sandbox.interstellio import (
    TENANT_ID,
    synthetic_usage_kb,
    usage_profile,
)

TODAY = date(2026, 11, 20)


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(TODAY):
        yield


@pytest.fixture
def interstellio(sandboxes):
    return sandboxes.interstellio


@pytest.fixture
def client(app, sandboxes):
    with InterstellioClient.from_config() as client:
        yield client


def data_calls(sandbox) -> list[dict]:
    return [call for call in sandbox.calls if "/data/" in call["path"]]


def token_calls(sandbox) -> list[dict]:
    return [call for call in sandbox.calls if call["path"] == "/v3/token"]


def test_the_token_is_fetched_once_and_every_call_carries_the_required_headers(
    client, interstellio
):
    client.daily_usage("CT-FIBRE-0001", TODAY - timedelta(days=2), TODAY)
    client.get_subscriber("CT-FIBRE-0001")
    client.set_enabled("CT-FIBRE-0001", False)

    assert len(token_calls(interstellio)) == 1
    calls = [call for call in interstellio.calls if call["path"] != "/v3/token"]
    assert len(calls) == 3
    for call in calls:
        headers = call["headers"]
        assert headers["X-Auth-Token"]
        assert headers["X-Domain"] == "circletel.co.za"
        assert headers["X-Tenant-ID"] == TENANT_ID
        assert headers["X-Timezone"] == "Africa/Johannesburg"
        assert headers["Content-Type"] == "application/json"


def test_daily_usage_is_converted_from_kb_to_mb_half_up_to_two_decimals(client, interstellio):
    day = TODAY - timedelta(days=1)
    # 128 KB is exactly 0.125 MB: half-up gives 0.13 (banker's rounding would give 0.12).
    interstellio.set_usage("CT-FIBRE-0002", day, download_kb=524_288_000, upload_kb=128)

    [usage] = client.daily_usage("CT-FIBRE-0002", day, day)

    assert usage.day == day
    assert usage.download_mb == Decimal("512000.00")
    assert usage.upload_mb == Decimal("0.13")


@pytest.mark.parametrize(
    ("kilobytes", "megabytes"),
    [(0, "0.00"), (1, "0.00"), (5, "0.00"), (6, "0.01"), (1024, "1.00"), (1536, "1.50")],
)
def test_kb_to_mb_rounds_half_up(kilobytes, megabytes):
    assert kb_to_mb(kilobytes) == Decimal(megabytes)


def test_negative_or_non_numeric_usage_is_refused():
    with pytest.raises(ProviderError):
        kb_to_mb(-1)
    with pytest.raises(ProviderError):
        kb_to_mb("lots")


def test_a_long_span_is_asked_for_in_windows_inside_the_128_day_limit(client, interstellio):
    first = TODAY - timedelta(days=299)

    usage = client.daily_usage("CT-FIBRE-0003", first, TODAY)

    assert [row.day for row in usage] == [first + timedelta(days=n) for n in range(300)]
    windows = data_calls(interstellio)
    assert len(windows) == 5  # 300 days in windows of 62
    assert all(call["method"] == "POST" for call in windows)


def test_the_sandbox_reports_no_usage_after_the_business_date(client):
    usage = client.daily_usage("CT-FIBRE-0004", TODAY - timedelta(days=2), TODAY + timedelta(5))

    assert [row.day for row in usage] == [TODAY - timedelta(days=2), TODAY - timedelta(1), TODAY]


def test_an_expired_token_is_renewed_once_and_the_call_repeated(client, interstellio):
    client.get_subscriber("CT-FIBRE-0005")
    interstellio.expire_tokens()

    subscriber = client.get_subscriber("CT-FIBRE-0005")

    assert subscriber["id"] == "CT-FIBRE-0005"
    assert len(token_calls(interstellio)) == 2


def test_wrong_credentials_are_refused_without_retrying(app, sandboxes, interstellio, monkeypatch):
    monkeypatch.setitem(app.config, "INTERSTELLIO_PASSWORD", "not-the-password")
    with InterstellioClient.from_config() as client, pytest.raises(ProviderError) as refused:
        client.get_subscriber("CT-FIBRE-0006")

    assert refused.value.status == 401
    assert not isinstance(refused.value, ProviderUnavailable)
    assert "Invalid credentials" in str(refused.value)
    assert len(token_calls(interstellio)) == 1


def test_server_errors_and_rate_limits_are_retried_with_backoff(client, interstellio):
    interstellio.fail_next(1, status=503)  # the token request
    client.get_subscriber("CT-FIBRE-0007")
    interstellio.fail_next(1, status=429)
    interstellio.fail_next(1, status=500)

    usage = client.daily_usage("CT-FIBRE-0007", TODAY, TODAY)

    assert len(usage) == 1
    assert len(data_calls(interstellio)) == 3  # two failures, then the answer


def test_a_provider_that_keeps_failing_raises_unavailable_after_the_attempts(
    app, client, interstellio
):
    client.get_subscriber("CT-FIBRE-0008")
    interstellio.fail_next(10, status=502)

    with pytest.raises(ProviderUnavailable) as failure:
        client.daily_usage("CT-FIBRE-0008", TODAY, TODAY)

    assert failure.value.status == 502
    assert len(data_calls(interstellio)) == app.config["PROVIDER_RETRIES"]


def test_a_timeout_is_retried(app, sandboxes, interstellio, monkeypatch):
    monkeypatch.setitem(app.config, "PROVIDER_TIMEOUT_SECONDS", 0.3)
    interstellio.delay_next(1.0)  # the token request times out once

    with InterstellioClient.from_config() as client:
        usage = client.daily_usage("CT-FIBRE-0009", TODAY, TODAY)

    assert len(usage) == 1
    assert len(token_calls(interstellio)) == 2


def test_enabling_and_disabling_patches_the_subscriber(client, interstellio):
    client.set_enabled("CT-LTE-0010", False)
    assert interstellio.subscribers["CT-LTE-0010"]["enabled"] is False
    assert client.get_subscriber("CT-LTE-0010")["enabled"] is False

    client.set_enabled("CT-LTE-0010", True)
    assert interstellio.subscribers["CT-LTE-0010"]["enabled"] is True
    patches = [call for call in interstellio.calls if call["method"] == "PATCH"]
    assert [call["path"] for call in patches] == ["/v1/subscriber/CT-LTE-0010"] * 2


def test_provider_errors_carry_the_status_and_description(client):
    with pytest.raises(ProviderError) as refused:
        client.get_subscriber("not a valid id!")
    assert refused.value.status == 404
    assert "No subscriber" in str(refused.value)


def test_without_settings_the_client_is_not_configured(app):
    with pytest.raises(ProviderNotConfigured):
        InterstellioClient.from_config()


def test_the_sandbox_enforces_the_query_limits(app, sandboxes):
    base = app.config["INTERSTELLIO_TELEMETRY_URL"]
    with httpx.Client(base_url=base, timeout=5) as http:
        token = http.post(
            "/v3/token",
            json={
                "domain": "circletel.co.za",
                "username": "sandbox-billing",
                "password": "sandbox-password",
            },
        ).json()["token"]
        headers = {"X-Auth-Token": token, "X-Timezone": "Africa/Johannesburg"}
        too_long = http.post(
            "/v1/subscriber/CT-1/data/daily",
            json={"start": "2026-01-01T00:00:00+02:00", "end": "2026-06-01T00:00:00+02:00"},
            headers=headers,
        )
        big_page = http.get("/v1/subscribers", params={"l": 51}, headers=headers)
        no_token = http.get("/v1/subscriber/CT-1")
    assert too_long.status_code == 400
    assert "128 days" in too_long.json()["error"]["description"]
    assert big_page.status_code == 400
    assert no_token.status_code == 401
    assert set(no_token.json()["error"]) == {"title", "description", "request_id"}


def test_synthetic_usage_is_deterministic_and_a_share_of_users_cross_a_500gb_cap():
    ids = [f"CT-{n:05d}" for n in range(300)]
    assert synthetic_usage_kb("CT-00001", TODAY) == synthetic_usage_kb("CT-00001", TODAY)
    cap_kb = 500 * 1024 * 1024
    month = [TODAY - timedelta(days=n) for n in range(30)]
    totals = {i: sum(sum(synthetic_usage_kb(i, day)) for day in month) for i in ids}
    over_95 = [i for i, total in totals.items() if total >= cap_kb * 0.95]
    assert 0.1 * len(ids) <= len(over_95) <= 0.3 * len(ids)
    assert all(usage_profile(i) == "heavy" for i in over_95)


def test_the_sandbox_keeps_its_state_across_restarts_when_given_a_state_dir(tmp_path):
    from app.integrations.sandbox import SandboxContext
    from app.integrations.sandbox.interstellio import InterstellioSandbox

    context = SandboxContext(app_base_url="http://127.0.0.1:5000", state_dir=tmp_path)
    first = InterstellioSandbox(context)
    first.set_usage("CT-KEEP-0001", TODAY, 2048, 1024)
    first.subscribers["CT-KEEP-0001"]["enabled"] = False
    first.stop_feed("CT-KEEP-0002", TODAY)

    again = InterstellioSandbox(context)

    assert again.usage_kb("CT-KEEP-0001", TODAY) == (2048, 1024)
    assert again.subscribers["CT-KEEP-0001"]["enabled"] is False
    assert again.feed_stopped == {"CT-KEEP-0002": TODAY}
    again.reset()
    assert InterstellioSandbox(context).subscribers == {}


def test_a_stopped_feed_reports_no_days_from_then_on(client, interstellio):
    interstellio.stop_feed("CT-FIBRE-0011", TODAY - timedelta(days=1))

    usage = client.daily_usage("CT-FIBRE-0011", TODAY - timedelta(days=3), TODAY)

    assert [row.day for row in usage] == [TODAY - timedelta(days=3), TODAY - timedelta(days=2)]


def test_the_sandbox_lists_subscribers_in_pages_of_at_most_50(app, client, interstellio):
    for number in range(3):
        client.get_subscriber(f"CT-LIST-{number}")
    base = app.config["INTERSTELLIO_SUBSCRIBER_URL"]
    token = next(iter(interstellio.tokens))
    with httpx.Client(base_url=base, timeout=5) as http:
        page = http.get(
            "/v1/subscribers",
            params={"l": 2, "p": 2, "id": "CT-LIST-*"},
            headers={"X-Auth-Token": token},
        ).json()
    assert [row["id"] for row in page["payload"]] == ["CT-LIST-2"]
    assert page["metadata"] == {"records": 3, "page": 2, "pages": 2, "per_page": 2}
