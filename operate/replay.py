"""Replay what Lambda gave up on: the records of each batch in a stream trigger's on-failure queue.

When a Kinesis or table-stream batch still fails after ``StreamMaximumRetryAttempts``, Lambda sends the
trigger's on-failure destination a record that says where the batch is, not what it holds
(``KinesisBatchInfo`` / ``DDBStreamBatchInfo``: shard, first and last sequence number;
https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html). This reads those
records back from the stream while it still retains them (the Kinesis stream keeps them
``StreamRetentionHours``, 24 h by default; a table stream keeps them 24 h), keeps the ones the trigger's
filter lets through, and invokes the function with them in Lambda's event shape. A message is deleted
only when the function settled every record; otherwise it stays in the queue for the next run.
Replaying is safe: the functions ignore what they already stored or alerted (duplicates).

    python -m operate.replay --queue-url "$(aws cloudformation describe-stacks ... StreamFailuresQueueUrl)"
    python -m operate.replay --queue-url URL --dry-run   # show what would be replayed
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devtools.lambda_events import kinesis_filter_matches, kinesis_record, table_stream_filter_matches
from devtools.lambda_events import table_stream_record as lambda_table_stream_record
from devtools.pollers import Invoke, sequence_number
from operate import aws_access


@dataclass(frozen=True)
class ReplayTarget:
    """How to reach the function a failure record names, and its trigger's filter (None: no filter)."""

    invoke: Invoke
    filter_patterns: list[dict[str, Any]] | None


@dataclass(frozen=True)
class FailedBatch:
    kind: str  # "kinesis" or "dynamodb"
    function_arn: str
    stream_arn: str
    shard_id: str
    first: str
    last: str
    size: int

    @classmethod
    def from_message(cls, body: str) -> FailedBatch:
        record = json.loads(body)
        if "KinesisBatchInfo" in record:
            kind, info = "kinesis", record["KinesisBatchInfo"]
        else:
            kind, info = "dynamodb", record.get("DDBStreamBatchInfo")
        if not isinstance(info, dict):
            raise ValueError("not a Lambda stream on-failure record (no KinesisBatchInfo or DDBStreamBatchInfo)")
        return cls(
            kind=kind,
            function_arn=record["requestContext"]["functionArn"],
            stream_arn=info["streamArn"],
            shard_id=info["shardId"],
            first=info["startSequenceNumber"],
            last=info["endSequenceNumber"],
            size=int(info.get("batchSize", 0)),
        )


@dataclass
class ReplayReport:
    messages: int = 0
    replayed: int = 0  # messages whose records were all settled, deleted from the queue
    records_read: int = 0
    records_delivered: int = 0
    kept: list[str] = field(default_factory=list)  # why a message stayed in the queue

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "replayed": self.replayed,
            "records_read": self.records_read,
            "records_delivered": self.records_delivered,
            "kept": self.kept,
        }


def read_batch(batch: FailedBatch, kinesis: Any, streams: Any) -> list[dict[str, Any]]:
    """The batch's records, first to last sequence number, as Lambda's event records."""
    if batch.kind == "kinesis":
        iterator = kinesis.get_shard_iterator(
            StreamARN=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=batch.first,
        )["ShardIterator"]
    else:
        iterator = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.first,
        )["ShardIterator"]
    last = int(batch.last)
    records: list[dict[str, Any]] = []
    while iterator:
        if batch.kind == "kinesis":
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000, StreamARN=batch.stream_arn)
            fetched = [kinesis_record(r, batch.shard_id, batch.stream_arn) for r in page["Records"]]
        else:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            fetched = [lambda_table_stream_record(r, batch.stream_arn) for r in page["Records"]]
        for record in fetched:
            if int(sequence_number(record)) > last:
                return records
            records.append(record)
        if not fetched:
            break  # caught up with the shard: the batch ends at its tip
        iterator = page.get("NextShardIterator")
    return records


def replay(
    queue_url: str,
    sqs: Any,
    kinesis: Any,
    streams: Any,
    target_of: Callable[[str, str], ReplayTarget],
    dry_run: bool = False,
) -> ReplayReport:
    """Replay every message now visible in ``queue_url``; ``target_of(function_arn, stream_arn)``."""
    report = ReplayReport()
    seen: set[str] = set()  # a kept message may come back within this run: one try per run
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        fresh = [message for message in messages if message["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            report.messages += 1
            reason = _replay_one(message["Body"], kinesis, streams, target_of, report, dry_run)
            if reason is None and not dry_run:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                report.replayed += 1
            elif reason is not None:
                report.kept.append(f"{message['MessageId']}: {reason}")
    return report


def _replay_one(
    body: str,
    kinesis: Any,
    streams: Any,
    target_of: Callable[[str, str], ReplayTarget],
    report: ReplayReport,
    dry_run: bool,
) -> str | None:
    """None when the batch is settled; else why the message stays."""
    try:
        batch = FailedBatch.from_message(body)
    except (ValueError, KeyError, TypeError) as error:
        return f"unreadable message: {error}"
    records = read_batch(batch, kinesis, streams)
    report.records_read += len(records)
    if not records:
        return f"no records {batch.first}..{batch.last} in {batch.shard_id}: past the stream's retention?"
    target = target_of(batch.function_arn, batch.stream_arn)
    matches = kinesis_filter_matches if batch.kind == "kinesis" else table_stream_filter_matches
    selected = [record for record in records if matches(target.filter_patterns, record)]
    if dry_run or not selected:
        return None
    try:
        answer = target.invoke({"Records": selected})
    except Exception as error:  # the function failed again: try another time
        return f"function error: {error}"
    report.records_delivered += len(selected)
    failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
    if failures:
        return f"{len(failures)} of {len(selected)} records still not settled"
    return None


def aws_target_of(lambda_client: Any) -> Callable[[str, str], ReplayTarget]:
    """Invoke the deployed function; its event-source mapping's filter decides which records it gets."""

    def target_of(function_arn: str, stream_arn: str) -> ReplayTarget:
        mappings = lambda_client.list_event_source_mappings(FunctionName=function_arn, EventSourceArn=stream_arn)
        filters = [f for m in mappings["EventSourceMappings"] for f in m.get("FilterCriteria", {}).get("Filters", [])]
        patterns = [json.loads(f["Pattern"]) for f in filters] or None

        def invoke(event: dict[str, Any]) -> Any:
            response = lambda_client.invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
            payload = json.loads(response["Payload"].read() or b"null")
            if response.get("FunctionError"):
                raise RuntimeError(f"{response['FunctionError']}: {json.dumps(payload)[:500]}")
            return payload

        return ReplayTarget(invoke, patterns)

    return target_of


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue-url", required=True, help="the stack's StreamFailuresQueueUrl output")
    parser.add_argument("--dry-run", action="store_true", help="read and count, invoke nothing, delete nothing")
    parser.add_argument("--endpoint-url", help="AWS endpoint (the local runner's moto server); or AWS_ENDPOINT_URL")
    args = parser.parse_args(argv)
    try:
        report = replay(
            args.queue_url,
            aws_access.client("sqs", args.endpoint_url),
            aws_access.client("kinesis", args.endpoint_url),
            aws_access.client("dynamodbstreams", args.endpoint_url),
            aws_target_of(aws_access.client("lambda", args.endpoint_url)),
            dry_run=args.dry_run,
        )
    except aws_access.SETUP_ERRORS as error:
        print(f"error: {aws_access.explain(error)}", file=sys.stderr)
        return 2
    json.dump(report.as_dict(), sys.stdout, indent=2)
    print()
    return 1 if report.kept else 0


if __name__ == "__main__":
    sys.exit(main())
