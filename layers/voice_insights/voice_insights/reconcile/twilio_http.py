"""The twilio package's client, with 429/503 retried within Twilio's limits and an optional base URL (a stub)."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

# Twilio: a 429 is safe to retry after backing off (https://www.twilio.com/docs/usage/rest-api-best-practices).
MAX_ATTEMPTS = 8  # per request, on 429 (and 503)
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
# RFC 9110 section 10.2.3: Retry-After is delay-seconds (digits only) or an HTTP-date.
_DELAY_SECONDS = re.compile(r"\s*[0-9]{1,9}\s*")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class BaseUrlRefused(ValueError):
    """A base URL that would send the Basic credentials in clear text off this machine."""


class RetryingTwilioHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type information
    """The twilio package's HTTP client, plus: 429/503 retried with exponential backoff and jitter (honouring
    Retry-After), and optionally every request sent to ``base_url`` instead of Twilio's host (a stub on 127.0.0.1).
    Only the public ``request`` method is overridden; everything else (auth, headers, timeouts) is the package's."""

    def __init__(
        self,
        base_url: str | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
    ) -> None:
        # A logger of our own, at WARNING: the package logs requests at INFO (never credentials, but be sure).
        quiet = logging.getLogger("voice_insights.reconcile.twilio_http")
        quiet.setLevel(logging.WARNING)
        super().__init__(timeout=timeout, logger=quiet)
        self.base_url = check_base_url(base_url) if base_url else None
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.requests = 0
        self.retried = 0

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        url = self.rewrite(url)
        for attempt in range(self.max_attempts):
            self.requests += 1
            response = super().request(method, url, params, data, headers, auth, timeout, allow_redirects)
            if response.status_code not in (429, 503) or attempt == self.max_attempts - 1:
                return response
            self.retried += 1
            self.sleep(backoff_seconds(attempt, response.headers))
        raise AssertionError("unreachable")  # pragma: no cover

    def rewrite(self, url: str) -> str:
        if not self.base_url:
            return url
        target, original = urlsplit(self.base_url), urlsplit(url)
        return urlunsplit((target.scheme, target.netloc, original.path, original.query, original.fragment))


def check_base_url(base_url: str, setting: str = "--twilio-base-url") -> str:
    """The endpoint override: https anywhere, plain http only on this machine (Basic auth carries the secret)."""
    parts = urlsplit(base_url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return base_url.rstrip("/")
    raise BaseUrlRefused(f"{setting} must be https://…, or http:// on 127.0.0.1/localhost, not {base_url!r}")


def backoff_seconds(attempt: int, headers: Any, rng: random.Random | None = None) -> float:
    """Retry-After when Twilio sends a valid one (seconds or an HTTP date), else exponential with full jitter, capped.
    Anything else in Retry-After (``nan``, ``-1``, ``1e9``, text) counts as absent."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if isinstance(value, str) and _DELAY_SECONDS.fullmatch(value):
        return min(float(value), BACKOFF_CAP_S)
    if isinstance(value, str) and value.strip():
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return min(max((moment - datetime.now(UTC)).total_seconds(), 0.0), BACKOFF_CAP_S)
    return (rng or random.Random()).uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))  # noqa: S311  # nosec B311  # jitter


def retrying_client(
    username: str,
    password: str,
    account_sid: str,
    base_url: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Client:
    """A twilio Client on RetryingTwilioHttpClient: an API key and secret (username, password) with the account SID,
    or the account SID and its auth token."""
    return Client(username, password, account_sid, http_client=RetryingTwilioHttpClient(base_url, sleep=sleep))
