"""Given a Twilio side that misbehaves (a next page on another host, a page that points at itself, endless pages,
a Retry-After that is no number, a --since that is no date), when the backfill reads it, then it stops with one line
and exit status 2, sends nothing to another host, and never crashes."""

from __future__ import annotations

import argparse
import io
import json
import random
from typing import Any

import pytest
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from operate import backfill

BASE = "https://insights.twilio.com/v1/Conferences"


class ScriptedTwilio(HttpClient):  # type: ignore[misc]  # twilio ships no type information
    """Answers each GET with the next page of ``pages`` (JSON), and records every URL asked for."""

    def __init__(self, pages: dict[str, dict[str, Any]]) -> None:
        self.pages = pages
        self.asked: list[str] = []

    def request(self, method: str, url: str, params: Any = None, *args: Any, **kwargs: Any) -> Response:
        self.asked.append(url)
        page = self.pages.get(url)
        if page is None:
            return Response(404, json.dumps({"message": "not found"}))
        return Response(200, json.dumps(page))


def listing(next_page_url: str | None, url: str = BASE) -> dict[str, Any]:
    return {"conferences": [], "meta": {"key": "conferences", "url": url, "next_page_url": next_page_url}}


def reader_over(pages: dict[str, dict[str, Any]], **bounds: Any) -> tuple[backfill.InsightsReader, ScriptedTwilio]:
    http = ScriptedTwilio(pages)
    client = Client("AC" + "0" * 32, "token", http_client=http)
    return backfill.InsightsReader(client, **bounds), http


@pytest.mark.parametrize(
    "elsewhere",
    [
        "http://evil.example/v1/Conferences?PageToken=PA1",
        "https://evil.example/v1/Conferences?PageToken=PA1",
        "http://insights.twilio.com/v1/Conferences?PageToken=PA1",  # Basic credentials in clear
        "https://insights.twilio.com.evil.example/v1/Conferences?PageToken=PA1",
    ],
)
def test_a_next_page_on_another_scheme_or_host_is_never_requested(elsewhere: str) -> None:
    # Given a first page whose next_page_url points away from Twilio's host
    reader, http = reader_over({BASE: listing(elsewhere)})
    # When the listing is read, then it stops there, and nothing was asked of the other host
    with pytest.raises(backfill.PagingStopped, match="no request sent"):
        list(reader.pages("2026-11-01T00:00:00Z", None, None))
    assert http.asked == [BASE]


def test_a_page_that_points_at_itself_ends_the_listing() -> None:
    second = f"{BASE}?PageToken=PA50"
    reader, http = reader_over({BASE: listing(second), second: listing(second, second)})
    with pytest.raises(backfill.PagingStopped, match="read already"):
        list(reader.pages("2026-11-01T00:00:00Z", None, None))
    assert http.asked == [BASE, second]


def test_participants_paging_is_guarded_as_well() -> None:
    first = f"{BASE}/CF{'0' * 32}/Participants"
    reader, http = reader_over({first: {"participants": [], "meta": {"next_page_url": "http://evil.example/p"}}})
    with pytest.raises(backfill.PagingStopped):
        reader.participants("CF" + "0" * 32)
    assert http.asked == [first]


def test_pages_and_time_are_bounded() -> None:
    pages = {f"{BASE}?PageToken=PA{n}": listing(f"{BASE}?PageToken=PA{n + 1}") for n in range(1, 20)}
    pages[BASE] = listing(f"{BASE}?PageToken=PA1")
    reader, http = reader_over(pages, max_pages=5)
    with pytest.raises(backfill.PagingStopped, match="more than 5 pages"):
        list(reader.pages("2026-11-01T00:00:00Z", None, None))
    assert len(http.asked) == 5

    ticks = iter(range(0, 10_000, 100))
    reader, http = reader_over(pages, max_seconds=250, clock=lambda: float(next(ticks)))
    with pytest.raises(backfill.PagingStopped, match="--max-seconds"):
        list(reader.pages("2026-11-01T00:00:00Z", None, None))
    assert len(http.asked) == 2


def test_a_resumed_checkpoint_naming_another_host_is_refused() -> None:
    reader, http = reader_over({})
    with pytest.raises(backfill.PagingStopped):
        list(reader.pages("2026-11-01T00:00:00Z", None, None, start_url="http://evil.example/v1/Conferences"))
    assert http.asked == []


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-1", "1e9", "soon", "", "  ", "Sat, 99 Foo 2026"])
def test_a_retry_after_that_is_no_delay_counts_as_absent(value: str) -> None:
    wait = backfill.backoff_seconds(2, {"Retry-After": value}, random.Random(7))
    assert wait == random.Random(7).uniform(0, 4)


def test_a_valid_retry_after_is_honoured() -> None:
    assert backfill.backoff_seconds(0, {"Retry-After": "7"}) == 7
    assert backfill.backoff_seconds(0, {"Retry-After": "100000"}) == backfill.BACKOFF_CAP_S
    assert backfill.backoff_seconds(0, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("2026-11-01", "2026-11-01T00:00:00Z"),
        ("2026-11-01T06:30:00Z", "2026-11-01T06:30:00Z"),
        ("2026-11-01T06:30:00", "2026-11-01T06:30:00Z"),
        ("2026-11-01T07:30:00+01:00", "2026-11-01T06:30:00Z"),
    ],
)
def test_since_and_until_are_sent_to_twilio_as_utc_times(given: str, sent: str) -> None:
    assert backfill.moment(given) == sent


@pytest.mark.parametrize("given", ["yesterday", "2026-13-01", "11/01/2026", ""])
def test_a_since_that_is_no_date_is_one_line_and_exit_2(given: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        backfill.main(["backfill", "--since", given, "--dry-run"], environ={}, out=io.StringIO())
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is not a date or time: give e.g. 2026-11-01" in error
    with pytest.raises(argparse.ArgumentTypeError):
        backfill.moment(given)


def test_main_answers_a_hostile_next_page_with_exit_2_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    http = ScriptedTwilio({BASE: listing("http://evil.example/v1/Conferences?PageToken=PA1")})
    monkeypatch.setattr(backfill, "twilio_client", lambda *_: Client("AC" + "0" * 32, "token", http_client=http))
    out = io.StringIO()
    code = backfill.main(["backfill", "--since", "2026-11-01", "--dry-run", "--no-progress"], environ={}, out=out)
    assert code == 2
    assert out.getvalue() == ""
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert all("evil.example" not in url for url in http.asked)
