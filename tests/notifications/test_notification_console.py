"""The notification log in the console: masked recipients, no one-time codes, filters, and
"Send again" for failed messages, which needs a reason and the right permission."""

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Notification
from tests.notifications.conftest import outbox

TAGS = re.compile(r"<[^>]+>")


def _resends() -> list[AuditLog]:
    return list(
        db.session.scalars(select(AuditLog).where(AuditLog.action == "resend_notification"))
    )


def text_of(response) -> str:
    return " ".join(TAGS.sub(" ", response.get_data(as_text=True)).split())


@pytest.fixture
def log_rows(customer):
    """A failed SMS, a delivered e-mail and a queued one-time code."""
    rows = [
        Notification(
            customer_id=customer.id,
            channel="sms",
            template="payment_reminder",
            recipient="+27825550101",
            body="CircleTel: Hi Thandi, invoice INV-2026-00001 of R799.00 is due.",
            status="failed",
            attempts=8,
            last_error="clickatell: HTTP 503 after 3 attempt(s)",
        ),
        Notification(
            customer_id=customer.id,
            channel="email",
            template="service_reactivated",
            recipient="thandi@example.co.za",
            subject="Your Fibre 100 service is active again",
            body="Hi Thandi,\n\nYour Fibre 100 service is active again.",
            status="delivered",
            attempts=1,
        ),
        Notification(
            customer_id=customer.id,
            channel="sms",
            template="one_time_code",
            recipient="+27825550101",
            body="CircleTel: your one-time code is 483920. It is valid for 10 minutes.",
            status="queued",
            attempts=0,
        ),
    ]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def test_the_log_lists_messages_with_masked_recipients_and_no_codes(client, auth, log_rows):
    auth.login("viewer")
    page = client.get("/admin/notifications/")
    assert page.status_code == 200
    text = text_of(page)
    assert "+2782***0101" in text and "t***@example.co.za" in text
    assert "+27825550101" not in text and "thandi@example.co.za" not in text
    assert "483920" not in text and "code is ******" in text
    assert "HTTP 503 after 3 attempt(s)" in text
    assert "invoice INV-2026-00001 of R799.00" in text  # the message preview

    failed, delivered, code = log_rows
    details = text_of(client.get(f"/admin/notifications/details/?id={code.id}"))
    assert "483920" not in details and "+27825550101" not in details
    details = text_of(client.get(f"/admin/notifications/details/?id={delivered.id}"))
    assert "Your Fibre 100 service is active again." in details


def test_the_log_filters_by_status_channel_and_template(client, auth, log_rows):
    auth.login("support")
    reminder, reactivated, code = "of R799.00 is due", "service is active again", "code is"
    failed_only = text_of(client.get("/admin/notifications/?flt0_status_equals=failed"))
    assert reminder in failed_only and reactivated not in failed_only
    emails = text_of(client.get("/admin/notifications/?flt0_channel_equals=email"))
    assert reactivated in emails and reminder not in emails and code not in emails
    by_template = client.get("/admin/notifications/?flt0_template_equals=one_time_code")
    assert by_template.status_code == 200
    assert code in text_of(by_template) and reminder not in text_of(by_template)


def test_send_again_is_offered_for_failed_messages_only(client, auth, log_rows):
    failed, delivered, code = log_rows
    auth.login("support")
    page = client.get("/admin/notifications/").get_data(as_text=True)
    assert f"/admin/notifications/{failed.id}/resend" in page
    assert f"/admin/notifications/{delivered.id}/resend" not in page
    assert f"/admin/notifications/{code.id}/resend" not in page


def test_send_again_needs_a_reason(client, auth, log_rows):
    failed = log_rows[0]
    auth.login("support")
    form = client.get(f"/admin/notifications/{failed.id}/resend")
    assert form.status_code == 200 and "+2782***0101" in text_of(form)
    refused = client.post(f"/admin/notifications/{failed.id}/resend", data={"reason": "  "})
    assert refused.status_code == 200
    assert "A reason is required." in text_of(refused)
    assert outbox(template="payment_reminder")[0].status == "failed"
    assert _resends() == []


def test_send_again_queues_the_message_afresh_and_audits_it(client, auth, log_rows):
    failed = log_rows[0]
    user = auth.login("support")
    done = client.post(
        f"/admin/notifications/{failed.id}/resend",
        data={"reason": "Customer says the gateway outage is over"},
    )
    assert done.status_code == 302
    (row,) = outbox(template="payment_reminder")
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == (
        "queued",
        0,
        None,
        None,
    )
    (entry,) = _resends()
    assert (entry.action, entry.actor, entry.reason, entry.entity_id) == (
        "resend_notification",
        user.email,
        "Customer says the gateway outage is over",
        str(failed.id),
    )
    assert entry.before["status"] == "failed" and entry.after["status"] == "queued"


def test_send_again_sends_at_once_when_the_gateway_is_up(client, auth, log_rows, gateways):
    failed = log_rows[0]
    auth.login("support")
    client.post(f"/admin/notifications/{failed.id}/resend", data={"reason": "Outage over"})
    (row,) = outbox(template="payment_reminder")
    assert row.status == "sent"
    sent = [m["clientMessageId"] for m in gateways.clickatell.messages]
    assert sent.count(f"n-{failed.id}") == 1


def test_only_failed_messages_can_be_sent_again(client, auth, log_rows):
    failed, delivered, code = log_rows
    auth.login("admin")
    refused = client.post(
        f"/admin/notifications/{delivered.id}/resend", data={"reason": "Just because"}
    )
    assert "Only failed messages can be sent again; this one is delivered." in text_of(refused)
    code.status = "failed"
    db.session.commit()
    refused = client.post(f"/admin/notifications/{code.id}/resend", data={"reason": "Lost"})
    assert "One-time codes are not sent again" in text_of(refused)
    assert _resends() == []


@pytest.mark.parametrize("role", ["finance", "viewer"])
def test_sending_again_needs_the_customers_edit_permission(client, auth, log_rows, role):
    failed = log_rows[0]
    auth.login(role)
    assert client.get(f"/admin/notifications/{failed.id}/resend").status_code == 403
    response = client.post(f"/admin/notifications/{failed.id}/resend", data={"reason": "x"})
    assert response.status_code == 403
    assert outbox(template="payment_reminder")[0].status == "failed"
    assert f"/admin/notifications/{failed.id}/resend" not in client.get(
        "/admin/notifications/"
    ).get_data(as_text=True)


def test_an_unknown_message_is_not_found(client, auth, log_rows):
    auth.login("admin")
    assert client.get("/admin/notifications/999999/resend").status_code == 404
