"""One measured scenario, in a fresh process (so that its CPU, memory and logs are its own).

    python -m bench.invoke SCENARIO ENDPOINT RESULT_FILE

Scenarios:
- ``handlers``: the 1,000 mixed events through each Kinesis function's real handler (the template's
  filters decide which function gets which record), then the resulting table changes through the
  alert function's filter and handler;
- ``participants``: 1,000 participant summaries through the participant function: the worst case
  for CPU and memory, measured for the memory-size and peak-RSS figures. A saturated shard is one
  batch after another in the same execution environment, so the batch runs ``BATCHES`` times (the
  table emptied before each): the first (its heap grows to hold 1,000 events) and the median of the
  others, the warm environment that must keep up;
- ``naive``: the baseline written for the benchmark: each record decoded, validated and written
  alone with a conditional ``put_item``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import resource
import sys
import time
import urllib.request
from typing import Any

from bench import billing, indexes, workload
from devtools.cfn import filter_patterns, load_template
from devtools.lambda_events import (
    LocalLambdaContext,
    kinesis_filter_matches,
    table_stream_filter_matches,
)
from voice_insights.domain.items import (  # reads no environment at import (observability.py does)
    item_size,
    stored_event,
)

TABLE = "bench-summaries"
LEDGER = "bench-ledger"
BATCHES = 4  # the participant scenario's: the first, then three in a warm environment
KINESIS_FUNCTIONS = {
    "ConferenceSummaryCompleteFunction": "conference_summary_complete",
    "ConferenceSummaryPartialFunction": "conference_summary_partial",
    "ParticipantSummaryCompleteFunction": "participant_summary_complete",
    "UnroutedEventsFunction": "unrouted_events",
}


def environment(endpoint: str) -> None:
    os.environ.update(bench_environment(endpoint))


def bench_environment(endpoint: str) -> dict[str, str]:
    """The functions' environment in the benchmark: every client calls the stand-in at ``endpoint``."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SUMMARIES_TABLE_NAME": TABLE,
        "REJECTED_BUCKET_NAME": "bench-rejected",
        "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench-alerts",
        "ALERT_LEDGER_TABLE_NAME": LEDGER,
        "WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench",
        "POWERTOOLS_SERVICE_NAME": "voice-insights-events",
        "POWERTOOLS_METRICS_NAMESPACE": "VoiceInsightsEvents",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",  # as deployed: the per-event log lines are part of the cost
    }


