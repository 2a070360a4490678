"""Given Twilio events arriving on both sinks, when the processing functions run against a real local
endpoint (moto server over HTTP), then every event is stored, ignored as duplicate/stale, or kept as
rejected with its reason — counted, not assumed."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from devtools.lambda_events import api_gateway_event, read_stream_records
from tests.conftest import FIXTURES, load_seed, variant
from tests.integration.conftest import Handler, LocalStack, MetricsCapture, load_handlers, run_kinesis
from tests.unit.test_redaction import shows_whole
from voice_insights.domain.items import stored_event, summary_from_item
from voice_insights.ingest.webhook import route_path
from voice_insights.runtime.observability import logger

PARTICIPANT_ALIAS = "com.twilio.voice.insights.participant-summary.complete"


def conference(kind: str, conference_sid: str, event_id: str, time: str) -> dict[str, Any]:
    return variant(load_seed(f"conference_summary_{kind}"), id=event_id, time=time, data__conference_sid=conference_sid)


def participant(participant_sid: str, event_id: str, **changes: Any) -> dict[str, Any]:
    return variant(
        load_seed("participant_summary_complete"),
        id=event_id,
        data__participant_sid=participant_sid,
        data__call_sid="CA" + participant_sid[2:],
        **changes,
    )


def workload(sink_test_event: dict[str, Any]) -> tuple[list[bytes], dict[str, int]]:
    """15 events as Twilio would write them, with the outcome counts they must end in."""
    complete_a = conference("complete", "CFA", "NOa2", "2026-01-01T10:30:00Z")
    late_partial_a = conference("partial", "CFA", "NOa3", "2026-01-01T10:40:00Z")  # after complete: stale
    partial_b = conference("partial", "CFB", "NOb1", "2026-01-01T11:00:00Z")
    p2 = participant("CP2", "NOp2")
    invalid_participant = participant("CP9", "NOp9")
    del invalid_participant["data"]["participant_sid"]
    events = [
        conference("partial", "CFA", "NOa1", "2026-01-01T10:00:00Z"),  # stale: superseded by the later partial
        complete_a,
        {**complete_a, "data": json.dumps(complete_a["data"])},  # redelivery, data string-encoded as on Kinesis
        late_partial_a,
        partial_b,
        partial_b,  # duplicate
        participant("CP1", "NOp1"),
        p2,
        p2,  # duplicate
        participant("CP3", "NOp3", type=PARTICIPANT_ALIAS),
        invalid_participant,  # rejected: participant_sid (its key) missing
        variant(complete_a, id="NOa9", data__account_sid=42),  # rejected: wrong type of a field storing needs
        {"specversion": "1.0", "type": "com.twilio.voice.insights.call-summary.complete", "id": "NOx1"},  # unknown
        sink_test_event,
    ]
    raw = [json.dumps(event).encode() for event in events] + [b"\x00not json"]  # rejected: not JSON
    expected = {"stored": 5, "duplicates": 3, "stale": 2, "rejected": 4, "test_events": 1}
    return raw, expected


def metric_counts(metrics: MetricsCapture) -> dict[str, int]:
    names = {
        "stored": "EventsStored",
        "duplicates": "DuplicatesIgnored",
        "stale": "StaleIgnored",
        "rejected": "EventsRejected",
        "test_events": "SinkTestEvents",
    }
    return {key: int(metrics.totals[name]) for key, name in names.items()}


def assert_final_state(stack: LocalStack) -> None:
    items = {(i["pk"]["S"], i["sk"]["S"]): i for i in stack.items()}
    assert set(items) == {
        ("CONF#CFA", "SUMMARY"),
        ("CONF#CFB", "SUMMARY"),
        ("CONF#CF0000000000000000000000000000001", "PART#CP1"),
        ("CONF#CF0000000000000000000000000000001", "PART#CP2"),
        ("CONF#CF0000000000000000000000000000001", "PART#CP3"),
    }
    conference_a = items[("CONF#CFA", "SUMMARY")]
    assert stored_event(conference_a).event_id == "NOa2"  # the complete summary, not the later partial
    assert stored_event(conference_a).event_type.endswith("conference-summary.complete")
    assert summary_from_item(conference_a).conference_sid == "CFA"


def test_kinesis_batches_account_for_every_record(
    stack: LocalStack, handlers: dict[str, Handler], metrics_capture: MetricsCapture, sink_test_event: dict[str, Any]
) -> None:
    raw, expected = workload(sink_test_event)
    stack.kinesis.put_records(
        StreamName=stack.stream_name,
        Records=[{"Data": data, "PartitionKey": f"pk{i % 3}"} for i, data in enumerate(raw)],
    )

    responses = run_kinesis(stack, handlers, metrics_capture)

    assert all(response == {"batchItemFailures": []} for response in responses.values()), responses
    assert metric_counts(metrics_capture) == expected
    assert sum(expected.values()) == len(raw)
    assert_final_state(stack)
    rejected = stack.rejected()
    assert len(rejected) == expected["rejected"]
    reasons = sorted(r["reason"] for r in rejected)
    assert any("data.participant_sid: Field required" in r for r in reasons)
    assert any("data.account_sid: Input should be a valid string" in r for r in reasons)
    assert any("'com.twilio.voice.insights.call-summary.complete' is not one this application" in r for r in reasons)
    assert any("not valid JSON" in r for r in reasons)
    # The raw payload is kept exactly, with where it came from, so it can be replayed.
    not_json = next(r for r in rejected if "not valid JSON" in r["reason"])
    assert not_json["raw"] == "\x00not json"
    assert not_json["origin"]["sequence_number"] and not_json["origin"]["shard_id"].startswith("shardId-")

    # Lambda redelivers after a partial failure: a second pass over the same records changes nothing.
    before = stack.items()
    second = MetricsCapture()
    run_kinesis(stack, handlers, second)
    assert stack.items() == before
    assert metric_counts(second)["stored"] == 0
    assert len(stack.rejected()) == 2 * expected["rejected"]  # every delivery of a bad event is kept


def post(handler: Handler, route: str, body: str) -> tuple[int, dict[str, Any]]:
    response = handler(api_gateway_event(route_path(route), body))
    return response["statusCode"], json.loads(response["body"])


def test_webhook_batches_account_for_every_event(
    stack: LocalStack, handlers: dict[str, Handler], metrics_capture: MetricsCapture, sink_test_event: dict[str, Any]
) -> None:
    raw, expected = workload(sink_test_event)
    events = [json.loads(data) for data in raw[:-1]]  # a webhook array cannot hold a non-JSON element
    by_route = {  # positions in workload(); the unknown type goes to a summary route, the test event too
        "conference_summary_complete": [events[i] for i in (1, 2, 11)],
        "conference_summary_partial": [events[i] for i in (0, 3, 4, 5, 13)],
        "participant_summary_complete": [events[i] for i in (6, 7, 8, 9, 10, 12)],
    }

    answers = {}
    for route in ["conference_summary_complete", "conference_summary_partial", "participant_summary_complete"]:
        answers[route] = metrics_capture.run(lambda r=route: post(handlers[r], r, json.dumps(by_route[r])))

    assert answers["conference_summary_complete"] == (
        200, {"stored": 1, "duplicates": 1, "stale": 0, "rejected": 1, "test_events": 0, "failed": 0}
    )  # fmt: skip
    assert answers["conference_summary_partial"] == (
        200, {"stored": 1, "duplicates": 1, "stale": 2, "rejected": 0, "test_events": 1, "failed": 0}
    )  # fmt: skip
    assert answers["participant_summary_complete"] == (
        200, {"stored": 3, "duplicates": 1, "stale": 0, "rejected": 2, "test_events": 0, "failed": 0}
    )  # fmt: skip
    webhook_expected = {**expected, "rejected": expected["rejected"] - 1}  # no non-JSON element in an array
    assert metric_counts(metrics_capture) == webhook_expected
    assert_final_state(stack)
    assert len(stack.rejected()) == webhook_expected["rejected"]


@pytest.mark.parametrize("body", ["{not json", '{"type": "an object, not an array"}', ""])
def test_webhook_body_that_is_not_an_array_is_kept_and_answered_400(
    stack: LocalStack, handlers: dict[str, Handler], body: str
) -> None:
    status, answer = post(handlers["conference_summary_complete"], "conference_summary_complete", body)
    assert status == 400
    assert answer["rejected"] == 1 and answer["message"]
    (kept,) = stack.rejected()
    assert kept["raw"] == body and kept["source"] == "webhook" and kept["reason"] == answer["message"]


def test_empty_webhook_array_is_fine(stack: LocalStack, handlers: dict[str, Handler]) -> None:
    status, answer = post(handlers["conference_summary_partial"], "conference_summary_partial", "[]")
    assert (status, answer["stored"], answer["rejected"]) == (200, 0, 0)


def test_aws_failure_is_retried_never_rejected(
    stack: LocalStack, handlers: dict[str, Handler], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table that cannot be written (here: a name that does not exist) is an AWS failure, not bad input."""
    monkeypatch.setenv("SUMMARIES_TABLE_NAME", "no-such-table")
    fresh = load_handlers()  # built again: they read the environment on first use
    good = load_seed("conference_summary_complete")
    bad = variant(good, id="NObad", data__conference_sid=None)
    data = [json.dumps(good).encode(), json.dumps(bad).encode()]
    stack.kinesis.put_records(StreamName=stack.stream_name, Records=[{"Data": d, "PartitionKey": "k"} for d in data])
    records = read_stream_records(stack.kinesis, stack.stream_name)

    response = fresh["conference_summary_complete"]({"Records": records})
    assert response == {"batchItemFailures": [{"itemIdentifier": records[0]["kinesis"]["sequenceNumber"]}]}
    assert len(stack.rejected()) == 1  # the invalid one is settled (kept) even while the table is down

    status, answer = post(fresh["conference_summary_complete"], "conference_summary_complete", json.dumps([good]))
    assert status == 500 and answer["failed"] == 1

    # The bucket failing too: the invalid event is then retried as well, never dropped.
    monkeypatch.setenv("REJECTED_BUCKET_NAME", "no-such-bucket")
    response = load_handlers()["conference_summary_complete"]({"Records": records})
    assert len(response["batchItemFailures"]) == 2
    assert base64.b64decode(records[1]["kinesis"]["data"]) == data[1]


