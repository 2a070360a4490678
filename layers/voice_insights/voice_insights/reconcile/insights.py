"""Reading Twilio's Conference Insights REST API (``GET /v1/Conferences`` and ``…/{sid}/Participants``) as events.

The raw JSON of the REST resources, read with the twilio client (``Client.request``): the typed instances would turn
Twilio's timestamps into datetimes and hide unknown fields, and the events carry Twilio's text. Each resource is
mapped to the event the stream delivers (voice_insights.domain.backfill).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from twilio.base.exceptions import TwilioException
from twilio.base.page import Page
from twilio.rest import Client

from voice_insights.domain.backfill import conference_event, participant_event

PAGE_SIZE = 50  # Twilio's default page size; at most 1000
MAX_PAGES = 100_000  # per listing: at PAGE_SIZE 50, five million conferences; a server that never ends is stopped
MAX_SECONDS = 6 * 3600.0  # per run: Twilio keeps 30 days, which reads in well under this at its rate limits


@dataclass(frozen=True)
class ConferencePage:
    url: str  # the page's own URL: where a resumed run starts again
    conferences: list[dict[str, Any]]
    next_url: str | None


class PagingStopped(TwilioException):  # type: ignore[misc]  # twilio ships no type information
    """A listing was stopped before its end: a next page on another host or scheme, a page already read, or more
    pages or time than the bounds allow. What was read before is stored, and the checkpoint names where it stopped."""


class TimeBudgetSpent(PagingStopped):
    """The run's time is up (``max_seconds``, or a wait for Twilio that would pass it): the rest is for the next run."""


class InsightsReader:
    """``meta.next_page_url`` is the server's word: it is followed only on the scheme and host the listing started on
    (the requests carry the account's credentials), never to a page already read, and within ``max_pages`` pages
    and ``max_seconds`` per run."""

    def __init__(
        self,
        client: Client,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
        max_seconds: float = MAX_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.page_size = page_size
        self.max_pages = max_pages
        self.clock = clock
        self.deadline = clock() + max_seconds
        self.calls = 0

    @property
    def base(self) -> str:
        return f"{self.client.insights.base_url}/v1"

    def first_url_and_params(self, since: str, until: str | None, account: str | None) -> tuple[str, dict[str, object]]:
        params: dict[str, object] = {"CreatedAfter": since, "PageSize": self.page_size}
        if until:
            params["CreatedBefore"] = until
        if account:
            params["Subaccount"] = account
        return f"{self.base}/Conferences", params

    def pages(
        self, since: str, until: str | None, account: str | None, start_url: str | None = None
    ) -> Iterator[ConferencePage]:
        url, params = self.first_url_and_params(since, until, account)
        current: str | None = self._checked(start_url) if start_url else url
        first, read = start_url is None, set[str]()
        while current:
            self._within_bounds(current, read)
            payload = self._get(current, params if first else None)
            own = str(payload.get("meta", {}).get("url") or current)
            next_url = self._next(payload)
            yield ConferencePage(own, _records(payload, "conferences"), next_url)
            current, first = next_url, False

    def participants(self, conference_sid: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        url: str | None = f"{self.base}/Conferences/{conference_sid}/Participants"
        params: dict[str, object] | None = {"PageSize": self.page_size}
        read: set[str] = set()
        while url:
            self._within_bounds(url, read)
            payload = self._get(url, params)
            found += _records(payload, "participants")
            url, params = self._next(payload), None
        return found

    def _next(self, payload: dict[str, Any]) -> str | None:
        next_url = payload.get("meta", {}).get("next_page_url")
        return self._checked(str(next_url)) if next_url else None

    def _checked(self, url: str) -> str:
        """``url`` when it is on the listing's own scheme and host; otherwise the listing stops, nothing sent there."""
        expected, given = urlsplit(self.base), urlsplit(url)
        if (given.scheme, given.netloc.lower()) != (expected.scheme, expected.netloc.lower()):
            raise PagingStopped(
                f"Twilio's next page is on {given.scheme}://{given.hostname or '?'}, not on "
                f"{expected.scheme}://{expected.hostname}: stopped there (no request sent, credentials kept)"
            )
        return url

    def _within_bounds(self, url: str, read: set[str]) -> None:
        if url in read:
            raise PagingStopped(f"Twilio's next page {urlsplit(url).path}?… was read already: stopped (a page loop)")
        if len(read) >= self.max_pages:
            raise PagingStopped(f"more than {self.max_pages} pages in one listing: stopped (--max-pages)")
        if self.clock() > self.deadline:
            raise TimeBudgetSpent("the run took longer than --max-seconds: stopped; run again with --resume")
        read.add(url)

    def _get(self, url: str, params: dict[str, object] | None) -> dict[str, Any]:
        self.calls += 1
        response = self.client.request("GET", url, params=params)
        if response.status_code != 200:
            raise TwilioException(
                f"Twilio answered {response.status_code} for GET {urlsplit(url).path}: {response.text[:300]}"
            )
        payload: dict[str, Any] = Page.process_response(response)
        return payload


def _records(payload: dict[str, Any], default_key: str) -> list[dict[str, Any]]:
    key = payload.get("meta", {}).get("key") or default_key
    records: list[dict[str, Any]] = payload.get(key) or []
    return records


def events_of(reader: InsightsReader, conference: dict[str, Any], alerts: bool) -> list[dict[str, Any]]:
    """The conference's event and its participants' events, as the stream would deliver them."""
    events = [conference_event(conference, alerts)]
    sid = conference.get("conference_sid")
    if sid:
        events += [participant_event(p, alerts) for p in reader.participants(str(sid))]
    return events
