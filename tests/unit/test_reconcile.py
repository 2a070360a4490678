"""Given the scheduled reconcile's parts (voice_insights.reconcile), then: its window ends the lag before the time
Scheduler puts in its Input; a run out of time fills what it found and says where it stopped, a run that fails fills
what it found and raises; a wait for Twilio past the budget stops the run; the Twilio API secret takes an API key or
an auth token and answers an empty secret in one line, never showing the secret."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from devtools.twilio_stub import rest_conference, rest_participant
from tests.conftest import healthy_conference, healthy_participant
from tests.unit.test_backfill_paging import ScriptedTwilio  # answers the pages it has, 404 to the rest
from voice_insights.aws.twilio_api_secret import TwilioApiCredentials, TwilioCredentialsUnavailable
from voice_insights.ingest.pipeline import Outcome
from voice_insights.reconcile.insights import InsightsReader, TimeBudgetSpent
from voice_insights.reconcile.scheduled import (
    RunResult,
    Window,
    budgeted_sleep,
    reconcile_window,
    scheduled_moment,
    window_before,
)
from voice_insights.reconcile.twilio_http import BaseUrlRefused, check_base_url
from voice_insights.runtime.settings import ConfigurationError, ReconcileSettings

BASE = "https://insights.twilio.com/v1/Conferences"
SIDS = [f"CF{n:032x}" for n in range(3)]


def twilio_side(answering: int = len(SIDS)) -> ScriptedTwilio:
    """One page of three conferences; the first ``answering`` of them have a participants page."""
    conferences = [rest_conference(healthy_conference(data__conference_sid=sid)["data"]) for sid in SIDS]
    pages = {BASE: {"conferences": conferences, "meta": {"key": "conferences", "url": BASE, "next_page_url": None}}}
    for sid in SIDS[:answering]:
        participant = rest_participant(healthy_participant(data__conference_sid=sid)["data"])
        pages[f"{BASE}/{sid}/Participants"] = {"participants": [participant], "meta": {"key": "participants"}}
    return ScriptedTwilio(pages)


class EmptyTable:
    def query_conference(self, conference_sid: str) -> list[dict[str, Any]]:
        return []


class RecordingFeeder:
    def __init__(self) -> None:
        self.fed: list[dict[str, Any]] = []

    def feed(self, events: Sequence[dict[str, Any]], origin: str) -> list[Outcome]:
        self.fed += events
        return [Outcome.STORED] * len(events)


def run(http: ScriptedTwilio, **bounds: Any) -> tuple[RunResult, RecordingFeeder]:
    reader = InsightsReader(Client("SK" + "0" * 32, "secret", "AC" + "0" * 32, http_client=http), **bounds)
    feeder, result = RecordingFeeder(), RunResult(Window("2026-11-21T11:00:00Z", "2026-11-22T11:00:00Z"))
    reconcile_window(reader, EmptyTable(), feeder, result)  # type: ignore[arg-type]
    return result, feeder


def test_the_window_ends_the_lag_before_the_scheduled_time_and_spans_the_hours() -> None:
    moment = scheduled_moment({"source": "voice-insights-events.reconcile", "scheduled_time": "2026-11-22T12:00:00Z"})
    assert moment == datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert window_before(moment, 60, 24) == Window("2026-11-21T11:00:00Z", "2026-11-22T11:00:00Z")
    assert window_before(moment, 0, 6) == Window("2026-11-22T06:00:00Z", "2026-11-22T12:00:00Z")


@pytest.mark.parametrize("event", [{}, {"scheduled_time": "<aws.scheduler.scheduled-time>"}, {"scheduled_time": 5}, []])
def test_an_invocation_without_a_scheduled_time_reconciles_the_window_before_now(event: Any) -> None:
    now = datetime(2026, 12, 4, 19, tzinfo=UTC)
    assert scheduled_moment(event, now=lambda: now) == now


def test_a_whole_window_read_fills_every_difference_and_says_it_is_complete() -> None:
    result, feeder = run(twilio_side())
    assert (result.complete, result.stopped, result.conferences) == (True, "", 3)
    assert result.differing == {"missing": 6} and len(feeder.fed) == 6 and result.filled == 6


def test_a_run_out_of_time_fills_what_it_found_and_says_where_it_stopped() -> None:
    ticks = iter([0.0, 100.0, 200.0, 300.0, 400.0])  # start; the listing; conference 1's participants; then late
    http = twilio_side()
    result, feeder = run(http, max_seconds=250, clock=lambda: next(ticks))
    assert (result.complete, result.conferences, result.filled) == (False, 1, 2)
    assert result.stopped.startswith("time budget spent after 1 conferences")
    assert [e["data"]["conference_sid"] for e in feeder.fed] == [SIDS[0], SIDS[0]]
    assert len(http.asked) == 2  # the listing and one participants page: nothing asked after the budget


def test_a_run_that_fails_fills_what_it_found_then_raises() -> None:
    # Twilio fails on the second conference's participants
    feeder, result = RecordingFeeder(), RunResult(Window("2026-11-21T11:00:00Z", "2026-11-22T11:00:00Z"))
    reader = InsightsReader(Client("SK" + "0" * 32, "secret", "AC" + "0" * 32, http_client=twilio_side(answering=1)))
    with pytest.raises(TwilioException, match="Twilio answered 404"):
        reconcile_window(reader, EmptyTable(), feeder, result)  # type: ignore[arg-type]
    assert (result.filled, result.conferences, result.complete) == (2, 1, False)
    assert [e["data"]["conference_sid"] for e in feeder.fed] == [SIDS[0], SIDS[0]]


def test_a_wait_for_twilio_past_the_budget_stops_the_run_instead_of_waiting() -> None:
    sleep = budgeted_sleep(deadline=105.0, clock=lambda: 100.0)
    sleep(0.0)
    with pytest.raises(TimeBudgetSpent, match="Twilio asked to wait 30 s"):
        sleep(30.0)


@pytest.mark.parametrize(
    ("value", "username"),
    [
        ({"account_sid": "AC1", "api_key": "SK1", "api_secret": "s3cret"}, "SK1"),
        ({"account_sid": "AC1", "auth_token": "s3cret"}, "AC1"),
        ({"account_sid": "AC1", "api_key": "SK1", "api_secret": "s3cret", "auth_token": "t"}, "SK1"),  # key first
    ],
)
def test_the_secret_takes_an_api_key_or_an_auth_token(value: dict[str, str], username: str) -> None:
    credentials = TwilioApiCredentials.from_secret(value)
    assert (credentials.account_sid, credentials.username, credentials.password) == ("AC1", username, "s3cret")
    assert "s3cret" not in repr(credentials)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"account_sid": "", "api_key": "", "api_secret": ""}, "has no account_sid yet"),  # as the stack creates it
        ({"account_sid": "AC1", "api_key": "SK1", "api_secret": ""}, "api_key but no api_secret"),
        ({"account_sid": "AC1"}, r"needs api_key \+ api_secret, or auth_token"),
        ("not json", "not a JSON object"),
    ],
)
def test_a_secret_without_usable_credentials_is_one_line(value: Any, message: str) -> None:
    with pytest.raises(TwilioCredentialsUnavailable, match=message):
        TwilioApiCredentials.from_secret(value)


def test_the_base_url_setting_takes_https_or_loopback_http_only() -> None:
    assert check_base_url("http://127.0.0.1:8899/", "TWILIO_API_BASE_URL") == "http://127.0.0.1:8899"
    assert check_base_url("https://insights.example", "TWILIO_API_BASE_URL") == "https://insights.example"
    with pytest.raises(BaseUrlRefused, match="TWILIO_API_BASE_URL must be https"):
        check_base_url("http://stub.example:8899", "TWILIO_API_BASE_URL")


def test_settings_default_to_the_templates_window_and_refuse_more_than_twilio_keeps() -> None:
    environ = {"SUMMARIES_TABLE_NAME": "t", "REJECTED_BUCKET_NAME": "b", "TWILIO_API_SECRET_ARN": "arn"}
    settings = ReconcileSettings.from_env({**environ, "TWILIO_API_BASE_URL": ""})
    assert (settings.lag_minutes, settings.window_hours, settings.twilio_base_url) == (60, 24, "")
    with pytest.raises(ConfigurationError, match="RECONCILE_WINDOW_HOURS"):
        ReconcileSettings.from_env({**environ, "RECONCILE_WINDOW_HOURS": "721"})
