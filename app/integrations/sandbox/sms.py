"""SMS gateway sandboxes: Clickatell One API and BulkSMS JSON REST v1 (integrations.md §3).

Each accepts messages the way its gateway does, one or many per request (Clickatell: the
raw API key in `Authorization`, numbers as digits only, up to 200 `messages`, answered 202
when all are accepted, 207 when some are, 400 when none is; BulkSMS: HTTP Basic with the
token id and secret, E.164 numbers, one SubmissionEntry or an array of them, refused as a
whole (400) when one is bad, else answered 201 with an array of Message objects), records
each message in `messages` and each send request in `requests` (`{"path", "messages"
(how many it carried), "status"}`), and a moment later posts, for each message, the
delivery callback the gateway would post to our webhook:
- Clickatell: `{"integrationId", "integrationName", "event": {"messageStatusUpdate":
  [{"channel", "timestamp" (ms), "statusCode", "status", "messageId", "clientMessageId"}]}}`
  to `{app}/api/webhooks/sms/clickatell?secret=…` (DEVICE_ACK, or DELIVERY_FAILURE);
- BulkSMS: an array of Message objects to `{app}/api/webhooks/sms/bulksms?secret=…`
  (status DELIVERED, or FAILED with subtype HANDSET_ERROR).

Callbacks go from a background thread `callback_delay` seconds after the send (None: only
when asked); `deliver_pending()` sends the waiting ones at once and returns when they are
answered. Tests steer the gateways with `fail_next(n, status=503)` and
`set_delivery_failure(number)`; `callbacks` lists what was posted and the answers.
`GET /sandbox/messages` shows what was sent (for a `make run` user).
"""

import functools
import json
import logging
import re
import ssl
import threading
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC

import httpx
from werkzeug.datastructures import Authorization
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from app import clock
from app.integrations.sandbox import SandboxContext

log = logging.getLogger(__name__)

