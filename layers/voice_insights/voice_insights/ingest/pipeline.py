"""One batch of received events, from raw input to a settled outcome per event.

Whatever the path (Kinesis record or webhook array element), each input is one ``Event`` carried through
three stages: decided (an item to store, a rejection, a sink test, another function's type), written
(its outcome: stored, duplicate, stale, or refused by DynamoDB and so a rejection), and kept (the
rejections, together). Each ends as exactly one ``Outcome``; ``FAILED`` is the only one that asks the
caller to have the event delivered again.
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

from voice_insights.aws.clients import describe_error
from voice_insights.aws.rejected import RejectedEventStore, raw_payload_fields
from voice_insights.aws.summaries import SummaryStore, WriteResult, WriteStatus
from voice_insights.domain.items import ItemTooLarge, StoredItem, now_utc, to_item
from voice_insights.domain.quality import DEFAULT_THRESHOLDS, Thresholds
from voice_insights.domain.redaction import mask_phone_numbers_in
from voice_insights.ingest.decoding import Accepted, Rejected, SinkTest, Skipped, decode, peek_header
from voice_insights.ingest.routes import Route
from voice_insights.runtime.batch_report import BatchReport
from voice_insights.runtime.observability import logger, metrics
from voice_insights.runtime.quality_metrics import publish_quality_metrics

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


Decision = StoredItem | Rejected | SinkTest | Skipped
# Skipped events belong to another function: not counted by this one.
COUNTED = tuple(outcome for outcome in Outcome if outcome is not Outcome.SKIPPED)


@dataclass(slots=True, eq=False)  # compared and hashed by identity: two inputs may be equal
class Event:
    """One input's way through the batch: what it is, what was decided, how it ended (None: not yet)."""

    inbound: Inbound
    decision: Decision
    outcome: Outcome | None = None


def batch_report(outcomes: list[Outcome]) -> BatchReport[Outcome]:
    return BatchReport(outcomes, COUNTED)


class Pipeline:
    def __init__(
        self,
        route: Route,
        summaries: SummaryStore,
        rejected: RejectedEventStore,
        retention_days: int = 0,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        clock: Callable[[], datetime] = now_utc,
        quality_metrics: bool = True,
    ) -> None:
        """``quality_metrics``: write the stored participants' quality-rate metrics (EMF on stdout, which Lambda
        turns into metrics); a command run (backfill) writes none, its stdout is its answer."""
        self.route = route
        self.quality_metrics = quality_metrics
        self.summaries = summaries
        self.rejected = rejected
        self.retention_days = retention_days
        self.thresholds = thresholds
        self.clock = clock

    def process(self, inbound: Sequence[Inbound], source: str) -> BatchReport[Outcome]:
        received_at = self.clock()
        events = [Event(one, self._decide(one.raw, received_at, source)) for one in inbound]
        for event in events:
            event.outcome = _settled_without_a_write(event.decision)
        to_store = [event for event in events if isinstance(event.decision, StoredItem)]
        self._count_schema_violations([event.decision for event in to_store])  # type: ignore[misc]
        for event, written in self._store(to_store):
            if isinstance(written, Rejected):  # DynamoDB refused the item itself: the event is kept instead
                event.decision = written
            else:
                event.outcome = written
        to_keep = [event for event in events if isinstance(event.decision, Rejected)]
        if to_keep:
            kept = self.keep_rejections([(e.inbound, e.decision) for e in to_keep], source, received_at)  # type: ignore[misc]
            for event in to_keep:
                event.outcome = kept

        if self.quality_metrics:
            publish_quality_metrics([e.decision for e in events if e.outcome is Outcome.STORED], self.thresholds)
        report = batch_report([event.outcome or Outcome.FAILED for event in events])
        internal_errors = sum(isinstance(e.decision, Rejected) and e.decision.internal_error for e in events)
        metrics.add_metric(name="InternalErrors", unit=MetricUnit.Count, value=internal_errors)  # InternalErrorsAlarm
        report.publish("Batch settled", METRIC_NAMES, source=source, received=len(inbound))
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

    def _decide(self, raw: bytes | str | Any, received_at: datetime, source: str = "") -> Decision:
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
                event,
                received_at,
                self.retention_days,
                self.thresholds,
                decision.violations,
                decision.data_as_sent,
                arrived_via=source,  # kinesis, webhook or backfill: the history lake's arrived_via
            )
        except ItemTooLarge as too_large:
            return Rejected(str(too_large), event.id, event.type)
        except Exception as exc:
            return _internal_error("to_item", exc, event.id, event.type)

    def _store(self, events: list[Event]) -> list[tuple[Event, Outcome | Rejected]]:
        """Write the newest version of each item; each event's outcome, or its rejection when DynamoDB refused it.

        The other versions of an item in the batch are duplicates or stale without a write, unless the newest
        could not be stored: while it failed they fail too (nothing is decided), and where DynamoDB refused it
        the next newest is written in its place, in another round."""
        winners, superseded = collapse([(event, event.decision) for event in events])  # type: ignore[misc]
        results = self.summaries.write([item for _, item in winners])
        settled: list[tuple[Event, Outcome | Rejected]] = []
        failed_keys, refused_versions = set(), {}
        for (event, item), result in zip(winners, results, strict=True):
            written = _written(item, result)
            settled.append((event, written))
            if result.status is WriteStatus.FAILED:
                failed_keys.add(item.key)
            elif isinstance(written, Rejected):
                refused_versions[item.key] = item.version
        next_round = [
            event
            for event, (item, _) in superseded.items()
            if item.key in refused_versions and item.version != refused_versions[item.key]
        ]
        if next_round:
            settled += self._store(next_round)
        rewritten = set(next_round)
        for event, (item, outcome) in superseded.items():
            if event in rewritten:
                continue
            settled.append((event, Outcome.FAILED if item.key in failed_keys else outcome))
            if item.key not in failed_keys:
                _log_ignored(item, outcome)
        return settled

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


