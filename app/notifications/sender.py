"""Sending the outbox: queued SMS and e-mail whose time has come (DESIGN §2, §5.10).

Due rows are sent in chunks: SMS as many per gateway request as the gateway takes
(Clickatell 200, BulkSMS `max_per_request`), e-mail `EMAIL_CHUNK` at a time over one SMTP
session per run (`app.integrations.email.smtp_session`). A chunk's rows are claimed
before they are sent, by one conditional UPDATE that counts each row's attempt and pushes
its `next_attempt_at` a lease ahead, committed before the gateway is called: two senders
(threads, workers, machines) never send one row twice, and a sender that dies mid-send
leaves its rows to be tried again once the lease is over. The outcomes of a chunk's rows
are recorded in one transaction (row by row should that fail), each row's its own: one
message's failure never fails another.

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
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import or_, select, update

from app import clock
from app.audit import Actor, record_audit, require_reason, snapshot
from app.errors import Conflict, DomainError
from app.extensions import db
from app.integrations.email import (
    Attachment,
    RecipientRefused,
    build_message,
    smtp_configured,
    smtp_session,
)
from app.integrations.http import ProviderError, ProviderNotConfigured
from app.integrations.sms import (
    MessageRejected,
    SmsMessage,
    SmsReceipt,
    sms_client_from_config,
    sms_configured,
)
from app.models import CustomerInvoice, Notification
from app.notifications import request_sending
from app.notifications.text import sms_size

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=10)  # longer than any chunk's send: timeouts, retries, PDFs
RETRY_AFTER = timedelta(minutes=1)
RETRY_AT_MOST_EVERY = timedelta(hours=1)
DEFAULT_MAX_ATTEMPTS = 8  # 1+2+4+…+60 minutes: about four hours of outage
# Messages per run: a minute's worth in production; a simulated day's in a simulation.
DEFAULT_BATCH = 1000
DEFAULT_MAX_AGE = timedelta(hours=48)
EMAIL_CHUNK = 50  # e-mails claimed (and their invoice PDFs rendered) at a time
ONE_TIME_CODE_TEMPLATE = "one_time_code"
ONE_TIME_CODE_MASK = "******"
# A code the customer cannot use any more is not worth sending (app.otp: 10 minutes).
ONE_TIME_CODE_SEND_WINDOW = timedelta(minutes=10)

# What became of one claimed row: sent (the provider's message id) or not (the error).
Outcome = str | Exception


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


def _is_due(now: datetime):
    return (
        Notification.status == "queued",
        or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
    )


def due_notifications(
    limit: int, channels: tuple[str, ...], now: datetime
) -> list[tuple[int, str]]:
    """(id, channel) of the queued rows of the given channels whose next attempt has come,
    oldest first."""
    if not channels:
        return []
    rows = db.session.execute(
        select(Notification.id, Notification.channel)
        .where(Notification.channel.in_(channels), *_is_due(now))
        .order_by(Notification.id)
        .limit(limit)
    )
    return [(row.id, row.channel) for row in rows]


def due_notification_ids(limit: int, channels: tuple[str, ...], now: datetime) -> list[int]:
    """Queued rows of the given channels whose next attempt has come, oldest first."""
    return [notification_id for notification_id, _ in due_notifications(limit, channels, now)]


def claim(notification_ids: Sequence[int], now: datetime) -> list[int]:
    """Take the rows still due among these for this sender: counts their attempt and holds
    them for CLAIM_LEASE; returns the ids taken (the caller commits at once).

    One UPDATE whose condition re-checks that each row is still due. On PostgreSQL its
    rows are first locked in id order, skipping rows another transaction holds (`FOR
    UPDATE SKIP LOCKED`): two senders never wait on each other nor deadlock, and a row
    another sender claimed meanwhile is re-read after its commit and found taken. SQLite
    runs one writer at a time, so the conditional UPDATE alone is enough there.
    """
    if not notification_ids:
        return []
    takeable = (
        select(Notification.id)
        .where(Notification.id.in_(notification_ids), *_is_due(now))
        .order_by(Notification.id)
        .with_for_update(skip_locked=True)
    )
    taken = db.session.scalars(
        update(Notification)
        .where(Notification.id.in_(takeable), *_is_due(now))
        .values(
            attempts=Notification.attempts + 1,
            next_attempt_at=now + CLAIM_LEASE,
            updated_at=now,
        )
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(taken)


def send_due_notifications(limit: int = DEFAULT_BATCH) -> SendResult:
    """Send up to `limit` due rows of the configured channels, chunk by chunk."""
    result = SendResult()
    channels = ready_channels()
    result.expired = skip_stale(channels, clock.now())
    due = due_notifications(limit, channels, clock.now())
    db.session.commit()  # hold no snapshot or lock while the gateways are called
    sms_ids = [notification_id for notification_id, channel in due if channel == "sms"]
    email_ids = [notification_id for notification_id, channel in due if channel == "email"]
    if sms_ids:
        _send_sms(sms_ids, result)
    if email_ids:
        _send_emails(email_ids, result)
    return result


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _claim_chunk(ids: list[int], result: SendResult) -> list[int]:
    """Claim and commit; rows another sender took are counted as skipped."""
    taken = claim(ids, clock.now())
    db.session.commit()
    result.skipped += len(ids) - len(taken)
    return taken


def _claimed_rows(ids: list[int]) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.id.in_(ids))
            .order_by(Notification.id)
            .execution_options(populate_existing=True)
        )
    )


def _unexpected(error: Exception, what: str) -> None:
    """Log an error that is not a provider's or a domain refusal (a bug), with its trace."""
    if not isinstance(error, (ProviderError, DomainError)):
        log.error("%s could not be sent", what, exc_info=error)


