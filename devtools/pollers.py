"""What Lambda's event-source mappings do for a stream, done locally: one poller per shard and function.

Each poller reads its shard from the local endpoint, drops the records the trigger's filter does not
match (Lambda treats them as processed), gathers a batch (batch size, batching window), invokes the
function and settles the answer as Lambda does
(https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#services-kinesis-batchfailurereporting):

- ``batchItemFailures``: the records before the lowest failed sequence number are done; the batch is
  retried from it;
- a function error (exception, timeout, crash): the batch is split in two when BisectBatchOnFunctionError
  is on, each half settled on its own; otherwise it is retried whole;
- after MaximumRetryAttempts retries the batch is sent to the on-failure destination (an SQS queue)
  with Lambda's batch-info record, and the shard moves on;
- a batch also ends before the record that would take its event past Lambda's 6 MB synchronous payload
  ("as long as the total size of the events doesn't exceed the payload limit for synchronous invocation (6 MB)":
  https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html, and the quota,
  https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).

As Lambda's pollers, they read the stream and send to the destination with the function's execution role (its
local key: devtools/local_iam.py checks those calls against the role once the runner enforces IAM).

Not emulated: MaximumRecordAgeInSeconds, parallelization factor, tumbling windows.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devtools.cfn import local_client
from devtools.lambda_events import (
    ACCOUNT,
    REGION,
    kinesis_filter_matches,
    kinesis_record,
    table_stream_filter_matches,
    table_stream_record,
)
from devtools.lambda_rie import MAX_REQUEST_BYTES
from devtools.local_iam import function_credentials
from devtools.triggers import StreamTrigger

POLL_INTERVAL_S = 0.2  # Lambda polls a shard about once a second; faster here so a local run stays snappy
RETRY_BACKOFF_S = (0.2, 0.4, 0.8, 1.6)


class FunctionError(Exception):
    """The function raised, timed out or died: Lambda retries the whole batch."""


Invoke = Callable[[dict[str, Any]], Any]


@dataclass
class PollerStats:
    invocations: int = 0
    records_delivered: int = 0
    records_filtered_out: int = 0
    retries: int = 0
    sent_to_destination: int = 0
    function_errors: int = 0


_EVENT_FRAME = len(json.dumps({"Records": []}))  # the event's bytes around its records


def record_bytes(record: dict[str, Any]) -> int:
    """What a record adds to the invocation's payload (JSON, with the separator before it)."""
    return len(json.dumps(record)) + 2


def take_batch(
    pending: deque[dict[str, Any]], batch_size: int, max_bytes: int = MAX_REQUEST_BYTES
) -> list[dict[str, Any]]:
    """The next batch off ``pending``: at most ``batch_size`` records whose event stays within ``max_bytes``
    (one record at least: a stream record is at most 1 MB)."""
    batch: list[dict[str, Any]] = []
    size = _EVENT_FRAME - 2
    while pending and len(batch) < batch_size:
        added = record_bytes(pending[0])
        if batch and size + added > max_bytes:
            break
        size += added
        batch.append(pending.popleft())
    return batch


class ShardReader:
    """New records of one shard, in order, as Lambda's event records."""

    def __init__(self, trigger: StreamTrigger, shard_id: str, endpoint_url: str) -> None:
        self.trigger = trigger
        self.shard_id = shard_id
        self.patterns = list(trigger.filter_patterns)
        # Both APIs spell the stream argument differently; moto_server makes table-stream iterators safe to keep.
        stream = {"StreamARN": trigger.stream_arn} if trigger.kind == "kinesis" else {"StreamArn": trigger.stream_arn}
        service = "kinesis" if trigger.kind == "kinesis" else "dynamodbstreams"
        self.client = local_client(service, endpoint_url, function_credentials(trigger.function))
        self.iterator = self.client.get_shard_iterator(
            **stream, ShardId=shard_id, ShardIteratorType=trigger.starting_position
        )["ShardIterator"]

    def read(self) -> list[dict[str, Any]]:
        if self.trigger.kind == "kinesis":
            page = self.client.get_records(ShardIterator=self.iterator, Limit=10_000, StreamARN=self.trigger.stream_arn)
            records = [kinesis_record(r, self.shard_id, self.trigger.stream_arn) for r in page["Records"]]
        else:
            page = self.client.get_records(ShardIterator=self.iterator, Limit=1000)
            records = [table_stream_record(r, self.trigger.stream_arn) for r in page["Records"]]
        self.iterator = page.get("NextShardIterator") or self.iterator
        return records

    def matches(self, record: dict[str, Any]) -> bool:
        if self.trigger.kind == "kinesis":
            return kinesis_filter_matches(self.patterns, record)
        return table_stream_filter_matches(self.patterns, record)


