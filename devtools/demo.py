"""`make demo`: the built functions against a local AWS endpoint, fed the sample events on both paths.

1. moto server on 127.0.0.1 with the template's table, stream, bucket and queue (from template.yaml);
2. each function from .aws-sam/build under the Lambda Runtime Interface Emulator;
3. the Kinesis samples are put on the stream (PutRecords, as Twilio's sink does), read back and handed
   to each function through the template's event filter; the webhook samples go to their routes;
4. the table's stream records go through the alert function's filter to the alert function, and the
   alerts are read back from an SQS queue subscribed to the topic;
5. prints what was stored, ignored, rejected and alerted, and checks that every event is accounted for.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from devtools.cfn import create_data_resources, filter_patterns, function_environment, load_template, local_client
from devtools.lambda_events import (
    LOCAL_WEBHOOK_SECRET,
    kinesis_filter_matches,
    read_stream_records,
    read_table_stream_records,
    table_stream_filter_matches,
)
from devtools.lambda_rie import BUILD_DIR, LambdaEmulator, built_function
from devtools.moto_server import MotoServer, aws_env
from devtools.queues import drain, subscribe_queue
from voice_insights.alert_message import AlertPayload, render_text

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = {
    "ConferenceSummaryCompleteFunction": "conference_summary_complete",
    "ConferenceSummaryPartialFunction": "conference_summary_partial",
    "ParticipantSummaryCompleteFunction": "participant_summary_complete",
    "UnroutedEventsFunction": "unrouted_events",
}
ALERT_FUNCTION = "QualityAlertsFunction"
COUNTED = ("stored", "duplicates", "stale", "rejected", "test_events", "failed")


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    if not (BUILD_DIR / "template.yaml").exists():
        print("no .aws-sam/build: run `make build` first", file=sys.stderr)
        return 2
    template = load_template(BUILD_DIR / "template.yaml")
    with ExitStack() as stack:
        moto = stack.enter_context(MotoServer())
        resources = create_data_resources(ROOT / "template.yaml", moto.endpoint_url)
        # The webhook samples in events/ are signed with the local auth token: the local secret holds it.
        local_client("secretsmanager", moto.endpoint_url).put_secret_value(
            SecretId=resources["TwilioWebhookSecret"]["ref"], SecretString=json.dumps(LOCAL_WEBHOOK_SECRET)
        )
        print(f"local AWS endpoint: {moto.endpoint_url}")
        functions: dict[str, LambdaEmulator] = {}
        for logical_id in [*FUNCTIONS, ALERT_FUNCTION]:
            env = {**function_environment(template, logical_id, resources), **aws_env(moto.endpoint_url)}
            functions[logical_id] = stack.enter_context(built_function(logical_id, env, template))
        print(f"functions running from {BUILD_DIR.relative_to(ROOT)}: {', '.join(functions)}\n")

        sent_kinesis = put_kinesis_samples(moto.endpoint_url, resources["EventStream"]["ref"])
        problems = deliver_kinesis(moto.endpoint_url, resources["EventStream"]["ref"], template, functions)
        sent_webhook, webhook_problems = deliver_webhook_samples(functions)
        problems += webhook_problems

        alert_queue = subscribe_queue(moto.endpoint_url, resources["AlertTopic"]["ref"], "demo-alerts")
        problems += deliver_table_stream(moto.endpoint_url, resources, template, functions[ALERT_FUNCTION])

        settled = settled_counts(functions.values())
        print_report(moto.endpoint_url, resources, sent_kinesis, sent_webhook, settled)
        print_alerts(moto.endpoint_url, alert_queue)
        accounted = sum(settled[name] for name in COUNTED if name != "failed")
        if accounted != sent_kinesis + sent_webhook or settled["failed"]:
            problems.append(f"{sent_kinesis + sent_webhook} events sent, {accounted} accounted for")
        for problem in problems:
            print(f"PROBLEM: {problem}", file=sys.stderr)
        print("\nevery event is accounted for" if not problems else "\nsome events are not accounted for")
        return 1 if problems else 0


def put_kinesis_samples(endpoint_url: str, stream: str) -> int:
    data = [
        base64.b64decode(record["kinesis"]["data"])
        for path in sorted((ROOT / "events").glob("*/kinesis*.json"))
        for record in json.loads(path.read_text())["Records"]
    ]
    local_client("kinesis", endpoint_url).put_records(
        StreamName=stream, Records=[{"Data": d, "PartitionKey": f"p{i}"} for i, d in enumerate(data)]
    )
    print(f"Kinesis: put {len(data)} records on the stream")
    return len(data)


def deliver_kinesis(
    endpoint_url: str, stream: str, template: dict[str, Any], functions: dict[str, LambdaEmulator]
) -> list[str]:
    """What Lambda's event-source mappings do: one batch per function, through its filter."""
    records = read_stream_records(local_client("kinesis", endpoint_url), stream)
    problems = []
    for logical_id, function in functions.items():
        if logical_id not in FUNCTIONS:
            continue  # the alert function reads the table's stream, not Kinesis
        patterns = filter_patterns(template, logical_id, "Stream")
        batch = [r for r in records if kinesis_filter_matches(patterns, r)]
        if not batch:
            continue
        answer = function.invoke({"Records": batch})
        print(f"  {logical_id}: {len(batch)} records -> {answer}")
        if answer.get("batchItemFailures"):
            problems.append(f"{logical_id} asked for records again: {answer}")
    return problems


