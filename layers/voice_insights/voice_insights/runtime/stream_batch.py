"""Stream triggers (Kinesis, DynamoDB Streams): a batch of records in, the records to deliver again out.

The answer is Lambda's partial-batch response (``ReportBatchItemFailures``): the sequence number of
each record to deliver again. Records are first converted, then settled together, because the work is
batched (one ``PublishBatch`` for many alerts, one collapse of an item's versions). A record that is not
settled (a transient AWS failure) or that cannot be converted is reported. Lambda then retries from the
lowest failed sequence number, so later records come again too: everything done per record is idempotent
for that reason.
(https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html,
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html)

Not Powertools' BatchProcessor: it calls a handler per record, where this work is settled in bulk, and its
import brings every Powertools event class into the function's init. The steps are named as its base class,
``BasePartialProcessor``, names its phases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from voice_insights.runtime.observability import logger


class StreamBatch[RecordT, InputT]:
    """One stream batch: ``prepare`` converts the records, the caller settles the inputs together, and
    ``answer`` turns what was settled into Lambda's partial-batch response."""

    def __init__(self, records: Sequence[RecordT], sequence_number: Callable[[RecordT], str]) -> None:
        self.records = records
        self.sequence_number = sequence_number
        self._positions: list[int] = []  # the position in ``records`` of each prepared input

    def prepare(self, convert: Callable[[RecordT], InputT]) -> list[InputT]:
        """Each record converted; a record this code cannot read is left out, and so delivered again."""
        inputs = []
        for position, record in enumerate(self.records):
            try:
                inputs.append(convert(record))
            except Exception:  # delivered again, never dropped
                logger.exception(
                    "Could not read a stream record, will be retried", sequence_number=self.sequence_number(record)
                )
                continue
            self._positions.append(position)
        return inputs

    def answer(self, settled: Sequence[bool]) -> dict[str, Any]:
        """The partial-batch response: every record not settled (``settled`` aligns with ``prepare``'s inputs)."""
        done = {position for position, ok in zip(self._positions, settled, strict=True) if ok}
        failed = [record for position, record in enumerate(self.records) if position not in done]
        return {"batchItemFailures": [{"itemIdentifier": self.sequence_number(record)} for record in failed]}


def table_stream_batch(event: dict[str, Any]) -> StreamBatch[dict[str, Any], Any]:
    """The batch of a DynamoDB table-stream trigger (the alert function's, the lake writer's); ValueError for any
    other event, which no trigger of theirs sends."""
    records = event.get("Records")
    if not isinstance(records, list) or (records and records[0].get("eventSource") != "aws:dynamodb"):
        raise ValueError("unsupported trigger: expected a DynamoDB stream batch")
    return StreamBatch(records, sequence_number=lambda record: record["dynamodb"]["SequenceNumber"])
