"""A stored summary item as a row of the history lake (domain.lake_schema). Pure functions, no AWS.

Every version the table stores becomes one row: the KPIs as columns, the issues the quality rules find, how the
event arrived, and the event whole as JSON (``event_json``). Phone numbers never reach the lake whole: the
participant's numbers, the free text (labels, names, tags) and every string of ``event_json`` are masked as alerts
mask them (domain.redaction); the table keeps the event as sent for its hot window.

Each value is conformed to its column's Glue type (a string, a whole number in range, a finite number, a boolean, a
list of strings, a UTC time): an event that differs from Twilio's schema is stored as it came, and its odd values
become nulls here rather than failing Firehose's record-format conversion, which would fail every row packed in
the same record (https://docs.aws.amazon.com/firehose/latest/dev/record-format-conversion.html).
A row is built from the stored item alone, so the same version always gives the same bytes: a record delivered
twice is the same row twice, which the latest-version view (highest ``version`` per summary) counts once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from voice_insights.domain.items import (
    PARTICIPANT_SUMMARY,
    AttributeValue,
    StoredEvent,
    entity_of,
    stored_event,
    summary_from_item,
    utc_text,
)
from voice_insights.domain.lake_schema import COLUMNS, CONFERENCE_TABLE, PARTICIPANT_TABLE
from voice_insights.domain.quality import Thresholds, issues_of
from voice_insights.domain.redaction import mask_phone_numbers_in

# A row is one line of a Firehose record (at most 1,000 KiB, https://docs.aws.amazon.com/firehose/latest/dev/limits.html)
# with its newline. A longer one (an event of hundreds of KB) is written without event_json (the table keeps the
# event), and if still too long with each text cut to MAX_TEXT_CHARS_IN_A_LONG_ROW.
MAX_ROW_BYTES = 1000 * 1024 - 1
MAX_TEXT_CHARS_IN_A_LONG_ROW = 1024
_INT_RANGE = (-(2**31), 2**31 - 1)  # Glue/Hive int
_BIGINT_RANGE = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class LakeRow:
    """One row: its table, its partition (``dt``, yyyy-MM-dd), and its JSON line (UTF-8, no newline)."""

    table: str
    dt: str
    line: bytes
    without_event_json: bool = False  # too long for a record with it (MAX_ROW_BYTES)


def row_of(item: dict[str, AttributeValue], thresholds: Thresholds) -> LakeRow:
    """The lake row of a stored summary item (a stream image or an item read back, low-level attribute values).

    Raises ValueError (or a pydantic ValidationError) when the item holds no readable summary."""
    event = stored_event(item)
    summary = summary_from_item(item, event)
    issues = issues_of(summary, thresholds)
    data = event.data
    participant = entity_of(item) == PARTICIPANT_SUMMARY
    values: dict[str, Any] = {
        **(_participant_values(data) if participant else _conference_values(data)),
        **_common_values(item, event),
        "issue_codes": sorted({issue.code for issue in issues}),
        "issue_kinds": sorted({issue.kind for issue in issues}),
        "issue_severity": issues[0].severity.label if issues else None,  # issues_of lists the worst first
    }
    table = PARTICIPANT_TABLE if participant else CONFERENCE_TABLE
    own_time = values["join_time"] if participant else values["start_time"] or values["create_time"]
    dt = (own_time or values["event_time"] or values["received_at"] or "")[:10]
    if not dt:
        raise ValueError("the item has no time to partition it by (summary, event or receipt)")
    row = conform(table, values)
    row["dt"] = dt
    line = _json_line(row)
    if len(line) <= MAX_ROW_BYTES:
        return LakeRow(table, dt, line)
    row["event_json"] = None
    line = _json_line(row)
    if len(line) > MAX_ROW_BYTES:  # a megabyte of label or tags: cut each text, so the row still lands
        line = _json_line({name: _cut(value) for name, value in row.items()})
    return LakeRow(table, dt, line, without_event_json=True)


def conform(table: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of ``table``, in the schema's order, each value of its Glue type or None."""
    return {name: _CONFORM[kind](values.get(name)) for name, kind in COLUMNS[table]}


