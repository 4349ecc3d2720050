"""Delivery callbacks from the SMS gateways, posted over HTTP to our webhook routes: they
mark messages delivered or failed, are idempotent, tolerate any order, and need our secret."""

import time
from decimal import Decimal

import httpx
import pytest

from app.extensions import db
from app.notifications import queue_notification
from tests.notifications.conftest import outbox

CLICKATELL = "/api/webhooks/sms/clickatell"
BULKSMS = "/api/webhooks/sms/bulksms"
SECRET = "sandbox-sms-callback-secret"


@pytest.fixture
def sent_sms(gateways, customer):
    """One SMS sent through Clickatell, its delivery callback not yet posted."""
    queue_notification(customer, "service_reactivated", {"package_name": "Fibre 100"})
    db.session.commit()
    (sms,) = outbox(channel="sms")
    assert sms.status == "sent"
    return sms


def _post(live_server, path, payload, secret=SECRET):
    with httpx.Client(base_url=live_server, timeout=10) as http:
        return http.post(path, params={"secret": secret}, json=payload)


def _status_update(sms, status, code):
    return {
        "integrationId": "test",
        "event": {
            "messageStatusUpdate": [
                {
                    "channel": "sms",
                    "timestamp": 1795000000000,
                    "statusCode": code,
                    "status": status,
                    "messageId": sms.provider_message_id,
                    "clientMessageId": f"n-{sms.id}",
                }
            ]
        },
    }


def test_the_delivery_callback_marks_the_message_delivered(gateways, sent_sms):
    assert gateways.clickatell.deliver_pending() == 1
    (callback,) = gateways.clickatell.callbacks
    assert callback["status"] == 200
    assert callback["url"].endswith(f"{CLICKATELL}?secret={SECRET}")
    (sms,) = outbox(channel="sms")
    assert sms.status == "delivered" and sms.delivered_at is not None


def test_a_replayed_callback_changes_nothing(gateways, sent_sms, live_server):
    gateways.clickatell.deliver_pending()
    (delivered,) = outbox(channel="sms")
    payload = gateways.clickatell.callbacks[0]["payload"]
    for _ in range(3):
        response = _post(live_server, CLICKATELL, payload)
        assert response.status_code == 200 and response.json()["matched"] == 1
    (sms,) = outbox(channel="sms")
    assert (sms.status, sms.delivered_at, sms.updated_at) == (
        "delivered",
        delivered.delivered_at,
        delivered.updated_at,
    )


def test_out_of_order_callbacks_never_undo_a_delivery(sent_sms, live_server):
    assert _post(live_server, CLICKATELL, _status_update(sent_sms, "DEVICE_ACK", 5)).is_success
    # Earlier events arriving late: still on its way, then a failure report.
    _post(live_server, CLICKATELL, _status_update(sent_sms, "SENT_TO_SUPPLIER", 4))
    _post(live_server, CLICKATELL, _status_update(sent_sms, "DELIVERY_FAILURE", 23))
    (sms,) = outbox(channel="sms")
    assert (sms.status, sms.last_error) == ("delivered", None)


def test_an_in_progress_report_changes_nothing(sent_sms, live_server):
    _post(live_server, CLICKATELL, _status_update(sent_sms, "SENT_TO_SUPPLIER", 4))
    (sms,) = outbox(channel="sms")
    assert (sms.status, sms.delivered_at) == ("sent", None)


def test_a_delivery_failure_marks_the_message_failed(gateways, customer):
    gateways.clickatell.set_delivery_failure("+27825550101")
    queue_notification(customer, "service_reactivated", {"package_name": "Fibre 100"})
    db.session.commit()
    gateways.clickatell.deliver_pending()
    (sms,) = outbox(channel="sms")
    assert sms.status == "failed"
    assert sms.last_error == "Not delivered: DELIVERY_FAILURE (clickatell)"


def test_a_callback_with_a_wrong_secret_is_refused_and_changes_nothing(sent_sms, live_server):
    payload = _status_update(sent_sms, "DEVICE_ACK", 5)
    for secret in ("wrong", ""):
        response = _post(live_server, CLICKATELL, payload, secret=secret)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert _post(live_server, BULKSMS, [], secret="wrong").status_code == 403
    (sms,) = outbox(channel="sms")
    assert (sms.status, sms.delivered_at) == ("sent", None)


def test_a_report_about_an_unknown_message_is_acknowledged(sent_sms, live_server):
    payload = _status_update(sent_sms, "DEVICE_ACK", 5)
    update = payload["event"]["messageStatusUpdate"][0]
    update["messageId"], update["clientMessageId"] = "not-ours", "n-999999"
    response = _post(live_server, CLICKATELL, payload)
    assert response.status_code == 200  # so the gateway stops retrying
    assert response.json() == {"received": 1, "matched": 0}
    (sms,) = outbox(channel="sms")
    assert sms.status == "sent"


def test_a_body_that_is_not_a_report_is_a_bad_request(sent_sms, live_server):
    assert _post(live_server, CLICKATELL, ["not", "an", "object"]).status_code == 400
    assert _post(live_server, BULKSMS, {"not": "an array"}).status_code == 400
    with httpx.Client(base_url=live_server, timeout=10) as http:
        response = http.post(CLICKATELL, params={"secret": SECRET}, content=b"<xml/>")
    assert response.status_code == 400


def test_bulksms_reports_mark_messages_delivered_or_failed(
    gateways, customer, make_customer, monkeypatch, app, live_server
):
    monkeypatch.setitem(app.config, "SMS_PROVIDER", "bulksms")
    other = make_customer(phone="083 555 0202")
    gateways.bulksms.set_delivery_failure("+27835550202")
    for someone in (customer, other):
        queue_notification(someone, "payment_received", {"amount": Decimal("10.00")})
    db.session.commit()
    assert gateways.bulksms.deliver_pending() == 2
    first, second = outbox(channel="sms")
    assert first.status == "delivered"
    assert (second.status, second.last_error) == (
        "failed",
        "Not delivered: FAILED.HANDSET_ERROR (bulksms)",
    )
    # BulkSMS calls the webhook with an empty array when it is registered.
    assert _post(live_server, BULKSMS, []).json() == {"received": 0, "matched": 0}


def test_the_gateway_reports_delivery_by_itself_a_moment_later(sandboxes, customer):
    queue_notification(customer, "service_reactivated", {"package_name": "Fibre 100"})
    db.session.commit()
    deadline = time.monotonic() + 10
    while outbox(channel="sms")[0].status != "delivered" and time.monotonic() < deadline:
        time.sleep(0.1)
    (sms,) = outbox(channel="sms")
    assert sms.status == "delivered"
    assert [callback["status"] for callback in sandboxes.clickatell.callbacks] == [200]