def shard_ids(trigger: StreamTrigger, endpoint_url: str) -> list[str]:
    role = function_credentials(trigger.function)  # Lambda describes the stream with the function's role
    if trigger.kind == "kinesis":
        shards = local_client("kinesis", endpoint_url, role).list_shards(StreamARN=trigger.stream_arn)["Shards"]
    else:
        description = local_client("dynamodbstreams", endpoint_url, role).describe_stream(StreamArn=trigger.stream_arn)
        shards = description["StreamDescription"]["Shards"]
    return [shard["ShardId"] for shard in shards]


def sequence_number(record: dict[str, Any]) -> str:
    """The itemIdentifier a function reports for a record (Kinesis and DynamoDB streams)."""
    if "kinesis" in record:
        return str(record["kinesis"]["sequenceNumber"])
    return str(record["dynamodb"]["SequenceNumber"])


class StreamPoller:
    """Polls one shard for one function on a thread until stopped."""

    def __init__(
        self,
        trigger: StreamTrigger,
        shard_id: str,
        endpoint_url: str,
        invoke: Invoke,
        on_event: Callable[[str], None] = lambda _: None,
        queue_urls: dict[str, str] | None = None,
        retry_backoff_s: tuple[float, ...] = RETRY_BACKOFF_S,
    ) -> None:
        self.trigger = trigger
        self.shard_id = shard_id
        self.endpoint_url = endpoint_url
        self.invoke = invoke
        self.on_event = on_event
        self.queue_urls = queue_urls or {}  # on-failure destination ARN -> queue URL
        self.retry_backoff_s = retry_backoff_s
        self._reader: ShardReader | None = None
        self.stats = PollerStats()
        self.pending: deque[dict[str, Any]] = deque()
        self._pending_bytes = 0  # of the pending records' payload: a batch is also full at 6 MB
        self._first_pending_at = 0.0
        self._busy = False
        self._caught_up = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poll-{trigger.function}-{shard_id}", daemon=True)
        self.error: BaseException | None = None

    @property
    def name(self) -> str:
        return f"{self.trigger.function} <- {self.trigger.kind}:{self.shard_id}"

    @property
    def reader(self) -> ShardReader:
        if self._reader is None:  # made on first use: its iterator starts where the trigger says
            self._reader = ShardReader(self.trigger, self.shard_id, self.endpoint_url)
        return self._reader

    def start(self) -> StreamPoller:
        _ = self.reader
        self._thread.start()
        return self

    def drain(self) -> int:
        """Without a thread (tests): read what the shard holds now and settle it batch by batch, as the
        running poller would, retries and on-failure destination included. Returns the records matched."""
        matched = 0
        while fetched := self.reader.read():
            records = deque(record for record in fetched if self.reader.matches(record))
            self.stats.records_filtered_out += len(fetched) - len(records)
            matched += len(records)
            while records:
                self._settle(take_batch(records, self.trigger.batch_size))
        return matched

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def idle(self) -> bool:
        """Caught up with the shard, nothing pending, no invocation in flight."""
        return self._caught_up and not self.pending and not self._busy

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                fetched = self.reader.read()
                self._caught_up = not fetched
                for record in fetched:
                    if self.reader.matches(record):
                        if not self.pending:
                            self._first_pending_at = time.monotonic()
                        self.pending.append(record)
                        self._pending_bytes += record_bytes(record)
                    else:
                        self.stats.records_filtered_out += 1
                if self._batch_ready():
                    self._busy = True
                    batch = take_batch(self.pending, self.trigger.batch_size)
                    self._pending_bytes -= sum(record_bytes(record) for record in batch)
                    self._first_pending_at = time.monotonic()
                    self._settle(batch)
                    self._busy = False
                elif not fetched:
                    self._stop.wait(POLL_INTERVAL_S)
        except BaseException as error:  # the runner reports it and stops everything
            self.error = error

    def _batch_ready(self) -> bool:
        if not self.pending:
            return False
        full = len(self.pending) >= self.trigger.batch_size or _EVENT_FRAME + self._pending_bytes > MAX_REQUEST_BYTES
        waited = time.monotonic() - self._first_pending_at >= self.trigger.batching_window_s
        return full or waited or self._stop.is_set()

    def _settle(self, batch: list[dict[str, Any]]) -> None:
        """Invoke until the batch is done, bisecting or retrying as the trigger says, or give it up."""
        attempts = 0
        while batch and not self._stop.is_set():
            try:
                failed_from = self._invoke(batch)
            except FunctionError as error:
                self.stats.function_errors += 1
                self.on_event(f"{self.name}: function error on {len(batch)} records: {error}")
                if self.trigger.bisect_on_error and len(batch) > 1:
                    half = len(batch) // 2
                    self._settle(batch[:half])
                    self._settle(batch[half:])
                    return
                failed_from, answer_error = 0, str(error)
            else:
                answer_error = "batchItemFailures"
                if failed_from is None:
                    return
            batch = batch[failed_from:]
            attempts += 1
            if 0 <= self.trigger.max_retries < attempts:
                self._give_up(batch, attempts, answer_error)
                return
            self.stats.retries += 1
            self._stop.wait(self.retry_backoff_s[min(attempts, len(self.retry_backoff_s)) - 1])

    def _invoke(self, batch: list[dict[str, Any]]) -> int | None:
        """Index of the first record to retry, or None when the whole batch is done."""
        self.stats.invocations += 1
        self.stats.records_delivered += len(batch)
        try:
            answer = self.invoke({"Records": batch})
        except Exception as error:  # the emulator raised, timed out or is gone
            raise FunctionError(str(error)) from error
        self.on_event(f"{self.name}: {len(batch)} records -> {json.dumps(answer)[:160]}")
        if not self.trigger.reports_item_failures or not isinstance(answer, dict):
            return None
        failures = answer.get("batchItemFailures") or []
        if not failures:
            return None
        positions = {sequence_number(record): index for index, record in enumerate(batch)}
        identifiers = [failure.get("itemIdentifier") for failure in failures]
        if any(identifier not in positions for identifier in identifiers):
            return 0  # Lambda treats an unknown or empty identifier as a failure of the whole batch
        first = min(positions[identifier] for identifier in identifiers)
        self.on_event(f"{self.name}: {len(failures)} of {len(batch)} records to retry from position {first}")
        return first

    def _give_up(self, batch: list[dict[str, Any]], attempts: int, error: str) -> None:
        self.stats.sent_to_destination += len(batch)
        destination = self.trigger.on_failure_arn
        self.on_event(f"{self.name}: {len(batch)} records given up after {attempts} attempts -> {destination}")
        if destination is None:
            return  # Lambda drops them: the template always names a destination
        local_client("sqs", self.endpoint_url, function_credentials(self.trigger.function)).send_message(
            QueueUrl=self.queue_urls[destination], MessageBody=json.dumps(self.failure_record(batch, attempts, error))
        )

    def failure_record(self, batch: list[dict[str, Any]], attempts: int, error: str) -> dict[str, Any]:
        """Lambda's on-failure record for a stream batch: where the records are, not the records
        (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html)."""
        first, last = batch[0], batch[-1]
        info_key = "KinesisBatchInfo" if self.trigger.kind == "kinesis" else "DDBStreamBatchInfo"
        return {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.trigger.function}"
                + (f":{self.trigger.qualifier}" if self.trigger.qualifier else ""),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": self.trigger.version,
                "functionError": error[:200],
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            info_key: {
                "shardId": self.shard_id,
                "startSequenceNumber": sequence_number(first),
                "endSequenceNumber": sequence_number(last),
                "batchSize": len(batch),
                "streamArn": self.trigger.stream_arn,
            },
        }