def collapse[T](
    items: list[tuple[T, StoredItem]],
) -> tuple[list[tuple[T, StoredItem]], dict[T, tuple[StoredItem, Outcome]]]:
    """Keep the highest version per item key (in input order); the others are settled here as duplicate or
    stale: writing a lower version first would only be undone, and would cost a write unit."""
    best: dict[tuple[str, str], tuple[int, T, StoredItem]] = {}
    for position, (tag, item) in enumerate(items):
        current = best.get(item.key)
        if current is None or item.version > current[2].version:
            best[item.key] = (position, tag, item)
    winners = {position for position, _, _ in best.values()}
    superseded = {}
    for position, (tag, item) in enumerate(items):
        if position not in winners:
            same = item.version == best[item.key][2].version
            superseded[tag] = (item, Outcome.DUPLICATE if same else Outcome.STALE)
    return [(tag, item) for _, tag, item in sorted(best.values(), key=lambda entry: entry[0])], superseded


def _settled_without_a_write(decision: Decision) -> Outcome | None:
    """The outcome of an event that needs no write (a sink test, another function's type); None otherwise."""
    if isinstance(decision, SinkTest):
        # The owner validates the sink with this id (POST /v1/Sinks/{sid}/Validate).
        logger.info(
            "Twilio sink test event received", test_id=shown(decision.test_id), event_id=shown(decision.event_id)
        )
        return Outcome.SINK_TEST
    if isinstance(decision, Skipped):
        return Outcome.SKIPPED
    return None


def _written(item: StoredItem, result: WriteResult) -> Outcome | Rejected:
    """A write's result in the pipeline's terms, logged."""
    if result.status is WriteStatus.REFUSED:
        return Rejected(f"DynamoDB refused the item: {result.detail}", item.event_id, item.event_type)
    outcome = _WRITE_OUTCOMES[result.status]
    if outcome is Outcome.FAILED:
        logger.warning("Event not stored, will be retried", event_id=shown(item.event_id), error=shown(result.detail))
    elif outcome is not Outcome.STORED:
        _log_ignored(item, outcome)
    return outcome


def _log_ignored(item: StoredItem, outcome: Outcome) -> None:
    logger.info(f"Event ignored: {outcome.value}", event_id=shown(item.event_id), key=shown(item.pk + "|" + item.sk))


_WRITE_OUTCOMES = {
    WriteStatus.STORED: Outcome.STORED,
    WriteStatus.DUPLICATE: Outcome.DUPLICATE,
    WriteStatus.STALE: Outcome.STALE,
    WriteStatus.FAILED: Outcome.FAILED,
}
