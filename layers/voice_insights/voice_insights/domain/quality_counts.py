"""What the quality-rate metrics count, per stored participant summary. Pure functions, no AWS.

Every dimension value comes from a configured list (template parameters QualityMetric*); anything else counts as
``other``, so the number of CloudWatch metrics is bounded whatever Twilio sends (docs/operations.md prices it).
Counted: participants by region, call type, direction (and country, for a configured list); participants with
at least one issue by region and call type (what the rate alarms read); participants with each issue kind by region
and by call type (the dashboard's shares). Issues are the quality rules' (domain/quality.py), whatever the alerting
minimum severity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from voice_insights.domain.models import ParticipantSummary
from voice_insights.domain.quality import Thresholds, issues_of

OTHER = "other"
# Twilio's Voice Insights regions and call types (twilio-facts: regions, `call_type`; pstn is in Twilio's seed).
TWILIO_REGIONS = ("us1", "us2", "au1", "br1", "ie1", "jp1", "sg1", "de1", "in1")
CALL_TYPES = ("carrier", "client", "sip", "pstn")
DIRECTIONS = ("inbound", "outbound")
# The issue kinds a participant can carry (domain/quality.py: the threshold rules and tags_info kinds, Twilio's
# `quality_issues` count, the metric tag `silent` of Twilio's samples); any other tag counts as `other`.
ISSUE_KINDS = ("low_mos", "high_packet_loss", "high_jitter", "high_latency", "quality_issues", "silent")

# Dimension names, as the metrics, alarms and dashboard name them.
REGION, CALL_TYPE, DIRECTION, COUNTRY, ISSUE = "region", "call_type", "direction", "country", "issue"
# The dimensions each participant count is broken down by (one at a time: one CloudWatch metric per value).
ISSUE_BREAKDOWNS = (REGION, CALL_TYPE)


@dataclass(frozen=True, slots=True)
class MetricBounds:
    """The values each dimension may take; the rest are ``other``."""

    regions: tuple[str, ...] = TWILIO_REGIONS
    call_types: tuple[str, ...] = CALL_TYPES
    countries: tuple[str, ...] = ()  # none by default: no country metric at all

    def labels(self, summary: ParticipantSummary) -> dict[str, str]:
        """The participant's dimension values, bounded."""
        found = {
            REGION: _bounded(summary.participant_region, self.regions),
            CALL_TYPE: _bounded(summary.call_type, self.call_types),
            DIRECTION: _bounded(summary.call_direction, DIRECTIONS),
        }
        if self.countries:
            found[COUNTRY] = _bounded((summary.country_code or "").upper(), self.countries)
        return found


def parse_list(text: str, upper: bool = False) -> tuple[str, ...]:
    """``"us1, US2,,us1"`` → ``("us1", "us2")``: a template parameter's comma-separated values, in order, once each."""
    words = (word.strip() for word in text.split(","))
    return tuple(dict.fromkeys(word.upper() if upper else word.lower() for word in words if word))


@dataclass(slots=True)
class QualityCounts:
    """Per (dimension, value): participants and those with issues; per (issue, dimension, value): with that issue."""

    participants: Counter[tuple[str, str]] = field(default_factory=Counter)
    with_issues: Counter[tuple[str, str]] = field(default_factory=Counter)
    issues: Counter[tuple[str, str, str]] = field(default_factory=Counter)


def count_participants(
    summaries: Iterable[ParticipantSummary], thresholds: Thresholds, bounds: MetricBounds
) -> QualityCounts:
    counts = QualityCounts()
    for summary in summaries:
        labels = bounds.labels(summary)
        kinds = {_bounded(issue.kind, ISSUE_KINDS) for issue in issues_of(summary, thresholds)}
        for dimension, value in labels.items():
            counts.participants[dimension, value] += 1
        for dimension in ISSUE_BREAKDOWNS:
            # Zero counts too: a period with participants and no issue is a share of 0, not missing data.
            counts.with_issues[dimension, labels[dimension]] += 1 if kinds else 0
            for kind in kinds:
                counts.issues[kind, dimension, labels[dimension]] += 1
    return counts


def share_percent(with_issues: float, participants: float, min_participants: float) -> float:
    """What a rate alarm's metric math computes: IF(participants >= min, 100 * with_issues / participants, 0)."""
    return 100 * with_issues / participants if participants >= min_participants and participants > 0 else 0.0


def _bounded(value: str | None, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else OTHER
