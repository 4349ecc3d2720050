"""SMS gateways: Clickatell One API (default) and BulkSMS JSON REST v1 (integrations.md §3).

Both clients take an E.164 number ("+27821234567") and write it in the gateway's own form
(Clickatell: digits only; BulkSMS: E.164). `send_many` sends a list of messages in as few
requests as the gateway allows (Clickatell: 200 per request; BulkSMS: `max_per_request`,
well inside the vendor's ~4 000), each through `call_with_retries` (timeouts, 429 and 5xx
retried with backoff), and answers with one result per message, in order: an
`SmsReceipt` carrying the gateway's message id (which its delivery callbacks quote), or
the error of that message. `send` sends one message and raises its error. Refusals are
read per the vendors' documents:
- `MessageRejected`: the gateway refused this message (bad number, bad text). Sending it
  again cannot help.
- `ProviderError`: the account or the request was refused (401 key, 402/403 credit).
- `ProviderUnavailable`: the gateway could not be reached or kept failing.

A refusal of a whole request is raised when it is the first request of the call (nothing
was sent); a later request refused as a whole (some messages already went) gives its
error to each message it and the requests after it carried, so the caller still learns
which messages were sent.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True)
class SmsMessage:
    """One SMS to send: an E.164 number, the text, and our id for it (quoted back by the
    gateway's delivery callbacks); `unicode` asks for UCS-2 where the gateway lets us."""

    to: str
    text: str
    client_message_id: str | None = None
    unicode: bool = False


# What became of one message of `send_many`: accepted (a receipt) or not sent (its error:
# a MessageRejected for good, any other ProviderError worth another try later).
SmsResult = SmsReceipt | ProviderError


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


def _in_parts(
    parts: Sequence[Sequence[SmsMessage]],
    submit: Callable[[Sequence[SmsMessage]], list[SmsResult]],
) -> list[SmsResult]:
    """`submit` each part in turn. A part refused as a whole raises when it is the first
    (nothing was sent); after that, its error is the result of every message left."""
    results: list[SmsResult] = []
    for index, part in enumerate(parts):
        try:
            results.extend(submit(part))
        except ProviderError as error:
            if index == 0:
                raise
            results.extend([error] * sum(len(rest) for rest in parts[index:]))
            break
    return results


class SmsClient(ProviderClient, ABC):
    """What both gateways' clients offer: `send_many`, and `send` for one message."""

    provider: str
    max_per_request: int

    def send_many(self, messages: Sequence[SmsMessage]) -> list[SmsResult]:
        """Send the messages, `max_per_request` per request; one result per message, in
        order. Raises when the first request is refused as a whole (nothing was sent)."""
        messages = list(messages)
        size = self.max_per_request
        parts = [messages[start : start + size] for start in range(0, len(messages), size)]
        return _in_parts(parts, self._submit)

    def send(
        self, to: str, text: str, *, client_message_id: str | None = None, unicode: bool = False
    ) -> SmsReceipt:
        """Send one SMS; raises its refusal (`MessageRejected` for the message itself)."""
        (result,) = self.send_many([SmsMessage(to, text, client_message_id, unicode)])
        if isinstance(result, ProviderError):
            raise result
        return result

    @abstractmethod
    def _submit(self, messages: Sequence[SmsMessage]) -> list[SmsResult]:
        """One request carrying these messages (at most `max_per_request`)."""


class ClickatellClient(SmsClient):
    """Clickatell One API: POST {base}/v1/message, raw API key in `Authorization`.

    Up to 200 messages per request; the answer (202 all accepted, 207 mixed, 400 none)
    lists each message's fate in `messages`, in the order they were sent.
    """

    provider = "clickatell"
    max_per_request = 200

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

    @staticmethod
    def _entry(message: SmsMessage) -> dict:
        """One API picks the encoding from the text itself."""
        entry = {"channel": "sms", "to": message.to.lstrip("+"), "content": message.text}
        if message.client_message_id:
            entry["clientMessageId"] = message.client_message_id
        return entry

    def _submit(self, messages: Sequence[SmsMessage]) -> list[SmsResult]:
        entries = [self._entry(message) for message in messages]
        response = call_with_retries(
            self.provider, lambda: self.http.post("/v1/message", json={"messages": entries})
        )
        status = response.status_code
        body = _json(response)
        body = body if isinstance(body, dict) else {}
        if status == 401:
            raise ProviderError(self.provider, "the API key was refused", status=401)
        if status == 402:
            raise ProviderError(self.provider, "the account is out of credit", status=402)
        answers = body.get("messages")
        if status in (200, 202, 207, 400) and isinstance(answers, list) and answers:
            if len(answers) != len(entries):
                raise ProviderError(
                    self.provider,
                    f"answered for {len(answers)} of {len(entries)} messages",
                    status=status,
                )
            unexplained = body.get("error") or f"HTTP {status}"
            return [self._result(answer, status, unexplained) for answer in answers]
        description, code = _describe(body.get("error") or f"HTTP {status}")
        raise ProviderError(self.provider, description, status=status, code=code)

    def _result(self, answer, status: int, unexplained) -> SmsResult:
        """One entry of the answer's `messages`."""
        answer = answer if isinstance(answer, dict) else {}
        if answer.get("accepted"):
            if not answer.get("apiMessageId"):
                return ProviderError(self.provider, "accepted without a message id", status=status)
            return SmsReceipt(self.provider, str(answer["apiMessageId"]))
        if answer.get("error"):  # 400/207: this message was refused
            description, code = _describe(answer["error"])
            return MessageRejected(self.provider, description, status=status, code=code)
        description, code = _describe(unexplained)  # neither accepted nor refused
        return ProviderError(self.provider, description, status=status, code=code)


class BulkSmsClient(SmsClient):
    """BulkSMS JSON REST v1: POST {base}/messages with HTTP Basic (token id:secret).

    `BULKSMS_BASE_URL` is the API root including its version, as the vendor documents
    it: "https://api.bulksms.com/v1". Messages go as an array of SubmissionEntry objects;
    the 201 answer is an array of Message objects, matched back to ours by
    `userSuppliedId` (else by order). BulkSMS refuses a request with one bad entry as a
    whole (400): the request is then split in halves and sent again until the refused
    message is alone (nothing of a refused request was sent).
    """

    provider = "bulksms"
    # The vendor allows 30 000 and recommends at most ~4 000; smaller requests stay well
    # inside the request timeout, and a request retried after a timeout repeats fewer.
    max_per_request = 1000

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

    @staticmethod
    def _entry(message: SmsMessage) -> dict:
        """`unicode` asks for UCS-2 (BulkSMS defaults to GSM-7 "TEXT")."""
        entry = {
            "to": message.to,
            "body": message.text,
            "encoding": "UNICODE" if message.unicode else "TEXT",
        }
        if message.client_message_id:
            entry["userSuppliedId"] = message.client_message_id[:20]
        return entry

    def _submit(self, messages: Sequence[SmsMessage]) -> list[SmsResult]:
        entries = [self._entry(message) for message in messages]
        response = call_with_retries(
            self.provider, lambda: self.http.post("/messages", json=entries)
        )
        status = response.status_code
        body = _json(response)
        if status in (200, 201):
            return self._match(entries, body, status)
        description, _ = _describe(body if body else f"HTTP {status}")
        if status == 401:
            raise ProviderError(self.provider, "the API token was refused", status=401)
        if status == 403:
            raise ProviderError(self.provider, description, status=403)
        if status == 400:
            if len(messages) == 1:
                return [MessageRejected(self.provider, description, status=400)]
            half = len(messages) // 2
            return _in_parts([messages[:half], messages[half:]], self._submit)
        raise ProviderError(self.provider, description, status=status)

    def _match(self, entries: list[dict], body, status: int) -> list[SmsResult]:
        """Our entries' receipts from the Message objects of a 201 answer."""
        answers = (
            [answer for answer in body if isinstance(answer, dict)]
            if isinstance(body, list)
            else []
        )
        ids = [entry.get("userSuppliedId") for entry in entries]
        echoed = [answer.get("userSuppliedId") for answer in answers]
        if all(ids) and len(set(ids)) == len(ids) and answers and all(echoed):
            by_id = dict(zip(echoed, answers, strict=True))
            matched = [by_id.get(supplied_id) for supplied_id in ids]
        elif len(answers) == len(entries):
            matched = answers
        else:
            raise ProviderError(
                self.provider,
                f"answered for {len(answers)} of {len(entries)} messages",
                status=status,
            )
        return [self._receipt(answer, status) for answer in matched]

    def _receipt(self, answer: dict | None, status: int) -> SmsResult:
        if answer is None:
            return ProviderError(self.provider, "the answer did not mention this message")
        if not answer.get("id"):
            return ProviderError(self.provider, "accepted without a message id", status=status)
        return SmsReceipt(self.provider, str(answer["id"]))


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


def sms_client_from_config(config=None) -> SmsClient:
    """The client of the gateway SMS_PROVIDER names; close it (or use `with`) when done.

    Raises ProviderNotConfigured when its URL or credentials are missing.
    """
    config = config if config is not None else current_app.config
    if sms_provider(config) == "bulksms":
        return BulkSmsClient.from_config(config)
    return ClickatellClient.from_config(config)
