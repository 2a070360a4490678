"""From changes on the summaries table's stream to lake rows: every version stored is one row, or is counted.

Each INSERT or MODIFY carries the version just stored (its new image): it becomes one row (domain.lake_rows), and
the batch's rows go to Firehose together (aws.lake). A change ends as exactly one outcome:
- ``written``: Firehose took its row;
- ``skipped``: no new version (a REMOVE, TTL's expiry; or a record without a new image);
- ``unreadable``: the image holds no readable summary (a bug or a foreign item): kept in the rejected-events bucket
  with the reason and alarmed, since delivering it again cannot help;
- ``failed``: Firehose did not take its row after the retries: reported to Lambda, which delivers the record again
  (and those after it: their rows come twice, the same bytes, which the latest-version view counts once), and after
  ``StreamMaximumRetryAttempts`` sends the batch's place in the stream to the on-failure queue (alarmed, replayable).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from voice_insights.aws.clients import describe_error
from voice_insights.aws.lake import LakeDelivery
from voice_insights.aws.rejected import RejectedEventStore
from voice_insights.domain.items import now_utc
from voice_insights.domain.lake_rows import LakeRow, row_of
from voice_insights.domain.quality import Thresholds
from voice_insights.domain.redaction import mask_phone_numbers_in
from voice_insights.runtime.batch_report import BatchReport
from voice_insights.runtime.observability import logger, metrics

FUNCTION_NAME = "lake_writer"


class LakeOutcome(StrEnum):
    WRITTEN = "written"
    SKIPPED = "skipped"
    UNREADABLE = "unreadable"
    FAILED = "failed"


METRIC_NAMES = {
    LakeOutcome.WRITTEN: "LakeRowsWritten",
    LakeOutcome.SKIPPED: "LakeChangesSkipped",
    LakeOutcome.UNREADABLE: "LakeRowsUnreadable",  # LakeRowsUnreadableAlarm
    LakeOutcome.FAILED: "LakeRowsFailed",  # retried by Lambda; LakeFailuresQueueAlarm once given up
}
RECORDS_METRIC = "LakeRecordsDelivered"  # Firehose records (many rows each)
BYTES_METRIC = "LakeBytesDelivered"
RESENT_METRIC = "LakeRecordsResent"
WITHOUT_EVENT_JSON_METRIC = "LakeRowsWithoutEventJson"


@dataclass(frozen=True, slots=True)
class TableChange:
    """One table-stream record: what happened to the item, its new image (low-level attribute values)."""

    event_name: str  # INSERT, MODIFY or REMOVE
    keys: dict[str, Any]
    new_image: dict[str, Any] | None
    record: dict[str, Any] = field(repr=False)

    @classmethod
    def from_stream_record(cls, record: dict[str, Any]) -> TableChange:
        body = record["dynamodb"]
        return cls(str(record.get("eventName") or ""), body.get("Keys") or {}, body.get("NewImage"), record)

    @property
    def key_text(self) -> str:
        return "|".join(str(self.keys.get(name, {}).get("S", "")) for name in ("pk", "sk"))


@dataclass(slots=True, eq=False)
class _Change:
    change: TableChange
    row: LakeRow | None = None
    outcome: LakeOutcome = LakeOutcome.SKIPPED


class LakeWriter:
    def __init__(
        self,
        thresholds: Thresholds,
        delivery: LakeDelivery,
        rejected: RejectedEventStore,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.thresholds = thresholds
        self.delivery = delivery
        self.rejected = rejected
        self.clock = clock

    def process(
        self, changes: Sequence[TableChange], time_left: Callable[[], float] = lambda: math.inf
    ) -> BatchReport[LakeOutcome]:
        """Settle one stream batch: one outcome per change, in order. ``time_left``: seconds before the timeout."""
        now = self.clock()
        records = [self._read(change, now) for change in changes]
        to_send = [record for record in records if record.row is not None]
        if to_send:
            rows = [record.row for record in to_send if record.row is not None]
            try:
                delivered, stats = self.delivery.deliver(rows, time_left)
            except Exception:  # a bug in the delivery: every row comes again
                logger.exception("Lake rows not delivered, will be retried", rows=len(rows))
                delivered, stats = [False] * len(rows), None
            for record, ok in zip(to_send, delivered, strict=True):
                record.outcome = LakeOutcome.WRITTEN if ok else LakeOutcome.FAILED
            if stats is not None:
                metrics.add_metric(name=RECORDS_METRIC, unit=MetricUnit.Count, value=stats.records)
                metrics.add_metric(name=BYTES_METRIC, unit=MetricUnit.Bytes, value=stats.bytes)
                metrics.add_metric(name=RESENT_METRIC, unit=MetricUnit.Count, value=stats.resent)
            dropped = sum(1 for row in rows if row.without_event_json)
            metrics.add_metric(name=WITHOUT_EVENT_JSON_METRIC, unit=MetricUnit.Count, value=dropped)
        report = BatchReport([record.outcome for record in records], tuple(LakeOutcome))
        report.publish("Lake batch settled", METRIC_NAMES, received=len(changes))
        return report

    def _read(self, change: TableChange, now: datetime) -> _Change:
        if change.event_name not in ("INSERT", "MODIFY") or change.new_image is None:
            return _Change(change)  # a REMOVE (TTL's expiry) stores no version
        try:
            return _Change(change, row_of(change.new_image, self.thresholds))
        except Exception as error:  # a bug or a foreign item: kept, since retrying cannot help
            return _Change(change, outcome=self._keep_unreadable(change, error, now))

    def _keep_unreadable(self, change: TableChange, error: Exception, now: datetime) -> LakeOutcome:
        record = {
            "reason": f"the stream record's item cannot be made a lake row: {describe_error(error)}"[:2000],
            "function": FUNCTION_NAME,
            "source": "dynamodb-stream",
            "received_at": now.isoformat(),
            "item": change.key_text,
            "stream_record": change.record,
        }
        try:
            key = self.rejected.keep(record, now)
        except Exception:
            logger.exception("Could not keep an unreadable stream record, will be retried")
            return LakeOutcome.FAILED
        # The keys hold the event's SIDs: a forged event can put a phone number there, and logs never show one.
        logger.error("Stream record unreadable, kept", item=mask_phone_numbers_in(change.key_text), rejected_key=key)
        return LakeOutcome.UNREADABLE
