"""Given summaries written through the processing path into a real local endpoint (moto server over HTTP),
when the alert function reads the table's real stream records, then each new problem is alerted exactly
once, read back from SQS queues subscribed to the topic — counted, not assumed."""

from __future__ import annotations

import json
import random
import time
from typing import Any

from devtools.lambda_events import api_gateway_event, table_stream_filter_matches
from devtools.queues import QueueReader
from tests.conftest import healthy_conference, healthy_participant, load_seed, variant, with_stream
from tests.integration.conftest import (
    Handler,
    LocalStack,
    MetricsCapture,
    alert_filter_patterns,
    filtered_table_stream,
    load_handlers,
    run_kinesis,
)
from voice_insights.alerts.alert_message import AlertPayload
from voice_insights.ingest.webhook import route_path

ALERTS = "quality_alerts"


def put_on_kinesis(stack: LocalStack, events: list[dict[str, Any]]) -> None:
    # As Twilio's Kinesis sink writes them: data string-encoded.
    records = [
        {"Data": json.dumps({**event, "data": json.dumps(event["data"])}).encode(), "PartitionKey": event["id"]}
        for event in events
    ]
    stack.kinesis.put_records(StreamName=stack.stream_name, Records=records)


def run_alerts(stack: LocalStack, handlers: dict[str, Handler], metrics: MetricsCapture) -> dict[str, Any]:
    batch = filtered_table_stream(stack)
    response: dict[str, Any] = metrics.run(lambda: handlers[ALERTS]({"Records": batch}) if batch else {})
    return response


def participant(sid: str, event_id: str, **metrics: Any) -> dict[str, Any]:
    event = healthy_participant(id=event_id, data__participant_sid=sid, data__call_sid="CA" + sid[2:], data__label=sid)
    return with_stream(event, "inbound", **metrics) if metrics else event


def conference(kind: str, event_id: str, time: str, tags: list[str], sid: str = "CFQ") -> dict[str, Any]:
    return healthy_conference(
        kind, id=event_id, time=time, data__conference_sid=sid, data__friendly_name=f"Bridge {sid}", data__tags=tags
    )


def payloads(messages: list[dict[str, Any]], raw: bool) -> list[AlertPayload]:
    bodies = [m["Body"] if raw else json.loads(m["Body"])["Message"] for m in messages]
    return [AlertPayload.model_validate_json(body) for body in bodies]


def test_one_alert_per_new_problem_across_repeats_and_reorders(
    stack: LocalStack, handlers: dict[str, Handler], metrics_capture: MetricsCapture
) -> None:
    every_alert = stack.subscribe_queue("every-alert")
    high_only = stack.subscribe_queue("high-only", filter_policy={"severity": ["high"]}, raw=True)

    # Phase 1: conferences start, participants leave.
    partial_q = conference("partial", "EV-q1", "2026-01-01T10:00:00Z", ["high_jitter"])
    bad_1 = participant("CPBAD1", "EV-b1", mos=2.1)
    bad_2 = variant(load_seed("participant_summary_complete"), id="EV-b2")  # the seed: high severity issues
    clean = [participant(f"CPOK{i}", f"EV-ok{i}") for i in range(3)]
    partial_clean = conference("partial", "EV-c1", "2026-01-01T10:00:00Z", [], sid="CFOK")
    phase_1 = [partial_q, bad_1, bad_2, *clean, partial_clean]
    put_on_kinesis(stack, phase_1)
    run_kinesis(stack, handlers, MetricsCapture())
    assert run_alerts(stack, handlers, metrics_capture) == {"batchItemFailures": []}

    # Phase 2: the complete summaries; a resend of a bad participant with nothing new; a redelivery;
    # a partial that arrives after its complete summary.
    complete_q = conference("complete", "EV-q2", "2026-01-01T11:00:00Z", ["high_jitter", "start_failure"])
    complete_clean = conference("complete", "EV-c2", "2026-01-01T11:00:00Z", [], sid="CFOK")
    resent_bad_1 = variant(with_stream(bad_1, "inbound", mos=2.3), id="EV-b1-resent", time="2026-01-02T00:00:00Z")
    late_partial_q = conference("partial", "EV-q0", "2026-01-01T09:00:00Z", ["high_latency"])
    put_on_kinesis(stack, [complete_q, complete_clean, resent_bad_1, bad_2, late_partial_q])
    run_kinesis(stack, handlers, MetricsCapture())
    assert run_alerts(stack, handlers, metrics_capture) == {"batchItemFailures": []}

    # Phase 3: Twilio's webhook sink delivers everything again, in another order; nothing changes.
    everything = [*phase_1, complete_q, complete_clean, resent_bad_1, late_partial_q]
    random.Random(7).shuffle(everything)
    for event in everything:
        route = {"conference-summary.complete": "conference_summary_complete",
                 "conference-summary.partial": "conference_summary_partial"}.get(
            event["type"].rsplit("insights.", 1)[1], "participant_summary_complete")  # fmt: skip
        handlers[route](_webhook(route, [event]))
    assert filtered_table_stream(stack) == []  # no write, hence no stream record, hence no alert

    alerts = payloads(stack.drain(every_alert), raw=False)
    by_subject = {(a.conference_sid, a.participant.participant_sid if a.participant else None): a for a in alerts}
    assert len(alerts) == 4, [a.subject for a in alerts]
    assert set(by_subject) == {
        ("CFQ", None),
        ("CF0000000000000000000000000000001", "CPBAD1"),
        ("CF0000000000000000000000000000001", "CP0000000000000000000000000000001"),
    }
    conference_alerts = [a for a in alerts if a.summary_type == "conference"]
    assert [[i.code for i in a.issues] for a in conference_alerts] == [["tag.high_jitter"], ["tag.start_failure"]]
    assert [a.conference_name for a in conference_alerts] == ["Bridge CFQ", "Bridge CFQ"]
    assert [i.code for i in by_subject[("CF0000000000000000000000000000001", "CPBAD1")].issues] == ["inbound.mos"]
    assert not any("CPOK" in json.dumps(a.model_dump()) or a.conference_sid == "CFOK" for a in alerts)

    high = payloads(stack.drain(high_only), raw=True)
    assert sorted(a.subject for a in high) == sorted(a.subject for a in alerts if a.severity == "high")
    assert len(high) == 2  # the start failure and the seed participant; the medium ones are filtered out

    assert metrics_capture.totals["AlertsPublished"] == 4
    assert metrics_capture.totals["ChangesWithoutNewIssues"] == 1  # the resent participant
    assert metrics_capture.totals["AlertsFailed"] == 0


