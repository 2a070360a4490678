"""Stream triggers (Kinesis, DynamoDB Streams): a batch of records in, the records to deliver again out.

The answer is Lambda's partial-batch response (``ReportBatchItemFailures``): the sequence number of
each record to deliver again. Records are first converted, then settled together, because the work is
batched (one transaction, one ``PublishBatch`` for many records). A record that is not settled (a
transient AWS failure) or that cannot be converted is reported. Lambda then retries from the lowest
failed sequence number, so later records come again too: everything done per record is idempotent
for that reason.
(https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html,
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html)

Not Powertools' BatchProcessor: it calls a handler per record, where this work is settled in bulk, and its
import brings every Powertools event class into the function's init.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from voice_insights.observability import logger


def process_stream_batch[RecordT, InputT](
    records: Sequence[RecordT],
    convert: Callable[[RecordT], InputT],
    settle: Callable[[list[InputT]], Sequence[bool]],
    sequence_number: Callable[[RecordT], str],
) -> dict[str, Any]:
    """Convert every record, ``settle`` them together (True = settled), report the rest as failures."""
    converted: dict[int, InputT] = {}
    for position, record in enumerate(records):
        try:
            converted[position] = convert(record)
        except Exception:  # a record this code cannot read is delivered again, never dropped
            logger.exception("Could not read a stream record, will be retried", sequence_number=sequence_number(record))
    outcomes = settle(list(converted.values())) if converted else []
    settled = {position for position, done in zip(converted, outcomes, strict=True) if done}
    failed = [record for position, record in enumerate(records) if position not in settled]
    return {"batchItemFailures": [{"itemIdentifier": sequence_number(record)} for record in failed]}
