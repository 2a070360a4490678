"""The local event-source mapping (devtools.pollers) behaves as Lambda's does, as far as a function can
tell: filters, batch size, partial batch responses, bisecting on errors, bounded retries and the
on-failure destination. The function here is a Python callable recording what it is handed; the
stream and the queue are real (moto server over HTTP)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from devtools.cfn import local_client
from devtools.moto_server import MotoServer
from devtools.pollers import StreamPoller, sequence_number, shard_ids
from devtools.triggers import StreamTrigger


class Function:
    """Records every batch; ``answer(batch, call)`` decides what the function returns or raises."""

    def __init__(self, answer: Callable[[list[dict[str, Any]], int], Any] = lambda batch, call: {}) -> None:
        self.batches: list[list[int]] = []
        self.answer = answer

    def __call__(self, event: dict[str, Any]) -> Any:
        batch = event["Records"]
        self.batches.append([json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in batch])
        return self.answer(batch, len(self.batches))


@pytest.fixture
def stream(moto: MotoServer) -> Iterator[tuple[str, str, str]]:
    """A one-shard Kinesis stream and an on-failure queue: (stream ARN, queue ARN, queue URL)."""
    name = f"pollers-{uuid.uuid4().hex[:8]}"
    kinesis = local_client("kinesis", moto.endpoint_url)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    sqs = local_client("sqs", moto.endpoint_url)
    queue_url = sqs.create_queue(QueueName=f"{name}-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    yield arn, queue_arn, queue_url
    kinesis.delete_stream(StreamName=name)


def trigger(stream_arn: str, queue_arn: str, **overrides: Any) -> StreamTrigger:
    base = StreamTrigger(
        function="Function",
        event="Stream",
        kind="kinesis",
        stream_arn=stream_arn,
        batch_size=10,
        batching_window_s=0,
        max_retries=2,
        bisect_on_error=False,
        reports_item_failures=True,
        filter_patterns=(),
        on_failure_arn=queue_arn,
        starting_position="TRIM_HORIZON",
    )
    return replace(base, **overrides)


def put(endpoint_url: str, stream_arn: str, numbers: range, kind: str = "keep") -> None:
    records = [{"Data": json.dumps({"n": n, "kind": kind}).encode(), "PartitionKey": "p"} for n in numbers]
    local_client("kinesis", endpoint_url).put_records(StreamARN=stream_arn, Records=records)


def run(moto: MotoServer, spec: StreamTrigger, function: Function, queue_url: str) -> StreamPoller:
    (shard,) = shard_ids(spec, moto.endpoint_url)
    poller = StreamPoller(spec, shard, moto.endpoint_url, function, queue_urls={spec.on_failure_arn or "": queue_url})
    poller.start()
    deadline = time.monotonic() + 20
    while not poller.idle() and time.monotonic() < deadline:
        time.sleep(0.05)
    poller.stop()
    assert poller.error is None
    return poller


def failure_messages(moto: MotoServer, queue_url: str) -> list[dict[str, Any]]:
    sqs = local_client("sqs", moto.endpoint_url)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_batches_follow_the_batch_size_and_skip_what_the_filter_drops(moto: MotoServer, stream: Any) -> None:
    stream_arn, queue_arn, queue_url = stream
    put(moto.endpoint_url, stream_arn, range(25))
    put(moto.endpoint_url, stream_arn, range(100, 105), kind="drop")
    spec = trigger(stream_arn, queue_arn, filter_patterns=({"data": {"kind": ["keep"]}},))

    function = Function()
    poller = run(moto, spec, function, queue_url)

    assert function.batches == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
    assert poller.stats.records_filtered_out == 5


def test_a_partial_failure_is_retried_from_the_lowest_failed_record(moto: MotoServer, stream: Any) -> None:
    stream_arn, queue_arn, queue_url = stream
    put(moto.endpoint_url, stream_arn, range(6))

    def answer(batch: list[dict[str, Any]], call: int) -> dict[str, Any]:
        if call == 1:  # records 4 and 2 failed: Lambda checkpoints before 2
            return {"batchItemFailures": [{"itemIdentifier": sequence_number(batch[i])} for i in (4, 2)]}
        return {"batchItemFailures": []}

    function = Function(answer)
    poller = run(moto, trigger(stream_arn, queue_arn), function, queue_url)

    assert function.batches == [[0, 1, 2, 3, 4, 5], [2, 3, 4, 5]]
    assert poller.stats.retries == 1 and failure_messages(moto, queue_url) == []


def test_an_unknown_item_identifier_retries_the_whole_batch(moto: MotoServer, stream: Any) -> None:
    stream_arn, queue_arn, queue_url = stream
    put(moto.endpoint_url, stream_arn, range(3))

    def answer(batch: list[dict[str, Any]], call: int) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": "not-a-sequence-number"}] if call == 1 else []}

    function = Function(answer)
    run(moto, trigger(stream_arn, queue_arn), function, queue_url)

    assert function.batches == [[0, 1, 2], [0, 1, 2]]


def test_a_function_error_bisects_the_batch_until_the_bad_record_is_alone(moto: MotoServer, stream: Any) -> None:
    stream_arn, queue_arn, queue_url = stream
    put(moto.endpoint_url, stream_arn, range(4))

    def answer(batch: list[dict[str, Any]], call: int) -> dict[str, Any]:
        numbers = [json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in batch]
        if 3 in numbers:
            raise RuntimeError("poison record")
        return {"batchItemFailures": []}

    function = Function(answer)
    poller = run(moto, trigger(stream_arn, queue_arn, bisect_on_error=True, max_retries=1), function, queue_url)

    # [0..3] fails -> [0,1] ok, [2,3] fails -> [2] ok, [3] fails, is retried once, then given up.
    assert function.batches == [[0, 1, 2, 3], [0, 1], [2, 3], [2], [3], [3]]
    (message,) = failure_messages(moto, queue_url)
    assert message["KinesisBatchInfo"]["batchSize"] == 1 and poller.stats.sent_to_destination == 1


def test_after_the_retry_budget_the_batch_goes_to_the_on_failure_queue_and_the_shard_moves_on(
    moto: MotoServer, stream: Any
) -> None:
    stream_arn, queue_arn, queue_url = stream
    put(moto.endpoint_url, stream_arn, range(3))

    def answer(batch: list[dict[str, Any]], call: int) -> dict[str, Any]:
        numbers = [json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in batch]
        if 1 in numbers:  # record 1 never succeeds
            return {"batchItemFailures": [{"itemIdentifier": sequence_number(batch[numbers.index(1)])}]}
        return {"batchItemFailures": []}

    function = Function(answer)
    run(moto, trigger(stream_arn, queue_arn, batch_size=2, max_retries=2), function, queue_url)

    # [0, 1]: 1 fails; retried twice as [1]; then given up, and the next batch [2] is delivered.
    assert function.batches == [[0, 1], [1], [1], [2]]
    (message,) = failure_messages(moto, queue_url)
    info = message["KinesisBatchInfo"]
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"]
    assert info["streamArn"] == stream_arn and info["shardId"].startswith("shardId-")
    # Enough to replay: the records are still in the stream at that sequence number.
    kinesis = local_client("kinesis", moto.endpoint_url)
    iterator = kinesis.get_shard_iterator(
        StreamARN=stream_arn,
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    (record, *_) = kinesis.get_records(ShardIterator=iterator, StreamARN=stream_arn)["Records"]
    assert json.loads(record["Data"])["n"] == 1


def test_the_batching_window_gathers_records_that_arrive_within_it(moto: MotoServer, stream: Any) -> None:
    stream_arn, queue_arn, queue_url = stream
    spec = trigger(stream_arn, queue_arn, batching_window_s=1.0)
    (shard,) = shard_ids(spec, moto.endpoint_url)
    function = Function()
    poller = StreamPoller(spec, shard, moto.endpoint_url, function, queue_urls={queue_arn: queue_url}).start()
    try:
        put(moto.endpoint_url, stream_arn, range(2))
        time.sleep(0.4)  # well inside the window
        put(moto.endpoint_url, stream_arn, range(2, 4))
        deadline = time.monotonic() + 10
        while not function.batches and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    assert function.batches[0] == [0, 1, 2, 3]
