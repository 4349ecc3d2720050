"""Interstellio sandbox: identity, subscriber and telemetry hosts on one WSGI app.

Speaks the protocol our client uses (reference/integrations.md §2): `POST /v3/token`,
`GET|PATCH /v1/subscriber/<id>`, `GET /v1/subscribers` (pages of at most 50),
`POST /v1/subscriber/<id>/data/daily` (at most 128 days, KB per day, buckets rendered in
the `X-Timezone` asked for). Every call but the token needs a token it issued. Errors
answer `{"error": {"title", "description", "request_id"}}`.

Any well-formed subscriber id is known on first sight (enabled) and has deterministic
synthetic daily usage, seeded by its id and the date: most subscribers are light or medium
users, a share are heavy users who cross 80 % and 95 % of a 500 GB cap within a cycle.
There is never usage after the business date (`context.today()`).

Tests and the demo steer it with `set_usage`, `stop_feed`, `fail_next`,
`fail_subscriber`, `delay_next`, `expire_tokens`; `subscribers[id]["enabled"]` shows
what it was told; `calls` lists the requests it answered.
"""

import hashlib
import json
import random
import re
import threading
import time as wall_time
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from app import clock
from app.integrations.sandbox import SandboxContext

TENANT_ID = "6a7c1f0e-5b1d-4c7e-9a51-000000c1c7e1"
MAX_DAILY_DAYS = 128
MAX_PAGE_SIZE = 50
SUBSCRIBER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
AGGREGATIONS = ("hourly", "daily", "weekly", "monthly", "yearly")
KB_PER_GB = 1024 * 1024

# Synthetic users: (share of subscribers, GB per day low..high).
USAGE_PROFILES = (
    ("light", 0.50, (0.2, 3.0)),
    ("medium", 0.30, (2.0, 9.0)),
    ("heavy", 0.20, (14.0, 32.0)),
)
OFFLINE_DAY_CHANCE = 0.03


class SandboxError(HTTPException):
    """An error answered in Interstellio's shape."""

    def __init__(self, status: int, title: str, description: str):
        super().__init__(description)
        self.code = status
        self.title = title

    def get_response(self, environ=None, scope=None):
        return _json_response(
            {
                "error": {
                    "title": self.title,
                    "description": self.description,
                    "request_id": uuid.uuid4().hex,
                }
            },
            self.code,
        )


