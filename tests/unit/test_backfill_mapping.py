"""Twilio's REST resources become the events the stream delivers (domain.backfill), which validate as such."""

from __future__ import annotations

from devtools.twilio_stub import rest_conference, rest_participant
from tests.conftest import load_seed
from voice_insights.domain.backfill import backfill_version, conference_event, participant_event, would_replace
from voice_insights.ingest import routes
from voice_insights.ingest.decoding import Accepted, decode


def test_a_complete_conference_resource_is_the_complete_event_with_the_same_data() -> None:
    data = {**load_seed("conference_summary_complete")["data"], "processing_state": "complete"}
    resource = {**rest_conference(data), "url": "https://insights.twilio.com/v1/Conferences/CF1", "links": {}}
    event = conference_event(resource)
    assert event["type"] == "com.twilio.voice.insights.conference-summary.complete"
    assert event["data"] == data and event["backfill"] == "alerts-off" and "time" not in event
    assert event["source"] == resource["url"] and event["id"].startswith("backfill:")
    assert isinstance(decode(event, routes.CONFERENCE_SUMMARY_COMPLETE), Accepted)
    assert conference_event(resource, alerts=True)["backfill"] == "alerts-on"


def test_a_conference_not_yet_complete_is_a_partial_event() -> None:
    for state in ("in_progress", "timeout", None):
        data = {**load_seed("conference_summary_partial")["data"], "processing_state": state}
        event = conference_event(rest_conference(data))
        assert event["type"] == "com.twilio.voice.insights.conference-summary.partial"
        assert isinstance(decode(event, routes.CONFERENCE_SUMMARY_PARTIAL), Accepted)


def test_a_participant_resource_names_call_state_call_status() -> None:
    data = load_seed("participant_summary_complete")["data"]
    resource = {**rest_participant(data), "url": "https://insights.twilio.com/v1/Conferences/CF1/Participants/CP1"}
    assert "call_state" not in resource and resource["call_status"] == data["call_state"]
    event = participant_event(resource)
    assert event["type"] == "com.twilio.voice.insights.conference-participant-summary.complete"
    # call_state again, url dropped (the seed carries both names; the REST resource only call_status)
    assert event["data"] == {k: v for k, v in data.items() if k != "call_status"}
    assert isinstance(decode(event, routes.PARTICIPANT_SUMMARY_COMPLETE), Accepted)


def test_reconcile_lists_only_what_a_fill_would_change() -> None:
    event = conference_event({**load_seed("conference_summary_complete")["data"], "processing_state": "complete"})
    version = backfill_version(event)
    assert version is not None and would_replace(None, version)
    assert would_replace("1#2026-11-21T10:00:00.000000Z#EZ1", version)  # a partial in the table
    assert not would_replace("2#2026-11-21T10:00:00.000000Z#EZ1", version)  # the stream's complete
    assert not would_replace(version, version)
    assert backfill_version({"type": "nonsense"}) is None


def test_reconcile_reads_a_resource_as_leniently_as_the_pipeline_stores_it() -> None:
    # In-progress summaries carry nulls where Twilio documents values: the pipeline stores them (schema drift),
    # so reconcile must see the version a fill would write, not "would be rejected".
    data = {**load_seed("conference_summary_complete")["data"], "processing_state": "in_progress", "end_time": None}
    event = conference_event(data)
    assert isinstance(decode(event, routes.CONFERENCE_SUMMARY_PARTIAL), Accepted)
    version = backfill_version(event)
    assert version is not None and would_replace(None, version)
