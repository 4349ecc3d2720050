"""Customer notifications: templates rendered into outbox rows (DESIGN §5.10).

Rows are written in the transaction of the change that causes them; once it commits, the
sender (`app.notifications.sender`, job `send_notifications`) sends them and the gateways'
callbacks record delivery (`app.notifications.delivery`). Customer preferences decide the
channels, except for messages that must always go (one-time codes, by SMS only).

Every SMS is rendered in GSM-7 where the text allows (typographic characters and accents
get stand-ins), sent to an E.164 number, and never longer than two parts: a message that
would be is not sent but logged as skipped, with the reason, like one to a number that
cannot receive an SMS.
"""

import logging
from datetime import date, datetime
from decimal import Decimal

from flask import current_app, render_template
from jinja2 import TemplateNotFound
from sqlalchemy import event, inspect, select

from app.billing.money import format_rand
from app.billing.numbering import number_queued_documents
from app.clock import BUSINESS_TZ
from app.errors import InvalidInput
from app.extensions import db
from app.job_requests import request_job
from app.models import ConsumerOrder, Customer, CustomerInvoice, Notification
from app.notifications.text import MAX_SMS_SEGMENTS, sms_number, sms_size, to_gsm7

log = logging.getLogger(__name__)

ALWAYS_SENT_TEMPLATES = frozenset({"one_time_code", "password_reset"})
SMS_ONLY_TEMPLATES = frozenset({"one_time_code"})
EMAIL_ONLY_TEMPLATES = frozenset({"password_reset"})
# Never stored beside the message: the one-time code and the reset link are in the body only.
SECRET_CONTEXT_KEYS = frozenset({"code", "reset_url"})
SEND_JOB = "send_notifications"
SUBJECT_LENGTH = 255  # notifications.subject
# Decimal context values are amounts of money, except these.
NUMBER_KEYS = frozenset({"percent", "threshold"})

_INVOICES_KEY = "notifications_invoices_to_announce"
_QUEUED_KEY = "notifications_queued"


class MessageTooLong(InvalidInput):
    """A rendered SMS would need more parts than allowed."""


# --- rendering --------------------------------------------------------------------------


def _shown(key: str, value):
    """A context value as a message shows it: Decimal amounts in rand, ISO dates."""
    if isinstance(value, datetime):
        return value.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal) and key not in NUMBER_KEYS:
        return format_rand(value)
    return value


def render_message(channel: str, template: str, context: dict) -> tuple[str | None, str]:
    """(subject, body) of a template; e-mail templates start with a "Subject:" line.

    Raises TemplateNotFound when the message has no version for the channel.
    """
    shown = {key: _shown(key, value) for key, value in context.items()}
    text = render_template(f"{channel}/{template}.txt", **shown).strip()
    if channel == "email" and text.startswith("Subject:"):
        subject, _, body = text.partition("\n")
        return subject.removeprefix("Subject:").strip(), body.strip()
    return None, text


def render_sms(template: str, context: dict) -> str:
    """The SMS text of a template, in GSM-7 where possible; raises MessageTooLong beyond
    two parts."""
    _, body = render_message("sms", template, context)
    body = to_gsm7(" ".join(body.split()))  # one line: template line breaks are layout
    size = sms_size(body)
    if size.segments > MAX_SMS_SEGMENTS:
        raise MessageTooLong(
            f"The {template} SMS would need {size.segments} {size.encoding} parts "
            f"({size.units} characters); at most {MAX_SMS_SEGMENTS} are allowed.",
            field="body",
        )
    return body


# --- queueing -----------------------------------------------------------------------------


def queue_notification(
    customer: Customer,
    template: str,
    context: dict,
    *,
    dedupe_key: str | None = None,
) -> list[Notification]:
    """Write one outbox row per channel the customer wants (SMS and/or e-mail).

    A `dedupe_key` makes the message once-only: a key already queued queues nothing. The
    sender is asked for once the transaction commits.
    """
    billing = customer.billing
    always = template in ALWAYS_SENT_TEMPLATES
    phone = (billing.billing_phone if billing else None) or customer.phone
    email = (billing.billing_email if billing else None) or customer.email
    wants_sms = template not in EMAIL_ONLY_TEMPLATES and (
        always or billing is None or billing.sms_notifications_enabled
    )
    wants_email = template not in SMS_ONLY_TEMPLATES and (
        always or billing is None or billing.email_invoices_enabled
    )
    return _queue(
        template,
        {"customer": customer, **context},
        customer_id=customer.id,
        phone=phone if wants_sms else None,
        email=email if wants_email else None,
        dedupe_key=dedupe_key,
    )


def queue_order_confirmation(order: ConsumerOrder) -> list[Notification]:
    """Thank the customer for a website order (to the order's own contact details when it
    is not linked to a customer yet; a linked customer's preferences apply)."""
    context = {"order_number": order.order_number}
    dedupe_key = f"order-confirmation-{order.id}"
    customer = db.session.get(Customer, order.customer_id) if order.customer_id else None
    if customer is not None:
        return queue_notification(
            customer,
            "order_confirmation",
            {**context, "first_name": customer.first_name},
            dedupe_key=dedupe_key,
        )
    return _queue(
        "order_confirmation",
        {**context, "first_name": order.first_name or "there"},
        customer_id=None,
        phone=order.phone,
        email=order.email,
        dedupe_key=dedupe_key,
    )


