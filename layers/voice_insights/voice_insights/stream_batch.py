"""Stream triggers (Kinesis, DynamoDB Streams): a batch of records in, the records to deliver again out.

Powertools' BatchProcessor builds the partial-batch response (``ReportBatchItemFailures``). Records
are first collected, then settled together, because the work is batched (one transaction, one
``PublishBatch`` for many records). A record that is not settled (a transient AWS failure) is
reported as a batch item failure. Lambda then retries from the lowest failed sequence number, so
later records come again too: everything done per record is idempotent for that reason.
(https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html,
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType


class RecordNotSettled(Exception):
    """The record's work could not be finished yet; Lambda delivers it again."""


def process_stream_batch[InputT](
    event_type: EventType,
    records: list[dict[str, Any]],
    convert: Callable[[Any], InputT],
    settle: Callable[[list[InputT]], Sequence[bool]],
    describe: Callable[[Any], str],
) -> dict[str, Any]:
    """Convert every record, ``settle`` them together (True = settled), report the rest as failures."""
    processor = BatchProcessor(event_type=event_type, raise_on_entire_batch_failure=False)
    received: list[tuple[Any, InputT]] = []

    def collect(record: Any) -> None:
        received.append((record, convert(record)))

    with processor(records=records, handler=collect):
        processor.process()
        settled = settle([converted for _, converted in received])
        for (record, _), done in zip(received, settled, strict=True):
            if not done:
                error = RecordNotSettled(describe(record))
                processor.failure_handler(record=record, exception=(RecordNotSettled, error, None))
    return dict(processor.response())
