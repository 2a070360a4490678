"""Given a raw event, when it is decoded for a function's route, then the decision is the documented one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import load_seed, variant
from voice_insights.domain.models import ConferenceSummary, ParticipantSummary
from voice_insights.ingest import routes
from voice_insights.ingest.decoding import Accepted, Rejected, SinkTest, Skipped, decode

ROUTE_BY_SEED = {
    "conference_summary_complete": routes.CONFERENCE_SUMMARY_COMPLETE,
    "conference_summary_partial": routes.CONFERENCE_SUMMARY_PARTIAL,
    "participant_summary_complete": routes.PARTICIPANT_SUMMARY_COMPLETE,
}

# Required fields per the seed documents (Twilio's field reference), nested ones with their parent path.
CONFERENCE_REQUIRED = [
    "conference_sid", "account_sid", "start_time", "create_time", "end_time", "status", "end_reason",
    "tags", "mixer_region", "mixer_region_requested",
    "tag_info.duplicate_identity", "tag_info.duplicate_identity.0.participant_identity",
    "tag_info.duplicate_identity.0.participant_sids",
]  # fmt: skip
PARTICIPANT_REQUIRED = [
    "participant_sid", "conference_sid", "call_sid", "account_sid", "call_direction", "call_state", "join_time",
    "leave_time", "jitter_buffer_size", "coached_participants", "participant_region", "conference_region",
    "call_type", "properties.requested_region",
    *(f"events.{name}" for name in ("hold", "unhold", "mute", "unmute", "modify_beep", "modify_exit", "coaching",
                                    "coaching_stopped", "modify_coached_participant")),
    *(f"metrics.{direction}.{path}" for direction in ("inbound", "outbound") for path in (
        "tags", "tags_info.packet_loss.severity", "tags_info.jitter.severity", "tags_info.latency.severity",
        "tags_info.low_mos.severity", "occurrences.packet_loss", "occurrences.jitter", "occurrences.latency")),
]  # fmt: skip


def _without(event: dict[str, Any], dotted: str) -> dict[str, Any]:
    copied = json.loads(json.dumps(event))
    node: Any = copied["data"]
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    del node[last]
    return copied


@pytest.mark.parametrize("name", ROUTE_BY_SEED)
@pytest.mark.parametrize("version", ["1", "2"])
def test_every_seed_example_validates_for_v1_and_v2(name: str, version: str) -> None:
    event = load_seed(name)
    event["dataschema"] = event["dataschema"].rsplit("/", 1)[0] + "/" + version
    decision = decode(json.dumps(event).encode(), ROUTE_BY_SEED[name])
    assert isinstance(decision, Accepted), decision
    assert decision.event.schema_version == version
    assert decision.event.data.model_dump(by_alias=True, exclude_unset=True) == event["data"]


KEY_FIELDS = {"conference_sid", "participant_sid", "account_sid"}  # what storing needs (models.REQUIRED_TO_STORE)
REQUIRED_CASES = [
    *(("conference_summary_complete", field) for field in CONFERENCE_REQUIRED),
    *(("participant_summary_complete", field) for field in PARTICIPANT_REQUIRED),
]


@pytest.mark.parametrize(("name", "field"), [case for case in REQUIRED_CASES if case[1] not in KEY_FIELDS])
def test_a_missing_documented_field_storing_does_not_need_is_accepted_and_flagged(name: str, field: str) -> None:
    decision = decode(_without(load_seed(name), field), ROUTE_BY_SEED[name])
    assert isinstance(decision, Accepted), decision
    assert decision.violations == ("data." + field.replace(".0.", "[]."),)


@pytest.mark.parametrize(("name", "field"), [case for case in REQUIRED_CASES if case[1] in KEY_FIELDS])
def test_a_missing_key_field_is_rejected_naming_it(name: str, field: str) -> None:
    decision = decode(_without(load_seed(name), field), ROUTE_BY_SEED[name])
    assert isinstance(decision, Rejected)
    assert f"data.{field}: Field required" in decision.reason
    assert decision.event_id == "NO00000000000000000000000001"


@pytest.mark.parametrize("field", ["type", "id", "data"])
def test_missing_envelope_field_storing_needs_is_rejected(field: str) -> None:
    event = load_seed("conference_summary_partial")
    del event[field]
    decision = decode(event, routes.CONFERENCE_SUMMARY_PARTIAL)
    assert isinstance(decision, Rejected)
    assert (field if field != "type" else "no 'type'") in decision.reason


@pytest.mark.parametrize("field", ["specversion", "source"])
def test_missing_envelope_field_storing_does_not_need_is_flagged(field: str) -> None:
    event = load_seed("conference_summary_partial")
    del event[field]
    decision = decode(json.dumps(event), routes.CONFERENCE_SUMMARY_PARTIAL)
    assert isinstance(decision, Accepted) and decision.violations == (field,)


@pytest.mark.parametrize("as_text", [False, True])
def test_a_wrong_type_storing_does_not_need_is_flagged_and_the_value_set_aside(as_text: bool) -> None:
    event = variant(load_seed("conference_summary_complete"), data__duration_seconds="an hour")
    if as_text:  # as Twilio's Kinesis sink sends data
        event["data"] = json.dumps(event["data"])
    decision = decode(json.dumps(event), routes.CONFERENCE_SUMMARY_COMPLETE)
    assert isinstance(decision, Accepted), decision
    assert decision.violations == ("data.duration_seconds",)
    assert decision.event.data.duration_seconds is None
    assert decision.event.data.conference_sid == "CF0000000000000000000000000000001"


def test_a_wrong_type_on_a_key_field_is_rejected_with_field_and_reason() -> None:
    event = variant(load_seed("conference_summary_complete"), data__conference_sid=42)
    decision = decode(event, routes.CONFERENCE_SUMMARY_COMPLETE)
    assert isinstance(decision, Rejected)
    assert "data.conference_sid: Input should be a valid string" in decision.reason


@pytest.mark.parametrize("name", ROUTE_BY_SEED)
def test_string_encoded_data_as_twilio_kinesis_sends_it(name: str) -> None:
    event = load_seed(name)
    event["data"] = json.dumps(event["data"])
    decision = decode(json.dumps(event).encode(), ROUTE_BY_SEED[name])
    assert isinstance(decision, Accepted), decision
    assert decision.event.data.model_dump(by_alias=True, exclude_unset=True) == json.loads(event["data"])


def test_string_data_that_is_not_json_is_rejected() -> None:
    event = variant(load_seed("conference_summary_complete"), data="{not json")
    decision = decode(event, routes.CONFERENCE_SUMMARY_COMPLETE)
    assert isinstance(decision, Rejected)
    assert decision.reason.startswith("invalid event: data:")


def test_string_data_is_read_as_strictly_as_the_envelope() -> None:
    # Both are read by pydantic-core's JSON parser: a lone surrogate (not Unicode text) or a wrong field
    # type inside the string is rejected with where it is, as it is anywhere else in the record.
    event = load_seed("participant_summary_complete")
    broken = json.dumps(event["data"])[:-1] + ', "note": "\\udfff"}'
    decision = decode(json.dumps({**event, "data": broken}).encode(), routes.PARTICIPANT_SUMMARY_COMPLETE)
    assert isinstance(decision, Rejected)
    assert decision.reason.startswith("invalid event: data: not valid JSON (lone leading surrogate")
    wrong = json.dumps({**event["data"], "participant_sid": 7})
    decision = decode(json.dumps({**event, "data": wrong}).encode(), routes.PARTICIPANT_SUMMARY_COMPLETE)
    assert isinstance(decision, Rejected)
    assert decision.reason == "invalid event: data.participant_sid: Input should be a valid string"


def test_participant_alias_type_is_accepted() -> None:
    event = variant(
        load_seed("participant_summary_complete"), type="com.twilio.voice.insights.participant-summary.complete"
    )
    decision = decode(event, routes.PARTICIPANT_SUMMARY_COMPLETE)
    assert isinstance(decision, Accepted)
    assert isinstance(decision.event.data, ParticipantSummary)


def test_unknown_fields_and_enum_values_are_kept() -> None:
    event = load_seed("participant_summary_complete")
    event["data"]["call_state"] = "teleported"
    event["data"]["brand_new_field"] = {"nested": [1, 2]}
    event["data"]["metrics"]["inbound"]["tags"] = ["a_future_tag"]
    event["data"]["metrics"]["inbound"]["tags_info"]["packet_loss"]["severity"] = "catastrophic"
    event["data"]["metrics"]["inbound"]["new_metric"] = 7
    event["new_envelope_attribute"] = "x"
    decision = decode(event, routes.PARTICIPANT_SUMMARY_COMPLETE)
    assert isinstance(decision, Accepted)
    dumped = decision.event.data.model_dump(by_alias=True, exclude_unset=True)
    assert dumped == event["data"]
    assert decision.event.model_extra == {"new_envelope_attribute": "x"}


def test_unknown_schema_version_is_accepted_as_the_same_shape() -> None:
    event = variant(load_seed("conference_summary_complete"))
    event["dataschema"] = "https://events-schemas.twilio.com/VoiceInsights.ConferenceSummary/3"
    decision = decode(event, routes.CONFERENCE_SUMMARY_COMPLETE)
    assert isinstance(decision, Accepted)
    assert decision.event.schema_version == "3"
    assert isinstance(decision.event.data, ConferenceSummary)


def test_datacontenttype_and_id_are_not_validated_strictly() -> None:
    event = variant(load_seed("conference_summary_complete"), id="AC123", datacontenttype="2025-10-08T07:17:02.363Z")
    assert isinstance(decode(event, routes.CONFERENCE_SUMMARY_COMPLETE), Accepted)


def test_another_functions_type_is_rejected_naming_the_route() -> None:
    decision = decode(load_seed("conference_summary_partial"), routes.CONFERENCE_SUMMARY_COMPLETE)
    assert isinstance(decision, Rejected)
    assert "'com.twilio.voice.insights.conference-summary.partial' is not accepted by conference_summary_complete" in (
        decision.reason
    )
    assert decision.event_type == "com.twilio.voice.insights.conference-summary.partial"


@pytest.mark.parametrize("route", [*ROUTE_BY_SEED.values(), routes.UNROUTED])
def test_sink_test_event_is_recognised_on_every_route(route: routes.Route, sink_test_event: dict[str, Any]) -> None:
    decision = decode(json.dumps(sink_test_event).encode(), route)
    assert decision == SinkTest(event_id=sink_test_event["id"], test_id=sink_test_event["data"]["test_id"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"{truncated", "not valid JSON"),
        (b"[1, 2]", "Input should be an object"),
        (b'"a string"', "Input should be an object"),
        (b"null", "Input should be an object"),
        (b"", "not valid JSON"),
    ],
)
def test_bytes_that_are_not_a_cloudevent_are_rejected_with_a_reason(raw: bytes, expected: str) -> None:
    decision = decode(raw, routes.CONFERENCE_SUMMARY_COMPLETE)
    assert isinstance(decision, Rejected)
    assert expected in decision.reason


def test_unrouted_skips_types_other_functions_take_and_rejects_the_rest(sink_test_event: dict[str, Any]) -> None:
    for name in ROUTE_BY_SEED:
        assert isinstance(decode(json.dumps(load_seed(name)).encode(), routes.UNROUTED), Skipped)
    unknown = decode(b'{"type": "com.twilio.voice.insights.call-summary.complete", "id": "NO9"}', routes.UNROUTED)
    assert isinstance(unknown, Rejected)
    assert "'com.twilio.voice.insights.call-summary.complete' is not one this application processes" in unknown.reason
    assert unknown.event_id == "NO9"
    assert isinstance(decode(b"not json at all", routes.UNROUTED), Rejected)
    assert isinstance(decode(b"[]", routes.UNROUTED), Rejected)
    assert isinstance(decode(json.dumps(sink_test_event).encode(), routes.UNROUTED), SinkTest)


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "\ufeff" + text,  # a byte-order mark: not JSON text (RFC 8259 section 8.1)
        lambda text: text.replace('"duration_seconds": 3600', '"duration_seconds": NaN'),
        lambda text: text.replace('"duration_seconds": 3600', '"duration_seconds": -Infinity'),
    ],
    ids=["byte-order-mark", "NaN", "-Infinity"],
)
def test_unrouted_rejects_a_routed_type_that_is_not_strict_json(damage: Any) -> None:
    """Skipping trusts that Lambda's (strict) filter gave the event to its type's function: it did not here."""
    text = damage(json.dumps(load_seed("conference_summary_complete")))
    decision = decode(text.encode(), routes.UNROUTED)
    assert isinstance(decision, Rejected)
    assert "not valid JSON" in decision.reason


def test_unrouted_reads_a_type_that_is_not_a_string_as_lambdas_filter_does() -> None:
    complete = load_seed("conference_summary_complete")
    for not_routed in ([], {}, 7, None, ["com.twilio.voice.insights.call-summary.complete"]):
        assert isinstance(decode({**complete, "type": not_routed}, routes.UNROUTED), Rejected)
    # An array matches a filter when one element does: that function has it.
    assert isinstance(decode({**complete, "type": [complete["type"], 1]}, routes.UNROUTED), Skipped)


def test_many_errors_are_summarised() -> None:
    event = load_seed("conference_summary_complete")
    event["data"] = {}
    decision = decode(event, routes.CONFERENCE_SUMMARY_COMPLETE)
    assert isinstance(decision, Rejected)
    assert len(decision.errors) == 10
    event["data"] = {"x": 1}
    del event["source"]
    decision = decode(event, routes.CONFERENCE_SUMMARY_COMPLETE)
    assert isinstance(decision, Rejected)
    assert decision.reason.endswith("(and 1 more)")


def test_deeply_nested_record_is_rejected_not_raised() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for route in (routes.CONFERENCE_SUMMARY_COMPLETE, routes.UNROUTED):
        decision = decode(deep, route)
        assert isinstance(decision, Rejected), route.name
