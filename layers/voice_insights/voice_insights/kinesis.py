"""Kinesis trigger: a batch of records in, the records to deliver again out (ReportBatchItemFailures).

Powertools' BatchProcessor builds the partial-batch response. Records are first collected, then
settled together, because the writes are batched; a record whose event is not settled (a transient
AWS failure) is reported as a batch item failure. Lambda then retries from the lowest failed
sequence number, so later records come again too: every write is idempotent for that reason.
(https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html)
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from voice_insights.pipeline import Inbound, Outcome, Pipeline


class EventNotSettled(Exception):
    """The record's event could not be stored or kept yet; Lambda delivers it again."""


def is_kinesis_event(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return bool(records) and isinstance(records, list) and records[0].get("eventSource") == "aws:kinesis"


def handle_kinesis_batch(event: dict[str, Any], pipeline: Pipeline) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    received: list[tuple[KinesisStreamRecord, Inbound]] = []

    def collect(record: KinesisStreamRecord) -> None:
        received.append((record, Inbound(raw=record.kinesis.data_as_bytes(), origin=_origin(record))))

    with processor(records=event["Records"], handler=collect):
        processor.process()
        report = pipeline.process([inbound for _, inbound in received], source="kinesis")
        for (record, _), outcome in zip(received, report.outcomes, strict=True):
            if outcome is Outcome.FAILED:
                error = EventNotSettled(f"sequence number {record.kinesis.sequence_number}")
                processor.failure_handler(record=record, exception=(EventNotSettled, error, None))
    return dict(processor.response())


def _origin(record: KinesisStreamRecord) -> dict[str, Any]:
    return {
        "event_source_arn": record.event_source_arn,
        "shard_id": record.event_id.split(":", 1)[0],
        "sequence_number": record.kinesis.sequence_number,
        "partition_key": record.kinesis.partition_key,
        "approximate_arrival_timestamp": record.kinesis.approximate_arrival_timestamp,
    }
