"""Delivery reports from the SMS gateways (DESIGN §5.10: every message is logged with its
delivery status).

Gateways repeat callbacks and send them out of order, so a report only ever moves a row
forward: "delivered" is final; "failed" applies to a message not yet known as delivered
(a later "delivered" still wins: the handset got it); reports of a message still on its
way change nothing. Replaying a report changes nothing.
"""

import logging

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.integrations.sms import DeliveryReport
from app.models import Notification

log = logging.getLogger(__name__)

CLIENT_ID_PREFIX = "n-"  # the sender's clientMessageId / userSuppliedId: "n-<row id>"


def find_notification(report: DeliveryReport) -> Notification | None:
    """The SMS a report is about (locked): by the gateway's id, else by our own id."""
    query = select(Notification).where(Notification.channel == "sms").with_for_update()
    row = None
    if report.message_id:
        row = db.session.scalars(
            query.where(Notification.provider_message_id == report.message_id)
        ).first()
    client_id = report.client_message_id or ""
    if row is None and client_id.startswith(CLIENT_ID_PREFIX):
        number = client_id.removeprefix(CLIENT_ID_PREFIX)
        if number.isdigit():
            row = db.session.scalars(query.where(Notification.id == int(number))).first()
            # Our id alone could match an older message of the row (sent again since).
            if (
                row is not None
                and report.message_id
                and row.provider_message_id
                not in (
                    None,
                    report.message_id,
                )
            ):
                row = None
    return row


def record_delivery_report(report: DeliveryReport) -> Notification | None:
    """Apply one gateway report to its message; returns the message (None: no such message).

    Flushes; the caller commits.
    """
    row = find_notification(report)
    if row is None:
        log.info("%s report for an unknown message %s: ignored", report.provider, report)
        return None
    if row.provider_message_id is None and report.message_id:
        row.provider_message_id = report.message_id  # the report beat the sender's record
    if report.outcome == "delivered" and row.status != "delivered":
        row.status = "delivered"
        row.delivered_at = clock.now()
        row.last_error = None
    elif report.outcome == "failed" and row.status in ("queued", "sent"):
        row.status = "failed"
        row.next_attempt_at = None
        row.last_error = f"Not delivered: {report.status} ({report.provider})"
    db.session.flush()
    return row