def test_a_redelivered_stream_batch_sends_nothing_twice(
    stack: LocalStack, handlers: dict[str, Handler], metrics_capture: MetricsCapture
) -> None:
    queue = stack.subscribe_queue("every-alert", raw=True)
    put_on_kinesis(stack, [participant(f"CPBAD{i}", f"EV-{i}", packet_loss_percentage=9.0) for i in range(12)])
    run_kinesis(stack, handlers, MetricsCapture())
    batch = filtered_table_stream(stack)
    assert len(batch) == 12

    for _ in range(3):  # Lambda retrying the same batch (e.g. after a timeout)
        assert metrics_capture.run(lambda: handlers[ALERTS]({"Records": batch})) == {"batchItemFailures": []}

    alerts = payloads(stack.drain(queue), raw=True)
    assert sorted(a.participant.participant_sid for a in alerts if a.participant) == sorted(
        f"CPBAD{i}" for i in range(12)
    )
    assert metrics_capture.totals["AlertsPublished"] == 12
    assert metrics_capture.totals["AlertsAlreadySent"] == 24


def test_sns_failure_is_retried_then_sent_once(
    stack: LocalStack, handlers: dict[str, Handler], monkeypatch: Any
) -> None:
    queue = stack.subscribe_queue("every-alert", raw=True)
    put_on_kinesis(stack, [participant("CPBAD1", "EV-1", mos=1.5), participant("CPBAD2", "EV-2", mos=1.5)])
    run_kinesis(stack, handlers, MetricsCapture())
    batch = filtered_table_stream(stack)

    monkeypatch.setenv("ALERT_TOPIC_ARN", stack.topic_arn + "-gone")
    broken = _fresh_alert_handler()
    response = broken({"Records": batch})
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        r["dynamodb"]["SequenceNumber"] for r in batch
    ]
    assert stack.drain(queue) == []

    monkeypatch.setenv("ALERT_TOPIC_ARN", stack.topic_arn)
    assert _fresh_alert_handler()({"Records": batch}) == {"batchItemFailures": []}
    assert len(stack.drain(queue)) == 2


def test_the_min_severity_parameter_filters_the_stream_before_the_function_runs(
    stack: LocalStack, handlers: dict[str, Handler]
) -> None:
    put_on_kinesis(stack, [participant("CPBAD1", "EV-1", mos=2.0), variant(load_seed("participant_summary_complete"))])
    run_kinesis(stack, handlers, MetricsCapture())
    records = stack.new_table_stream_records()
    assert alert_filter_patterns({"AlertMinSeverity": "high"}) == [
        {"dynamodb": {"NewImage": {"issue_severity": {"S": ["high"]}}}}
    ]

    def passed(severity: str) -> int:
        patterns = alert_filter_patterns({"AlertMinSeverity": severity})
        return sum(table_stream_filter_matches(patterns, r) for r in records)

    assert (passed("low"), passed("medium"), passed("high")) == (2, 2, 1)


def _webhook(route: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    return api_gateway_event(route_path(route), json.dumps(events))


def _fresh_alert_handler() -> Handler:
    return load_handlers()[ALERTS]


def test_a_queue_reader_gets_every_message_published_while_and_after_it_reads(stack: LocalStack) -> None:
    # The demo reads alerts as they arrive (moto's queue operations scan the whole queue).
    queue = stack.subscribe_queue("read-while-published", raw=True)
    sns = stack.client("sns")
    reader = QueueReader(stack.endpoint_url, queue, idle_wait_s=0.01)
    for i in range(40):
        sns.publish(TopicArn=stack.topic_arn, Message=f"alert {i}")
        if i == 20:
            time.sleep(0.2)  # let the reader take some before the rest arrive
    read_before_finish = len(reader.messages)
    messages = reader.finish()

    assert read_before_finish > 0
    assert sorted(m["Body"] for m in messages) == sorted(f"alert {i}" for i in range(40))
    assert stack.drain(queue) == []
