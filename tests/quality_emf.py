"""The quality-rate metrics as the code writes them: a pipeline batch run in process, its EMF documents captured
from stdout and read back as (metric, dimensions) → value. The template and dashboard tests pin to these."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from tests.conftest import healthy_participant, variant, with_stream
from voice_insights.aws.summaries import WriteResult, WriteStatus
from voice_insights.domain.items import StoredItem
from voice_insights.ingest import routes
from voice_insights.ingest.pipeline import Inbound, Pipeline
from voice_insights.runtime.quality_metrics import configured_bounds

Series = tuple[str, tuple[tuple[str, str], ...]]  # metric name, sorted (dimension, value) pairs


class MemoryStore:
    """Keeps the newest version per key, answering as DynamoDB's conditional write does."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], str] = {}

    def write(self, items: Sequence[StoredItem]) -> list[WriteResult]:
        results = []
        for item in items:
            current = self.versions.get(item.key)
            if current == item.version:
                results.append(WriteResult(WriteStatus.DUPLICATE))
            elif current is not None and current > item.version:
                results.append(WriteResult(WriteStatus.STALE))
            else:
                self.versions[item.key] = item.version
                results.append(WriteResult(WriteStatus.STORED))
        return results


class NoRejections:
    def keep_all(self, records: Sequence[dict[str, Any]], received_at: datetime, prefix: str = "rejected") -> str:
        raise AssertionError("nothing is rejected here")


def participant(number: int, region: str = "us1", call_type: str = "carrier", bad: bool = False, **data: Any) -> dict:
    """A participant summary of its own conference; ``bad``: inbound MOS 2.0 (low_mos)."""
    event = healthy_participant(
        id=f"EV{number:032d}",
        data__participant_sid=f"PA{number:032d}",
        data__conference_sid=f"CF{number:032d}",
        data__participant_region=region,
        data__call_type=call_type,
        **{f"data__{name}": value for name, value in data.items()},
    )
    return with_stream(event, "inbound", mos=2.0) if bad else event


def emf_documents(run: Any) -> list[dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run()
    return [json.loads(line) for line in out.getvalue().splitlines() if '"_aws"' in line]


def series_values(documents: Iterable[dict[str, Any]]) -> dict[Series, float]:
    """Each metric of each document by its name and dimension values (summed over documents, as CloudWatch's Sum)."""
    found: dict[Series, float] = {}
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    key = (metric["Name"], tuple(sorted((name, doc[name]) for name in dimensions)))
                    values = doc[metric["Name"]]
                    found[key] = found.get(key, 0) + sum(values if isinstance(values, list) else [values])
    return found


def run_batch(events: list[dict[str, Any]], store: MemoryStore | None = None) -> list[dict[str, Any]]:
    """The EMF documents one participant batch writes."""
    pipeline = Pipeline(
        routes.PARTICIPANT_SUMMARY_COMPLETE,
        store or MemoryStore(),  # type: ignore[arg-type]
        NoRejections(),  # type: ignore[arg-type]
        clock=lambda: datetime(2026, 12, 4, tzinfo=UTC),
    )
    return emf_documents(lambda: pipeline.process([Inbound(raw=event) for event in events], source="kinesis"))


def quality_documents(documents: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {"Participants", "ParticipantsWithIssues", "ParticipantIssues"}
    return [d for d in documents if {m["Name"] for c in d["_aws"]["CloudWatchMetrics"] for m in c["Metrics"]} & names]


@contextlib.contextmanager
def configured(**variables: str) -> Iterator[None]:
    """The quality metrics' environment (QUALITY_METRIC_*) set for a while, as the template would set it."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    configured_bounds.cache_clear()
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        configured_bounds.cache_clear()


def sample_quality_series() -> dict[Series, float]:
    """One batch with every kind of quality metric the code writes (a country configured)."""
    events = [participant(1, bad=True), participant(2, "de1", "sip"), variant(participant(3), data__country_code="GB")]
    with configured(QUALITY_METRIC_COUNTRIES="US,GB"):
        return series_values(quality_documents(run_batch(events)))
