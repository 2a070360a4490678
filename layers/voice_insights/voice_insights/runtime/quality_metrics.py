"""The quality-rate metrics of the stored participant summaries of a batch (docs/operations.md, "Quality rates").

One EMF document per metric and dimension value (Powertools' ``single_metric``): the batch's ``metrics`` object holds
one dimension set per flush, and these need several (region, call type, ...). At most (regions + call types +
directions + countries + 2) x (issue kinds + 2) documents a batch, whatever its size: the counts are summed first.
Names: ``Participants`` {region|call_type|direction|country, service}, ``ParticipantsWithIssues`` and
``ParticipantIssues`` (with ``issue``) {region|call_type, service}.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import Field

from voice_insights.domain.items import PARTICIPANT_SUMMARY, StoredItem, entity_of, summary_from_item
from voice_insights.domain.models import ParticipantSummary
from voice_insights.domain.quality import Thresholds
from voice_insights.domain.quality_counts import (
    CALL_TYPES,
    ISSUE,
    TWILIO_REGIONS,
    MetricBounds,
    QualityCounts,
    count_participants,
    parse_list,
)
from voice_insights.runtime.observability import logger
from voice_insights.runtime.settings import Environment

PARTICIPANTS_METRIC = "Participants"
WITH_ISSUES_METRIC = "ParticipantsWithIssues"
ISSUES_METRIC = "ParticipantIssues"


class QualityMetricSettings(Environment):
    """Template parameters QualityMetricRegions, QualityMetricCallTypes, QualityMetricCountries."""

    regions: str = Field(",".join(TWILIO_REGIONS), alias="QUALITY_METRIC_REGIONS")
    call_types: str = Field(",".join(CALL_TYPES), alias="QUALITY_METRIC_CALL_TYPES")
    countries: str = Field("", alias="QUALITY_METRIC_COUNTRIES")

    @property
    def bounds(self) -> MetricBounds:
        return MetricBounds(parse_list(self.regions), parse_list(self.call_types), parse_list(self.countries, True))


@cache
def configured_bounds() -> MetricBounds:
    return QualityMetricSettings.from_env().bounds


def publish_quality_metrics(decisions: Iterable[object], thresholds: Thresholds) -> QualityCounts | None:
    """Count the stored participant summaries among ``decisions`` (the pipeline's stored items) and write their
    metrics. Never raises: the items are stored already, and a metric is not worth a retry (logged instead)."""
    try:
        summaries = [
            summary
            for item in decisions
            if isinstance(item, StoredItem) and entity_of(item.attributes) == PARTICIPANT_SUMMARY
            for summary in [summary_from_item(item.attributes)]
            if isinstance(summary, ParticipantSummary)
        ]
        if not summaries:
            return None
        counts = count_participants(summaries, thresholds, configured_bounds())
        write_metrics(counts)
        return counts
    except Exception:
        logger.exception("Quality metrics not written for this batch (its items are stored)")
        return None


def write_metrics(counts: QualityCounts) -> None:
    for (dimension, value), count in sorted(counts.participants.items()):
        _write(PARTICIPANTS_METRIC, count, {dimension: value})
    for (dimension, value), count in sorted(counts.with_issues.items()):
        _write(WITH_ISSUES_METRIC, count, {dimension: value})
    for (kind, dimension, value), count in sorted(counts.issues.items()):
        _write(ISSUES_METRIC, count, {ISSUE: kind, dimension: value})


def _write(name: str, value: int, dimensions: dict[str, str]) -> None:
    with single_metric(name=name, unit=MetricUnit.Count, value=value) as metric:
        for dimension, dimension_value in dimensions.items():
            metric.add_dimension(name=dimension, value=dimension_value)
