"""Console: the notification log (every SMS and e-mail with its delivery status) and
sending a failed message again, with a reason.

Recipients are shown masked (a phone number or address is enough to recognise, not to
copy), and a one-time code never appears, whatever the state of its message.
"""

import re
from pathlib import Path

from flask import abort, flash, redirect
from flask_admin import expose
from flask_admin.model.template import EndpointLinkRowAction
from flask_wtf import FlaskForm
from markupsafe import Markup

from admin.formatters import format_sast
from admin.forms import reason_field, show_domain_error
from admin.views import (
    ConsoleModelView,
    choice_filter,
    customer_link,
    require_permission,
    staff_can,
)
from app.auth import actor_for_request
from app.errors import DomainError
from app.extensions import db
from app.models import Notification
from app.models.outbox import NOTIFICATION_CHANNELS, NOTIFICATION_STATUSES
from app.notifications.sender import ONE_TIME_CODE_MASK, ONE_TIME_CODE_TEMPLATE, resend_notification

RESEND_PERMISSION = "customers:edit"
PREVIEW_LENGTH = 70


def mask_recipient(recipient: str | None) -> str:
    """ "+27821234567" → "+2782***4567"; "thandi@example.co.za" → "t***@example.co.za"."""
    if not recipient:
        return ""
    if "@" in recipient:
        local, _, domain = recipient.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if len(recipient) <= 6:
        return "***"
    return f"{recipient[:5]}***{recipient[-4:]}"


def shown_body(notification: Notification) -> str:
    """The text as staff may read it: a one-time code is masked."""
    body = notification.body or ""
    if notification.template == ONE_TIME_CODE_TEMPLATE:
        body = re.sub(r"\b\d{6}\b", ONE_TIME_CODE_MASK, body)
    return body


TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def template_names() -> list[str]:
    """Every message the templates folder defines (SMS or e-mail)."""
    return sorted(
        {
            path.stem
            for channel in ("sms", "email")
            for path in (TEMPLATES_DIR / channel).glob("*.txt")
        }
    )


def _recipient(view, context, model, name):
    return mask_recipient(model.recipient)


def _preview(view, context, model, name):
    body = " ".join(shown_body(model).split())
    return body if len(body) <= PREVIEW_LENGTH else body[: PREVIEW_LENGTH - 1] + "…"


def _body(view, context, model, name):
    return Markup('<pre class="mb-0" style="white-space: pre-wrap">{}</pre>').format(
        shown_body(model)
    )


class ResendForm(FlaskForm):
    reason = reason_field("Why the message is sent again; recorded in the audit log.")


class ResendRowAction(EndpointLinkRowAction):
    """The "Send again" icon, on failed rows only."""

    def __init__(self):
        super().__init__(
            "fa fa-repeat", ".resend_view", title="Send again", id_arg="notification_id"
        )

    def render(self, context, row_id, row):
        if row.status != "failed" or row.template == ONE_TIME_CODE_TEMPLATE:
            return ""
        return super().render(context, row_id, row)


class NotificationLogView(ConsoleModelView):
    """Every SMS and e-mail: recipient (masked), status, attempts, errors, delivery."""

    column_list = (
        "created_at",
        "customer_id",
        "channel",
        "template",
        "recipient",
        "preview",
        "status",
        "attempts",
        "last_error",
        "sent_at",
        "delivered_at",
    )
    column_details_list = (
        "created_at",
        "customer_id",
        "channel",
        "template",
        "recipient",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "provider_message_id",
        "sent_at",
        "delivered_at",
        "subject",
        "body",
    )
    column_export_list = (
        "created_at",
        "customer_id",
        "channel",
        "template",
        "recipient",
        "status",
        "attempts",
        "last_error",
        "sent_at",
        "delivered_at",
    )
    column_labels = {
        "customer_id": "Customer",
        "created_at": "Queued",
        "preview": "Message",
        "provider_message_id": "Gateway id",
    }
    column_sortable_list = ("created_at", "channel", "template", "status", "attempts", "sent_at")
    column_searchable_list = ("recipient", "template", "provider_message_id")
    column_formatters = {
        "customer_id": customer_link,
        "recipient": _recipient,
        "preview": _preview,
        "body": _body,
    }
    column_formatters_export = {"recipient": _recipient}

    def __init__(self, model, **kwargs):
        self.column_filters = (
            choice_filter(Notification.channel, NOTIFICATION_CHANNELS),
            choice_filter(Notification.status, NOTIFICATION_STATUSES),
            choice_filter(Notification.template, template_names()),
            "created_at",
            "sent_at",
            "customer_id",
        )
        super().__init__(model, **kwargs)

    def get_list_row_actions(self):
        actions = list(super().get_list_row_actions())
        if staff_can(RESEND_PERMISSION):
            actions.append(ResendRowAction())
        return actions

    @expose("/<int:notification_id>/resend", methods=("GET", "POST"))
    def resend_view(self, notification_id):
        """Send a failed message again, as it was; the reason goes to the audit log."""
        require_permission(RESEND_PERMISSION)
        notification = db.session.get(Notification, notification_id)
        if notification is None:
            abort(404)
        details_url = self.get_url(".details_view", id=notification.id)
        form = ResendForm()
        if form.validate_on_submit():
            try:
                resend_notification(
                    notification, actor=actor_for_request(), reason=form.reason.data
                )
                db.session.commit()
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
            else:
                flash("The message is queued and will be sent again shortly.", "success")
                return redirect(details_url)
        return self.render(
            "admin/notifications/resend.html",
            notification=notification,
            form=form,
            recipient=mask_recipient(notification.recipient),
            body=shown_body(notification),
            details_url=details_url,
            format_sast=format_sast,
        )
