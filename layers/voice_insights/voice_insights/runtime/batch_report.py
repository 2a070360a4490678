"""What a settled batch reports, the same for the ingest and the alert pipelines: one outcome per input,
then a metric per outcome and one log line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from voice_insights.runtime.observability import logger, metrics

# Every pipeline's outcome for an input that must be delivered again.
FAILED = "failed"


@dataclass(frozen=True)
class BatchReport[OutcomeT: StrEnum]:
    outcomes: list[OutcomeT]  # one per input, in order
    counted: Sequence[OutcomeT]  # the outcomes counted in metrics and logs

    def counts(self) -> dict[str, int]:
        found = Counter(self.outcomes)
        return {outcome.value: found.get(outcome, 0) for outcome in self.counted}

    @property
    def failed(self) -> bool:
        return any(outcome.value == FAILED for outcome in self.outcomes)

    def settled(self) -> list[bool]:
        """Per input, whether it is settled (anything but FAILED): what the stream adapter answers Lambda."""
        return [outcome.value != FAILED for outcome in self.outcomes]

    def publish(self, message: str, metric_names: Mapping[OutcomeT, str], **fields: Any) -> dict[str, int]:
        """A metric per outcome (``metric_names``) and one log line with the counts; returns the counts."""
        counts = self.counts()
        for outcome, name in metric_names.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=counts[outcome.value])
        logger.info(message, extra={**fields, **counts})
        return counts
