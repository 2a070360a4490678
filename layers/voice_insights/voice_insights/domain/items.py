"""What is stored for one summary event, and how it is read back. Pure functions, no AWS.

Table layout (one table):

| item               | pk                | sk                 | gsi1pk / gsi1sk                      | gsi2pk          |
|--------------------|-------------------|--------------------|--------------------------------------|-----------------|
| conference summary | CONF#<conference> | SUMMARY            | ACCT#<account> / <start_time>#<conf> |                 |
| participant        | CONF#<conference> | PART#<participant> |                                      | CALL#<call_sid> |

- one Query on ``pk`` returns a conference's summary with all of its participants;
- ``ByAccountStartTime`` lists an account's conferences by start time;
- ``ByCallSid`` (with ``CallSidIndex=true``) finds a participant summary by call SID.

Items are written at most once per ``version`` and only over a lower one (see ``version_of``).
The event is kept whole in ``payload`` (voice_insights.domain.payload), so every field, unknown ones included,
reads back into the same model; the few flat attributes beside it serve a query or a person
(docs/storage.md), and the free text among them (friendly name, tags) has its phone numbers masked.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from voice_insights.domain import payload
from voice_insights.domain.models import (
    ConferenceSummary,
    EventType,
    ParticipantSummary,
    ParticipantSummaryCompleteEvent,
    SummaryEvent,
)
from voice_insights.domain.quality import DEFAULT_THRESHOLDS, Thresholds, issues_of
from voice_insights.domain.redaction import mask_phone_numbers_in
from voice_insights.domain.schema_drift import lenient_summary

# DynamoDB's item limit is 400 KB including attribute names
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
# Above MAX_ITEM_BYTES (less an allowance) even the compressed event cannot be stored.
MAX_ITEM_BYTES = 400 * 1024
ITEM_OVERHEAD_ALLOWANCE = 8 * 1024
CONFERENCE_SUMMARY = "conference_summary"
PARTICIPANT_SUMMARY = "participant_summary"
CONFERENCE_SORT_KEY = "SUMMARY"
PARTICIPANT_SORT_KEY_PREFIX = "PART#"

# A complete summary outranks a partial one of the same conference, whatever their times.
_RANK = {
    EventType.CONFERENCE_SUMMARY_PARTIAL: 1,
    EventType.CONFERENCE_SUMMARY_COMPLETE: 2,
    EventType.PARTICIPANT_SUMMARY_COMPLETE: 2,
    EventType.PARTICIPANT_SUMMARY_COMPLETE_ALIAS: 2,
}

# Backfilled states (CloudEvents extension ``backfill``: "alerts-off" or "alerts-on", set by domain.backfill).
BACKFILL_EXTENSION = "backfill"
BACKFILL_ALERTS_OFF = "alerts-off"
BACKFILL_VERSION_MARK = "#!backfill#"
_BACKFILL_STATE_ORDER = {"in_progress": 1, "timeout": 2, "complete": 3}

# How an event arrived (the pipeline's source), kept in the payload's envelope as one letter (``via``): the
# history lake's ``arrived_via``. One letter: 5-8 bytes more per item (the word: 11-16), no write unit more
# (docs/history.md).
ARRIVED_VIA_CODES = {"kinesis": "k", "webhook": "w", "backfill": "b"}
ARRIVED_VIA_NAMES = {code: name for name, code in ARRIVED_VIA_CODES.items()}

AttributeValue = dict[str, Any]


class ItemTooLarge(ValueError):
    """The event's summary does not fit in a DynamoDB item even compressed."""


@dataclass(frozen=True, slots=True)
class StoredItem:
    pk: str
    sk: str
    version: str
    event_id: str
    event_type: str
    attributes: dict[str, AttributeValue]
    size: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.pk, self.sk)


def event_time(event: SummaryEvent) -> str:
    """The event's own time, normalised to UTC so that strings compare as times; "" when unknown.

    CloudEvents carry it in ``time``; Twilio's documented samples put it in ``datacontenttype``.
    """
    for candidate in (event.time, event.datacontenttype):
        if candidate:
            try:
                moment = datetime.fromisoformat(candidate)
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return utc_text(moment)
    return ""


def now_utc() -> datetime:
    return datetime.now(UTC)


