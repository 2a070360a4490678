"""One batch of received events, from raw input to a settled outcome per event.

Whatever the path (Kinesis record or webhook array element), each input ends as exactly one
``Outcome``; ``FAILED`` is the only one that asks the caller to have the event delivered again.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from voice_insights.decoding import Accepted, Rejected, SinkTest, Skipped, decode, peek_header
from voice_insights.items import ItemTooLarge, StoredItem, to_item
from voice_insights.observability import logger, metrics
from voice_insights.quality import DEFAULT_THRESHOLDS, Thresholds
from voice_insights.redaction import mask_phone_numbers_in
from voice_insights.routes import Route
from voice_insights.store import (
    RejectedEventStore,
    SummaryStore,
    WriteStatus,
    describe_error,
    now_utc,
    raw_payload_fields,
)

MAX_MESSAGE_CHARS = 2000  # an exception's message can quote a whole event; the raw event is kept beside it
MAX_TRACEBACK_FRAMES = 10
MAX_LOGGED_CHARS = 1000


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicates"
    STALE = "stale"
    REJECTED = "rejected"
    SINK_TEST = "test_events"
    SKIPPED = "skipped"  # another function's type (catch-all function only)
    FAILED = "failed"  # not settled: must be delivered again


METRIC_NAMES = {
    Outcome.STORED: "EventsStored",
    Outcome.DUPLICATE: "DuplicatesIgnored",
    Outcome.STALE: "StaleIgnored",
    Outcome.REJECTED: "EventsRejected",
    Outcome.SINK_TEST: "SinkTestEvents",
    Outcome.FAILED: "EventsFailed",
}


@dataclass(frozen=True, slots=True)
class Inbound:
    raw: bytes | str | Any
    origin: dict[str, Any] = field(default_factory=dict)  # where it came from; kept with a rejection


@dataclass(frozen=True)
class BatchReport:
    outcomes: list[Outcome]

    def counts(self) -> dict[str, int]:
        counted = Counter(self.outcomes)
        return {outcome.value: counted.get(outcome, 0) for outcome in Outcome if outcome is not Outcome.SKIPPED}

    @property
    def failed(self) -> bool:
        return Outcome.FAILED in self.outcomes


class Pipeline:
    def __init__(
        self,
        route: Route,
        summaries: SummaryStore,
        rejected: RejectedEventStore,
        retention_days: int = 0,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.route = route
        self.summaries = summaries
        self.rejected = rejected
        self.retention_days = retention_days
        self.thresholds = thresholds
        self.clock = clock

    def process(self, inbound: Sequence[Inbound], source: str) -> BatchReport:
        received_at = self.clock()
        outcomes: list[Outcome] = [Outcome.FAILED] * len(inbound)
        rejections: list[tuple[int, Rejected]] = []
        items: list[tuple[int, StoredItem]] = []

        for index, one in enumerate(inbound):
            settled = self._settle(one.raw, received_at)
            if isinstance(settled, StoredItem):
                items.append((index, settled))
            elif isinstance(settled, Rejected):
                rejections.append((index, settled))
            elif isinstance(settled, SinkTest):
                outcomes[index] = Outcome.SINK_TEST
                # The owner validates the sink with this id (POST /v1/Sinks/{sid}/Validate).
                logger.info(
                    "Twilio sink test event received", test_id=shown(settled.test_id), event_id=shown(settled.event_id)
                )
            else:
                outcomes[index] = Outcome.SKIPPED

        self._count_schema_violations([item for _, item in items])
        self._write(items, outcomes, rejections)
        if rejections:
            kept = self.keep_rejections([(inbound[i], rejection) for i, rejection in rejections], source, received_at)
            for index, _ in rejections:
                outcomes[index] = kept

        report = BatchReport(outcomes)
        counts = report.counts()
        for outcome, name in METRIC_NAMES.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=counts[outcome.value])
        internal_errors = sum(rejection.internal_error for _, rejection in rejections)
        metrics.add_metric(name="InternalErrors", unit=MetricUnit.Count, value=internal_errors)  # InternalErrorsAlarm
        logger.info("Batch settled", extra={"source": source, "received": len(inbound), **counts})
        return report

    def _count_schema_violations(self, items: list[StoredItem]) -> None:
        """``SchemaViolations``: events that differ from Twilio's documented schema (SchemaViolationsAlarm), and the
        same by field. Field names come from the documented models only, so the metric's dimensions are bounded."""
        fields = Counter(name for item in items for name in item.attributes.get("schema_violations", {}).get("SS", ()))
        drifted = sum(1 for item in items if "schema_violations" in item.attributes)
        metrics.add_metric(name="SchemaViolations", unit=MetricUnit.Count, value=drifted)
        for name, count in sorted(fields.items()):
            with single_metric(name="SchemaViolations", unit=MetricUnit.Count, value=count) as metric:
                metric.add_dimension(name="function", value=self.route.name)
                metric.add_dimension(name="field", value=name)
        if fields:
            logger.warning("Events differ from Twilio's documented schema: stored, flagged", fields=dict(fields))

    def _settle(self, raw: bytes | str | Any, received_at: datetime) -> StoredItem | Rejected | SinkTest | Skipped:
        """Decode one event and build its item. Both read nothing but the event, so an exception here is a
        bug this event triggers, and it would fail the same way on every retry: the event is kept as
        rejected with the error (and counted in the ``InternalErrors`` metric) rather than failing the
        batch, which would hold back the events behind it and, once retries run out, leave only Lambda's
        pointer to a record the stream drops after its retention period."""
        try:
            decision = decode(raw, self.route)
        except Exception as exc:
            header = peek_header(raw)
            return _internal_error("decode", exc, header.get("id"), header.get("type"))
        if not isinstance(decision, Accepted):
            return decision
        event = decision.event
        try:
            return to_item(
                event, received_at, self.retention_days, self.thresholds, decision.violations, decision.data_as_sent
            )
        except ItemTooLarge as too_large:
            return Rejected(str(too_large), event.id, event.type)
        except Exception as exc:
            return _internal_error("to_item", exc, event.id, event.type)

    def _write(
        self, items: list[tuple[int, StoredItem]], outcomes: list[Outcome], rejections: list[tuple[int, Rejected]]
    ) -> None:
        winners, superseded = collapse(items)
        results = self.summaries.write([item for _, item in winners])
        failed_winners = set()
        refused_winners: dict[tuple[str, str], str] = {}  # key -> the version DynamoDB refused
        for (index, item), result in zip(winners, results, strict=True):
            if result.status is WriteStatus.REFUSED:
                rejections.append(
                    (index, Rejected(f"DynamoDB refused the item: {result.detail}", item.event_id, item.event_type))
                )
                refused_winners[item.key] = item.version
                continue
            outcomes[index] = _WRITE_OUTCOMES[result.status]
            if result.status is WriteStatus.FAILED:
                failed_winners.add(item.key)
                logger.warning(
                    "Event not stored, will be retried", event_id=shown(item.event_id), error=shown(result.detail)
                )
            elif result.status is not WriteStatus.STORED:
                logger.info(
                    f"Event ignored: {outcomes[index].value}",
                    event_id=shown(item.event_id),
                    key=shown(item.pk + "|" + item.sk),
                )
        # An older version of an item whose newest DynamoDB refused is written in its place, in another round.
        next_round = [
            (index, item)
            for index, (item, _) in superseded.items()
            if item.key in refused_winners and item.version != refused_winners[item.key]
        ]
        if next_round:
            self._write(next_round, outcomes, rejections)
        taken = {index for index, _ in next_round}
        for index, (item, outcome) in superseded.items():
            if index in taken:
                continue
            # Retry a superseded event too while the event that beat it is not stored: nothing is decided yet.
            outcomes[index] = Outcome.FAILED if item.key in failed_winners else outcome
            if outcomes[index] is not Outcome.FAILED:
                logger.info(
                    f"Event ignored: {outcome.value}", event_id=shown(item.event_id), key=shown(item.pk + "|" + item.sk)
                )

    def keep_rejection(
        self, inbound: Inbound, rejection: Rejected, source: str, received_at: datetime | None = None
    ) -> Outcome:
        """Keep one rejected event with its raw payload and reason: REJECTED once kept, FAILED if it could not be."""
        return self.keep_rejections([(inbound, rejection)], source, received_at)

    def keep_rejections(
        self, rejected: Sequence[tuple[Inbound, Rejected]], source: str, received_at: datetime | None = None
    ) -> Outcome:
        """Keep a batch's rejected events together (one object), each with its raw payload and reason:
        REJECTED once kept, FAILED (all of them) if they could not be."""
        received_at = received_at or self.clock()
        records = [
            {
                "reason": rejection.reason,
                "errors": rejection.errors,
                "event_id": rejection.event_id,
                "event_type": rejection.event_type,
                "function": self.route.name,
                "source": source,
                "received_at": received_at.isoformat(),
                "origin": inbound.origin,
                **raw_payload_fields(inbound.raw),
            }
            for inbound, rejection in rejected
        ]
        try:
            key = self.rejected.keep_all(records, received_at)
        except Exception:  # failing to keep them means they must come again, never that they are dropped
            logger.exception("Could not keep rejected events, will be retried", events=len(records))
            return Outcome.FAILED
        for _, rejection in rejected:
            logger.warning(
                "Event rejected",
                reason=shown(rejection.reason),
                event_id=shown(rejection.event_id),
                event_type=shown(rejection.event_type),
                rejected_key=key,
            )
        return Outcome.REJECTED