DEFAULT_CALLBACK_DELAY = 0.5  # seconds between a send and its delivery callback
CALLBACK_ATTEMPTS = 3
KEPT_MESSAGES = 500  # what a state file keeps across restarts
INTERNATIONAL_DIGITS = re.compile(r"^[1-9][0-9]{7,14}$")  # E.164 without the "+"
MAX_BULKSMS_ENTRIES = 30_000  # per request (integrations.md §3.3)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying context for every callback: building one per client (httpx's
    default) costs ~50 ms, more than the callback itself."""
    return ssl.create_default_context()


def _json_response(body, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


@dataclass
class _Callback:
    url: str
    payload: object
    due: float  # time.monotonic() when it may go


@dataclass
class _Gateway:
    """What a test told the gateway to do."""

    failures: list[int] = field(default_factory=list)  # statuses for the next requests
    failing_numbers: set[str] = field(default_factory=set)  # digits only


class _SmsGatewaySandbox(ABC):
    """Shared machinery: recording, failure injection and the callback sender."""

    name = "sms"
    webhook_path = ""

    def __init__(
        self, context: SandboxContext, *, callback_delay: float | None = DEFAULT_CALLBACK_DELAY
    ):
        self.context = context
        self.default_callback_delay = callback_delay
        self.callback_delay: float | None = self.default_callback_delay
        self._lock = threading.RLock()
        self._settled = threading.Condition(self._lock)
        self._pending: list[_Callback] = []
        self._in_flight = 0
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.gateway = _Gateway()
        self.messages: list[dict] = self._load_state()
        self.requests: list[dict] = []
        self.callbacks: list[dict] = []
        self.url_map = Map(self.rules() + [Rule("/sandbox/messages", endpoint="list_messages")])

    # --- the app settings and test controls -----------------------------------------

    @abstractmethod
    def rules(self) -> list[Rule]:
        """The gateway's routes (its send endpoint and whatever else it serves)."""

    def reset(self) -> None:
        """Forget messages, callbacks and instructions (between tests)."""
        with self._lock:
            self.messages.clear()
            self.requests.clear()
            self.callbacks.clear()
            self._pending.clear()
            self.gateway = _Gateway()
            self.callback_delay = self.default_callback_delay
        self._save_state()

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next `count` send requests with HTTP `status`."""
        with self._lock:
            self.gateway.failures.extend([status] * count)

    def set_delivery_failure(self, number: str) -> None:
        """Report messages to `number` (any format) as not delivered."""
        with self._lock:
            self.gateway.failing_numbers.add(re.sub(r"\D", "", number))

    def deliver_pending(self, timeout: float = 10.0) -> int:
        """Post every waiting callback now; returns when all are answered (their count)."""
        with self._lock:
            due, self._pending = self._pending, []
            self._in_flight += len(due)
        for callback in due:
            self._post(callback)
        with self._settled:
            self._settled.wait_for(lambda: self._in_flight == 0, timeout=timeout)
        return len(due)

    def stop(self) -> None:
        self._stop.set()

    # --- WSGI ---------------------------------------------------------------------------

    @Request.application
    def wsgi_app(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
            if endpoint == "list_messages":
                with self._lock:
                    return _json_response(list(self.messages))
            with self._lock:
                injected = self.gateway.failures.pop(0) if self.gateway.failures else None
            if injected is not None:
                response = self.error_response(injected, "Injected failure (sandbox)")
            else:
                response = getattr(self, endpoint)(request, **values)
            self._log_request(request, response)
            return response
        except NotFound:
            return self.error_response(404, "Not found")
        except HTTPException as error:
            return self.error_response(error.code or 500, error.description or "error")

    @abstractmethod
    def error_response(self, status: int, description: str) -> Response:
        """An error in the gateway's own error format."""

    @abstractmethod
    def message_count(self, body) -> int:
        """How many messages a send request's JSON body carries."""

    # --- recording and callbacks --------------------------------------------------------

    def _log_request(self, request: Request, response: Response) -> None:
        count = self.message_count(request.get_json(silent=True))
        with self._lock:
            self.requests.append(
                {"path": request.path, "messages": count, "status": response.status_code}
            )

    def _record(self, message: dict) -> None:
        """Keep a sent message (the state file is written once per request)."""
        with self._lock:
            self.messages.append(message)

    def _schedule(self, payload) -> None:
        url = (
            f"{self.context.app_base_url}{self.webhook_path}"
            f"?secret={self.context.credentials.get('SMS_CALLBACK_SECRET', '')}"
        )
        with self._lock:
            delay = self.callback_delay
            due = time.monotonic() + (delay if delay is not None else float("inf"))
            self._pending.append(_Callback(url, payload, due))
            if delay is not None and self._worker is None:
                self._worker = threading.Thread(
                    target=self._run_callbacks, name=f"{self.name}-callbacks", daemon=True
                )
                self._worker.start()

    def _run_callbacks(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            with self._lock:
                due = [callback for callback in self._pending if callback.due <= now]
                self._pending = [callback for callback in self._pending if callback.due > now]
                self._in_flight += len(due)
            for callback in due:
                self._post(callback)

    def _post(self, callback: _Callback) -> None:
        """Post one callback, retried like the gateways do (any 2xx acknowledges)."""
        status = None
        try:
            for attempt in range(CALLBACK_ATTEMPTS):
                try:
                    with httpx.Client(timeout=10, verify=_tls_context()) as client:
                        status = client.post(callback.url, json=callback.payload).status_code
                except httpx.HTTPError as error:
                    status = f"{type(error).__name__}"
                if isinstance(status, int) and 200 <= status < 300:
                    break
                if attempt + 1 < CALLBACK_ATTEMPTS:
                    time.sleep(0.2)
            with self._lock:
                self.callbacks.append(
                    {"url": callback.url, "payload": callback.payload, "status": status}
                )
        except Exception:  # the sender thread must never die (nor fail a test run)
            log.exception("%s sandbox: callback to %s failed", self.name, callback.url)
        finally:
            with self._settled:
                self._in_flight -= 1
                self._settled.notify_all()

    # --- state for `make run` -----------------------------------------------------------

    def _load_state(self) -> list[dict]:
        path = self.context.state_file(self.name)
        if path is None or not path.exists():
            return []
        try:
            return list(json.loads(path.read_text()).get("messages", []))
        except (OSError, ValueError):
            return []

    def _save_state(self) -> None:
        path = self.context.state_file(self.name)
        if path is None:
            return
        with self._lock:
            kept = self.messages[-KEPT_MESSAGES:]
        path.write_text(json.dumps({"messages": kept}, indent=1))

    def _fails_delivery(self, number: str) -> bool:
        with self._lock:
            return re.sub(r"\D", "", number) in self.gateway.failing_numbers


def _now_iso() -> str:
    return clock.now().astimezone(UTC).isoformat()


class ClickatellSandbox(_SmsGatewaySandbox):
    """Clickatell One API: `POST /v1/message` and `messageStatusUpdate` callbacks."""

    name = "clickatell"
    webhook_path = "/api/webhooks/sms/clickatell"
    integration_id = "c1c7e1a7-5a0d-4b0c-8e11-00000000c1a7"

    def config(self, base_url: str) -> dict:
        return {"CLICKATELL_BASE_URL": base_url}

    def rules(self) -> list[Rule]:
        return [Rule("/v1/message", endpoint="send_messages", methods=["POST"])]

    def error_response(self, status: int, description: str) -> Response:
        return _json_response(
            {"messages": [], "error": {"code": status, "description": description}}, status
        )

    def message_count(self, body) -> int:
        messages = body.get("messages") if isinstance(body, dict) else None
        return len(messages) if isinstance(messages, list) else 0

    def send_messages(self, request: Request) -> Response:
        if request.headers.get("Authorization") != self.context.credentials["CLICKATELL_API_KEY"]:
            return self.error_response(401, "Invalid or missing Integration API Key")
        body = request.get_json(silent=True)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not 1 <= len(messages) <= 200:
            return self.error_response(400, "Expected 1 to 200 messages")
        answers = [self._accept(message) for message in messages]
        self._save_state()
        accepted = sum(answer["accepted"] for answer in answers)
        status = 202 if accepted == len(answers) else 400 if accepted == 0 else 207
        return _json_response({"messages": answers, "error": None}, status)

    def _accept(self, message) -> dict:
        message = message if isinstance(message, dict) else {}
        to = str(message.get("to") or "")
        content = message.get("content")
        problem = None
        if message.get("channel", "sms") != "sms":
            problem = (101, "Unsupported channel")
        elif not INTERNATIONAL_DIGITS.match(to):
            problem = (105, f"Invalid destination address {to!r}: digits only, e.g. 27821234567")
        elif not isinstance(content, str) or not content:
            problem = (113, "Empty message content")
        if problem:
            code, description = problem
            return {
                "apiMessageId": None,
                "accepted": False,
                "to": to,
                "error": {"code": code, "description": description},
            }
        api_message_id = uuid.uuid4().hex
        client_message_id = message.get("clientMessageId")
        self._record(
            {
                "apiMessageId": api_message_id,
                "to": to,
                "content": content,
                "clientMessageId": client_message_id,
                "received_at": _now_iso(),
            }
        )
        failed = self._fails_delivery(to)
        self._schedule(
            {
                "integrationId": self.integration_id,
                "integrationName": "ISP Console sandbox",
                "event": {
                    "messageStatusUpdate": [
                        {
                            "channel": "sms",
                            "timestamp": int(clock.now().timestamp() * 1000),
                            "statusCode": 23 if failed else 5,
                            "status": "DELIVERY_FAILURE" if failed else "DEVICE_ACK",
                            "messageId": api_message_id,
                            "clientMessageId": client_message_id,
                        }
                    ]
                },
            }
        )
        return {"apiMessageId": api_message_id, "accepted": True, "to": to, "error": None}


class BulkSmsSandbox(_SmsGatewaySandbox):
    """BulkSMS JSON REST v1: `POST /v1/messages` and Message-array delivery reports."""

    name = "bulksms"
    webhook_path = "/api/webhooks/sms/bulksms"

    def config(self, base_url: str) -> dict:
        # The vendor's documented base includes the version: https://api.bulksms.com/v1
        return {"BULKSMS_BASE_URL": f"{base_url}/v1"}

    def rules(self) -> list[Rule]:
        return [Rule("/v1/messages", endpoint="send_messages", methods=["POST"])]

    def error_response(self, status: int, description: str) -> Response:
        titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
        return _json_response(
            {
                "type": "https://developer.bulksms.com/json/v1/errors#sandbox",
                "title": titles.get(status, "Error"),
                "status": status,
                "detail": description,
            },
            status,
        )

    def _authorised(self, authorization: Authorization | None) -> bool:
        credentials = self.context.credentials
        return (
            authorization is not None
            and authorization.type == "basic"
            and authorization.username == credentials["BULKSMS_TOKEN_ID"]
            and authorization.password == credentials["BULKSMS_TOKEN_SECRET"]
        )

    def message_count(self, body) -> int:
        if isinstance(body, list):
            return len(body)
        return 1 if isinstance(body, dict) else 0

    def send_messages(self, request: Request) -> Response:
        """One SubmissionEntry or an array; one bad entry refuses the whole request."""
        if not self._authorised(request.authorization):
            return self.error_response(401, "Invalid credentials")
        body = request.get_json(silent=True)
        entries = body if isinstance(body, list) else [body]
        if not entries:
            return self.error_response(400, "No messages to send")
        if len(entries) > MAX_BULKSMS_ENTRIES:
            return self.error_response(400, f"At most {MAX_BULKSMS_ENTRIES} messages per request")
        accepted = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("body"), str):
                return self.error_response(400, f"Entry {index}: needs a 'to' and a 'body'")
            recipients = entry.get("to")
            recipients = recipients if isinstance(recipients, list) else [recipients]
            for to in recipients:
                if not isinstance(to, str) or not INTERNATIONAL_DIGITS.match(to.removeprefix("+")):
                    return self.error_response(
                        400, f"Entry {index}: Invalid destination address {to!r}"
                    )
            if entry.get("encoding", "TEXT") not in ("TEXT", "UNICODE", "BINARY"):
                return self.error_response(
                    400, f"Entry {index}: encoding must be TEXT, UNICODE or BINARY"
                )
            accepted.extend((entry, to) for to in recipients)
        sent = [self._accept(entry, to) for entry, to in accepted]
        self._save_state()
        return _json_response(sent, 201)

    def _accept(self, entry: dict, to: str) -> dict:
        text = entry["body"]
        encoding = entry.get("encoding", "TEXT")
        per_part = 67 if encoding == "UNICODE" else 153
        single = 70 if encoding == "UNICODE" else 160
        parts = 1 if len(text) <= single else -(-len(text) // per_part)
        message = {
            "id": str(uuid.uuid4().int % 10**12),
            "type": "SENT",
            "from": None,
            "to": to if to.startswith("+") else f"+{to}",
            "body": text,
            "encoding": encoding,
            "protocolId": 0,
            "messageClass": 2,
            "numberOfParts": parts,
            "creditCost": parts,
            "submission": {"id": uuid.uuid4().hex[:12], "date": _now_iso()},
            "status": {"id": "ACCEPTED.null", "type": "ACCEPTED", "subtype": None},
            "relatedSentMessageId": None,
            "userSuppliedId": entry.get("userSuppliedId"),
        }
        self._record(dict(message))
        failed = self._fails_delivery(to)
        report = dict(message)
        report["status"] = (
            {"id": "FAILED.HANDSET_ERROR", "type": "FAILED", "subtype": "HANDSET_ERROR"}
            if failed
            else {"id": "DELIVERED.null", "type": "DELIVERED", "subtype": None}
        )
        self._schedule([report])
        return message
