"""Given a signed but hostile event (5 MB of ``[]`` in an unknown field, nesting 100,000 deep, millions of tiny
values), when ingest decodes it on either path, or a reader reads back an item stored before the bounds held, then
it is answered within the bounds of domain/json_limits.py, fast and in little memory: rejected with the reason
(nothing lost), or unreadable with the reason. Each case prints its time and peak memory (tracemalloc)."""

from __future__ import annotations

import gc
import gzip
import json
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import load_seed
from voice_insights.alerts.alerting import AlertOutcome, AlertPipeline, ItemChange
from voice_insights.domain import payload
from voice_insights.domain.items import stored_event, to_item
from voice_insights.domain.json_limits import EVENT, over_limits, value_over_limits
from voice_insights.domain.models import ParticipantSummaryCompleteEvent
from voice_insights.domain.quality import Thresholds
from voice_insights.ingest.decoding import Accepted, NotJson, Rejected, Skipped, decode, load_json
from voice_insights.ingest.routes import PARTICIPANT_SUMMARY_COMPLETE, UNROUTED
from voice_insights.read.summary_queries import data_of

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
MB = 1024 * 1024
PLACE = '"@shape@"'
# name: the JSON text put in the unknown field ``data.x``
SHAPES = {
    "5 MB of []": "[" + ",".join(["[]"] * 1_700_000) + "]",
    "nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "2.5 million tiny values": "[" + ",".join(["0"] * 2_500_000) + "]",
    "300,000 tiny values in 600 KB": "[" + ",".join(["0"] * 300_000) + "]",
    "30,000 tiny values in 60 KB": "[" + ",".join(["0"] * 30_000) + "]",
}


def event_text(shape: str, data_as_string: bool = False) -> str:
    event = load_seed("participant_summary_complete")
    event["data"]["x"] = "@shape@"
    if data_as_string:  # as Twilio's Kinesis sink sends it
        event["data"] = json.dumps(event["data"]).replace(PLACE, shape.replace('"', '\\"'))
        return json.dumps(event)
    return json.dumps(event).replace(PLACE, shape)


def measured[T](call: Callable[[], T]) -> tuple[T, float, int]:
    """The result, the seconds and the peak memory (bytes) of ``call``: timed once, then traced once
    (tracemalloc slows every allocation down)."""
    gc.collect()
    started = time.perf_counter()
    call()
    seconds = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()
    try:
        result = call()
        return result, seconds, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("data_as_string", [False, True], ids=["data object", "data as a string"])
@pytest.mark.parametrize("name", SHAPES)
def test_a_hostile_kinesis_record_is_rejected_with_the_reason_before_it_is_parsed(
    name: str, data_as_string: bool
) -> None:
    raw = event_text(SHAPES[name], data_as_string).encode()
    decision, seconds, peak = measured(lambda: decode(raw, PARTICIPANT_SUMMARY_COMPLETE))
    print(f"figures | kinesis {name} ({len(raw):,} B) | {seconds:.3f} s | peak {peak / MB:.1f} MB")
    assert isinstance(decision, Rejected), decision
    assert decision.reason.startswith("the event ") and "more than one event may hold" in decision.reason
    assert seconds < 0.5
    assert peak < MB  # never an object per value


@pytest.mark.parametrize("name", SHAPES)
def test_a_webhook_body_over_the_body_limits_is_refused_before_parsing_else_each_event_is_bounded(name: str) -> None:
    body = "[" + event_text(SHAPES[name]) + "]"

    def settle() -> Any:
        try:
            events = load_json(body)
        except NotJson as refused:  # the webhook answers 400 and keeps the signed body whole, with this reason
            return refused
        return [decode(event, PARTICIPANT_SUMMARY_COMPLETE) for event in events]

    settled, seconds, peak = measured(settle)
    print(f"figures | webhook {name} ({len(body):,} B) | {seconds:.3f} s | peak {peak / MB:.1f} MB")
    assert seconds < 2.0
    if isinstance(settled, NotJson):
        assert str(settled).startswith("JSON that ")
        assert peak < len(body) + MB  # one copy of the text, in bytes
    else:  # parsed (within the body's limits): the event is rejected with the reason, nothing lost
        (decision,) = settled
        assert isinstance(decision, Rejected) and "more than one event may hold" in decision.reason
        assert decision.event_id == load_seed("participant_summary_complete")["id"]


