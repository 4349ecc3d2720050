"""SMTP sink: an aiosmtpd server on loopback that keeps every e-mail the app sends.

`messages` holds them parsed (`email.message.EmailMessage`, attachments included); with a
state directory (`make run`) each is also written to `<state_dir>/mail/*.eml`, where any
mail program opens it. `connections` counts the SMTP connections made to it (since it
started or was reset). `fail_next(n)` answers the next n messages with a temporary
refusal (451), as a busy server would; `refuse_recipient(address)` refuses that address
for good (550), as a server with no such mailbox would.
"""

import email
import email.policy
import itertools
import logging
import re
import threading
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from app import clock
from app.integrations.sandbox import SandboxContext

log = logging.getLogger(__name__)


class _AnyPortController(Controller):
    """aiosmtpd's controller, also on port 0 (the port the system picked is read back)."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def factory(self):
        """One SMTP protocol object per connection: counted by the sink."""
        self.handler.connection_opened()
        return super().factory()


class SmtpSink:
    """Accepts mail for anyone and keeps it (in memory, and as .eml files for `make run`)."""

    def __init__(self, context: SandboxContext):
        self.context = context
        self.messages: list[EmailMessage] = []
        self.envelopes: list[dict] = []  # MAIL FROM / RCPT TO as the server saw them
        self.connections = 0
        self._failures = 0
        self._refused: set[str] = set()
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._controller: _AnyPortController | None = None

    def start(self, host: str, port: int = 0) -> int:
        """Listen on host:port (0: any free port); returns the port."""
        self._controller = _AnyPortController(self, hostname=host, port=port)
        self._controller.start()
        with self._lock:
            self.connections = 0  # the controller's own check that the server is up
        return self._controller.port

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.envelopes.clear()
            self.connections = 0
            self._failures = 0
            self._refused.clear()

    def connection_opened(self) -> None:
        with self._lock:
            self.connections += 1

    def fail_next(self, count: int) -> None:
        """Refuse the next `count` messages with "451 try again later"."""
        with self._lock:
            self._failures += count

    def refuse_recipient(self, address: str) -> None:
        """Answer RCPT TO for `address` with "550 no such mailbox"."""
        with self._lock:
            self._refused.add(address.lower())

    def config(self, host: str, port: int) -> dict:
        return {"SMTP_HOST": host, "SMTP_PORT": port, "SMTP_STARTTLS": False}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        """aiosmtpd hook: one recipient."""
        with self._lock:
            refused = address.lower() in self._refused
        if refused:
            return "550 5.1.1 Recipient address rejected: no such mailbox (sandbox)"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        """aiosmtpd hook: one message received."""
        with self._lock:
            if self._failures:
                self._failures -= 1
                return "451 4.3.0 Temporary failure (sandbox), try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append(
                {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos)}
            )
        self._keep_file(envelope.content, message)
        return "250 2.0.0 Message accepted for delivery"

    def _keep_file(self, raw: bytes, message: EmailMessage) -> None:
        if self.context.state_dir is None:
            return
        folder = self.context.state_dir / "mail"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            subject = re.sub(r"[^A-Za-z0-9]+", "-", str(message.get("Subject", "")))[:60]
            stamp = clock.now().strftime("%Y%m%dT%H%M%S")
            (folder / f"{stamp}-{next(self._numbers):04d}-{subject.strip('-')}.eml").write_bytes(
                raw
            )
        except OSError:
            log.exception("SMTP sink: could not keep the message as a file")
