"""A backfilled state written over what the stream stored, through the real SummaryStore against moto."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import healthy_conference, variant
from tests.integration.conftest import LocalStack
from voice_insights.aws.summaries import SummaryStore, WriteStatus
from voice_insights.domain.items import BACKFILL_EXTENSION, stored_event, to_item
from voice_insights.domain.models import ConferenceSummaryCompleteEvent, ConferenceSummaryPartialEvent

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _backfilled(kind: str, state: str) -> dict:
    raw = healthy_conference(kind, data__processing_state=state)
    raw.pop("time", None)
    return variant(raw, id=f"backfill:{state}", **{BACKFILL_EXTENSION: "alerts-off"})


def test_a_backfill_of_the_state_the_stream_stored_is_a_duplicate_and_of_an_older_state_stale(
    stack: LocalStack,
) -> None:
    store = SummaryStore(stack.table_name, client=stack.dynamodb)
    streamed = ConferenceSummaryCompleteEvent.model_validate(
        healthy_conference("complete", time="2026-11-21T09:00:00Z", data__processing_state="complete")
    )
    assert store.write([to_item(streamed, NOW)])[0].status is WriteStatus.STORED
    same = ConferenceSummaryCompleteEvent.model_validate(_backfilled("complete", "complete"))
    older = ConferenceSummaryPartialEvent.model_validate(_backfilled("partial", "in_progress"))
    assert store.write([to_item(same, NOW)])[0].status is WriteStatus.DUPLICATE
    assert store.write([to_item(older, NOW)])[0].status is WriteStatus.STALE
    (item,) = stack.items()
    assert stored_event(item).event_id == streamed.id and "ingested_by" not in item
