"""Given a stored summary item, when it becomes a lake row, then every column is of its Glue type, the issues are the
quality rules', the day is the summary's own, how it arrived is known (unknown for items stored before), and no phone
number is left whole anywhere in the row."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import load_seed, variant
from tests.unit.test_items import accepted
from tests.unit.test_redaction import CALLER_NUMBERS, shows_whole
from voice_insights.domain import payload
from voice_insights.domain.items import stored_event, to_item
from voice_insights.domain.lake_rows import conform, masked_json, row_of
from voice_insights.domain.lake_schema import COLUMNS, CONFERENCE_TABLE, PARTICIPANT_TABLE
from voice_insights.domain.models import ParticipantSummary
from voice_insights.domain.quality import DEFAULT_THRESHOLDS, issues_of
from voice_insights.domain.schema_drift import lenient_summary
from voice_insights.ingest import routes
from voice_insights.ingest.decoding import Accepted, decode

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


def row(raw: dict[str, Any], arrived_via: str | None = "kinesis") -> dict[str, Any]:
    item = to_item(accepted(raw), NOW, arrived_via=arrived_via)
    line = row_of(item.attributes, DEFAULT_THRESHOLDS).line
    assert b"\n" not in line  # one row per line: Firehose's deaggregation and the converter split on newlines
    return dict(json.loads(line))


def bad_participant(**changes: Any) -> dict[str, Any]:
    seed = load_seed("participant_summary_complete")
    metrics = seed["data"]["metrics"]
    metrics["inbound"].update(mos=2.1, packet_loss_percentage=9.5, jitter={"avg": 12.0, "max": 40.0}, tags=["low_mos"])
    return variant(seed, **changes)


def test_participant_row_has_every_column_in_schema_order_then_dt() -> None:
    found = row(bad_participant())
    assert list(found) == [name for name, _ in COLUMNS[PARTICIPANT_TABLE]] + ["dt"]
    assert found["dt"] == "2023-01-01"  # join_time, not the event's or the receipt's day
    assert found["join_time"] == "2023-01-01T12:00:00.000000Z"
    assert found["received_at"] == "2026-12-04T18:00:00.000000Z"
    assert found["version"].startswith("2#2025-10-08T07:17:02.363000Z#")
    assert (found["schema_version"], found["arrived_via"]) == ("2", "kinesis")
    assert (found["inbound_mos"], found["inbound_jitter_avg"], found["inbound_jitter_max"]) == (2.1, 12.0, 40.0)
    assert found["inbound_packet_loss_percentage"] == 9.5
    assert found["inbound_tags"] == ["low_mos"]
    assert isinstance(found["inbound_packets_received"], int)


def test_issue_columns_are_the_quality_rules_own() -> None:
    raw = bad_participant()
    found = row(raw)
    summary, _ = lenient_summary(ParticipantSummary, raw["data"])
    issues = issues_of(summary, DEFAULT_THRESHOLDS)  # type: ignore[arg-type]
    assert found["issue_codes"] == sorted({issue.code for issue in issues})
    assert {"inbound.mos", "inbound.packet_loss", "inbound.jitter_avg"} <= set(found["issue_codes"])
    assert "low_mos" in found["issue_kinds"] and "high_packet_loss" in found["issue_kinds"]
    assert found["issue_severity"] == max(issue.severity for issue in issues).label


def test_a_healthy_summary_has_no_issues_and_a_null_severity() -> None:
    seed = load_seed("conference_summary_complete")
    healthy = row(variant(seed, data__tags=[], data__tag_info=None, data__detected_issues=None))
    assert (healthy["issue_codes"], healthy["issue_kinds"], healthy["issue_severity"]) == ([], [], None)


def test_conference_row_day_is_its_start_else_its_creation() -> None:
    seed = load_seed("conference_summary_complete")
    assert row(seed)["dt"] == seed["data"]["start_time"][:10]
    created_only = variant(seed, data__start_time=None, data__create_time="2023-09-30T23:59:00-02:00")
    assert row(created_only)["dt"] == "2023-10-01"  # UTC day
    found = row(seed)
    assert list(found) == [name for name, _ in COLUMNS[CONFERENCE_TABLE]] + ["dt"]


@pytest.mark.parametrize("via", ["kinesis", "webhook", "backfill"])
def test_arrived_via_is_read_back_from_the_payload(via: str) -> None:
    item = to_item(accepted(load_seed("conference_summary_complete")), NOW, arrived_via=via)
    assert stored_event(item.attributes).arrived_via == via
    assert row_of(item.attributes, DEFAULT_THRESHOLDS).line.count(f'"arrived_via":"{via}"'.encode()) == 1


def test_items_stored_before_arrived_via_read_as_unknown() -> None:
    item = to_item(accepted(load_seed("conference_summary_complete")), NOW)  # what the pipeline wrote before
    assert stored_event(item.attributes).arrived_via == ""
    assert json.loads(row_of(item.attributes, DEFAULT_THRESHOLDS).line)["arrived_via"] is None
    backfilled = dict(item.attributes, ingested_by={"S": "backfill"})  # backfill marked its items already
    assert json.loads(row_of(backfilled, DEFAULT_THRESHOLDS).line)["arrived_via"] == "backfill"


def test_the_format_before_payload_still_makes_a_row() -> None:
    seed = load_seed("participant_summary_complete")
    item = to_item(accepted(seed), NOW, arrived_via="webhook").attributes
    old = {key: value for key, value in item.items() if key != "payload"}
    old |= {
        "data": {"S": json.dumps(seed["data"])},
        "event_id": {"S": seed["id"]},
        "event_type": {"S": seed["type"]},
        "received_at": {"S": "2026-01-02T03:04:05Z"},
    }
    found = json.loads(row_of(old, DEFAULT_THRESHOLDS).line)
    assert (found["event_id"], found["arrived_via"], found["dt"]) == (seed["id"], None, "2023-01-01")
    assert found["received_at"] == "2026-01-02T03:04:05.000000Z"


def test_a_stream_image_with_base64_payload_reads_as_the_item() -> None:
    item = to_item(accepted(load_seed("participant_summary_complete")), NOW, arrived_via="webhook").attributes
    image = dict(item, payload={"B": base64.b64encode(item["payload"]["B"]).decode()})
    assert row_of(image, DEFAULT_THRESHOLDS) == row_of(item, DEFAULT_THRESHOLDS)


@pytest.mark.parametrize("number", CALLER_NUMBERS)
def test_no_phone_number_is_whole_anywhere_in_the_row(number: str) -> None:
    raw = bad_participant(data__from=number, data__to=number, data__label=f"caller {number}", data__whisper=number)
    raw["data"]["metrics"]["inbound"]["tags"] = [f"tag{number}"]
    raw["data"][f"extra {number}"] = {"nested": [number]}  # a field Twilio may add, its name included
    line = row_of(to_item(accepted(raw), NOW).attributes, DEFAULT_THRESHOLDS).line.decode()
    assert not shows_whole(number, line), line
    found = json.loads(line)
    assert found["from_number"].endswith(number[-4:]) and "*" in found["from_number"]
    assert json.loads(found["event_json"])["data"]["to"] == found["to_number"]


def test_event_json_is_the_stored_event_whole_and_numbers_stay_numbers() -> None:
    seed = load_seed("participant_summary_complete")
    event = json.loads(row(seed)["event_json"])
    assert (event["id"], event["type"], event["source"], event["dataschema"]) == (
        seed["id"], seed["type"], seed["source"], seed["dataschema"],
    )  # fmt: skip
    assert event["data"]["events"]["hold"] == seed["data"]["events"]["hold"]  # a 10-digit Unix time, unmasked
    assert event["data"]["participant_sid"] == seed["data"]["participant_sid"]


def test_values_that_differ_from_the_schema_become_nulls_not_conversion_failures() -> None:
    raw = bad_participant(data__duration_seconds="long", data__is_moderator="yes", data__quality_issues=2**40)
    raw["data"]["metrics"]["inbound"]["mos"] = "4.2"
    raw["data"]["metrics"]["outbound"] = "not an object"
    decision = decode(raw, routes.PARTICIPANT_SUMMARY_COMPLETE)
    assert isinstance(decision, Accepted) and decision.violations  # stored, flagged
    item = to_item(decision.event, NOW, violations=decision.violations, data_as_sent=decision.data_as_sent)
    found = json.loads(row_of(item.attributes, DEFAULT_THRESHOLDS).line)
    assert (found["duration_seconds"], found["is_moderator"], found["quality_issues"]) == (None, None, None)
    assert (found["inbound_mos"], found["outbound_mos"], found["outbound_tags"]) == (None, None, [])
    assert found["schema_violations"] == sorted(decision.violations)


def test_conform_gives_each_glue_type_its_own_kind_of_value() -> None:
    values = {
        "duration_seconds": 12.0, "max_participants": 2**31, "recording_enabled": 1, "tags": ["a", 3, None],
        "start_time": "2023-10-01 15:30:00", "status": 7, "friendly_name": {"x": 1},
    }  # fmt: skip
    found = conform(CONFERENCE_TABLE, values)
    assert found["duration_seconds"] == 12 and isinstance(found["duration_seconds"], int)
    assert found["max_participants"] is None  # past Hive's int
    assert found["recording_enabled"] is None  # 1 is not a boolean
    assert found["tags"] == ["a", "3"]
    assert found["start_time"] == "2023-10-01T15:30:00.000000Z"
    assert (found["status"], found["friendly_name"]) == ("7", None)
    assert set(found) == {name for name, _ in COLUMNS[CONFERENCE_TABLE]}


def test_masked_json_masks_keys_and_strings_only() -> None:
    assert masked_json({"+14155551234": ["call 415 555 1234", 4155551234, True]}) == {
        "+*******1234": ["call *** *** 1234", 4155551234, True]
    }


def test_a_row_is_the_same_bytes_every_time_its_version_is_read() -> None:
    first = to_item(accepted(bad_participant()), NOW, arrived_via="webhook").attributes
    again = to_item(accepted(bad_participant()), NOW, arrived_via="webhook").attributes
    assert row_of(first, DEFAULT_THRESHOLDS).line == row_of(again, DEFAULT_THRESHOLDS).line


def test_an_item_without_a_summary_is_refused() -> None:
    with pytest.raises(ValueError):
        row_of({"pk": {"S": "CONF#x"}, "sk": {"S": "SUMMARY"}}, DEFAULT_THRESHOLDS)
    with pytest.raises(ValueError):
        row_of({"pk": {"S": "CONF#x"}, "sk": {"S": "SUMMARY"}, "payload": {"B": b"\x09junk"}}, DEFAULT_THRESHOLDS)
    assert payload.ZLIB_DICTIONARY_V1 != 9


class RecordingStore:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def write(self, items: Any) -> list[Any]:
        from voice_insights.aws.summaries import WriteResult, WriteStatus

        self.items += items
        return [WriteResult(WriteStatus.STORED) for _ in items]


@pytest.mark.parametrize("source", ["kinesis", "webhook", "backfill"])
def test_the_pipeline_stores_the_path_it_was_given(source: str) -> None:
    from voice_insights.ingest.pipeline import Inbound, Pipeline

    store = RecordingStore()
    pipeline = Pipeline(routes.CONFERENCE_SUMMARY_COMPLETE, store, None)  # type: ignore[arg-type]
    pipeline.process([Inbound(raw=load_seed("conference_summary_complete"))], source=source)
    assert [stored_event(item.attributes).arrived_via for item in store.items] == [source]
