"""SMS gateways: Clickatell One API (default) and BulkSMS JSON REST v1 (integrations.md §3).

Both clients take an E.164 number ("+27821234567") and write it in the gateway's own form
(Clickatell: digits only; BulkSMS: E.164). They send one message per call, through
`call_with_retries` (timeouts, 429 and 5xx retried with backoff), and answer with the
gateway's message id, which its delivery callbacks quote. Refusals are read per the
vendors' documents:
- `MessageRejected`: the gateway refused this message (bad number, bad text). Sending it
  again cannot help.
- `ProviderError`: the account or the request was refused (401 key, 402/403 credit).
- `ProviderUnavailable`: the gateway could not be reached or kept failing.
"""

from dataclasses import dataclass

import httpx
from flask import current_app

from app.integrations.http import (
    ProviderClient,
    ProviderError,
    ProviderNotConfigured,
    call_with_retries,
    provider_client,
)

SMS_PROVIDERS = ("clickatell", "bulksms")


class MessageRejected(ProviderError):
    """The gateway refused this one message for what it is (number, content)."""


@dataclass(frozen=True)
class SmsReceipt:
    """A message the gateway accepted: which gateway, and its id for the message."""

    provider: str
    message_id: str


def _json(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _describe(error) -> tuple[str, object]:
    """(description, code) of an error object that may be a dict or a plain string."""
    if isinstance(error, dict):
        description = error.get("description") or error.get("detail") or error.get("title")
        return str(description or error), error.get("code")
    return str(error), None


class ClickatellClient(ProviderClient):
    """Clickatell One API: POST {base}/v1/message, raw API key in `Authorization`."""

    provider = "clickatell"

    def __init__(self, base_url: str, api_key: str):
        self.api_key = api_key
        self.http = provider_client(
            base_url.rstrip("/"),
            headers={
                "Authorization": api_key,  # the raw key: One API takes no "Bearer"
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )

    @classmethod
    def from_config(cls, config) -> "ClickatellClient":
        if not (config.get("CLICKATELL_BASE_URL") and config.get("CLICKATELL_API_KEY")):
            raise ProviderNotConfigured("clickatell", "CLICKATELL_BASE_URL/API_KEY are not set")
        return cls(config["CLICKATELL_BASE_URL"], config["CLICKATELL_API_KEY"])

    def send(
        self, to: str, text: str, *, client_message_id: str | None = None, unicode: bool = False
    ) -> SmsReceipt:
        """Send one SMS; One API picks the encoding from the text itself."""
        message = {"channel": "sms", "to": to.lstrip("+"), "content": text}
        if client_message_id:
            message["clientMessageId"] = client_message_id
        response = call_with_retries(
            self.provider, lambda: self.http.post("/v1/message", json={"messages": [message]})
        )
        body = _json(response) or {}
        messages = body.get("messages") or []
        first = messages[0] if messages and isinstance(messages[0], dict) else {}
        if response.status_code in (200, 202, 207) and first.get("accepted"):
            if not first.get("apiMessageId"):
                raise ProviderError(self.provider, "accepted without a message id")
            return SmsReceipt(self.provider, str(first["apiMessageId"]))
        if response.status_code == 401:
            raise ProviderError(self.provider, "the API key was refused", status=401)
        if response.status_code == 402:
            raise ProviderError(self.provider, "the account is out of credit", status=402)
        if first.get("error"):  # 400/207: this message was refused
            description, code = _describe(first["error"])
            raise MessageRejected(
                self.provider, description, status=response.status_code, code=code
            )
        description, code = _describe(body.get("error") or f"HTTP {response.status_code}")
        raise ProviderError(self.provider, description, status=response.status_code, code=code)


class BulkSmsClient(ProviderClient):
    """BulkSMS JSON REST v1: POST {base}/messages with HTTP Basic (token id:secret).

    `BULKSMS_BASE_URL` is the API root including its version, as the vendor documents
    it: "https://api.bulksms.com/v1".
    """

    provider = "bulksms"

    def __init__(self, base_url: str, token_id: str, token_secret: str):
        self.http = provider_client(
            base_url.rstrip("/"),
            auth=(token_id, token_secret),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

    @classmethod
    def from_config(cls, config) -> "BulkSmsClient":
        needed = ("BULKSMS_BASE_URL", "BULKSMS_TOKEN_ID", "BULKSMS_TOKEN_SECRET")
        if not all(config.get(name) for name in needed):
            raise ProviderNotConfigured("bulksms", "BULKSMS_BASE_URL/TOKEN_ID/SECRET are not set")
        return cls(*(config[name] for name in needed))

    def send(
        self, to: str, text: str, *, client_message_id: str | None = None, unicode: bool = False
    ) -> SmsReceipt:
        """Send one SMS; `unicode` asks for UCS-2 (BulkSMS defaults to GSM-7 "TEXT")."""
        entry = {"to": to, "body": text, "encoding": "UNICODE" if unicode else "TEXT"}
        if client_message_id:
            entry["userSuppliedId"] = client_message_id[:20]
        response = call_with_retries(self.provider, lambda: self.http.post("/messages", json=entry))
        body = _json(response)
        if response.status_code in (200, 201):
            first = body[0] if isinstance(body, list) and body else None
            if not isinstance(first, dict) or not first.get("id"):
                raise ProviderError(self.provider, "accepted without a message id")
            return SmsReceipt(self.provider, str(first["id"]))
        description, _ = _describe(body if body else f"HTTP {response.status_code}")
        if response.status_code == 401:
            raise ProviderError(self.provider, "the API token was refused", status=401)
        if response.status_code == 403:
            raise ProviderError(self.provider, description, status=403)
        if response.status_code == 400:
            raise MessageRejected(self.provider, description, status=400)
        raise ProviderError(self.provider, description, status=response.status_code)


# --- delivery callbacks -----------------------------------------------------------------

# One API status names by code (integrations.md §3.1); the string `status` wins when given,
# because the older platform used the same numbers for other states.
CLICKATELL_STATUS_NAMES = {
    1: "UNKNOWN",
    2: "QUEUED",
    3: "SCHEDULED",
    4: "SENT_TO_SUPPLIER",
    5: "DEVICE_ACK",
    6: "READ",
    20: "EXPIRED",
    21: "STOPPED_BY_USER",
    22: "STOPPED_BY_ADMIN",
    23: "DELIVERY_FAILURE",
    24: "EMULATED",
    25: "INSUFFICIENT_ACCOUNT_BALANCE",
    26: "VOLUME_LIMIT_EXCEEDED",
    27: "VOLUME_LIMIT_EXCEEDED",
    28: "VOLUME_LIMIT_EXCEEDED",
    29: "RECIPIENT_DOES_NOT_EXIST",
    100: "ROUTING_ERROR",
}
CLICKATELL_DELIVERED = frozenset({"DEVICE_ACK", "READ"})
CLICKATELL_FAILED = frozenset(
    {
        "EXPIRED",
        "STOPPED_BY_USER",
        "STOPPED_BY_ADMIN",
        "DELIVERY_FAILURE",
        "INSUFFICIENT_ACCOUNT_BALANCE",
        "VOLUME_LIMIT_EXCEEDED",
        "RECIPIENT_DOES_NOT_EXIST",
        "ROUTING_ERROR",
    }
)


@dataclass(frozen=True)
class DeliveryReport:
    """What a gateway says became of one message.

    `outcome` is "delivered", "failed", or None while the message is still on its way (or
    the gateway does not know); `status` is the gateway's own word for it.
    """

    provider: str
    message_id: str | None
    client_message_id: str | None
    outcome: str | None
    status: str


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_clickatell_callback(payload) -> list[DeliveryReport]:
    """Reports in a One API status callback: `{"event": {"messageStatusUpdate": [...]}}`
    (a bare status object, as older integrations post, is read too). Other events
    (inbound messages) carry no reports. Raises ValueError for a body of another shape."""
    if not isinstance(payload, dict):
        raise ValueError("expected a JSON object")
    event = payload.get("event")
    if isinstance(event, dict):
        updates = event.get("messageStatusUpdate") or []
    elif payload.get("messageId") or payload.get("apiMessageId"):
        updates = [payload]
    else:
        updates = []
    if not isinstance(updates, list):
        raise ValueError("messageStatusUpdate must be a list")
    reports = []
    for update in updates:
        if not isinstance(update, dict):
            raise ValueError("each status update must be an object")
        status = update.get("status") or CLICKATELL_STATUS_NAMES.get(
            _as_int(update.get("statusCode")), "UNKNOWN"
        )
        status = str(status).upper()
        outcome = (
            "delivered"
            if status in CLICKATELL_DELIVERED
            else "failed"
            if status in CLICKATELL_FAILED
            else None
        )
        message_id = update.get("messageId") or update.get("apiMessageId")
        client_id = update.get("clientMessageId")
        reports.append(
            DeliveryReport(
                "clickatell",
                str(message_id) if message_id else None,
                str(client_id) if client_id else None,
                outcome,
                status,
            )
        )
    return reports


def parse_bulksms_callback(payload) -> list[DeliveryReport]:
    """Reports in a BulkSMS delivery webhook: an array of Message objects (the empty array
    BulkSMS posts when a webhook is registered gives none). Raises ValueError otherwise."""
    if not isinstance(payload, list):
        raise ValueError("expected a JSON array of Message objects")
    reports = []
    for message in payload:
        if not isinstance(message, dict):
            raise ValueError("each message must be an object")
        if message.get("type", "SENT") != "SENT":
            continue  # replies (RECEIVED) are not delivery reports
        status = message.get("status") if isinstance(message.get("status"), dict) else {}
        kind = str(status.get("type") or "UNKNOWN").upper()
        outcome = "delivered" if kind == "DELIVERED" else "failed" if kind == "FAILED" else None
        message_id = message.get("id")
        client_id = message.get("userSuppliedId")
        reports.append(
            DeliveryReport(
                "bulksms",
                str(message_id) if message_id else None,
                str(client_id) if client_id else None,
                outcome,
                str(status.get("id") or kind),
            )
        )
    return reports


def sms_provider(config=None) -> str:
    """The configured gateway's name (SMS_PROVIDER: clickatell or bulksms)."""
    config = config if config is not None else current_app.config
    name = (config.get("SMS_PROVIDER") or "clickatell").lower()
    if name not in SMS_PROVIDERS:
        raise ProviderNotConfigured(name, f"SMS_PROVIDER must be one of {', '.join(SMS_PROVIDERS)}")
    return name


def sms_configured(config=None) -> bool:
    """Whether the configured gateway has its URL and credentials."""
    config = config if config is not None else current_app.config
    try:
        name = sms_provider(config)
    except ProviderNotConfigured:
        return False
    if name == "bulksms":
        needed = ("BULKSMS_BASE_URL", "BULKSMS_TOKEN_ID", "BULKSMS_TOKEN_SECRET")
    else:
        needed = ("CLICKATELL_BASE_URL", "CLICKATELL_API_KEY")
    return all(config.get(setting) for setting in needed)


def sms_client_from_config(config=None) -> ClickatellClient | BulkSmsClient:
    """The client of the gateway SMS_PROVIDER names; close it (or use `with`) when done.

    Raises ProviderNotConfigured when its URL or credentials are missing.
    """
    config = config if config is not None else current_app.config
    if sms_provider(config) == "bulksms":
        return BulkSmsClient.from_config(config)
    return ClickatellClient.from_config(config)
