"""Given a batch holding several versions of one item, when DynamoDB refuses the newest (an item it will never
take), then the next version is written in its place: nothing is settled as a duplicate of what was not stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tests.conftest import load_seed, variant
from voice_insights.aws.summaries import WriteResult, WriteStatus
from voice_insights.domain.items import StoredItem
from voice_insights.ingest import routes
from voice_insights.ingest.pipeline import Inbound, Outcome, Pipeline


class RefusingStore:
    """Stores what it is given, but refuses the items of ``refused`` event ids, as DynamoDB refuses a bad item."""

    def __init__(self, refused: set[str]) -> None:
        self.refused = refused
        self.stored: dict[tuple[str, str], str] = {}

    def write(self, items: Sequence[StoredItem]) -> list[WriteResult]:
        results = []
        for item in items:
            if item.event_id in self.refused:
                results.append(WriteResult(WriteStatus.REFUSED, "ValidationException: key too long"))
            else:
                self.stored[item.key] = item.event_id
                results.append(WriteResult(WriteStatus.STORED))
        return results


class KeptRecords:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def keep_all(self, records: Sequence[dict[str, Any]], received_at: datetime, prefix: str = "rejected") -> str:
        self.records += records
        return "rejected/test.jsonl"


def test_when_the_newest_version_is_refused_the_next_one_is_stored_not_called_stale() -> None:
    partial = variant(load_seed("conference_summary_partial"), id="NOold", time="2026-01-01T10:00:00Z")
    newer_partial = variant(partial, id="NOnew", time="2026-01-01T10:05:00Z")
    store, kept = RefusingStore(refused={"NOnew"}), KeptRecords()
    pipeline = Pipeline(routes.CONFERENCE_SUMMARY_PARTIAL, store, kept, clock=lambda: datetime(2026, 1, 2, tzinfo=UTC))  # type: ignore[arg-type]
    report = pipeline.process([Inbound(raw=partial), Inbound(raw=newer_partial)], source="kinesis")
    assert report.outcomes == [Outcome.STORED, Outcome.REJECTED]
    assert store.stored == {("CONF#CF0000000000000000000000000000001", "SUMMARY"): "NOold"}
    assert [record["event_id"] for record in kept.records] == ["NOnew"]


def test_a_second_copy_of_a_refused_event_is_a_duplicate_of_the_copy_kept() -> None:
    event = variant(load_seed("conference_summary_partial"), id="NOsame")
    store, kept = RefusingStore(refused={"NOsame"}), KeptRecords()
    pipeline = Pipeline(routes.CONFERENCE_SUMMARY_PARTIAL, store, kept)  # type: ignore[arg-type]
    report = pipeline.process([Inbound(raw=event), Inbound(raw=event)], source="kinesis")
    assert report.outcomes == [Outcome.REJECTED, Outcome.DUPLICATE]  # the same event, kept once with its reason
    assert store.stored == {} and len(kept.records) == 1