def shown(value: Any) -> Any:
    """Event text as log lines show it: phone numbers masked, at most MAX_LOGGED_CHARS (JSON logs escape the rest)."""
    return mask_phone_numbers_in(value[:MAX_LOGGED_CHARS]) if isinstance(value, str) else value


def _internal_error(stage: str, exc: Exception, event_id: Any, event_type: Any) -> Rejected:
    # Logs get the exception's type and where it was raised, not its message, which may quote the
    # event (phone numbers stay out of logs): the message goes in ``errors``, kept with the raw event.
    where = traceback.format_tb(exc.__traceback__)[-MAX_TRACEBACK_FRAMES:]
    logger.error("Internal error on one event: kept as rejected", stage=stage, event_id=shown(str(event_id)),
                 error_type=type(exc).__name__, traceback=where)  # fmt: skip
    return Rejected(
        reason=f"internal error ({stage}): {type(exc).__name__}",
        event_id=event_id if isinstance(event_id, str) else None,
        event_type=event_type if isinstance(event_type, str) else None,
        errors=[{"field": "", "type": "internal_error", "message": describe_error(exc)[:MAX_MESSAGE_CHARS]}],
        internal_error=True,
    )


def collapse(
    items: list[tuple[int, StoredItem]],
) -> tuple[list[tuple[int, StoredItem]], dict[int, tuple[StoredItem, Outcome]]]:
    """Keep the highest version per item key; the others are settled here as duplicate or stale.

    A transaction may touch each item once, and writing a lower version first would only be undone.
    """
    best: dict[tuple[str, str], tuple[int, StoredItem]] = {}
    for index, item in items:
        current = best.get(item.key)
        if current is None or item.version > current[1].version:
            best[item.key] = (index, item)
    winner_indexes = {index for index, _ in best.values()}
    superseded = {}
    for index, item in items:
        if index not in winner_indexes:
            same = item.version == best[item.key][1].version
            superseded[index] = (item, Outcome.DUPLICATE if same else Outcome.STALE)
    return sorted(best.values(), key=lambda pair: pair[0]), superseded


_WRITE_OUTCOMES = {
    WriteStatus.STORED: Outcome.STORED,
    WriteStatus.DUPLICATE: Outcome.DUPLICATE,
    WriteStatus.STALE: Outcome.STALE,
    WriteStatus.FAILED: Outcome.FAILED,
}