def utc_text(moment: datetime) -> str:
    """``2025-10-08T07:17:02.363000Z``: fixed width (4-digit year, microseconds), so strings compare as times.
    isoformat, not strftime: cheaper, and Linux's strftime writes year 999 as "999"."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


def version_of(event: SummaryEvent, time: str | None = None) -> str:
    """Total order of the events of one item: rank (partial < complete), then event time, then id.

    The id makes the order total, so that any delivery order ends in the same stored item,
    and a redelivery of the stored event has exactly the stored version (a duplicate).
    ``time``: ``event_time(event)`` when the caller has it already.

    A backfilled state (read from Twilio's REST API, docs/backfill.md) has no event time or stream id:
    ``rank#!backfill#<processing state>`` sorts below every stream version of its rank ('!' before
    digits and '#'), above the lower rank, so a stream event of the same state always wins and a
    backfill never replaces a state of the same or a higher rank that the stream stored.
    """
    if is_backfill(event):
        state = _BACKFILL_STATE_ORDER.get(event.data.processing_state or "", 0)
        return f"{_RANK[event.type]}{BACKFILL_VERSION_MARK}{state}"
    return f"{_RANK[event.type]}#{event_time(event) if time is None else time}#{event.id}"


def is_backfill(event: SummaryEvent) -> bool:
    """Whether the event was built by a backfill from the REST API (CloudEvents extension ``backfill``)."""
    return bool((event.model_extra or {}).get(BACKFILL_EXTENSION))


def refused_as_duplicate(stored_version: str | None, version: str) -> bool:
    """Whether a write refused over ``stored_version`` repeats what is stored (a duplicate) rather than being
    older (stale): the same version, or a backfilled state whose rank the stream already stored."""
    if stored_version is None:
        return False
    if stored_version == version:
        return True
    rank, _, rest = version.partition("#")
    stored_rank, _, stored_rest = stored_version.partition("#")
    return rest.startswith(BACKFILL_VERSION_MARK[1:]) and not stored_rest.startswith("!") and rank == stored_rank


def to_item(
    event: SummaryEvent,
    received_at: datetime,
    retention_days: int = 0,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    violations: Sequence[str] = (),
    data_as_sent: str | None = None,
    arrived_via: str | None = None,
) -> StoredItem:
    """The DynamoDB item (low-level attribute values) that stores ``event``. An event that differs from Twilio's
    documented schema (``violations``: the fields) keeps its data as sent (``data_as_sent``, JSON text).
    ``arrived_via``: the path it came by (a key of ARRIVED_VIA_CODES; another value or None records none).

    The event itself is in ``payload`` (compressed, see voice_insights.domain.payload); the flat attributes beside it
    are only those a query, the alert function's filter or a person reading the table needs (docs/storage.md).
    """
    time = event_time(event)
    version = version_of(event, time)
    received, expires_at = _receipt_attributes(received_at, retention_days)
    attrs: dict[str, AttributeValue] = {"version": _s(version)}
    if violations:
        attrs["schema_violations"] = {"SS": sorted(violations)}
    if expires_at is not None:
        attrs["expires_at"] = expires_at
    if is_backfill(event):  # the alert function skips an item with alerts "off" (alerting.new_issues)
        attrs["ingested_by"] = _s("backfill")
        if (event.model_extra or {}).get(BACKFILL_EXTENSION) == BACKFILL_ALERTS_OFF:
            attrs["alerts"] = _s("off")

    if isinstance(event, ParticipantSummaryCompleteEvent):
        pk, sk = _participant_attributes(event.data, attrs)
    else:
        pk, sk = _conference_attributes(event.data, attrs)
    attrs["pk"], attrs["sk"] = _s(pk), _s(sk)
    _put_issues(attrs, event.data, thresholds)
    _put_read_index_keys(attrs, event.data, time)

    envelope = {
        "id": event.id,
        "type": event.type.value,
        "source": event.source,
        "time": time,
        "dataschema": event.dataschema,
        "received_at": received,
    }
    via = ARRIVED_VIA_CODES.get(arrived_via or "")
    if via is not None:
        envelope["via"] = via
    data_json = data_as_sent or event.data.model_dump_json(by_alias=True, exclude_unset=True)
    attrs["payload"] = {"B": payload.encode(payload.payload_json(envelope, data_json))}
    size = item_size(attrs)
    if size > MAX_ITEM_BYTES - ITEM_OVERHEAD_ALLOWANCE:
        raise ItemTooLarge(
            f"the summary is {_text_size(data_json)} bytes ({len(attrs['payload']['B'])} compressed); "
            f"a DynamoDB item holds at most {MAX_ITEM_BYTES} bytes"
        )
    return StoredItem(
        pk=pk, sk=sk, version=version, event_id=event.id, event_type=event.type.value, attributes=attrs, size=size
    )


@lru_cache(maxsize=4)
def _receipt_attributes(received_at: datetime, retention_days: int) -> tuple[str, AttributeValue | None]:
    """``received_at`` and the TTL attribute: the same for every event of a batch, so computed once.
    Callers never change the values returned."""
    received = utc_text(received_at)
    if retention_days <= 0:
        return received, None
    # TTL attribute: epoch seconds (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html)
    return received, _n(int((received_at + timedelta(days=retention_days)).timestamp()))


def _conference_attributes(data: ConferenceSummary, attrs: dict[str, AttributeValue]) -> tuple[str, str]:
    if data.start_time is not None:  # documented, not needed to store: without it, not in ByAccountStartTime
        attrs["gsi1pk"] = _s(f"ACCT#{data.account_sid}")
        attrs["gsi1sk"] = _s(f"{data.start_time}#{data.conference_sid}")
    # The read API filters an account's conferences on status and tag; the alert names a participant's conference.
    _put_strings(attrs, status=data.status, friendly_name=_masked(data.friendly_name))
    if data.tags:
        attrs["tags"] = {"L": [_s(mask_phone_numbers_in(tag)) for tag in data.tags]}
    return f"CONF#{data.conference_sid}", CONFERENCE_SORT_KEY


def _participant_attributes(data: ParticipantSummary, attrs: dict[str, AttributeValue]) -> tuple[str, str]:
    # Written whatever CallSidIndex says: an attribute no index has costs no index write, and an index created
    # later (CallSidIndex=true) is backfilled from the items already stored.
    if data.call_sid is not None:  # documented, not needed to store: without it, not in ByCallSid
        attrs["gsi2pk"] = _s(f"CALL#{data.call_sid}")
    return f"CONF#{data.conference_sid}", f"{PARTICIPANT_SORT_KEY_PREFIX}{data.participant_sid}"


def _put_issues(
    attrs: dict[str, AttributeValue], data: ConferenceSummary | ParticipantSummary, thresholds: Thresholds
) -> None:
    # The alert function's stream filter matches `issue_severity`: items without issues never invoke it.
    issues = issues_of(data, thresholds)
    if issues:
        attrs["issue_severity"] = _s(issues[0].severity.label)  # the worst: issues_of lists it first
        # A string set: botocore validates and serialises each element of a list as a structure.
        attrs["issue_codes"] = {"SS": sorted({issue.code for issue in issues})}


# The read API's issues index (docs/read.md). ByIssueMonth (sparse: items with issues only): gsi3pk = ISSUES#<yyyy-mm>,
# gsi3sk = <time>#<conference_sid>#<sk>; the time is the summary's own (start, join; else the event's), in UTC.
# (ByStartDay's gsi4pk/gsi4sk are no longer written: the quality report reads the lake.)
def _put_read_index_keys(
    attrs: dict[str, AttributeValue], data: ConferenceSummary | ParticipantSummary, time: str
) -> None:
    own = _utc_or_none(data.start_time if isinstance(data, ConferenceSummary) else data.join_time)
    when = own or time
    if "issue_severity" in attrs and when:
        attrs["gsi3pk"] = _s(f"ISSUES#{when[:7]}")
        attrs["gsi3sk"] = _s(f"{when}#{data.conference_sid}#{attrs['sk']['S']}")


def _utc_or_none(text: str | None) -> str | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return utc_text(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def summary_from_item(
    item: dict[str, AttributeValue], event: StoredEvent | None = None
) -> ConferenceSummary | ParticipantSummary:
    """Read a stored item (low-level attribute values) back into the model it was written from.
    ``event``: ``stored_event(item)`` when the caller has it already."""
    model = ParticipantSummary if entity_of(item) == PARTICIPANT_SUMMARY else ConferenceSummary
    # The data as sent, whether or not it follows Twilio's documentation.
    summary, _ = lenient_summary(model, (event or stored_event(item)).data)
    return cast(ConferenceSummary | ParticipantSummary, summary)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """What an item keeps of its event, whichever format wrote it."""

    event_id: str
    event_type: str
    received_at: str
    data: dict[str, Any]
    # The envelope's other fields; "" where the item does not keep them (the format before keeps none).
    time: str = ""
    source: str = ""
    dataschema: str = ""
    arrived_via: str = ""  # kinesis, webhook, backfill; "" for items stored before it was recorded


def stored_event(item: dict[str, AttributeValue]) -> StoredEvent:
    """The event an item keeps. Reads this format (``payload``) and the one before it (flat ``event_id``,
    ``event_type``, ``received_at`` beside ``data`` as JSON text or ``data_gz``), so items stored before
    still read. Raises ValueError (voice_insights.domain.payload.UnreadablePayload) when it holds no readable event."""
    if "payload" in item:
        content = payload.decode(_binary(item["payload"]["B"]))
        return StoredEvent(
            event_id=str(content.get("id") or ""),
            event_type=str(content.get("type") or ""),
            received_at=str(content.get("received_at") or ""),
            data=content["data"],
            time=str(content.get("time") or ""),
            source=str(content.get("source") or ""),
            dataschema=str(content.get("dataschema") or ""),
            arrived_via=ARRIVED_VIA_NAMES.get(str(content.get("via") or ""), ""),
        )
    if "data_gz" in item:
        data = json.loads(gzip.decompress(_binary(item["data_gz"]["B"])))
    elif "data" in item:
        data = json.loads(item["data"]["S"])
    else:
        raise ValueError("not a summary item (no payload or data attribute)")
    return StoredEvent(
        event_id=item.get("event_id", {}).get("S", ""),
        event_type=item.get("event_type", {}).get("S", ""),
        received_at=item.get("received_at", {}).get("S", ""),
        data=data,
    )


def entity_of(item: dict[str, AttributeValue]) -> str:
    """CONFERENCE_SUMMARY or PARTICIPANT_SUMMARY, from the sort key (items of the format before also name it)."""
    sort_key = item.get("sk", {}).get("S", "")
    return PARTICIPANT_SUMMARY if sort_key.startswith(PARTICIPANT_SORT_KEY_PREFIX) else CONFERENCE_SUMMARY


def _binary(value: bytes | str) -> bytes:
    # Lambda's DynamoDB stream events carry binary values base64-encoded; boto3 hands back bytes.
    return base64.b64decode(value) if isinstance(value, str) else value


def _masked(text: str | None) -> str | None:
    # Applications often put the caller's number in labels and names: readers of the table see it masked.
    return mask_phone_numbers_in(text) if text else text


def _put_strings(attrs: dict[str, AttributeValue], **values: str | None) -> None:
    for name, value in values.items():
        if value is not None:
            attrs[name] = _s(value)


def _s(value: str) -> AttributeValue:
    return {"S": value}


def _n(value: int | float) -> AttributeValue:
    return {"N": str(value)}


def item_size(attrs: dict[str, AttributeValue]) -> int:
    """DynamoDB's count for these attributes, what write units are billed on: the names plus the values,
    in UTF-8 bytes; a number counted as its digits (DynamoDB's is about half). Summed here: measuring
    their JSON text costs more.
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)"""
    size = 0
    for name, value in attrs.items():
        text = value.get("S") or value.get("N")  # most attributes, inline: a call per attribute costs
        if text is not None and text.isascii():
            size += len(name) + len(text)
        else:
            size += len(name) + _value_size(value)
    return size


def _text_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _value_size(value: AttributeValue) -> int:
    ((kind, content),) = value.items()
    if kind in ("S", "N"):
        return _text_size(content)
    if kind == "B":
        return len(content)
    if kind in ("SS", "NS"):
        return sum(_text_size(element) for element in content)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in content)
    raise TypeError(f"no size for a {kind} attribute")  # to_item writes only the kinds above


__all__ = [
    "ARRIVED_VIA_CODES",
    "BACKFILL_ALERTS_OFF",
    "BACKFILL_EXTENSION",
    "CONFERENCE_SUMMARY",
    "PARTICIPANT_SUMMARY",
    "ItemTooLarge",
    "StoredEvent",
    "StoredItem",
    "entity_of",
    "event_time",
    "is_backfill",
    "item_size",
    "now_utc",
    "refused_as_duplicate",
    "stored_event",
    "summary_from_item",
    "to_item",
    "version_of",
]