def load_handler(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"fn_{name}", workload.ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = LocalLambdaContext(function_name=name)
    return lambda event: module.lambda_handler(event, context)


def timed(call: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def fake(endpoint: str, method: str = "GET", path: str = "/_stats") -> Any:
    request = urllib.request.Request(endpoint + path, method=method)  # noqa: S310 (the 127.0.0.1 stand-in)
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return json.loads(answer.read())


def scenario_handlers(endpoint: str) -> dict[str, Any]:
    template = load_template(workload.ROOT / "template.yaml")
    records = workload.kinesis_records(workload.build().events)
    handlers = {logical_id: load_handler(name) for logical_id, name in KINESIS_FUNCTIONS.items()}
    alerts = load_handler("quality_alerts")
    warm_up(handlers, endpoint)

    functions = {}
    for logical_id, handler in handlers.items():
        patterns = filter_patterns(template, logical_id, "Stream")
        batch = [r for r in records if kinesis_filter_matches(patterns, r)]
        answer, wall, cpu = timed(lambda h=handler, b=batch: h({"Records": b}))
        functions[logical_id] = {"records": len(batch), "wall_s": wall, "cpu_s": cpu, "answer": answer}
    processors = fake(endpoint)["requests"]

    changes = fake(endpoint, path="/_changes")["changes"]
    patterns = filter_patterns(template, "QualityAlertsFunction", "TableStream")
    stream = [stream_record(change, n) for n, change in enumerate(changes)]
    batch = [r for r in stream if table_stream_filter_matches(patterns, r)]
    answers, wall, cpu = [], 0.0, 0.0
    for start in range(0, len(batch), 100):  # the template's BatchSize
        answer, w, c = timed(lambda s=start: alerts({"Records": batch[s : s + 100]}))
        answers.append(answer)
        wall, cpu = wall + w, cpu + c
    stats = fake(endpoint)
    log = fake(endpoint, path="/_changes")
    items = log["changes"]
    table = indexes.table_from_template(workload.ROOT / "template.yaml")
    every_index = indexes.table_from_template(workload.ROOT / "template.yaml", indexes.ALL_INDEXES)
    final = {_key(change): change["NewImage"] for change in items}
    return {
        "functions": functions,
        "processor_requests": processors,
        "alerts": {"changes": len(changes), "records": len(batch), "wall_s": wall, "cpu_s": cpu, "answers": answers},
        "requests": stats["requests"],
        "published": stats["published"],
        "writes": len(items),
        "billing": billing.summarise(log["writes"], TABLE, LEDGER, table),
        # Every index the template can create (CallSidIndex=true too): what each one costs, deployed or not.
        "every_index_writes": billing.summarise(log["writes"], TABLE, LEDGER, every_index)["index_writes"],
        "stored_images": [change["NewImage"] for change in items],  # every version stored, in stream order: the lake
        "stored_bytes": billing.stored_bytes(list(final.values()), table),
        "final_items": final_items(changes),
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def scenario_participants(endpoint: str) -> dict[str, Any]:
    records = workload.kinesis_records(workload.participants_only(1000))
    handler = load_handler("participant_summary_complete")
    warm_up({"ParticipantSummaryCompleteFunction": handler}, endpoint)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    batches = []
    for _ in range(BATCHES):
        fake(endpoint, method="DELETE", path="/_reset")  # every batch stores its 1,000 items
        batches.append(timed(lambda: handler({"Records": records})))
    first, warm = batches[0], sorted(batches[1:], key=lambda batch: batch[2])
    answer, wall, cpu = warm[len(warm) // 2]
    return {
        "records": len(records),
        "wall_s": wall,
        "cpu_s": cpu,
        "first_batch_cpu_s": first[2],
        "answer": answer,
        "requests": fake(endpoint)["requests"],
        "rss_before_kb": rss_before,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def scenario_naive(endpoint: str) -> dict[str, Any]:
    """Validate each record and put it alone: what a first version of this function would do."""
    import boto3
    from botocore.exceptions import ClientError
    from pydantic import TypeAdapter

    from voice_insights.domain.items import now_utc, to_item
    from voice_insights.domain.models import SummaryEvent

    records = workload.kinesis_records(workload.build().events)
    adapter: TypeAdapter[Any] = TypeAdapter(SummaryEvent)
    client = boto3.client("dynamodb")

    def run() -> dict[str, int]:
        counts = {"stored": 0, "ignored": 0}
        for record in records:
            event = json.loads(base64.b64decode(record["kinesis"]["data"]))
            item = to_item(adapter.validate_python(event), now_utc())
            try:
                client.put_item(
                    TableName=TABLE,
                    Item=item.attributes,
                    ConditionExpression="attribute_not_exists(pk) OR #version < :version",
                    ExpressionAttributeNames={"#version": "version"},
                    ExpressionAttributeValues={":version": {"S": item.version}},
                )
                counts["stored"] += 1
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                counts["ignored"] += 1
        return counts

    counts, wall, cpu = timed(run)
    return {
        "records": len(records),
        "wall_s": wall,
        "cpu_s": cpu,
        "counts": counts,
        "requests": fake(endpoint)["requests"],
    }


def warm_up(handlers: dict[str, Any], endpoint: str) -> None:
    """One small batch per function, so clients and caches exist as in a warm execution environment."""
    records = workload.kinesis_records(workload.build(conferences=1, participants_each=1).events[:3])
    for handler in handlers.values():
        handler({"Records": records})
    fake(endpoint, method="DELETE", path="/_reset")


def stream_record(change: dict[str, Any], position: int) -> dict[str, Any]:
    body = {key: change[key] for key in ("Keys", "NewImage", "OldImage") if key in change}
    body.update(
        SequenceNumber=f"{position:021d}", SizeBytes=len(json.dumps(change)), StreamViewType="NEW_AND_OLD_IMAGES"
    )
    return {"eventID": f"bench{position}", "eventName": change["eventName"], "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": body,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/bench/stream/x"}  # fmt: skip


def billed_bytes(change: dict[str, Any]) -> int:
    """The size DynamoDB bills a write of this change's new image on (not its JSON text, which is longer)."""
    return item_size(billing.decoded(change["NewImage"]) or {})


def _key(change: dict[str, Any]) -> str:
    return change["Keys"]["pk"]["S"] + "|" + change["Keys"]["sk"]["S"]


def final_items(changes: list[dict[str, Any]]) -> dict[str, str]:
    """The table as the writes left it: key -> stored event id."""
    items: dict[str, str] = {}
    for change in changes:
        key = change["Keys"]["pk"]["S"] + "|" + change["Keys"]["sk"]["S"]
        items[key] = stored_event(change["NewImage"]).event_id
    return items


SCENARIOS = {"handlers": scenario_handlers, "participants": scenario_participants, "naive": scenario_naive}

if __name__ == "__main__":
    name, endpoint, result_file = sys.argv[1:4]
    environment(endpoint)
    result = SCENARIOS[name](endpoint)
    with open(result_file, "w") as handle:
        json.dump(result, handle, default=str)
