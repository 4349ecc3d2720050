"""Sending the outbox: queued SMS and e-mail whose time has come (DESIGN §2, §5.10).

Each row is claimed before it is sent, by one conditional UPDATE that counts the attempt
and pushes `next_attempt_at` a lease ahead, committed before the gateway is called: two
senders (threads, workers, machines) never send one row twice, and a sender that dies
mid-send leaves its row to be tried again once the lease is over. The outcome of each
row commits on its own, so one failure never undoes another row's record.

- sent: status "sent", the gateway's message id, `sent_at`;
- a failure the gateway may get over (unreachable, 5xx, a refused key, no credit): tried
  again after 1, 2, 4… minutes (at most an hour apart), "failed" after the last attempt;
- a refusal of the message itself (bad number, address refused): "failed" at once;
- a channel whose provider is not configured: its rows stay queued, untouched;
- a message still unsent two days after it was queued (a long outage, a database filled
  while no provider was configured) is skipped: a reminder or a code that late misleads.
"""

import logging
import re
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from app import clock
from app.audit import Actor, record_audit, require_reason, snapshot
from app.errors import Conflict, DomainError
from app.extensions import db
from app.integrations.email import Attachment, RecipientRefused, send_email, smtp_configured
from app.integrations.http import ProviderError, ProviderNotConfigured
from app.integrations.sms import MessageRejected, sms_client_from_config, sms_configured
from app.models import CustomerInvoice, Notification
from app.notifications import request_sending
from app.notifications.text import sms_size

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=10)  # longer than any send: timeouts, retries, a PDF
RETRY_AFTER = timedelta(minutes=1)
RETRY_AT_MOST_EVERY = timedelta(hours=1)
DEFAULT_MAX_ATTEMPTS = 8  # 1+2+4+…+60 minutes: about four hours of outage
DEFAULT_BATCH = 200
DEFAULT_MAX_AGE = timedelta(hours=48)
ONE_TIME_CODE_TEMPLATE = "one_time_code"
ONE_TIME_CODE_MASK = "******"
# A code the customer cannot use any more is not worth sending (app.otp: 10 minutes).
ONE_TIME_CODE_SEND_WINDOW = timedelta(minutes=10)


@dataclass
class SendResult:
    """What one pass of the sender did."""

    sent: int = 0
    retrying: int = 0  # failed this time, tried again later
    failed: int = 0  # given up
    skipped: int = 0  # taken by another sender, or its provider went away meanwhile
    expired: int = 0  # queued too long ago to be worth sending
    failures: list[dict] = field(default_factory=list)


def ready_channels() -> tuple[str, ...]:
    """The channels whose provider is configured."""
    channels = []
    if sms_configured():
        channels.append("sms")
    if smtp_configured():
        channels.append("email")
    return tuple(channels)


