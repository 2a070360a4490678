"""Kinesis trigger: each record is one Twilio CloudEvent (see ``stream_batch`` for retries).

Records are read as the dicts Lambda passes: Powertools' ``KinesisStreamRecord`` would import every
Powertools event class at init for six fields.
(https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#services-kinesis-event-example)
"""

from __future__ import annotations

from typing import Any

import pybase64

from voice_insights.ingest.pipeline import Inbound, Pipeline
from voice_insights.runtime.stream_batch import StreamBatch

KinesisRecord = dict[str, Any]


def is_kinesis_event(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return bool(records) and isinstance(records, list) and records[0].get("eventSource") == "aws:kinesis"


def handle_kinesis_batch(event: dict[str, Any], pipeline: Pipeline) -> dict[str, Any]:
    batch: StreamBatch[KinesisRecord, Inbound] = StreamBatch(
        event["Records"], sequence_number=lambda record: record["kinesis"]["sequenceNumber"]
    )
    inbound = batch.prepare(lambda record: Inbound(raw=_data(record), origin=_origin(record)))
    settled = pipeline.process(inbound, source="kinesis").settled() if inbound else []
    return batch.answer(settled)


def _data(record: KinesisRecord) -> bytes:
    # pybase64 (SIMD), not the standard library's base64: every record's data is decoded here.
    return pybase64.b64decode(record["kinesis"]["data"])


def _origin(record: KinesisRecord) -> dict[str, Any]:
    kinesis = record["kinesis"]
    return {
        "event_source_arn": record["eventSourceARN"],
        "shard_id": record["eventID"].split(":", 1)[0],
        "sequence_number": kinesis["sequenceNumber"],
        "partition_key": kinesis["partitionKey"],
        "approximate_arrival_timestamp": kinesis["approximateArrivalTimestamp"],
    }