def test_deeply_nested_body_is_kept_and_answered_400(stack: LocalStack, handlers: dict[str, Handler]) -> None:
    body = "[" * 100_000 + "]" * 100_000  # refused before json.loads (which raises RecursionError on this)
    status, answer = post(handlers["conference_summary_complete"], "conference_summary_complete", body)
    assert status == 400 and "nested more than 33 deep" in answer["message"]
    (kept,) = stack.rejected()
    assert kept["raw"] == body


QUOTED_NUMBER = "+15550100"  # an exception's message may quote the event: phone numbers stay out of logs


def fails_on_cp2(stage: str, real: Any) -> Any:
    """A bug that one event triggers: ``stage`` (decode or to_item) raises on participant CP2 only."""

    def decode(raw: Any, *args: Any) -> Any:
        text = raw.decode() if isinstance(raw, bytes) else raw if isinstance(raw, str) else json.dumps(raw)
        if '"CP2"' in text:
            raise ZeroDivisionError(f"division by zero for {QUOTED_NUMBER}")
        return real(raw, *args)

    def to_item(event: Any, *args: Any, **kwargs: Any) -> Any:
        if event.data.participant_sid == "CP2":
            raise ZeroDivisionError(f"division by zero for {QUOTED_NUMBER}")
        return real(event, *args, **kwargs)

    return {"decode": decode, "to_item": to_item}[stage]


