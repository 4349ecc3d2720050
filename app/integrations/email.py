"""E-mail over SMTP (smtplib): STARTTLS when SMTP_STARTTLS, login when a user is set.

`build_message` makes one message from MAIL_FROM with optional attachments.
`smtp_session()` sends several over one connection: opened at the first message, closed
when the session ends, and opened again after SMTP_MESSAGES_PER_CONNECTION messages (100
unless set: servers limit what one connection may carry) or when the server closed it
while it was idle. `send_email` sends one. Each message sent answers with its Message-ID;
errors are per message:
- a 5xx refusal of the recipient raises `RecipientRefused` (sending again cannot help),
  another 5xx refusal `ProviderError`, a 4xx (try later) `ProviderUnavailable`; the
  connection goes on with the next message;
- a server that cannot be reached, refuses the login or drops the connection raises
  `ProviderUnavailable` (or its login refusal) for that message and for every later one
  of the session, without trying again: the outbox tries them later.
"""

import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

from flask import current_app

from app.integrations.http import ProviderError, ProviderNotConfigured, ProviderUnavailable

PROVIDER = "smtp"


class RecipientRefused(ProviderError):
    """The server refused the address for good (5xx): sending again cannot help."""


@dataclass(frozen=True)
class Attachment:
    """A file sent with an e-mail."""

    filename: str
    content: bytes
    mimetype: str = "application/octet-stream"


def smtp_configured(config=None) -> bool:
    config = config if config is not None else current_app.config
    return bool(config.get("SMTP_HOST"))


def build_message(
    *, to: str, subject: str, body: str, attachments: tuple[Attachment, ...] = (), config=None
) -> EmailMessage:
    """The message as it will be sent: From MAIL_FROM, a Message-ID on the sender's domain."""
    config = config if config is not None else current_app.config
    sender = config["MAIL_FROM"]
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body)
    for attachment in attachments:
        maintype, _, subtype = attachment.mimetype.partition("/")
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message


class SmtpSession:
    """Messages sent over one SMTP connection; see `smtp_session`."""

    IDLE_CHECK_SECONDS = 10.0  # a connection idle longer is checked (NOOP) before use

    def __init__(self, config):
        self.config = config
        self.per_connection = int(config.get("SMTP_MESSAGES_PER_CONNECTION") or 100)
        self._smtp: smtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._last_used = 0.0
        self._broken: ProviderError | None = None  # why the later messages are not tried

    def send(self, message: EmailMessage) -> str:
        """Send one built message; returns its Message-ID, raises its refusal."""
        if self._broken is not None:
            reason = str(self._broken).removeprefix(f"{PROVIDER}: ")
            raise type(self._broken)(
                PROVIDER, f"not tried after: {reason}", status=self._broken.status
            )
        smtp = self._connection()
        try:
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            kind = RecipientRefused if code >= 500 else ProviderUnavailable
            refusal = kind(PROVIDER, f"{code} {_text(reply)}", status=code)
            if code == 421:  # the server closed the connection
                self._fail(refusal)
            raise refusal from None
        except smtplib.SMTPResponseException as error:
            refusal = _refusal(error.smtp_code, error.smtp_error)
            if error.smtp_code == 421:
                self._fail(refusal)
            raise refusal from None
        except (smtplib.SMTPException, OSError) as error:
            unavailable = ProviderUnavailable(PROVIDER, f"{type(error).__name__}: {error}")
            raise self._fail(unavailable) from None
        finally:
            self._last_used = time.monotonic()
        self._sent_on_connection += 1
        return message["Message-ID"]

    def _connection(self) -> smtplib.SMTP:
        """The open connection; a new one after `per_connection` messages, or when the
        server closed an idle one (no message was on its way: nothing is sent twice)."""
        smtp = self._smtp
        if smtp is not None and self._sent_on_connection >= self.per_connection:
            self.close()
        elif smtp is not None and time.monotonic() - self._last_used > self.IDLE_CHECK_SECONDS:
            try:
                alive = smtp.noop()[0] == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if not alive:
                _close_quietly(smtp)
                self._smtp = None
        return self._smtp or self._connect()

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        smtp = None
        try:
            smtp = smtplib.SMTP(
                config["SMTP_HOST"],
                int(config["SMTP_PORT"]),
                timeout=config["PROVIDER_TIMEOUT_SECONDS"],
            )
            if config.get("SMTP_STARTTLS"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USERNAME"):
                smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
        except smtplib.SMTPResponseException as error:
            _close_quietly(smtp)
            raise self._fail(_refusal(error.smtp_code, error.smtp_error)) from None
        except (smtplib.SMTPException, OSError) as error:
            _close_quietly(smtp)
            unavailable = ProviderUnavailable(PROVIDER, f"{type(error).__name__}: {error}")
            raise self._fail(unavailable) from None
        self._smtp, self._sent_on_connection = smtp, 0
        return smtp

    def _fail(self, error: ProviderError) -> ProviderError:
        """The connection is gone: no later message of this session is tried."""
        self._broken = error
        _close_quietly(self._smtp)
        self._smtp = None
        return error

    def close(self) -> None:
        """Say goodbye to the server (a connection already gone is simply dropped)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            _close_quietly(smtp)


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with suppress(OSError):
            smtp.close()


@contextmanager
def smtp_session(config=None) -> Iterator[SmtpSession]:
    """Send several messages over one connection to the configured SMTP server.

    Raises ProviderNotConfigured (before connecting) when SMTP_HOST is not set. The
    connection opens at the first `send` and closes when the block ends.
    """
    config = config if config is not None else current_app.config
    if not smtp_configured(config):
        raise ProviderNotConfigured(PROVIDER, "SMTP_HOST is not set")
    session = SmtpSession(config)
    try:
        yield session
    finally:
        session.close()


def send_email(
    *, to: str, subject: str, body: str, attachments: tuple[Attachment, ...] = ()
) -> str:
    """Send one e-mail through the configured SMTP server; returns its Message-ID."""
    with smtp_session() as session:
        return session.send(
            build_message(to=to, subject=subject, body=body, attachments=attachments)
        )


def _text(reply) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _refusal(code: int, reply) -> ProviderError:
    kind = ProviderUnavailable if 400 <= code < 500 else ProviderError
    return kind(PROVIDER, f"{code} {_text(reply)}", status=code)
