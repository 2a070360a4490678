"""Kinesis trigger: each record is one Twilio CloudEvent (see ``stream_batch`` for retries)."""

from __future__ import annotations

from typing import Any

import pybase64
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from voice_insights.pipeline import Inbound, Outcome, Pipeline
from voice_insights.stream_batch import process_stream_batch


def is_kinesis_event(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return bool(records) and isinstance(records, list) and records[0].get("eventSource") == "aws:kinesis"


def handle_kinesis_batch(event: dict[str, Any], pipeline: Pipeline) -> dict[str, Any]:
    def settle(inbound: list[Inbound]) -> list[bool]:
        report = pipeline.process(inbound, source="kinesis")
        return [outcome is not Outcome.FAILED for outcome in report.outcomes]

    return process_stream_batch(
        [KinesisStreamRecord(record) for record in event["Records"]],
        convert=lambda record: Inbound(raw=_data(record), origin=_origin(record)),
        settle=settle,
        sequence_number=lambda record: record.kinesis.sequence_number,
    )


def _data(record: KinesisStreamRecord) -> bytes:
    # Powertools' data_as_bytes, with pybase64's decoder (SIMD): a tenth of the standard library's CPU.
    return pybase64.b64decode(record.kinesis.data)


def _origin(record: KinesisStreamRecord) -> dict[str, Any]:
    return {
        "event_source_arn": record.event_source_arn,
        "shard_id": record.event_id.split(":", 1)[0],
        "sequence_number": record.kinesis.sequence_number,
        "partition_key": record.kinesis.partition_key,
        "approximate_arrival_timestamp": record.kinesis.approximate_arrival_timestamp,
    }
