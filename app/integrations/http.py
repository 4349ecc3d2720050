"""Calling a provider over HTTP: timeouts, retries with backoff, and one error type.

A provider that times out, refuses the connection, rate-limits (429) or fails (5xx) is
tried again after a growing pause; when the attempts are used up the caller gets
`ProviderUnavailable` and decides (retry the outbox row later, count the service as
failed, mark the run partial). Any other answer is returned for the client to read.
"""

import functools
import logging
import ssl
import time
from collections.abc import Callable

import certifi
import httpx
from flask import current_app

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ProviderError(Exception):
    """A provider answered, but not with what we asked for (or refused the request)."""

    def __init__(self, provider: str, message: str, *, status: int | None = None, code=None):
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status
        self.code = code


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or kept failing; worth trying again later."""


class ProviderNotConfigured(ProviderError):
    """The provider's URL or credentials are not set (development without sandboxes)."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: loading the CA bundle costs ~50 ms, too much
    for every client a job opens."""
    return ssl.create_default_context(cafile=certifi.where())


def provider_client(base_url: str, **options) -> httpx.Client:
    """An HTTP client for one provider with the configured timeout (certificates verified)."""
    timeout = current_app.config["PROVIDER_TIMEOUT_SECONDS"]
    options.setdefault("verify", _tls_context())
    return httpx.Client(base_url=base_url, timeout=timeout, **options)


class ProviderClient:
    """Base of a client holding one `httpx.Client` (`self.http`): closed with the client,
    usable as a context manager."""

    http: httpx.Client

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def call_with_retries(
    provider: str,
    send: Callable[[], httpx.Response],
    *,
    attempts: int | None = None,
    backoff: float | None = None,
) -> httpx.Response:
    """`send()` until it gets an answer that is not a transient failure.

    Pauses backoff, 2×backoff, 4×backoff… between attempts. Raises `ProviderUnavailable`
    after the last attempt; returns any other response (2xx or a 4xx the caller reads).
    """
    attempts = attempts or current_app.config["PROVIDER_RETRIES"]
    backoff = current_app.config["PROVIDER_BACKOFF_SECONDS"] if backoff is None else backoff
    problem = "no attempt made"
    status = None
    for attempt in range(1, attempts + 1):
        try:
            response = send()
        except httpx.TimeoutException:
            problem, status = "timed out", None
        except httpx.TransportError as error:
            problem, status = f"unreachable ({type(error).__name__})", None
        else:
            if response.status_code not in RETRY_STATUSES:
                return response
            problem, status = f"HTTP {response.status_code}", response.status_code
        log.warning("%s: attempt %d/%d %s", provider, attempt, attempts, problem)
        if attempt < attempts:
            time.sleep(backoff * 2 ** (attempt - 1))
    raise ProviderUnavailable(provider, f"{problem} after {attempts} attempt(s)", status=status)