def masked_json(value: Any) -> Any:
    """``value`` (parsed JSON) with every string in it, keys included, passed through the phone-number masking.
    Numbers stay numbers (a 10-digit Unix time is not a phone number in a string)."""
    if isinstance(value, str):
        return mask_phone_numbers_in(value)
    if isinstance(value, dict):
        return {mask_phone_numbers_in(str(key)): masked_json(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [masked_json(inner) for inner in value]
    return value


def _common_values(item: dict[str, AttributeValue], event: StoredEvent) -> dict[str, Any]:
    data = event.data
    arrived_via = event.arrived_via or ("backfill" if item.get("ingested_by", {}).get("S") == "backfill" else None)
    envelope = {
        "id": event.event_id,
        "type": event.event_type,
        "source": event.source or None,
        "time": event.time or None,
        "dataschema": event.dataschema or None,
        "data": data,
    }
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "schema_version": _schema_version(event.dataschema),
        "event_time": event.time,
        "received_at": event.received_at,
        "version": item.get("version", {}).get("S"),
        "arrived_via": arrived_via,
        "account_sid": data.get("account_sid"),
        "processing_state": data.get("processing_state"),
        "schema_violations": sorted(item.get("schema_violations", {}).get("SS", ())),
        "event_json": json.dumps(
            masked_json({key: value for key, value in envelope.items() if value is not None}),
            separators=(",", ":"),
            ensure_ascii=False,
        ),
    }


def _conference_values(data: dict[str, Any]) -> dict[str, Any]:
    detected = _object(data.get("detected_issues"))
    return {
        "conference_sid": data.get("conference_sid"),
        "friendly_name": _masked(data.get("friendly_name")),
        "status": data.get("status"),
        "end_reason": data.get("end_reason"),
        "ended_by": _masked(data.get("ended_by")),
        "mixer_region": data.get("mixer_region"),
        "mixer_region_requested": data.get("mixer_region_requested"),
        "recording_enabled": data.get("recording_enabled"),
        "create_time": _utc(data.get("create_time")),
        "start_time": _utc(data.get("start_time")),
        "end_time": _utc(data.get("end_time")),
        "duration_seconds": data.get("duration_seconds"),
        "connect_duration_seconds": data.get("connect_duration_seconds"),
        "max_participants": data.get("max_participants"),
        "max_concurrent_participants": data.get("max_concurrent_participants"),
        "unique_participants": data.get("unique_participants"),
        "tags": _masked_strings(data.get("tags")),
        "detected_issues_call_quality": detected.get("call_quality"),
        "detected_issues_region_configuration": detected.get("region_configuration"),
        "detected_issues_participant_behavior": detected.get("participant_behavior"),
    }


def _participant_values(data: dict[str, Any]) -> dict[str, Any]:
    metrics = _object(data.get("metrics"))
    values = {
        "participant_sid": data.get("participant_sid"),
        "conference_sid": data.get("conference_sid"),
        "call_sid": data.get("call_sid"),
        "label": _masked(data.get("label")),
        "call_direction": data.get("call_direction"),
        "call_type": data.get("call_type"),
        "call_state": data.get("call_state"),
        "country_code": data.get("country_code"),
        "participant_region": data.get("participant_region"),
        "conference_region": data.get("conference_region"),
        "from_number": _masked(data.get("from")),
        "to_number": _masked(data.get("to")),
        "join_time": _utc(data.get("join_time")),
        "leave_time": _utc(data.get("leave_time")),
        "duration_seconds": data.get("duration_seconds"),
        "is_moderator": data.get("is_moderator"),
        "jitter_buffer_size": data.get("jitter_buffer_size"),
        "quality_issues": data.get("quality_issues"),
    }
    for direction in ("inbound", "outbound"):
        stream = _object(metrics.get(direction))
        jitter, latency = _object(stream.get("jitter")), _object(stream.get("latency"))
        values |= {
            f"{direction}_mos": stream.get("mos"),
            f"{direction}_jitter_avg": jitter.get("avg"),
            f"{direction}_jitter_max": jitter.get("max"),
            f"{direction}_packet_loss_percentage": stream.get("packet_loss_percentage"),
            f"{direction}_latency_avg": latency.get("avg"),
            f"{direction}_latency_max": latency.get("max"),
            f"{direction}_packets_lost": stream.get("total_packets_lost"),
            f"{direction}_packets_received": stream.get("total_packets_received"),
            f"{direction}_tags": _masked_strings(stream.get("tags")),
        }
    return values


def _schema_version(dataschema: str) -> str | None:
    # The last path segment of dataschema ("2" for …/ConferenceSummary/2), as models.CloudEvent.schema_version.
    return (dataschema.rstrip("/").rsplit("/", 1)[-1].removesuffix(".json") or None) if dataschema else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _masked(value: Any) -> Any:
    return mask_phone_numbers_in(value) if isinstance(value, str) else value


def _masked_strings(value: Any) -> Any:
    return [_masked(element) for element in value] if isinstance(value, list) else value


def _utc(value: Any) -> str | None:
    """A time as the lake writes them (``…T07:17:02.363000Z``, UTC); None when it is not an ISO 8601 time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return utc_text(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _string(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)  # a number sent where text was documented: kept as its JSON text
    return None


def _whole(limits: tuple[int, int]) -> Any:
    def conform(value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if isinstance(value, float) and not value.is_integer():
            return None
        number = int(value)
        return number if limits[0] <= number <= limits[1] else None

    return conform


def _double(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [text for text in map(_string, value) if text is not None]


_CONFORM = {
    "string": _string,
    "bigint": _whole(_BIGINT_RANGE),
    "int": _whole(_INT_RANGE),
    "double": _double,
    "boolean": _boolean,
    "array<string>": _strings,
    "timestamp": _utc,
}


def _cut(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_TEXT_CHARS_IN_A_LONG_ROW]
    if isinstance(value, list):
        return [_cut(element) for element in value[:MAX_TEXT_CHARS_IN_A_LONG_ROW]]
    return value


def _json_line(row: dict[str, Any]) -> bytes:
    # Compact, UTF-8 as is: Firehose bills bytes. Lone surrogates (valid JSON, not UTF-8) are escaped instead.
    text = json.dumps(row, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(row, separators=(",", ":")).encode()


__all__ = ["MAX_ROW_BYTES", "LakeRow", "conform", "masked_json", "row_of"]