@pytest.mark.parametrize("name", ["conference_summary_complete", "participant_summary_complete"])
def test_twilios_documented_samples_are_far_inside_every_bound(name: str) -> None:
    text = json.dumps(load_seed(name), separators=(",", ":"))
    assert over_limits(text, EVENT) is None
    assert len(text) * 50 < EVENT.max_bytes
    assert (text.count(",") + text.count(":")) * 50 < EVENT.max_values


def test_the_depth_is_counted_exactly_whatever_the_brackets() -> None:
    assert over_limits("[" * 32 + "]" * 32, EVENT) is None
    assert over_limits('{"a":' * 31 + "[]" + "}" * 31, EVENT) is None
    assert over_limits("[" * 33 + "]" * 33, EVENT) == "is nested more than 32 deep"
    assert over_limits("[{" * 17 + "}]" * 17, EVENT) == "is nested more than 32 deep"
    assert over_limits("]" * 50 + "[" * 20, EVENT) is None  # not JSON: the parser says so


def stored_before_the_bounds(shape: str) -> dict[str, Any]:
    """An item as code before the bounds stored such an event (5.4 KB for 5 MB of ``[]``)."""
    return to_item(ParticipantSummaryCompleteEvent.model_validate_json(event_text(shape)), NOW).attributes


@pytest.fixture(scope="module")
def hostile_item() -> dict[str, Any]:
    item = stored_before_the_bounds(SHAPES["5 MB of []"])
    assert len(item["payload"]["B"]) < 10_000
    return item


def test_an_item_stored_before_the_bounds_is_unreadable_without_inflating_it(hostile_item: dict[str, Any]) -> None:
    def read() -> Exception:
        with pytest.raises(payload.UnreadablePayload) as raised:
            stored_event(hostile_item)
        return raised.value

    error, seconds, peak = measured(read)
    print(f"figures | read back 5 MB of [] stored in {len(hostile_item['payload']['B']):,} B | {seconds:.3f} s | "
          f"peak {peak / MB:.1f} MB")  # fmt: skip
    assert "inflates beyond 524,288 bytes" in str(error)
    assert seconds < 0.2 and peak < 2 * MB
    answered = data_of(hostile_item)
    assert answered["unreadable"].startswith("this stored summary cannot be answered: the payload is truncated")
    assert answered["participant_sid"] == hostile_item["sk"]["S"].removeprefix("PART#")


def test_the_format_before_is_bounded_too(hostile_item: dict[str, Any]) -> None:
    text = event_text(SHAPES["5 MB of []"])
    old = {"pk": hostile_item["pk"], "sk": hostile_item["sk"], "data_gz": {"B": gzip.compress(text.encode())}}
    with pytest.raises(payload.UnreadablePayload, match="inflates beyond"):
        stored_event(old)
    flat = {"pk": hostile_item["pk"], "sk": hostile_item["sk"], "data": {"S": "[" + ",".join(["0"] * 100_000) + "]"}}
    with pytest.raises(payload.UnreadablePayload, match="holds more than 40,000 values"):
        stored_event(flat)


class Fakes:
    """The alert pipeline's AWS parts, in memory."""

    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []

    def keep(self, record: dict[str, Any], received_at: datetime) -> str:
        self.kept.append(record)
        return f"rejected/{len(self.kept)}"

    def alerted(self, keys: Any) -> dict[Any, set[str]]:
        return {key: set() for key in keys}

    def publish(self, messages: list[Any]) -> list[None]:
        return [None] * len(messages)


