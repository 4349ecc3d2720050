"""Sandbox servers that speak each provider's protocol on loopback (DESIGN §3, §6, §9).

NetCash (NIWS_NIF SOAP, mandate signing page, Pay Now), Interstellio (identity,
subscriber, telemetry), Clickatell One API and BulkSMS (send, delivery callbacks) and an
SMTP sink. `make run` (`flask serve`), `flask billing simulate` and the test fixtures start
them with `start_sandboxes` and point the app at them with `Sandboxes.config`; the app's
clients are the production clients with a different base URL. `create_app` never starts
them.

Every HTTP sandbox is a class taking a `SandboxContext` and offering `wsgi_app`, `reset()`
and `config(base_url) -> dict` (the app settings that point at it). The SMTP sink offers
`start(host, port) -> port`, `stop()`, `reset()` and `config(host, port)`.
"""

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from app import clock

LOOPBACK = "127.0.0.1"

# The credentials the sandboxes accept, and that `Sandboxes.config` hands to the app.
# Fixed, published values: they open nothing but the sandboxes.
SANDBOX_CREDENTIALS = {
    "INTERSTELLIO_DOMAIN": "circletel.co.za",
    "INTERSTELLIO_USERNAME": "sandbox-billing",
    "INTERSTELLIO_PASSWORD": "sandbox-password",
    "NETCASH_DEBIT_ORDER_SERVICE_KEY": "5c0a1d3e-0000-4000-8000-00000000d0d0",
    "NETCASH_ACCOUNT_SERVICE_KEY": "5c0a1d3e-0000-4000-8000-00000000acc7",
    "NETCASH_PAYNOW_SERVICE_KEY": "5c0a1d3e-0000-4000-8000-0000000a9a70",
    "NETCASH_WEBHOOK_SECRET": "sandbox-netcash-postback-secret",
    "CLICKATELL_API_KEY": "sandbox-clickatell-key",
    "BULKSMS_TOKEN_ID": "sandbox-bulksms-id",
    "BULKSMS_TOKEN_SECRET": "sandbox-bulksms-secret",
    "SMS_CALLBACK_SECRET": "sandbox-sms-callback-secret",
}


@dataclass
class SandboxContext:
    """What every sandbox needs to know about the app it plays the provider for."""

    app_base_url: str  # where postbacks and callbacks go (our /api/webhooks/...)
    credentials: dict = field(default_factory=lambda: dict(SANDBOX_CREDENTIALS))
    state_dir: Path | None = None  # keep state across restarts (make run); None: memory
    today: Callable[[], date] = clock.today  # the business date, shared with the app

    def state_file(self, name: str) -> Path | None:
        if self.state_dir is None:
            return None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return self.state_dir / f"{name}.json"


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 with persistent connections: a client's pool reuses its connection instead
    of opening one per request (a simulated year makes tens of thousands of calls)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, *args, **kwargs):
        pass  # the sandboxes keep their own call logs; access lines would drown the console


class _ServerThread:
    """One WSGI app served on loopback from a daemon thread."""

    def __init__(self, wsgi_app, port: int = 0):
        self.server: BaseWSGIServer = make_server(
            LOOPBACK, port, wsgi_app, threaded=True, request_handler=_KeepAliveHandler
        )
        self.port = self.server.port
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@dataclass
class Sandboxes:
    """The running sandboxes, their servers and the app settings that point at them."""

    netcash: object
    interstellio: object
    clickatell: object
    bulksms: object
    smtp: object
    servers: dict[str, _ServerThread]
    smtp_port: int

    @property
    def config(self) -> dict:
        settings = dict(SANDBOX_CREDENTIALS)
        for name in ("netcash", "interstellio", "clickatell", "bulksms"):
            settings.update(getattr(self, name).config(self.servers[name].base_url))
        settings.update(self.smtp.config(LOOPBACK, self.smtp_port))
        return settings

    def apply(self, app) -> None:
        """Point the app's provider clients at the sandboxes."""
        app.config.update(self.config)

    def reset(self) -> None:
        """Forget everything the providers were told (between tests)."""
        for name in ("netcash", "interstellio", "clickatell", "bulksms", "smtp"):
            getattr(self, name).reset()

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.smtp.stop()


