"""Given a validated event, when it becomes a DynamoDB item, then keys, order and payload are as documented."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import load_seed, variant
from tests.unit.test_redaction import CALLER_NUMBERS, shows_whole
from voice_insights.domain.items import (
    ItemTooLarge,
    StoredItem,
    entity_of,
    stored_event,
    summary_from_item,
    to_item,
    version_of,
)
from voice_insights.domain.models import ParticipantSummaryCompleteEvent, SummaryEvent
from voice_insights.ingest import routes
from voice_insights.ingest.decoding import Accepted, decode
from voice_insights.ingest.pipeline import Outcome, collapse

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ROUTES = {
    "conference_summary_complete": routes.CONFERENCE_SUMMARY_COMPLETE,
    "conference_summary_partial": routes.CONFERENCE_SUMMARY_PARTIAL,
    "participant_summary_complete": routes.PARTICIPANT_SUMMARY_COMPLETE,
}


def accepted(raw: dict[str, Any], route_name: str | None = None) -> SummaryEvent:
    route = ROUTES[route_name or _route_name(raw["type"])]
    decision = decode(raw, route)
    assert isinstance(decision, Accepted), decision
    return decision.event


def _route_name(event_type: str) -> str:
    return next(name for name, route in ROUTES.items() if event_type in route.event_types)


def test_conference_summary_item_keys_and_indexes() -> None:
    item = to_item(accepted(load_seed("conference_summary_complete")), NOW)
    attrs = item.attributes
    assert (attrs["pk"], attrs["sk"]) == ({"S": "CONF#CF0000000000000000000000000000001"}, {"S": "SUMMARY"})
    assert attrs["gsi1pk"] == {"S": "ACCT#AC0000000000000000000000000000001"}
    assert attrs["gsi1sk"] == {"S": "2023-10-01T15:30:00Z#CF0000000000000000000000000000001"}
    assert "gsi2pk" not in attrs
    assert attrs["tags"] == {"L": [{"S": "silent"}]}
    assert "expires_at" not in attrs
    kept = stored_event(attrs)
    assert (kept.event_id, kept.event_type) == (
        "NO00000000000000000000000001",
        "com.twilio.voice.insights.conference-summary.complete",
    )
    assert kept.received_at == "2026-11-21T09:00:00.000000Z"
    assert entity_of(attrs) == "conference_summary"


def test_participant_item_keys_indexes_and_no_phone_numbers_outside_data() -> None:
    item = to_item(accepted(load_seed("participant_summary_complete")), NOW)
    attrs = item.attributes
    assert attrs["pk"] == {"S": "CONF#CF0000000000000000000000000000001"}
    assert attrs["sk"] == {"S": "PART#CP0000000000000000000000000000001"}
    assert attrs["gsi2pk"] == {"S": "CALL#CA0000000000000000000000000000001"}
    assert "gsi1pk" not in attrs
    flat = {name: value for name, value in attrs.items() if name != "payload"}
    assert "+1234567890" not in json.dumps(flat)
    assert b"+1234567890" not in attrs["payload"]["B"]
    assert entity_of(attrs) == "participant_summary"


@pytest.mark.parametrize("name", ROUTES)
def test_every_field_reads_back_into_the_same_model(name: str) -> None:
    raw = load_seed(name)
    raw["data"]["unknown_future_field"] = {"deep": [1, 2.5, None]}
    event = accepted(raw, name)
    assert summary_from_item(to_item(event, NOW).attributes) == event.data


def test_large_summary_is_stored_compressed_and_reads_back() -> None:
    raw = load_seed("participant_summary_complete")
    occurrence = {"avg": 5.5, "max": 10.0, "timestamp": 1621837451}
    # As many as one event may hold (json_limits.EVENT): 155 KB of JSON
    raw["data"]["metrics"]["inbound"]["occurrences"]["jitter"] = [occurrence] * 3_000
    event = accepted(raw)
    item = to_item(event, NOW)
    assert len(json.dumps(raw["data"])) > 150 * 1024 > 100 * item.size
    assert summary_from_item(item.attributes) == event.data


@pytest.mark.parametrize("name", ROUTES)
def test_each_documented_sample_is_stored_in_at_most_one_write_unit(name: str) -> None:
    # A standard write is billed 1 unit per started KB of the item
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
    # The samples have quality issues: their items carry the issue attributes and index keys too.
    item = to_item(accepted(load_seed(name), name), NOW, retention_days=395)
    assert "gsi3sk" in item.attributes
    assert item.size <= 1024


def test_items_of_the_format_before_still_read() -> None:
    # Items stored before the payload attribute kept the data as JSON text, or gzip when large (binary values
    # reach the alert function base64-encoded in stream records), and named their entity and event flat.
    data = load_seed("participant_summary_complete")["data"]
    flat = {
        "pk": {"S": "CONF#CF1"},
        "sk": {"S": "PART#CP1"},
        "entity": {"S": "participant_summary"},
        "event_id": {"S": "EZ1"},
        "event_type": {"S": "com.twilio.voice.insights.conference-participant-summary.complete"},
        "received_at": {"S": "2026-01-01T00:00:00.000000Z"},
    }
    as_text = {**flat, "data": {"S": json.dumps(data)}}
    gzipped = {**flat, "data_gz": {"B": gzip.compress(json.dumps(data).encode())}}
    from_stream = {**flat, "data_gz": {"B": base64.b64encode(gzipped["data_gz"]["B"]).decode()}}
    for item in (as_text, gzipped, from_stream):
        assert summary_from_item(item).participant_sid == data["participant_sid"]
        assert stored_event(item).event_id == "EZ1"
        assert entity_of(item) == "participant_summary"


def test_an_item_without_an_event_is_unreadable() -> None:
    with pytest.raises(ValueError, match="no payload or data"):
        stored_event({"pk": {"S": "CONF#x"}, "sk": {"S": "SUMMARY"}})


@pytest.mark.parametrize("name", ROUTES)
def test_item_size_is_at_least_dynamodbs_count_of_it(name: str) -> None:
    # DynamoDB counts attribute names plus values: strings in UTF-8 bytes, a number at most 21 bytes,
    # a list 3 bytes plus 1 per element
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
    raw = load_seed(name)
    raw["data"].update(friendly_name="Réunion ☎ équipe", label="Agent ☎", tags=["high_latency", "ünïcode"])
    item = to_item(accepted(raw), NOW)

    def counted(value: dict[str, Any]) -> int:
        ((kind, content),) = value.items()
        if kind == "N":
            return min(21, len(content.lstrip("-").replace(".", "")) // 2 + 1)
        if kind == "SS":
            return sum(len(element.encode()) for element in content)
        if kind == "L":
            return 3 + sum(1 + counted(element) for element in content)
        return len(content.encode()) if kind == "S" else len(content)

    dynamodb_count = sum(len(name.encode()) + counted(value) for name, value in item.attributes.items())
    assert dynamodb_count <= item.size <= dynamodb_count * 1.05


def test_summary_too_large_even_compressed_is_refused() -> None:
    raw = load_seed("participant_summary_complete")
    raw["data"]["whisper"] = "".join(f"{i:x}" for i in range(200_000))  # incompressible enough
    # Ingest refuses an event this large before it is parsed (json_limits.EVENT); to_item still guards.
    event = ParticipantSummaryCompleteEvent.model_validate(raw)
    with pytest.raises(ItemTooLarge, match="a DynamoDB item holds at most"):
        to_item(event, NOW)


def test_retention_days_set_a_ttl_in_epoch_seconds() -> None:
    item = to_item(accepted(load_seed("conference_summary_partial")), NOW, retention_days=30)
    assert item.attributes["expires_at"] == {"N": str(int(datetime(2026, 12, 21, 9, 0, tzinfo=UTC).timestamp()))}


def test_complete_outranks_partial_whatever_the_times() -> None:
    partial = accepted(variant(load_seed("conference_summary_partial"), time="2030-01-01T00:00:00Z"))
    complete = accepted(variant(load_seed("conference_summary_complete"), time="2020-01-01T00:00:00Z"))
    assert version_of(partial) < version_of(complete)


def test_same_rank_orders_by_event_time_then_id() -> None:
    seed = load_seed("conference_summary_partial")
    early = accepted(variant(seed, id="NO9", time="2025-10-08T07:17:02Z"))
    later = accepted(variant(seed, id="NO1", time="2025-10-08T09:17:02+02:00"))  # same instant, other zone
    much_later = accepted(variant(seed, id="NO1", time="2025-10-08T07:18:00.5Z"))
    assert version_of(later) < version_of(early)  # same instant: the id decides, deterministically
    assert version_of(early) < version_of(much_later)


def test_event_times_before_the_year_1000_still_compare_as_times() -> None:
    # Linux's strftime wrote year 999 as "999", which sorted after "2025": such an event outranked every later one.
    seed = load_seed("conference_summary_partial")
    ancient = accepted(variant(seed, time="0999-12-31T23:59:59Z"))
    recent = accepted(variant(seed, time="2025-10-08T07:17:02Z"))
    assert "#0999-12-31T23:59:59.000000Z#" in version_of(ancient)
    assert version_of(ancient) < version_of(recent)


def test_event_time_falls_back_to_twilios_timestamp_in_datacontenttype() -> None:
    seed = load_seed("conference_summary_complete")
    assert "#2025-10-08T07:17:02.363000Z#" in version_of(accepted(seed))
    assert version_of(accepted(variant(seed, datacontenttype="application/json"))).startswith("2##")


def _item(route_name: str, **changes: Any) -> StoredItem:
    return to_item(accepted(variant(load_seed(route_name), **changes), route_name), NOW)


def test_collapse_keeps_the_highest_version_per_item_and_settles_the_others() -> None:
    partial = _item("conference_summary_partial")
    complete = _item("conference_summary_complete")
    redelivered = _item("conference_summary_complete")
    participant = _item("participant_summary_complete")
    winners, superseded = collapse([(0, partial), (1, complete), (2, redelivered), (3, participant)])
    assert [index for index, _ in winners] == [1, 3]
    assert {index: outcome for index, (_, outcome) in superseded.items()} == {
        0: Outcome.STALE,
        2: Outcome.DUPLICATE,
    }


def test_items_with_issues_carry_their_worst_severity_and_codes_for_the_alert_filter() -> None:
    attrs = to_item(accepted(load_seed("participant_summary_complete")), NOW).attributes
    assert attrs["issue_severity"] == {"S": "high"}
    # A string set, not a list of AttributeValues: botocore validates and serialises each list
    # element as a structure, which showed up as the largest CPU cost per item (make bench).
    assert "inbound.mos" in attrs["issue_codes"]["SS"]
    assert len(attrs["issue_codes"]["SS"]) == len(set(attrs["issue_codes"]["SS"])) == 14


def test_items_without_issues_carry_no_issue_attributes() -> None:
    healthy = variant(load_seed("conference_summary_complete"), data__tags=[], data__tag_info=None,
                      data__detected_issues=None)  # fmt: skip
    attrs = to_item(accepted(healthy), NOW).attributes
    assert "issue_severity" not in attrs and "issue_codes" not in attrs


@pytest.mark.parametrize("number", CALLER_NUMBERS)
def test_flat_attributes_show_no_phone_number_whole_and_data_keeps_the_event(number: str) -> None:
    """Given a caller's number in a participant's label, a conference's name, end reason, tags and tag details,
    when the items are built, then no flat attribute shows it whole; the payload (the stored record) keeps it."""
    participant = variant(load_seed("participant_summary_complete"), data__label=f"Caller {number}")
    participant["data"]["metrics"]["inbound"]["tags"].append(number)
    participant["data"]["metrics"]["inbound"]["tags_info"]["description"] = f"Loss on {number}"
    conference = variant(
        load_seed("conference_summary_complete"),
        data__friendly_name=f"Bridge {number}",
        data__end_reason=f"ended by {number}",
        data__tags=["silent", number],
        data__tag_info={
            "duplicate_identity": [{"participant_identity": number, "participant_sids": ["CP1"]}],
            "start_failure": {"reason": f"Dialled {number}"},
        },
    )
    for event, text in ((participant, "label"), (conference, "friendly_name")):
        attrs = to_item(accepted(event), NOW).attributes
        flat = {name: value for name, value in attrs.items() if name != "payload"}
        assert not shows_whole(number, json.dumps(flat, ensure_ascii=False)), flat
        assert number in stored_event(attrs).data.get(text, "")
    assert to_item(accepted(conference), NOW).attributes["friendly_name"]["S"].startswith("Bridge ")  # the rest kept
    assert to_item(accepted(conference), NOW).attributes["tags"]["L"][0] == {"S": "silent"}