@pytest.mark.parametrize("stage", ["decode", "to_item"])
@pytest.mark.parametrize("path", ["kinesis", "webhook"])
def test_an_event_the_code_fails_on_is_kept_as_rejected_and_the_others_stored(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, metrics_capture: MetricsCapture, stage: str, path: str
) -> None:
    """Fault injected: decoding an event and building its item read nothing but the event, so a bug one
    event triggers fails the same way on every retry. Failing the batch would hold back the events behind
    it and, once retries run out, leave only Lambda's pointer to a record the stream soon drops."""
    import voice_insights.ingest.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, stage, fails_on_cp2(stage, getattr(pipeline_module, stage)))
    log = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", log)
    handler = load_handlers()["participant_summary_complete"]
    events = [participant(f"CP{n}", f"NOp{n}") for n in (1, 2, 3)]
    raw = [json.dumps(event).encode() for event in events]

    if path == "kinesis":
        stack.kinesis.put_records(StreamName=stack.stream_name, Records=[{"Data": d, "PartitionKey": "k"} for d in raw])
        records = read_stream_records(stack.kinesis, stack.stream_name)
        assert metrics_capture.run(lambda: handler({"Records": records})) == {"batchItemFailures": []}
    else:
        answer = metrics_capture.run(lambda: handler(api_gateway_event(route_path("participant_summary_complete"),
                                                                        b"[" + b",".join(raw) + b"]")))  # fmt: skip
        assert answer["statusCode"] == 200, answer
        assert json.loads(answer["body"]) == {
            "stored": 2, "duplicates": 0, "stale": 0, "rejected": 1, "test_events": 0, "failed": 0
        }  # fmt: skip

    assert sorted(item["sk"]["S"] for item in stack.items()) == ["PART#CP1", "PART#CP3"]
    (kept,) = stack.rejected()
    assert kept["reason"] == f"internal error ({stage}): ZeroDivisionError"
    message = f"ZeroDivisionError: division by zero for {QUOTED_NUMBER}"
    assert kept["errors"] == [{"field": "", "type": "internal_error", "message": message}]
    (logged,) = [json.loads(line) for line in log.getvalue().splitlines() if "Internal error" in line]
    assert (logged["level"], logged["stage"], logged["event_id"]) == ("ERROR", stage, "NOp2")
    assert logged["error_type"] == "ZeroDivisionError"
    assert logged["traceback"][-1].startswith(f'  File "{__file__}"') and f"in {stage}\n" in logged["traceback"][-1]
    assert QUOTED_NUMBER not in log.getvalue()
    assert (kept["event_id"], kept["event_type"]) == ("NOp2", events[1]["type"])
    assert json.loads(kept["raw"]) == events[1]
    assert (metrics_capture.totals["EventsStored"], metrics_capture.totals["EventsRejected"]) == (2, 1)
    assert metrics_capture.totals["InternalErrors"] == 1  # what InternalErrorsAlarm watches
    assert metrics_capture.totals["EventsFailed"] == 0