def start_sandboxes(
    *,
    app_base_url: str,
    state_dir: Path | None = None,
    ports: dict[str, int] | None = None,
    today: Callable[[], date] = clock.today,
) -> Sandboxes:
    """Start every sandbox on loopback (ephemeral ports unless `ports` names them)."""
    from app.integrations.sandbox.interstellio import InterstellioSandbox
    from app.integrations.sandbox.netcash import NetcashSandbox
    from app.integrations.sandbox.sms import BulkSmsSandbox, ClickatellSandbox
    from app.integrations.sandbox.smtp import SmtpSink

    ports = ports or {}
    context = SandboxContext(
        app_base_url=app_base_url.rstrip("/"), state_dir=state_dir, today=today
    )
    providers = {
        "netcash": NetcashSandbox(context),
        "interstellio": InterstellioSandbox(context),
        "clickatell": ClickatellSandbox(context),
        "bulksms": BulkSmsSandbox(context),
    }
    servers = {
        name: _ServerThread(sandbox.wsgi_app, ports.get(name, 0))
        for name, sandbox in providers.items()
    }
    smtp = SmtpSink(context)
    smtp_port = smtp.start(LOOPBACK, ports.get("smtp", 0))
    return Sandboxes(servers=servers, smtp=smtp, smtp_port=smtp_port, **providers)


SANDBOX_NAMES = ("netcash", "interstellio", "clickatell", "bulksms", "smtp")
# Any of these set means the app is pointed at real providers (or at sandboxes already).
PROVIDER_URL_SETTINGS = (
    "NETCASH_WS_URL",
    "INTERSTELLIO_IDENTITY_URL",
    "CLICKATELL_BASE_URL",
    "BULKSMS_BASE_URL",
    "SMTP_HOST",
)


# Sandboxes answer at once: pausing between polls or retries only slows simulations down.
SANDBOX_PACE = {"PROVIDER_BACKOFF_SECONDS": 0.02}


def providers_configured(config) -> bool:
    return any(config.get(name) for name in PROVIDER_URL_SETTINGS)


def sandbox_ports(base_port: int) -> dict[str, int]:
    """Consecutive ports from `base_port` (all 0, i.e. any free port, when it is 0)."""
    return {name: base_port + i if base_port else 0 for i, name in enumerate(SANDBOX_NAMES)}


def _serving(port: int) -> bool:
    """Whether something already listens on a loopback port (a running `flask serve`)."""
    if not port:
        return False
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def config_for_running_sandboxes(ports: dict[str, int]) -> dict:
    """The settings pointing at sandboxes another process serves on these ports."""
    from app.integrations.sandbox.interstellio import InterstellioSandbox
    from app.integrations.sandbox.netcash import NetcashSandbox
    from app.integrations.sandbox.sms import BulkSmsSandbox, ClickatellSandbox
    from app.integrations.sandbox.smtp import SmtpSink

    context = SandboxContext(app_base_url="")  # only asked for its settings, never served
    settings = dict(SANDBOX_CREDENTIALS)
    for name, sandbox_class in (
        ("netcash", NetcashSandbox),
        ("interstellio", InterstellioSandbox),
        ("clickatell", ClickatellSandbox),
        ("bulksms", BulkSmsSandbox),
    ):
        settings.update(sandbox_class(context).config(f"http://{LOOPBACK}:{ports[name]}"))
    settings.update(SmtpSink(context).config(LOOPBACK, ports["smtp"]))
    return settings


class SandboxesInUse(RuntimeError):
    """Another process (a running `flask serve`) serves the sandboxes on their ports."""


@contextmanager
def sandboxes_unless_configured(app, *, attach: bool = True) -> Iterator[Sandboxes | None]:
    """Run a block with the app pointed at the provider sandboxes, unless providers are
    configured (or the app runs in production, which never talks to sandboxes).

    When a `flask serve` of this installation already serves them (development, fixed
    ports), the block uses those — so `flask debit-orders run` or `flask usage sync` in a
    second terminal talk to the same sandboxes as the running server. Otherwise they are
    started for the block and stopped after it. Yields the sandboxes started here, or None.

    `attach=False` (the simulation) refuses running sandboxes with `SandboxesInUse`: they
    live on the real business date, while a simulation moves its own clock.
    """
    if app.config.get("ENV_NAME") == "production" or providers_configured(app.config):
        yield None
        return
    ports = sandbox_ports(app.config.get("SANDBOX_BASE_PORT") or 0)
    if _serving(ports["netcash"]):
        if not attach:
            raise SandboxesInUse(
                f"the provider sandboxes are already served on port {ports['netcash']} and "
                "following (is `make run` running?)"
            )
        settings = {**config_for_running_sandboxes(ports), **SANDBOX_PACE}
        saved = {key: app.config.get(key) for key in settings}
        app.config.update(settings)
        try:
            yield None
        finally:
            app.config.update(saved)
        return
    state_dir = app.config.get("SANDBOX_STATE_DIR")
    started = start_sandboxes(
        app_base_url=app.config["PUBLIC_BASE_URL"],
        state_dir=Path(state_dir) if state_dir else None,
        ports=ports,
    )
    settings = {**started.config, **SANDBOX_PACE}
    saved = {key: app.config.get(key) for key in settings}
    app.config.update(settings)
    try:
        yield started
    finally:
        app.config.update(saved)
        started.stop()
