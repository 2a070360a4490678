"""Mapped REST events into the ingest pipeline: the same validation, ordering, duplicates and rejections as streamed
events, one Pipeline per route (as each processing function has its own)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from voice_insights.aws.rejected import RejectedEventStore
from voice_insights.aws.summaries import SummaryStore
from voice_insights.domain.quality import DEFAULT_THRESHOLDS, Thresholds
from voice_insights.ingest import routes
from voice_insights.ingest.pipeline import Inbound, Outcome, Pipeline
from voice_insights.runtime.observability import metrics

WRITE_ATTEMPTS = 3  # a batch's FAILED events (DynamoDB throttling, network) are processed again this often
ROUTE_OF_TYPE = {event_type.value: route for route in routes.SUMMARY_ROUTES for event_type in route.event_types}


class Feeder:
    """``keep_metrics``: a Lambda handler flushes the pipeline's metrics (InternalErrors, SchemaViolations… alarm as
    for streamed events); a command drops them, its counts are its closing summary."""

    def __init__(
        self,
        summaries: SummaryStore,
        rejected: RejectedEventStore,
        retention_days: int = 0,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        keep_metrics: bool = False,
    ) -> None:
        self.pipelines = {
            route.name: Pipeline(
                route,
                summaries,
                rejected,
                retention_days=retention_days,
                thresholds=thresholds,
                quality_metrics=keep_metrics,
            )
            for route in routes.SUMMARY_ROUTES
        }
        self.keep_metrics = keep_metrics

    def feed(self, events: Sequence[dict[str, Any]], origin: str) -> list[Outcome]:
        outcomes: list[Outcome] = [Outcome.FAILED] * len(events)
        by_route: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            by_route.setdefault(ROUTE_OF_TYPE[event["type"]].name, []).append(index)
        for name, indexes in by_route.items():
            pending = indexes
            for _ in range(WRITE_ATTEMPTS):
                inbound = [Inbound(raw=events[i], origin={"backfill": origin}) for i in pending]
                report = self.pipelines[name].process(inbound, source="backfill")
                if not self.keep_metrics:
                    # Powertools' process-wide metrics are flushed by a Lambda handler only: dropped, not left.
                    metrics.clear_metrics()
                for index, outcome in zip(pending, report.outcomes, strict=True):
                    outcomes[index] = outcome
                pending = [i for i, o in zip(pending, report.outcomes, strict=True) if o is Outcome.FAILED]
                if not pending:
                    break
        return outcomes
