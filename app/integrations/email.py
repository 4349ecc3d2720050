"""E-mail over SMTP (smtplib): STARTTLS when SMTP_STARTTLS, login when a user is set.

`send_email` builds one message from MAIL_FROM with optional attachments and hands it to
the configured server, answering with the message's Message-ID. A server that cannot be
reached or answers 4xx (try later) raises `ProviderUnavailable`; a 5xx refusal (bad
address, message refused) raises `ProviderError`.
"""

import smtplib
import ssl
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


def send_email(
    *, to: str, subject: str, body: str, attachments: tuple[Attachment, ...] = ()
) -> str:
    """Send one e-mail through the configured SMTP server; returns its Message-ID."""
    config = current_app.config
    if not smtp_configured(config):
        raise ProviderNotConfigured(PROVIDER, "SMTP_HOST is not set")
    message = build_message(to=to, subject=subject, body=body, attachments=attachments)
    try:
        with smtplib.SMTP(
            config["SMTP_HOST"],
            int(config["SMTP_PORT"]),
            timeout=config["PROVIDER_TIMEOUT_SECONDS"],
        ) as smtp:
            if config.get("SMTP_STARTTLS"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USERNAME"):
                smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        code, reply = next(iter(error.recipients.values()))
        kind = RecipientRefused if code >= 500 else ProviderUnavailable
        raise kind(PROVIDER, f"{code} {_text(reply)}", status=code) from None
    except smtplib.SMTPResponseException as error:
        raise _refusal(error.smtp_code, error.smtp_error) from None
    except (smtplib.SMTPException, OSError) as error:
        raise ProviderUnavailable(PROVIDER, f"{type(error).__name__}: {error}") from None
    return message["Message-ID"]


def _text(reply) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _refusal(code: int, reply) -> ProviderError:
    kind = ProviderUnavailable if 400 <= code < 500 else ProviderError
    return kind(PROVIDER, f"{code} {_text(reply)}", status=code)