def test_the_alert_function_reads_ten_such_records_in_bounded_memory(hostile_item: dict[str, Any]) -> None:
    fakes = Fakes()
    pipeline = AlertPipeline(Thresholds(), fakes, fakes, fakes, fakes, clock=lambda: NOW)  # type: ignore[arg-type]
    body = {"Keys": {"pk": hostile_item["pk"], "sk": hostile_item["sk"]}, "NewImage": hostile_item}
    changes = [ItemChange.from_stream_record({"eventSource": "aws:dynamodb", "dynamodb": body})] * 10
    report, seconds, peak = measured(lambda: pipeline.process(changes))
    print(f"figures | alert function, 10 records of 5 MB of [] | {seconds:.3f} s | peak {peak / MB:.1f} MB")
    assert report.outcomes == [AlertOutcome.UNREADABLE] * 10
    assert len(fakes.kept) == 20  # timed once, traced once
    assert all("inflates beyond" in record["reason"] for record in fakes.kept)
    assert seconds < 1.0 and peak < 20 * MB


def test_an_event_within_the_bounds_is_stored_and_reads_back_whole() -> None:
    event = load_seed("participant_summary_complete")
    event["data"]["x"] = [[0] * 10] * 1_500  # 16,500 values and keys, 33 KB
    decision = decode(json.dumps(event).encode(), PARTICIPANT_SUMMARY_COMPLETE)
    assert isinstance(decision, Accepted), decision
    item = to_item(decision.event, NOW, violations=decision.violations, data_as_sent=decision.data_as_sent)
    assert stored_event(item.attributes).data["x"] == event["data"]["x"]


@pytest.mark.parametrize("name", SHAPES)
def test_the_catch_all_function_skips_what_a_routed_function_took_and_rejects_the_rest(name: str) -> None:
    raw = event_text(SHAPES[name]).encode()
    # Lambda's filter (JSON it can read, a routed type) hands the record to the participant function too.
    filter_reads = len(raw) <= MB and name != "nested 100,000 deep"
    started = time.perf_counter()
    decision = decode(raw, UNROUTED)
    seconds = time.perf_counter() - started
    assert isinstance(decision, Skipped if filter_reads else Rejected), decision
    unknown = decode(raw.replace(b"conference-participant-summary", b"unknown-summary"), UNROUTED)
    assert isinstance(unknown, Rejected) and "more than one event may hold" in unknown.reason
    assert seconds < 1.0


def test_a_parsed_event_counts_as_its_text_does() -> None:
    event = load_seed("participant_summary_complete")
    event["data"]["x"] = [[0] * 10, {"a": [], "b": {}}] * 1_000
    text = json.dumps(event, separators=(",", ":"))
    values = text.count(",") + text.count(":") + 1
    below = EVENT.__class__(max_bytes=EVENT.max_bytes, max_values=values, max_depth=EVENT.max_depth)
    above = EVENT.__class__(max_bytes=EVENT.max_bytes, max_values=values - 1, max_depth=EVENT.max_depth)
    assert over_limits(text, below) is None and value_over_limits(event, below) is None
    assert (
        over_limits(text, above)
        == value_over_limits(event, above)
        == f"holds more than {values - 1:,} values and keys ({values:,})"
    )


def test_the_catch_all_function_reads_an_over_bounds_record_as_strictly_as_the_filter() -> None:
    raw = event_text(SHAPES["300,000 tiny values in 600 KB"]).encode()
    # A byte-order mark or UTF-16: no filter reads them as JSON, so no routed function got the event.
    for unread in (b"\xef\xbb\xbf" + raw, raw.decode().encode("utf-16")):
        decision = decode(unread, UNROUTED)
        assert isinstance(decision, Rejected) and "more than one event may hold" in decision.reason