def invoice_pay_url(invoice: CustomerInvoice) -> str:
    """Where the customer sees and pays an invoice: its page in the portal."""
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/invoices/{invoice.id}"


def queue_invoice_generated(invoice: CustomerInvoice) -> list[Notification]:
    """Tell the customer an invoice is issued (the e-mail carries the PDF, attached when
    it is sent). Once per invoice."""
    return queue_notification(
        invoice.customer,
        "invoice_generated",
        {
            "invoice_number": invoice.invoice_number,
            "invoice_id": invoice.id,
            "amount": invoice.total_amount,
            "due_date": invoice.due_date,
            "pay_url": invoice_pay_url(invoice),
        },
        dedupe_key=f"invoice-generated-{invoice.id}",
    )


def announce_invoice(invoice: CustomerInvoice) -> None:
    """Queue `invoice_generated` for a new invoice when its transaction commits.

    The invoice number is assigned only then (gapless numbering, DESIGN §5.2); an invoice
    rolled back with its savepoint, or with a preview or dry run, is never announced.
    """
    db.session.info.setdefault(_INVOICES_KEY, []).append(invoice)


def _queue(
    template: str,
    context: dict,
    *,
    customer_id: int | None,
    phone: str | None,
    email: str | None,
    dedupe_key: str | None,
) -> list[Notification]:
    channels = [(channel, to) for channel, to in (("sms", phone), ("email", email)) if to]
    keys = {channel: f"{dedupe_key}:{channel}" if dedupe_key else None for channel, _ in channels}
    taken = set()
    if dedupe_key and channels:
        taken = set(
            db.session.scalars(
                select(Notification.dedupe_key).where(
                    Notification.dedupe_key.in_([key for key in keys.values() if key])
                )
            )
        )
    stored_context = {
        key: None if value is None else str(value)
        for key, value in context.items()
        if key != "customer" and key not in SECRET_CONTEXT_KEYS
    }
    rows = []
    for channel, recipient in channels:
        if keys[channel] in taken:
            continue
        row = _build_row(channel, template, context, recipient)
        if row is None:
            continue
        row.customer_id = customer_id
        row.context = stored_context
        row.dedupe_key = keys[channel]
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    if any(row.status == "queued" for row in rows):
        db.session.info[_QUEUED_KEY] = True
    return rows


def _build_row(channel: str, template: str, context: dict, recipient: str) -> Notification | None:
    """The outbox row for one channel: queued, or skipped with the reason it cannot go."""
    problem = None
    try:
        if channel == "sms":
            subject, body = None, render_sms(template, context)
        else:
            subject, body = render_message(channel, template, context)
    except TemplateNotFound:
        return None  # not every message exists in every channel
    except MessageTooLong as error:
        subject, body, problem = None, render_message("sms", template, context)[1], error.message
    if channel == "sms" and problem is None:
        try:
            recipient = sms_number(recipient)
        except InvalidInput as error:
            problem = error.message
    if subject and len(subject) > SUBJECT_LENGTH:
        subject = subject[: SUBJECT_LENGTH - 1] + "…"
    if problem:
        log.error("%s %s not queued: %s", channel, template, problem)
    return Notification(
        channel=channel,
        template=template,
        recipient=recipient,
        subject=subject,
        body=body,
        status="skipped" if problem else "queued",
        attempts=0,
        last_error=problem,
    )


def request_sending() -> None:
    """Ask for the sender once the current transaction commits."""
    db.session.info[_QUEUED_KEY] = True


# --- at commit ----------------------------------------------------------------------------


def _before_commit(session) -> None:
    """Announce the invoices this transaction issues (numbered first), and ask for the
    sender once if anything was queued."""
    if session.in_nested_transaction():
        return  # fired for savepoint releases too: act at the real commit
    invoices = session.info.pop(_INVOICES_KEY, [])
    if invoices:
        # Numbering is a before-commit step too; whichever hook runs first numbers.
        number_queued_documents(session)
        for invoice in invoices:
            if (
                inspect(invoice).persistent
                and invoice in session
                and invoice.invoice_number
                and invoice.total_amount > 0
                and invoice.status != "cancelled"
            ):
                queue_invoice_generated(invoice)
    if session.info.pop(_QUEUED_KEY, False):
        request_job(SEND_JOB, "after-commit", queue="notifications")


def _after_transaction_end(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_INVOICES_KEY, None)
        session.info.pop(_QUEUED_KEY, None)


def register_notification_hooks() -> None:
    """Install the commit hooks on the app's session (once per process)."""
    if not event.contains(db.session, "before_commit", _before_commit):
        event.listen(db.session, "before_commit", _before_commit)
        event.listen(db.session, "after_transaction_end", _after_transaction_end)
