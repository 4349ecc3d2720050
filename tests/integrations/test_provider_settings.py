"""Provider settings and the shared HTTP behaviour of every provider client: production
refuses to start without provider URLs, `create_app` never starts a sandbox, and calls
that time out or fail with 5xx are retried with backoff before giving up."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from app import create_app
from app.integrations.http import ProviderUnavailable, call_with_retries, provider_client
from app.integrations.sandbox import (
    PROVIDER_URL_SETTINGS,
    SANDBOX_CREDENTIALS,
    providers_configured,
    sandbox_ports,
    sandboxes_unless_configured,
)
from config import DevelopmentConfig, ProductionConfig

PRODUCTION_SECRETS = {
    "SECRET_KEY": "a-real-secret-from-the-vault",
    "PAYMENT_DATA_KEYS": "bm90LWEtZGV2LWtleS1idXQtYS1yZWFsLW9uZS0zMmI=",
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db.internal/isp",
}
PRODUCTION_PROVIDERS = {
    "PUBLIC_BASE_URL": "https://my.circletel.co.za",
    "INTERSTELLIO_IDENTITY_URL": "https://identity-za.nebularstack.com",
    "INTERSTELLIO_SUBSCRIBER_URL": "https://subscriber-za.nebularstack.com",
    "INTERSTELLIO_TELEMETRY_URL": "https://telemetry-za.nebularstack.com",
    "INTERSTELLIO_USERNAME": "billing",
    "INTERSTELLIO_PASSWORD": "from-the-vault",
    "NETCASH_WS_URL": "https://ws.netcash.co.za/NIWS/NIWS_NIF.svc",
    "NETCASH_DEBIT_ORDER_SERVICE_KEY": "from-the-vault-1",
    "NETCASH_ACCOUNT_SERVICE_KEY": "from-the-vault-2",
    "NETCASH_PAYNOW_SERVICE_KEY": "from-the-vault-3",
    "NETCASH_PAYNOW_URL": "https://paynow.netcash.co.za/site/paynow.aspx",
    "NETCASH_WEBHOOK_SECRET": "from-the-vault-4",
    "SMS_CALLBACK_SECRET": "from-the-vault-5",
    "CLICKATELL_BASE_URL": "https://platform.clickatell.com",
    "CLICKATELL_API_KEY": "from-the-vault-6",
    "SMTP_HOST": "smtp.circletel.co.za",
}


def _production(**overrides):
    return type("Prod", (ProductionConfig,), {**PRODUCTION_SECRETS, **overrides})


@pytest.mark.parametrize(
    "missing",
    ["NETCASH_WS_URL", "INTERSTELLIO_TELEMETRY_URL", "CLICKATELL_API_KEY", "SMTP_HOST"],
)
def test_production_refuses_to_start_without_a_provider_setting(missing):
    settings = {**PRODUCTION_PROVIDERS, missing: None}
    with pytest.raises(RuntimeError, match=missing):
        create_app(_production(**settings))


def test_production_refuses_a_loopback_public_address():
    settings = {**PRODUCTION_PROVIDERS, "PUBLIC_BASE_URL": "http://127.0.0.1:5000"}
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"):
        create_app(_production(**settings))


def test_production_with_bulksms_needs_the_bulksms_credentials_instead():
    settings = {**PRODUCTION_PROVIDERS, "SMS_PROVIDER": "bulksms"}
    with pytest.raises(RuntimeError, match="BULKSMS_TOKEN_ID") as refused:
        create_app(_production(**settings))
    assert "CLICKATELL" not in str(refused.value)


def test_production_with_every_provider_set_starts_and_points_at_no_sandbox():
    app = create_app(_production(**PRODUCTION_PROVIDERS))
    assert app.config["NETCASH_WS_URL"].startswith("https://ws.netcash.co.za")
    assert providers_configured(app.config)
    assert app.config["SANDBOX_STATE_DIR"] is None


def _free_port_run(count: int) -> int:
    """The first of `count` consecutive loopback ports nothing listens on (a `make run`
    on this machine may hold the default sandbox ports)."""
    for base in range(20_000, 60_000, 97):
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free loopback ports")


def test_create_app_never_starts_or_points_at_the_sandboxes():
    base_port = _free_port_run(len(sandbox_ports(1)))
    app = create_app(type("Dev", (DevelopmentConfig,), {"SANDBOX_BASE_PORT": base_port}))
    assert not providers_configured(app.config)
    for setting in PROVIDER_URL_SETTINGS:
        assert app.config[setting] is None
    # Nothing listens on the sandbox ports after create_app.
    for port in sandbox_ports(app.config["SANDBOX_BASE_PORT"]).values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    assert SANDBOX_CREDENTIALS["NETCASH_WEBHOOK_SECRET"] != app.config["NETCASH_WEBHOOK_SECRET"]


class _FlakyProvider(BaseHTTPRequestHandler):
    """Answers each GET with the next scripted status (or sleeps first)."""

    script: list = []
    calls: list = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).calls.append(time.monotonic())
        step = type(self).script.pop(0) if type(self).script else 200
        if step == "slow":
            time.sleep(0.5)
            step = 200
        self.send_response(step)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_provider():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FlakyProvider.script, _FlakyProvider.calls = [], []
    yield f"http://127.0.0.1:{server.server_port}", _FlakyProvider
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_provider_failing_for_a_while_is_retried_with_growing_pauses(app, flaky_provider):
    base_url, provider = flaky_provider
    provider.script = [500, 503, 200]
    with provider_client(base_url) as client:
        response = call_with_retries("flaky", lambda: client.get("/"), attempts=3, backoff=0.05)
    assert response.status_code == 200
    assert len(provider.calls) == 3
    first_pause = provider.calls[1] - provider.calls[0]
    second_pause = provider.calls[2] - provider.calls[1]
    assert first_pause >= 0.05
    assert second_pause >= 0.1


def test_a_provider_that_keeps_failing_gives_provider_unavailable(app, flaky_provider):
    base_url, provider = flaky_provider
    provider.script = [500, 500, 500, 500]
    with provider_client(base_url) as client, pytest.raises(ProviderUnavailable) as failed:
        call_with_retries("flaky", lambda: client.get("/"), attempts=3, backoff=0.01)
    assert len(provider.calls) == 3
    assert failed.value.status == 500
    assert "HTTP 500 after 3 attempt(s)" in str(failed.value)


def test_a_timeout_is_retried_and_a_client_error_is_not(app, flaky_provider):
    base_url, provider = flaky_provider
    provider.script = ["slow", 200]
    with httpx.Client(base_url=base_url, timeout=0.2) as client:
        response = call_with_retries("flaky", lambda: client.get("/"), attempts=2, backoff=0.01)
        assert response.status_code == 200
        provider.script = [404]
        answered = call_with_retries("flaky", lambda: client.get("/"), attempts=3, backoff=0.01)
    assert answered.status_code == 404  # the client reads it; not a transient failure
    assert len(provider.calls) == 3


def test_an_unreachable_provider_gives_provider_unavailable(app):
    with (
        httpx.Client(base_url="http://127.0.0.1:9", timeout=0.5) as client,
        pytest.raises(ProviderUnavailable, match="unreachable"),
    ):
        call_with_retries("nowhere", lambda: client.get("/"), attempts=2, backoff=0.01)


@pytest.fixture
def served_sandbox_port(app, monkeypatch):
    """Something listening where the sandboxes' first port is (a running `flask serve`)."""
    listener = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyProvider)
    monkeypatch.setitem(app.config, "SANDBOX_BASE_PORT", listener.server_port)
    yield listener.server_port
    listener.server_close()


def test_commands_next_to_a_running_server_use_its_sandboxes(app, served_sandbox_port):
    with sandboxes_unless_configured(app) as started:
        assert started is None  # nothing started here
        assert app.config["NETCASH_WS_URL"].startswith(f"http://127.0.0.1:{served_sandbox_port}/")
        assert app.config["INTERSTELLIO_IDENTITY_URL"].endswith(f":{served_sandbox_port + 1}")
        assert app.config["SMTP_PORT"] == served_sandbox_port + 4
    assert app.config["NETCASH_WS_URL"] is None  # pointed back afterwards


def test_a_simulation_refuses_to_run_next_to_a_running_server(app, served_sandbox_port):
    result = app.test_cli_runner().invoke(
        args=["billing", "simulate", "--from", "2026-02-01", "--to", "2026-02-02"]
    )
    assert result.exit_code == 1
    assert "Stop the running server first" in result.output
    assert app.config["NETCASH_WS_URL"] is None