CALLER = "+14155551234"


def string_values(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for child in value.values() for text in string_values(child)]
    if isinstance(value, list):
        return [text for child in value for text in string_values(child)]
    return [value] if isinstance(value, str) else []


def test_event_text_reaches_no_log_line_whole_or_unescaped(
    stack: LocalStack, handlers: dict[str, Handler], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forged event can put a phone number (or a line break) in any field that gets logged: its id, its type,
    the SIDs that make its item's key, a sink test id."""
    events = [
        variant(load_seed("conference_summary_complete"), id=f"NO{CALLER}\r\nFAKE", type=f"x.{CALLER}\nFAKE"),
        variant(load_seed("conference_summary_complete"), id=CALLER, data__account_sid=None),  # rejected
        participant(CALLER, CALLER + "\n"),  # stored, then ignored as a duplicate: its key is logged
        participant(CALLER, CALLER + "\n"),
        variant(json.loads((FIXTURES / "sink-test-event.json").read_text()), id=CALLER, data__test_id=CALLER),
    ]
    log = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", log)
    records = [{"Data": json.dumps(event).encode(), "PartitionKey": "k"} for event in events]
    stack.kinesis.put_records(StreamName=stack.stream_name, Records=records)
    run_kinesis(stack, handlers, MetricsCapture())
    for route in ("conference_summary_complete", "participant_summary_complete"):
        post(handlers[route], route, json.dumps(events))

    lines = log.getvalue().splitlines()
    assert len(lines) > 10
    for line in lines:
        for text in string_values(json.loads(line)):  # each line one JSON document: no forged line
            assert not shows_whole(CALLER, text), line