def _send_sms(ids: list[int], result: SendResult) -> None:
    """The due SMS, one gateway request per chunk of claimed rows."""
    try:
        client = sms_client_from_config()
    except ProviderNotConfigured:
        result.skipped += len(ids)
        return
    with client:
        for chunk in _chunks(ids, client.max_per_request):
            taken = _claim_chunk(chunk, result)
            if not taken:
                continue
            outcomes: dict[int, Outcome] = {}
            sending: list[tuple[int, SmsMessage]] = []
            for row in _claimed_rows(taken):
                if _too_late_for_code(row):
                    outcomes[row.id] = _code_expired()
                    continue
                message = SmsMessage(
                    row.recipient,
                    row.body,
                    client_message_id=f"n-{row.id}",
                    unicode=not sms_size(row.body).is_gsm7,
                )
                sending.append((row.id, message))
            db.session.commit()  # no snapshot held while the gateway is called
            if sending:
                try:
                    answers = client.send_many([message for _, message in sending])
                except Exception as error:  # the request as a whole: every message of it
                    _unexpected(error, f"{len(sending)} SMS")
                    answers = [error] * len(sending)
                for (notification_id, _), answer in zip(sending, answers, strict=True):
                    outcomes[notification_id] = (
                        answer.message_id if isinstance(answer, SmsReceipt) else answer
                    )
            _record_outcomes(outcomes, result)


def _send_emails(ids: list[int], result: SendResult) -> None:
    """The due e-mails over one SMTP connection, claimed EMAIL_CHUNK at a time."""
    with ExitStack() as stack:
        try:
            smtp = stack.enter_context(smtp_session())
        except ProviderNotConfigured:
            result.skipped += len(ids)
            return
        for chunk in _chunks(ids, EMAIL_CHUNK):
            taken = _claim_chunk(chunk, result)
            if not taken:
                continue
            outcomes: dict[int, Outcome] = {}
            sending: list[tuple[int, EmailMessage]] = []
            for row in _claimed_rows(taken):
                try:
                    if _too_late_for_code(row):
                        raise _code_expired()
                    sending.append((row.id, _email_message(row)))
                except Exception as error:  # one row's trouble never stops the others
                    _unexpected(error, f"notification {row.id}")
                    outcomes[row.id] = error
            db.session.commit()  # the invoice PDFs rendered for these messages are kept
            for notification_id, message in sending:
                try:
                    outcomes[notification_id] = smtp.send(message)
                except Exception as error:
                    _unexpected(error, f"notification {notification_id}")
                    outcomes[notification_id] = error
            _record_outcomes(outcomes, result)


