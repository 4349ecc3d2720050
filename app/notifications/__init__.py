"""Customer notifications: templates rendered into outbox rows (DESIGN §5.10).

Rows are written in the transaction of the change that causes them; the integrations
workers send them after commit and record delivery. Customer preferences decide the
channels, except for messages that must always go (one-time codes).
"""

from flask import render_template
from jinja2 import TemplateNotFound

from app.extensions import db
from app.models import Customer, Notification

ALWAYS_SENT_TEMPLATES = frozenset({"one_time_code"})


def _render(channel: str, template: str, context: dict) -> tuple[str | None, str]:
    """(subject, body) of a template; e-mail templates start with a "Subject:" line."""
    extension = "txt"
    text = render_template(f"{channel}/{template}.{extension}", **context).strip()
    if channel == "email" and text.startswith("Subject:"):
        subject, _, body = text.partition("\n")
        return subject.removeprefix("Subject:").strip(), body.strip()
    return None, text


def queue_notification(
    customer: Customer,
    template: str,
    context: dict,
    *,
    dedupe_key: str | None = None,
) -> list[Notification]:
    """Write one outbox row per channel the customer wants (SMS and/or e-mail)."""
    billing = customer.billing
    channels = []
    always = template in ALWAYS_SENT_TEMPLATES
    phone = (billing.billing_phone if billing else None) or customer.phone
    email = (billing.billing_email if billing else None) or customer.email
    if phone and (always or billing is None or billing.sms_notifications_enabled):
        channels.append(("sms", phone))
    if email and (always or billing is None or billing.email_invoices_enabled):
        channels.append(("email", email))
    context = {"customer": customer, **context}
    rows = []
    for channel, recipient in channels:
        try:
            subject, body = _render(channel, template, context)
        except TemplateNotFound:
            continue  # not every message exists in every channel
        row = Notification(
            customer_id=customer.id,
            channel=channel,
            template=template,
            recipient=recipient,
            subject=subject,
            body=body,
            context={key: str(value) for key, value in context.items() if key != "customer"},
            dedupe_key=f"{dedupe_key}:{channel}" if dedupe_key else None,
            status="queued",
            attempts=0,
        )
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    return rows