def _json_response(body, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def usage_profile(subscriber_id: str) -> str:
    """Which kind of user a subscriber is (stable for its id)."""
    share = _seed(subscriber_id, "profile") / 2**64
    for name, weight, _ in USAGE_PROFILES:
        if share < weight:
            return name
        share -= weight
    return USAGE_PROFILES[-1][0]


def synthetic_usage_kb(subscriber_id: str, day: date) -> tuple[int, int]:
    """(download_kb, upload_kb) of a subscriber on a day: the same every time it is asked."""
    rng = random.Random(_seed(subscriber_id, day.isoformat()))
    if rng.random() < OFFLINE_DAY_CHANCE:
        return 0, 0
    low, high = next(gb for name, _, gb in USAGE_PROFILES if name == usage_profile(subscriber_id))
    total_kb = int(rng.uniform(low, high) * KB_PER_GB)
    upload_kb = int(total_kb * rng.uniform(0.05, 0.15))
    return total_kb - upload_kb, upload_kb


def _seed(subscriber_id: str, salt: str) -> int:
    digest = hashlib.sha256(f"{subscriber_id}|{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class InterstellioSandbox:
    """The Interstellio hosts for `make run`, `flask billing simulate` and the tests."""

    def __init__(self, context: SandboxContext):
        self.context = context
        self._lock = threading.RLock()
        self.url_map = Map(
            [
                Rule("/v3/token", endpoint="token", methods=["POST"]),
                Rule("/v1/subscribers", endpoint="list_subscribers", methods=["GET"]),
                Rule("/v1/subscriber/<subscriber_id>", endpoint="subscriber_get", methods=["GET"]),
                Rule(
                    "/v1/subscriber/<subscriber_id>",
                    endpoint="update_subscriber",
                    methods=["PATCH"],
                ),
                Rule(
                    "/v1/subscriber/<subscriber_id>/data/<aggregation>",
                    endpoint="usage",
                    methods=["POST"],
                ),
            ]
        )
        self._clear()
        self._load()

    # --- the launcher contract ----------------------------------------------------------

    def config(self, base_url: str) -> dict:
        return {
            "INTERSTELLIO_IDENTITY_URL": base_url,
            "INTERSTELLIO_SUBSCRIBER_URL": base_url,
            "INTERSTELLIO_TELEMETRY_URL": base_url,
        }

    def reset(self) -> None:
        """Forget subscribers, tokens, usage set by hand and every failure asked for."""
        with self._lock:
            self._clear()
            self._save()

    def _clear(self) -> None:
        self.subscribers: dict[str, dict] = {}
        self.tokens: set[str] = set()
        self.usage_overrides: dict[tuple[str, str], tuple[int, int]] = {}
        self.feed_stopped: dict[str, date] = {}
        self.calls: list[dict] = []
        self._fail_next: list[int] = []
        self._failing_subscribers: dict[str, int] = {}
        self._delays: list[float] = []

    # --- steering (tests, demo) ---------------------------------------------------------

    def set_usage(self, subscriber_id: str, day: date, download_kb: int, upload_kb: int) -> None:
        """Fix a subscriber's usage for one day (replaces the synthetic figures)."""
        with self._lock:
            self._subscriber(subscriber_id)
            self.usage_overrides[(subscriber_id, day.isoformat())] = (
                int(download_kb),
                int(upload_kb),
            )
            self._save()

    def stop_feed(self, subscriber_id: str, since: date | None) -> None:
        """No usage buckets from `since` on (a stalled accounting feed); None resumes it."""
        with self._lock:
            if since is None:
                self.feed_stopped.pop(subscriber_id, None)
            else:
                self.feed_stopped[subscriber_id] = since
            self._save()

    def fail_next(self, count: int, status: int = 500) -> None:
        """The next `count` requests (any path) answer `status`."""
        with self._lock:
            self._fail_next.extend([status] * count)

    def fail_subscriber(self, subscriber_id: str, status: int | None = 500) -> None:
        """Every request about this subscriber answers `status` until called with None."""
        with self._lock:
            if status is None:
                self._failing_subscribers.pop(subscriber_id, None)
            else:
                self._failing_subscribers[subscriber_id] = status

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """The next `count` requests wait `seconds` before answering (client timeouts)."""
        with self._lock:
            self._delays.extend([seconds] * count)

    def clear_failures(self) -> None:
        """Forget the failures and delays asked for (the provider is healthy again)."""
        with self._lock:
            self._fail_next.clear()
            self._failing_subscribers.clear()
            self._delays.clear()

    def expire_tokens(self) -> None:
        """Every token issued so far answers 401 from now on."""
        with self._lock:
            self.tokens.clear()
            self._save()

    def usage_kb(self, subscriber_id: str, day: date) -> tuple[int, int]:
        """What the sandbox reports for a subscriber's day (set by hand, or synthetic)."""
        override = self.usage_overrides.get((subscriber_id, day.isoformat()))
        return override if override is not None else synthetic_usage_kb(subscriber_id, day)

    # --- WSGI ---------------------------------------------------------------------------

    def wsgi_app(self, environ, start_response):
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except HTTPException as error:
            response = (
                error.get_response()
                if isinstance(error, SandboxError)
                else SandboxError(error.code or 500, error.name, error.description).get_response()
            )
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        endpoint, values = adapter.match()
        with self._lock:
            self.calls.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "headers": {
                        name: request.headers.get(name)
                        for name in (
                            "X-Auth-Token",
                            "X-Domain",
                            "X-Tenant-ID",
                            "X-Timezone",
                            "Content-Type",
                        )
                    },
                    "json": _json_or_none(request),
                }
            )
            delay = self._delays.pop(0) if self._delays else 0
            forced = self._fail_next.pop(0) if self._fail_next else None
            failing = self._failing_subscribers.get(values.get("subscriber_id", ""))
        if delay:
            wall_time.sleep(delay)
        if forced is not None:
            raise SandboxError(forced, "Sandbox failure", "failure asked for by fail_next")
        if endpoint != "token":
            self._require_token(request)
        if failing is not None:
            raise SandboxError(failing, "Sandbox failure", "failure asked for by fail_subscriber")
        return getattr(self, f"_{endpoint}")(request, **values)

    def _require_token(self, request: Request) -> None:
        token = request.headers.get("X-Auth-Token")
        if not token or token not in self.tokens:
            raise SandboxError(401, "Unauthorized", "Missing or expired X-Auth-Token")
        tenant = request.headers.get("X-Tenant-ID")
        if tenant and tenant != TENANT_ID:
            raise SandboxError(403, "Forbidden", f"No access to tenant {tenant}")

    @staticmethod
    def _body(request: Request) -> dict:
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            raise SandboxError(400, "Bad Request", "Body is not JSON") from None
        if not isinstance(body, dict):
            raise SandboxError(400, "Bad Request", "Body must be a JSON object")
        return body

    # --- identity -----------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        body = self._body(request)
        credentials = self.context.credentials
        expected = (
            credentials["INTERSTELLIO_DOMAIN"],
            credentials["INTERSTELLIO_USERNAME"],
            credentials["INTERSTELLIO_PASSWORD"],
        )
        if (body.get("domain"), body.get("username"), body.get("password")) != expected:
            raise SandboxError(401, "Unauthorized", "Invalid credentials")
        token = uuid.uuid4().hex
        with self._lock:
            self.tokens.add(token)
            self._save()
        return _json_response(
            {
                "token": token,
                "token_id": uuid.uuid4().hex,
                "domain": body["domain"],
                "name": body["username"],
                "username": body["username"],
                "roles": ["Administrator"],
                "creation_time": clock.now().isoformat(),
                "token_app": None,
                "context": {"domain": body["domain"], "tenant_id": TENANT_ID},
            },
            201,
        )

    # --- subscribers --------------------------------------------------------------------

    def _subscriber(self, subscriber_id: str) -> dict:
        """The subscriber, created on first sight (caller holds the lock)."""
        if not SUBSCRIBER_ID.match(subscriber_id):
            raise NotFound(f"No subscriber {subscriber_id}")
        if subscriber_id not in self.subscribers:
            now = clock.now().isoformat()
            self.subscribers[subscriber_id] = {
                "id": subscriber_id,
                "username": subscriber_id,
                "name": subscriber_id,
                "domain": self.context.credentials["INTERSTELLIO_DOMAIN"],
                "tenant_id": TENANT_ID,
                "virtual_id": "sandbox-virtual",
                "service_id": "sandbox-service",
                "profile_id": f"sandbox-{usage_profile(subscriber_id)}",
                "enabled": True,
                "uncapped_data": True,
                "calling_station_id": None,
                "static_ip4": None,
                "timezone": "Africa/Johannesburg",
                "expire": None,
                "creation_time": now,
                "updated_time": now,
                "last_seen": None,
            }
            self._save()
        return self.subscribers[subscriber_id]

    def _subscriber_get(self, request: Request, subscriber_id: str) -> Response:
        with self._lock:
            subscriber = dict(self._subscriber(subscriber_id))
        return _json_response(subscriber)

    def _update_subscriber(self, request: Request, subscriber_id: str) -> Response:
        body = self._body(request)
        if "enabled" in body and not isinstance(body["enabled"], bool):
            raise SandboxError(400, "Bad Request", "enabled must be true or false")
        changeable = {"enabled", "name", "profile_id", "expire", "calling_station_id"}
        unknown = set(body) - changeable
        if unknown:
            raise SandboxError(400, "Bad Request", f"Cannot change {', '.join(sorted(unknown))}")
        with self._lock:
            subscriber = self._subscriber(subscriber_id)
            subscriber.update(body)
            subscriber["updated_time"] = clock.now().isoformat()
            result = dict(subscriber)
            self._save()
        return _json_response(result)

    def _list_subscribers(self, request: Request) -> Response:
        try:
            page_size = int(request.args.get("l", 10))
            page = int(request.args.get("p", 1))
        except ValueError:
            raise SandboxError(400, "Bad Request", "l and p must be integers") from None
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise SandboxError(400, "Bad Request", f"l must be between 1 and {MAX_PAGE_SIZE}")
        if page < 1:
            raise SandboxError(400, "Bad Request", "p must be 1 or more")
        with self._lock:
            rows = sorted(self.subscribers.values(), key=lambda row: row["id"])
        for name in ("id", "username"):
            wanted = request.args.get(name)
            if wanted:
                rows = [row for row in rows if _matches(row[name], wanted)]
        pages = max(1, -(-len(rows) // page_size))
        chunk = rows[(page - 1) * page_size : page * page_size]
        return _json_response(
            {
                "payload": chunk,
                "metadata": {
                    "records": len(rows),
                    "page": page,
                    "pages": pages,
                    "per_page": page_size,
                },
            }
        )

    # --- telemetry ----------------------------------------------------------------------

    def _usage(self, request: Request, subscriber_id: str, aggregation: str) -> Response:
        if aggregation not in AGGREGATIONS:
            raise NotFound(f"No aggregation {aggregation}")
        if aggregation != "daily":
            raise SandboxError(400, "Bad Request", "The sandbox answers daily aggregation only")
        zone = _zone(request.headers.get("X-Timezone"))
        body = self._body(request)
        start = _instant(body, "start", zone)
        end = _instant(body, "end", zone)
        if end <= start:
            raise SandboxError(400, "Bad Request", "end must be after start")
        if end - start > timedelta(days=MAX_DAILY_DAYS):
            raise SandboxError(
                400, "Bad Request", f"daily queries may span at most {MAX_DAILY_DAYS} days"
            )
        today = self.context.today()
        with self._lock:
            self._subscriber(subscriber_id)
            stopped = self.feed_stopped.get(subscriber_id)
        buckets = []
        day = start.astimezone(zone).date()
        while True:
            bucket_start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
            if bucket_start >= end or day > today:
                break
            if bucket_start >= start and (stopped is None or day < stopped):
                download_kb, upload_kb = self.usage_kb(subscriber_id, day)
                buckets.append(
                    {
                        "time": bucket_start.isoformat(),
                        "download_kb": download_kb,
                        "upload_kb": upload_kb,
                        "combined_kb": download_kb + upload_kb,
                        "download_kbps": round(download_kb * 8 / 86400, 3),
                        "upload_kbps": round(upload_kb * 8 / 86400, 3),
                    }
                )
            day += timedelta(days=1)
        return _json_response({"payload": buckets, "metadata": {"records": len(buckets)}})

    # --- state across restarts (make run) -----------------------------------------------

    def _load(self) -> None:
        path = self.context.state_file("interstellio")
        if path is None or not path.exists():
            return
        state = json.loads(path.read_text())
        self.subscribers = state.get("subscribers", {})
        self.tokens = set(state.get("tokens", []))
        self.usage_overrides = {
            tuple(key.split("|", 1)): tuple(value)
            for key, value in state.get("usage_overrides", {}).items()
        }
        self.feed_stopped = {
            key: date.fromisoformat(value) for key, value in state.get("feed_stopped", {}).items()
        }

    def _save(self) -> None:
        """Write the state file when there is one (caller holds the lock)."""
        path = self.context.state_file("interstellio")
        if path is None:
            return
        state = {
            "subscribers": self.subscribers,
            "tokens": sorted(self.tokens),
            "usage_overrides": {
                f"{subscriber}|{day}": list(value)
                for (subscriber, day), value in self.usage_overrides.items()
            },
            "feed_stopped": {key: value.isoformat() for key, value in self.feed_stopped.items()},
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(path)


def _json_or_none(request: Request):
    try:
        return json.loads(request.get_data(as_text=True)) if request.content_length else None
    except ValueError:
        return None


def _matches(value: str, wanted: str) -> bool:
    """Interstellio filters: exact, or a prefix with a trailing `*`."""
    if wanted.endswith("*"):
        return value.startswith(wanted[:-1])
    return value == wanted


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise SandboxError(400, "Bad Request", f"Unknown time zone {name!r}") from None


def _instant(body: dict, key: str, zone: ZoneInfo) -> datetime:
    value = body.get(key)
    if not isinstance(value, str):
        raise SandboxError(400, "Bad Request", f"{key} is required (ISO-8601)")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SandboxError(400, "Bad Request", f"{key} is not ISO-8601: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
