"""The history lake's delivery: rows packed many per Amazon Data Firehose record, sent with PutRecordBatch.

Firehose bills each record rounded up to 5 KB (https://aws.amazon.com/firehose/pricing/): a participant row of about
4 KB alone in a record would be billed 5 KB, a conference row of 2.3 KB more than twice its size. So rows go
newline-delimited, many to a record, which record-format conversion reads as separate JSON objects and dynamic
partitioning's JSON deaggregation splits again, at most 500 to a record
(https://docs.aws.amazon.com/firehose/latest/dev/record-format-conversion.html,
https://docs.aws.amazon.com/firehose/latest/dev/dynamic-partitioning-multirecord-deaggergation.html).
Each record ends with a newline, so records written one after another (as Firehose's own error output and a local
emulator do) still split into rows.

PutRecordBatch takes at most 500 records and 4 MiB a call, a record at most 1,000 KiB before base64, and answers
per record: a record with an ``ErrorCode`` was not taken (``FailedPutCount``) and is sent again here, a few times;
what still fails is reported to the caller, which has Lambda deliver those stream records again
(https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from voice_insights.aws.clients import describe_error, make_client
from voice_insights.domain.lake_rows import LakeRow
from voice_insights.runtime.observability import logger

MAX_RECORD_BYTES = 1000 * 1024  # Firehose's record limit, before base64
MAX_ROWS_PER_RECORD = 500  # dynamic partitioning's deaggregation: at most 500 objects per record
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
# Sends of the records a call did not take, after the first; botocore already retried throttles and 5xx.
RETRY_BACKOFF_S = (0.2, 0.5, 1.0)
# No resend starts with less time than this before the function's timeout (template: 30 s): one call, botocore's
# retries included, takes well under it; what is left is reported and Lambda delivers it again
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html).
STOP_BEFORE_TIMEOUT_S = 10.0


def pack(
    lines: Sequence[bytes], max_bytes: int = MAX_RECORD_BYTES, max_rows: int = MAX_ROWS_PER_RECORD
) -> list[list[int]]:
    """The rows (positions in ``lines``) of each record, in order: each record as full as the limits allow. A line
    is at most ``max_bytes - 1`` (its newline): domain.lake_rows keeps rows under the limit."""
    records: list[list[int]] = []
    size = 0
    for position, line in enumerate(lines):
        needed = len(line) + 1
        if needed > max_bytes:
            raise ValueError(f"a row of {len(line)} bytes does not fit a Firehose record of {max_bytes}")
        if not records or size + needed > max_bytes or len(records[-1]) >= max_rows:
            records.append([])
            size = 0
        records[-1].append(position)
        size += needed
    return records


def record_data(lines: Sequence[bytes]) -> bytes:
    """One Firehose record: the rows, each followed by a newline."""
    return b"".join(line + b"\n" for line in lines)


def batches(
    sizes: Sequence[int], max_records: int = MAX_BATCH_RECORDS, max_bytes: int = MAX_BATCH_BYTES
) -> list[list[int]]:
    """The records (positions) of each PutRecordBatch call, in order, within its record and byte limits."""
    calls: list[list[int]] = []
    total = 0
    for position, size in enumerate(sizes):
        if not calls or len(calls[-1]) >= max_records or total + size > max_bytes:
            calls.append([])
            total = 0
        calls[-1].append(position)
        total += size
    return calls


@dataclass
class DeliveryStats:
    records: int = 0  # Firehose records delivered
    bytes: int = 0
    resent: int = 0  # records sent again after a call did not take them
    failed: int = 0  # records still not taken after every retry
    errors: list[str] = field(default_factory=list)


class LakeDelivery:
    """Sends rows to each table's Firehose stream (``streams``: table name → delivery stream name)."""

    def __init__(
        self,
        streams: Mapping[str, str],
        client: Any = None,
        backoff_s: Sequence[float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.streams = dict(streams)
        self.client = client or make_client("firehose")
        self.backoff_s = tuple(RETRY_BACKOFF_S if backoff_s is None else backoff_s)
        self.sleep = sleep

    def deliver(
        self, rows: Sequence[LakeRow], time_left: Callable[[], float] = lambda: math.inf
    ) -> tuple[list[bool], DeliveryStats]:
        """Per row, whether Firehose took it; and what it took to get there. ``time_left``: seconds before the
        function's timeout."""
        delivered = [False] * len(rows)
        stats = DeliveryStats()
        by_table: dict[str, list[int]] = {}
        for position, row in enumerate(rows):
            by_table.setdefault(row.table, []).append(position)
        for table, positions in by_table.items():
            records = [[positions[i] for i in record] for record in pack([rows[p].line for p in positions])]
            data = [record_data([rows[p].line for p in record]) for record in records]
            taken = self._put(self.streams[table], data, stats, time_left)
            for record, ok in zip(records, taken, strict=True):
                for position in record:
                    delivered[position] = ok
        return delivered, stats

    def _put(self, stream: str, data: list[bytes], stats: DeliveryStats, time_left: Callable[[], float]) -> list[bool]:
        """Send every record, again those a call did not take; per record, whether it was taken in the end."""
        taken = [False] * len(data)
        pending = list(range(len(data)))
        for attempt in range(len(self.backoff_s) + 1):
            if time_left() < STOP_BEFORE_TIMEOUT_S:
                logger.warning("Stopping before the function's timeout; Lambda retries the rest", records=len(pending))
                break
            if attempt:
                self.sleep(self.backoff_s[attempt - 1])
                stats.resent += len(pending)
            still: list[int] = []
            for call in batches([len(data[i]) for i in pending]):
                positions = [pending[i] for i in call]
                answers = self._call(stream, [data[p] for p in positions], stats)
                for position, ok in zip(positions, answers, strict=True):
                    if not ok:
                        still.append(position)
                        continue
                    taken[position] = True
                    stats.records += 1
                    stats.bytes += len(data[position])
            pending = still
            if not pending:
                break
        stats.failed += len(pending)
        return taken

    def _call(self, stream: str, data: list[bytes], stats: DeliveryStats) -> list[bool]:
        """One PutRecordBatch; per record, whether Firehose took it (a failed call took none)."""
        try:
            answer = self.client.put_record_batch(
                DeliveryStreamName=stream, Records=[{"Data": record} for record in data]
            )
        except Exception as error:  # botocore has retried what it retries: these records are sent again
            stats.errors.append(describe_error(error))
            logger.warning("PutRecordBatch failed, will be retried", stream=stream, error=describe_error(error))
            return [False] * len(data)
        responses = answer.get("RequestResponses") or []
        if len(responses) != len(data):  # not Firehose's answer: nothing is known to be taken
            stats.errors.append(f"{len(responses)} answers for {len(data)} records")
            return [False] * len(data)
        if answer.get("FailedPutCount"):
            codes = sorted({str(r.get("ErrorCode")) for r in responses if r.get("ErrorCode")})
            stats.errors += codes
            logger.warning("Firehose did not take some records, will be retried", stream=stream,
                           failed=answer["FailedPutCount"], records=len(data), error_codes=codes)  # fmt: skip
        return [not response.get("ErrorCode") for response in responses]