def _too_late_for_code(row: Notification) -> bool:
    return (
        row.template == ONE_TIME_CODE_TEMPLATE
        and clock.now() - row.created_at > ONE_TIME_CODE_SEND_WINDOW
    )


def _code_expired() -> MessageRejected:
    return MessageRejected("outbox", "the one-time code expired before it was sent")


def _email_message(row: Notification) -> EmailMessage:
    attachments = ()
    # A simulated year can leave the PDFs out (they are rendered when first downloaded).
    if row.template == "invoice_generated" and current_app.config.get(
        "INVOICE_EMAIL_ATTACH_PDF", True
    ):
        with db.session.begin_nested():  # a PDF that fails undoes only its own changes
            attachments = (_invoice_attachment(row),)
    return build_message(
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


# --- recording outcomes -----------------------------------------------------------------


def _record_outcomes(outcomes: dict[int, Outcome], result: SendResult) -> None:
    """Record a chunk's outcomes in one transaction; should that fail, row by row (a row
    whose record fails is logged and tried again once its lease is over)."""
    ids = sorted(outcomes)
    try:
        rows = _locked_rows(ids)
        tally = [
            _apply(rows[notification_id], outcomes[notification_id]) for notification_id in ids
        ]
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("recording %d notifications at once failed; recording each", len(ids))
        tally = []
        for notification_id in ids:
            try:
                tally.append(_apply(_locked(notification_id), outcomes[notification_id]))
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("notification %s: its outcome was not recorded", notification_id)
    for kind, failure in tally:
        setattr(result, kind, getattr(result, kind) + 1)
        if failure:
            result.failures.append(failure)


def _apply(row: Notification, outcome: Outcome) -> tuple[str, dict | None]:
    """Record one row's outcome (unflushed); returns the SendResult count it adds to and
    the failure to report, if any."""
    if isinstance(outcome, ProviderNotConfigured):
        _release(row)
        return "skipped", None
    if isinstance(outcome, Exception):
        given_up = _record_failure(row, outcome)
        failure = {"notification": row.id, "error": str(outcome)[:300], "final": given_up}
        return ("failed" if given_up else "retrying"), failure
    _record_sent(row, outcome)
    return "sent", None


def _locked_rows(ids: list[int]) -> dict[int, Notification]:
    rows = db.session.scalars(
        select(Notification)
        .where(Notification.id.in_(ids))
        .order_by(Notification.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.id: row for row in rows}


def _locked(notification_id: int) -> Notification:
    return db.session.scalars(
        select(Notification)
        .where(Notification.id == notification_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _record_sent(row: Notification, message_id: str) -> None:
    """Sent. A delivery callback may have come first: it is never undone."""
    if row.status == "queued":
        row.status = "sent"
    row.provider_message_id = message_id
    row.sent_at = row.sent_at or clock.now()
    row.next_attempt_at = None
    row.last_error = None
    _forget_code(row)


def _record_failure(row: Notification, error: Exception) -> bool:
    """Count a failed attempt; returns True when the row is given up (status failed)."""
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
        log.warning("notification %s failed for good: %s", row.id, message)
    else:
        row.next_attempt_at = clock.now() + retry_delay(row.attempts)
        log.info("notification %s: attempt %s failed (%s)", row.id, row.attempts, message)
    return final


def _release(row: Notification) -> None:
    """Give a claimed row back untouched (its provider is no longer configured)."""
    if row.status == "queued":
        row.attempts = max(row.attempts - 1, 0)
        row.next_attempt_at = None


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
