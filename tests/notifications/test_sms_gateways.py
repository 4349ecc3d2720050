"""The production SMS clients against the gateway sandboxes over HTTP: what they send and
how they read each answer (integrations.md §3.1, §3.3)."""

import pytest

from app.integrations.http import ProviderError, ProviderNotConfigured, ProviderUnavailable
from app.integrations.sms import (
    BulkSmsClient,
    ClickatellClient,
    MessageRejected,
    parse_bulksms_callback,
    parse_clickatell_callback,
    sms_client_from_config,
    sms_configured,
)


def test_clickatell_gets_the_raw_key_and_digits_only(gateways, app):
    with sms_client_from_config() as client:
        assert isinstance(client, ClickatellClient)
        receipt = client.send("+27821234567", "Hello", client_message_id="n-1")
    (message,) = gateways.clickatell.messages
    assert (message["to"], message["content"], message["clientMessageId"]) == (
        "27821234567",
        "Hello",
        "n-1",
    )
    assert (receipt.provider, receipt.message_id) == ("clickatell", message["apiMessageId"])


def test_clickatell_refusals_are_told_apart(gateways, app):
    config = gateways.config
    with (
        ClickatellClient(config["CLICKATELL_BASE_URL"], "wrong-key") as client,
        pytest.raises(ProviderError, match="API key was refused") as refused,
    ):
        client.send("+27821234567", "Hello")
    assert refused.value.status == 401 and not isinstance(refused.value, MessageRejected)
    with sms_client_from_config() as client:
        with pytest.raises(MessageRejected, match="Invalid destination address"):
            client.send("+27 82 123", "Hello")
        gateways.clickatell.fail_next(1, status=402)
        with pytest.raises(ProviderError, match="out of credit"):
            client.send("+27821234567", "Hello")
        gateways.clickatell.fail_next(3, status=503)
        with pytest.raises(ProviderUnavailable, match="HTTP 503 after 3 attempt"):
            client.send("+27821234567", "Hello")
        gateways.clickatell.fail_next(2, status=503)  # a short outage is ridden out
        assert client.send("+27821234567", "Hello").message_id
    assert len(gateways.clickatell.messages) == 1


def test_bulksms_gets_basic_auth_and_e164(gateways, app, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_PROVIDER", "bulksms")
    with sms_client_from_config() as client:
        assert isinstance(client, BulkSmsClient)
        receipt = client.send("+27821234567", "Sawubona 😀", client_message_id="n-2", unicode=True)
    (message,) = gateways.bulksms.messages
    assert (message["to"], message["encoding"], message["userSuppliedId"]) == (
        "+27821234567",
        "UNICODE",
        "n-2",
    )
    assert receipt.message_id == message["id"]
    config = gateways.config
    with (
        BulkSmsClient(config["BULKSMS_BASE_URL"], "id", "wrong") as client,
        pytest.raises(ProviderError, match="token was refused"),
    ):
        client.send("+27821234567", "Hello")
    token = (config["BULKSMS_TOKEN_ID"], config["BULKSMS_TOKEN_SECRET"])
    with (
        BulkSmsClient(config["BULKSMS_BASE_URL"], *token) as client,
        pytest.raises(MessageRejected, match="Invalid destination address"),
    ):
        client.send("082 123", "Hello")


def test_a_gateway_without_settings_is_not_configured(app, monkeypatch):
    assert not sms_configured()
    with pytest.raises(ProviderNotConfigured):
        sms_client_from_config()
    monkeypatch.setitem(app.config, "SMS_PROVIDER", "carrier-pigeon")
    assert not sms_configured()


def test_callback_bodies_are_read_by_status_name_first():
    (report,) = parse_clickatell_callback(
        {"event": {"messageStatusUpdate": [{"messageId": "a1", "statusCode": 4, "status": "READ"}]}}
    )
    assert (report.message_id, report.outcome, report.status) == ("a1", "delivered", "READ")
    (report,) = parse_clickatell_callback(
        {"event": {"messageStatusUpdate": [{"messageId": "a1", "statusCode": 23}]}}
    )
    assert (report.outcome, report.status) == ("failed", "DELIVERY_FAILURE")
    assert parse_clickatell_callback({"event": {"moMessage": [{"content": "hi"}]}}) == []
    (report,) = parse_bulksms_callback(
        [{"id": "9", "type": "SENT", "status": {"id": "SENT.null", "type": "SENT"}}]
    )
    assert report.outcome is None
    assert parse_bulksms_callback([{"id": "9", "type": "RECEIVED", "status": {}}]) == []
    for bad in ([1], "text"):
        with pytest.raises(ValueError):
            parse_clickatell_callback(bad)
