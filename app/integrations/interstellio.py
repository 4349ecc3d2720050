"""Interstellio (NebularStack) client: token auth, daily usage, subscriber enable/disable.

The protocol (reference/integrations.md §2): a v3 token from the identity host, then every
call carries `X-Auth-Token`, `X-Domain`, `X-Tenant-ID` (from the token's context) and
`X-Timezone: Africa/Johannesburg`, so daily buckets are SAST calendar days. Usage comes
from the telemetry host in KB per day; a daily query may span at most 128 days, so longer
spans are asked for in windows well inside that. Subscribers are switched on and off with
`PATCH /v1/subscriber/{id}` `{"enabled": bool}` on the subscriber host.

Every call goes through `call_with_retries` (timeouts, 429/5xx retried with backoff): the
caller sees `ProviderUnavailable` when the provider kept failing, `ProviderError` when it
refused the request, `ProviderNotConfigured` when the settings are missing. The token is
cached for the client's life and fetched again once when a call answers 401.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import httpx
from flask import current_app

from app.clock import BUSINESS_TZ
from app.integrations.http import (
    ProviderError,
    ProviderNotConfigured,
    call_with_retries,
    provider_client,
)

PROVIDER = "interstellio"
TIMEZONE = "Africa/Johannesburg"
# Interstellio refuses daily queries longer than 128 days; stay well inside it.
DAILY_QUERY_LIMIT_DAYS = 128
DAILY_WINDOW_DAYS = 62
KB_PER_MB = Decimal(1024)
MB = Decimal("0.01")

SETTINGS = (
    "INTERSTELLIO_IDENTITY_URL",
    "INTERSTELLIO_SUBSCRIBER_URL",
    "INTERSTELLIO_TELEMETRY_URL",
    "INTERSTELLIO_DOMAIN",
    "INTERSTELLIO_USERNAME",
    "INTERSTELLIO_PASSWORD",
)


def kb_to_mb(kilobytes) -> Decimal:
    """KB as Interstellio counts them (1 MB = 1024 KB) to MB, half-up to 2 decimals."""
    try:
        amount = Decimal(str(kilobytes))
    except InvalidOperation:
        raise ProviderError(PROVIDER, f"usage is not a number: {kilobytes!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ProviderError(PROVIDER, f"usage must be a non-negative number: {kilobytes!r}")
    return (amount / KB_PER_MB).quantize(MB, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class DailyUsage:
    """One SAST day of a subscriber's traffic, in MB."""

    day: date
    download_mb: Decimal
    upload_mb: Decimal


def is_configured(config: Mapping | None = None) -> bool:
    """Whether every Interstellio setting is present (they are absent in development and
    tests without the sandboxes)."""
    config = current_app.config if config is None else config
    return all(config.get(name) for name in SETTINGS)