def max_attempts() -> int:
    return int(current_app.config.get("NOTIFICATION_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def max_age() -> timedelta:
    hours = current_app.config.get("NOTIFICATION_MAX_AGE_HOURS")
    return timedelta(hours=float(hours)) if hours else DEFAULT_MAX_AGE


def skip_stale(channels: tuple[str, ...], now: datetime) -> int:
    """Skip the queued rows of these channels queued longer ago than the maximum age."""
    if not channels:
        return 0
    limit = max_age()
    result = db.session.execute(
        update(Notification)
        .where(
            Notification.status == "queued",
            Notification.channel.in_(channels),
            Notification.created_at < now - limit,
        )
        .values(
            status="skipped",
            next_attempt_at=None,
            last_error=f"Not sent within {_hours(limit)} of being queued: too late to be useful.",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} hours"


def retry_delay(attempts: int) -> timedelta:
    """The pause after the `attempts`-th failed attempt: 1, 2, 4… minutes, at most an hour."""
    return min(RETRY_AFTER * 2 ** max(attempts - 1, 0), RETRY_AT_MOST_EVERY)


def due_notification_ids(limit: int, channels: tuple[str, ...], now: datetime) -> list[int]:
    """Queued rows of the given channels whose next attempt has come, oldest first."""
    if not channels:
        return []
    return list(
        db.session.scalars(
            select(Notification.id)
            .where(
                Notification.status == "queued",
                Notification.channel.in_(channels),
                or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
            )
            .order_by(Notification.id)
            .limit(limit)
        )
    )


def claim(notification_id: int, now: datetime) -> bool:
    """Take a due row for this sender: counts the attempt and holds it for CLAIM_LEASE.

    One UPDATE whose condition re-checks that the row is still due: of two senders, the
    second finds it taken (PostgreSQL re-reads the row after the first commits).
    """
    result = db.session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.status == "queued",
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        )
        .values(
            attempts=Notification.attempts + 1,
            next_attempt_at=now + CLAIM_LEASE,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def send_due_notifications(limit: int = DEFAULT_BATCH) -> SendResult:
    """Send up to `limit` due rows of the configured channels; commits row by row."""
    result = SendResult()
    channels = ready_channels()
    result.expired = skip_stale(channels, clock.now())
    ids = due_notification_ids(limit, channels, clock.now())
    db.session.commit()  # hold no snapshot or lock while the gateways are called
    with ExitStack() as clients:
        sms_client = None
        for notification_id in ids:
            if not claim(notification_id, clock.now()):
                db.session.commit()
                result.skipped += 1
                continue
            db.session.commit()
            row = db.session.get(Notification, notification_id)
            try:
                if row.template == ONE_TIME_CODE_TEMPLATE and _too_late_for_code(row):
                    raise MessageRejected("outbox", "the one-time code expired before it was sent")
                if row.channel == "sms":
                    if sms_client is None:
                        sms_client = clients.enter_context(sms_client_from_config())
                    message_id = _send_sms(sms_client, row)
                else:
                    message_id = _send_email(row)
            except ProviderNotConfigured:
                db.session.rollback()
                _release(notification_id)
                result.skipped += 1
            except Exception as error:  # one row's trouble never stops the others
                db.session.rollback()
                if not isinstance(error, (ProviderError, DomainError)):
                    log.exception("notification %s could not be sent", notification_id)
                given_up = _record_failure(notification_id, error)
                if given_up:
                    result.failed += 1
                else:
                    result.retrying += 1
                result.failures.append(
                    {"notification": notification_id, "error": str(error)[:300], "final": given_up}
                )
            else:
                _record_sent(notification_id, message_id)
                result.sent += 1
            db.session.commit()
    return result


def _too_late_for_code(row: Notification) -> bool:
    return clock.now() - row.created_at > ONE_TIME_CODE_SEND_WINDOW


def _send_sms(client, row: Notification) -> str:
    receipt = client.send(
        row.recipient,
        row.body,
        client_message_id=f"n-{row.id}",
        unicode=not sms_size(row.body).is_gsm7,
    )
    return receipt.message_id


def _send_email(row: Notification) -> str:
    attachments = ()
    # A simulated year can leave the PDFs out (they are rendered when first downloaded).
    if row.template == "invoice_generated" and current_app.config.get(
        "INVOICE_EMAIL_ATTACH_PDF", True
    ):
        attachments = (_invoice_attachment(row),)
    return send_email(
        to=row.recipient, subject=row.subject or "", body=row.body, attachments=attachments
    )


def _invoice_attachment(row: Notification) -> Attachment:
    """The invoice PDF, rendered (and stored) now if it is not yet."""
    # Imported here: rendering pulls in xhtml2pdf, which SMS sending does not need.
    from app.billing.pdf import invoice_pdf_bytes

    invoice_id = (row.context or {}).get("invoice_id")
    invoice = db.session.get(CustomerInvoice, int(invoice_id)) if invoice_id else None
    if invoice is None:
        raise Conflict(f"The invoice of notification #{row.id} no longer exists.")
    return Attachment(
        f"{invoice.invoice_number}.pdf", invoice_pdf_bytes(invoice), "application/pdf"
    )


def _locked(notification_id: int) -> Notification:
    return db.session.scalars(
        select(Notification)
        .where(Notification.id == notification_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _record_sent(notification_id: int, message_id: str) -> None:
    """Sent. A delivery callback may have come first: it is never undone."""
    row = _locked(notification_id)
    if row.status == "queued":
        row.status = "sent"
    row.provider_message_id = message_id
    row.sent_at = row.sent_at or clock.now()
    row.next_attempt_at = None
    row.last_error = None
    _forget_code(row)
    db.session.flush()


def _record_failure(notification_id: int, error: Exception) -> bool:
    """Count a failed attempt; returns True when the row is given up (status failed)."""
    row = _locked(notification_id)
    message = str(error)[:2000]
    if row.status != "queued":
        return False
    final = (
        isinstance(error, (MessageRejected, RecipientRefused, Conflict))
        or row.attempts >= max_attempts()
    )
    row.last_error = message
    if final:
        row.status = "failed"
        row.next_attempt_at = None
        _forget_code(row)
        log.warning("notification %s failed for good: %s", notification_id, message)
    else:
        row.next_attempt_at = clock.now() + retry_delay(row.attempts)
        log.info("notification %s: attempt %s failed (%s)", notification_id, row.attempts, message)
    db.session.flush()
    return final


def _release(notification_id: int) -> None:
    """Give a claimed row back untouched (its provider is no longer configured)."""
    row = _locked(notification_id)
    if row.status == "queued":
        row.attempts = max(row.attempts - 1, 0)
        row.next_attempt_at = None
    db.session.flush()


def _forget_code(row: Notification) -> None:
    """A one-time code is kept only until it is sent (or given up)."""
    if row.template == ONE_TIME_CODE_TEMPLATE:
        row.body = re.sub(r"\b\d{6}\b", ONE_TIME_CODE_MASK, row.body)


def resend_notification(notification: Notification, *, actor: Actor, reason: str) -> Notification:
    """Queue a failed message again, as it was (same text, same recipient), audited.

    One-time codes are never sent again: the customer asks for a new code instead.
    """
    reason = require_reason(reason)
    if notification.status != "failed":
        raise Conflict(
            f"Only failed messages can be sent again; this one is {notification.status}."
        )
    if notification.template == ONE_TIME_CODE_TEMPLATE:
        raise Conflict("One-time codes are not sent again; the customer can ask for a new code.")
    before = snapshot(notification)
    notification.status = "queued"
    notification.attempts = 0
    notification.next_attempt_at = None
    notification.last_error = None
    notification.provider_message_id = None
    notification.sent_at = None
    notification.delivered_at = None
    db.session.flush()
    record_audit(
        actor=actor,
        entity=notification,
        action="resend_notification",
        reason=reason,
        before=before,
        after=snapshot(notification),
        customer_id=notification.customer_id,
    )
    request_sending()
    db.session.flush()
    return notification