def deliver_webhook_samples(functions: dict[str, LambdaEmulator]) -> tuple[int, list[str]]:
    sent, problems = 0, []
    print("\nWebhook:")
    for logical_id, folder in FUNCTIONS.items():
        for path in sorted((ROOT / "events" / folder).glob("webhook*.json")):
            event = json.loads(path.read_text())
            sent += len(json.loads(event["body"]))
            answer = functions[logical_id].invoke(event)
            print(f"  POST {event['path']} ({path.name}) -> {answer['statusCode']} {answer['body']}")
            if answer["statusCode"] != 200:
                problems.append(f"{path.name} answered {answer['statusCode']}")
    return sent, problems


def deliver_table_stream(
    endpoint_url: str, resources: dict[str, Any], template: dict[str, Any], function: LambdaEmulator
) -> list[str]:
    """What the alert function's event-source mapping does: the table's stream, through its filter."""
    records = read_table_stream_records(
        local_client("dynamodbstreams", endpoint_url), resources["SummariesTable"]["attrs"]["StreamArn"]
    )
    patterns = filter_patterns(template, ALERT_FUNCTION, "TableStream")
    batch = [r for r in records if table_stream_filter_matches(patterns, r)]
    print(f"\nTable stream: {len(records)} changes, {len(batch)} with issues pass the alert filter")
    if not batch:
        return []
    answer = function.invoke({"Records": batch})
    print(f"  {ALERT_FUNCTION}: {len(batch)} records -> {answer}")
    return [f"{ALERT_FUNCTION} asked for records again: {answer}"] if answer.get("batchItemFailures") else []


def print_alerts(endpoint_url: str, queue_url: str) -> None:
    notifications = [json.loads(message["Body"]) for message in drain(endpoint_url, queue_url)]
    print(f"\nAlerts published to the SNS topic, read back from an SQS subscription ({len(notifications)}):")
    for notification in notifications:
        print(f"  {notification['Subject']}")
    if notifications:
        # The queue gets the machine body; an email subscriber gets this text, rendered by the same code.
        print("\nWhat an email subscriber reads for the first one:\n")
        text = render_text(AlertPayload.model_validate_json(notifications[0]["Message"]))
        print("\n".join(f"    {line}" for line in text.splitlines()))


def settled_counts(functions: Any) -> Counter[str]:
    """Summed from the functions' own "Batch settled" log lines (Powertools JSON logs)."""
    totals: Counter[str] = Counter()
    for function in functions:
        for line in function.logs().splitlines():
            if '"Batch settled"' in line:
                entry = json.loads(line)
                totals.update({name: entry[name] for name in COUNTED})
    return totals


def print_report(
    endpoint_url: str, resources: dict[str, Any], sent_kinesis: int, sent_webhook: int, settled: Counter[str]
) -> None:
    dynamodb = local_client("dynamodb", endpoint_url)
    items = dynamodb.scan(TableName=resources["SummariesTable"]["ref"])["Items"]
    print(f"\nStored in {resources['SummariesTable']['ref']} ({len(items)} items):")
    for item in sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"])):
        kind = item["event_type"]["S"].removeprefix("com.twilio.voice.insights.")
        print(f"  {item['pk']['S']:<42} {item['sk']['S']:<40} {kind:<45} event {item['event_id']['S']}")
    s3 = local_client("s3", endpoint_url)
    bucket = resources["RejectedEventsBucket"]["ref"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    print(f"\nRejected, kept in s3://{bucket} ({len(keys)}):")
    for key in keys:
        record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        print(f"  [{record['source']}/{record['function']}] {record['reason'][:110]}")
    print(f"\nEvents sent: {sent_kinesis} on Kinesis + {sent_webhook} by webhook = {sent_kinesis + sent_webhook}")
    print("Settled:     " + ", ".join(f"{name} {settled[name]}" for name in COUNTED))


if __name__ == "__main__":
    sys.exit(main())