class InterstellioClient:
    """One client per job run or request: it caches its token and its connections.

    Use it as a context manager (or call `close()`) so its HTTP connections are released.
    """

    def __init__(
        self,
        *,
        identity_url: str,
        subscriber_url: str,
        telemetry_url: str,
        domain: str,
        username: str,
        password: str,
    ):
        self.urls = {
            "identity": identity_url.rstrip("/"),
            "subscriber": subscriber_url.rstrip("/"),
            "telemetry": telemetry_url.rstrip("/"),
        }
        self.domain = domain
        self._credentials = {"domain": domain, "username": username, "password": password}
        self._clients: dict[str, httpx.Client] = {}
        self._token: str | None = None
        self._tenant_id: str | None = None

    @classmethod
    def from_config(cls, config: Mapping | None = None) -> "InterstellioClient":
        """The client for the app's settings; `ProviderNotConfigured` when any is missing."""
        config = current_app.config if config is None else config
        missing = [name for name in SETTINGS if not config.get(name)]
        if missing:
            raise ProviderNotConfigured(PROVIDER, f"not configured ({', '.join(missing)})")
        return cls(
            identity_url=config["INTERSTELLIO_IDENTITY_URL"],
            subscriber_url=config["INTERSTELLIO_SUBSCRIBER_URL"],
            telemetry_url=config["INTERSTELLIO_TELEMETRY_URL"],
            domain=config["INTERSTELLIO_DOMAIN"],
            username=config["INTERSTELLIO_USERNAME"],
            password=config["INTERSTELLIO_PASSWORD"],
        )

    def __enter__(self) -> "InterstellioClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    # --- the calls ----------------------------------------------------------------------

    def daily_usage(self, subscriber_id: str, first: date, last: date) -> list[DailyUsage]:
        """The subscriber's usage for each SAST day from `first` to `last` inclusive, in
        date order; days the provider has no bucket for are absent."""
        if last < first:
            return []
        by_day: dict[date, DailyUsage] = {}
        window_start = first
        while window_start <= last:
            window_end = min(last, window_start + timedelta(days=DAILY_WINDOW_DAYS - 1))
            for usage in self._daily_window(subscriber_id, window_start, window_end):
                by_day[usage.day] = usage
            window_start = window_end + timedelta(days=1)
        return [by_day[day] for day in sorted(by_day)]

    def get_subscriber(self, subscriber_id: str) -> dict:
        """The subscriber object (`id`, `username`, `enabled`, ...)."""
        response = self._call("GET", "subscriber", f"/v1/subscriber/{subscriber_id}")
        return self._json_object(response)

    def set_enabled(self, subscriber_id: str, enabled: bool) -> dict:
        """Switch the subscriber on or off (effective at once); returns the subscriber."""
        response = self._call(
            "PATCH", "subscriber", f"/v1/subscriber/{subscriber_id}", json={"enabled": enabled}
        )
        subscriber = self._json_object(response)
        if subscriber.get("enabled") is not None and subscriber["enabled"] is not enabled:
            raise ProviderError(
                PROVIDER, f"subscriber {subscriber_id} is still enabled={subscriber['enabled']}"
            )
        return subscriber

    # --- protocol -----------------------------------------------------------------------

    def _daily_window(self, subscriber_id: str, first: date, last: date) -> list[DailyUsage]:
        # [start, end) from SAST midnight of the first day to SAST midnight after the last.
        start = datetime.combine(first, time(0, 0), tzinfo=BUSINESS_TZ)
        end = datetime.combine(last + timedelta(days=1), time(0, 0), tzinfo=BUSINESS_TZ)
        response = self._call(
            "POST",
            "telemetry",
            f"/v1/subscriber/{subscriber_id}/data/daily",
            json={"start": start.isoformat(), "end": end.isoformat()},
        )
        body = self._json(response)
        rows = body.get("payload") if isinstance(body, dict) else body
        if not isinstance(rows, list):
            raise ProviderError(PROVIDER, "usage answer has no payload list")
        usage = []
        for row in rows:
            day = self._bucket_day(row)
            # Only the days asked for: a provider bucket outside the window is ignored.
            if first <= day <= last:
                usage.append(
                    DailyUsage(
                        day=day,
                        download_mb=kb_to_mb(row.get("download_kb", 0)),
                        upload_mb=kb_to_mb(row.get("upload_kb", 0)),
                    )
                )
        return usage

    @staticmethod
    def _bucket_day(row) -> date:
        if not isinstance(row, dict) or "time" not in row:
            raise ProviderError(PROVIDER, f"usage row without a time: {row!r}")
        try:
            moment = datetime.fromisoformat(str(row["time"]).replace("Z", "+00:00"))
        except ValueError:
            raise ProviderError(PROVIDER, f"usage row with a bad time: {row['time']!r}") from None
        if moment.tzinfo is None:  # rendered in the X-Timezone we sent
            return moment.date()
        return moment.astimezone(BUSINESS_TZ).date()

    def _call(self, method: str, host: str, path: str, **kwargs) -> httpx.Response:
        """One authenticated call; a 401 fetches a new token once and tries again."""
        for fresh_token in (False, True):
            if fresh_token or self._token is None:
                self._authenticate()
            response = call_with_retries(
                PROVIDER,
                lambda: self._client(host).request(method, path, headers=self._headers(), **kwargs),
            )
            if response.status_code != 401:
                break
            self._token = None
        if response.status_code >= 400:
            raise self._error(response, f"{method} {path}")
        return response

    def _authenticate(self) -> None:
        response = call_with_retries(
            PROVIDER,
            lambda: self._client("identity").post(
                "/v3/token",
                json=self._credentials,
                headers={"Content-Type": "application/json", "X-Domain": self.domain},
            ),
        )
        if response.status_code >= 400:
            raise self._error(response, "token")
        body = self._json_object(response)
        token = body.get("token")
        if not token:
            raise ProviderError(PROVIDER, "token answer without a token")
        self._token = token
        self._tenant_id = (body.get("context") or {}).get("tenant_id")

    def _headers(self) -> dict:
        headers = {
            "X-Auth-Token": self._token or "",
            "X-Domain": self.domain,
            "X-Timezone": TIMEZONE,
            "Content-Type": "application/json",
        }
        if self._tenant_id:
            headers["X-Tenant-ID"] = self._tenant_id
        return headers

    def _client(self, host: str) -> httpx.Client:
        base_url = self.urls[host]
        if base_url not in self._clients:
            self._clients[base_url] = provider_client(base_url)
        return self._clients[base_url]

    @staticmethod
    def _json(response: httpx.Response):
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                PROVIDER, f"answer is not JSON (HTTP {response.status_code})"
            ) from None

    @classmethod
    def _json_object(cls, response: httpx.Response) -> dict:
        body = cls._json(response)
        if not isinstance(body, dict):
            raise ProviderError(PROVIDER, "answer is not a JSON object")
        return body

    @staticmethod
    def _error(response: httpx.Response, what: str) -> ProviderError:
        """`{"error": {"title", "description", "request_id"}}` as a ProviderError."""
        detail = ""
        try:
            error = response.json().get("error") or {}
            detail = error.get("description") or error.get("title") or ""
            if error.get("request_id"):
                detail += f" (request {error['request_id']})"
        except (ValueError, AttributeError):
            pass
        message = f"{what}: HTTP {response.status_code}" + (f" {detail}" if detail else "")
        return ProviderError(PROVIDER, message, status=response.status_code)
