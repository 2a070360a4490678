"""Backfilled states (operate/backfill.py: the REST API's summaries fed through the pipeline) against stream
events of the same item: the stream's state always wins, a backfill repeats or fills, and pages nobody unless asked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.conftest import healthy_conference, variant
from tests.unit.test_alerting import FakeLedger, FakeNames, FakePublisher, FakeRejected
from voice_insights.alerts.alerting import AlertOutcome, AlertPipeline, ItemChange
from voice_insights.domain.items import BACKFILL_EXTENSION, refused_as_duplicate, to_item, version_of
from voice_insights.domain.models import ConferenceSummaryCompleteEvent, ConferenceSummaryPartialEvent
from voice_insights.domain.quality import Thresholds

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
MODELS = {"complete": ConferenceSummaryCompleteEvent, "partial": ConferenceSummaryPartialEvent}


def event(kind: str, backfill: str | None = None, state: str = "complete", **changes: Any) -> Any:
    raw = healthy_conference(kind, time="2026-11-21T09:00:00Z", data__processing_state=state, **changes)
    if backfill:
        raw = variant(raw, id=f"backfill:{raw['data']['conference_sid']}:{state}", **{BACKFILL_EXTENSION: backfill})
        raw.pop("time")
    return MODELS[kind].model_validate(raw)


def test_a_backfilled_state_sorts_below_every_stream_event_of_its_rank_and_above_the_lower_rank() -> None:
    stream_complete = version_of(event("complete"))
    backfilled_complete = version_of(event("complete", "alerts-off"))
    stream_partial = version_of(event("partial", state="in_progress"))
    backfilled_partial = version_of(event("partial", "alerts-off", state="in_progress"))
    untimed_complete = version_of(ConferenceSummaryCompleteEvent.model_validate(healthy_conference("complete")))
    assert backfilled_partial < stream_partial < backfilled_complete < untimed_complete <= stream_complete
    # A later processing state read again by a backfill replaces the earlier one it stored.
    assert version_of(event("partial", "alerts-off", state="in_progress")) < version_of(
        event("partial", "alerts-off", state="timeout")
    )


def test_a_refused_backfill_is_a_duplicate_when_the_table_holds_its_rank_else_stale() -> None:
    backfilled = version_of(event("complete", "alerts-off"))
    assert refused_as_duplicate(version_of(event("complete")), backfilled)
    assert refused_as_duplicate(backfilled, backfilled)
    assert not refused_as_duplicate(version_of(event("complete")), version_of(event("partial", state="in_progress")))
    assert not refused_as_duplicate(backfilled, version_of(event("partial", "alerts-off", state="in_progress")))
    assert refused_as_duplicate(version_of(event("complete")), version_of(event("complete")))
    assert not refused_as_duplicate(None, backfilled)


def test_backfilled_items_say_so_and_whether_alerts_are_off() -> None:
    quiet = to_item(event("complete", "alerts-off"), NOW).attributes
    loud = to_item(event("complete", "alerts-on"), NOW).attributes
    streamed = to_item(event("complete"), NOW).attributes
    assert quiet["ingested_by"] == {"S": "backfill"} and quiet["alerts"] == {"S": "off"}
    assert loud["ingested_by"] == {"S": "backfill"} and "alerts" not in loud
    assert "ingested_by" not in streamed and "alerts" not in streamed


def _change(new: Any, old: Any = None) -> ItemChange:
    new_image = to_item(new, NOW).attributes
    body: dict[str, Any] = {"Keys": {"pk": new_image["pk"], "sk": new_image["sk"]}, "NewImage": new_image}
    if old is not None:
        body["OldImage"] = to_item(old, NOW).attributes
    return ItemChange.from_stream_record({"eventSource": "aws:dynamodb", "dynamodb": body})


def _alerts() -> tuple[AlertPipeline, FakePublisher]:
    publisher = FakePublisher()
    pipeline = AlertPipeline(Thresholds(), FakeLedger(), FakeNames(), publisher, FakeRejected(), clock=lambda: NOW)  # type: ignore[arg-type]
    return pipeline, publisher


def test_a_backfilled_item_with_alerts_off_raises_nothing_and_with_alerts_on_alerts() -> None:
    bad = {"data__tags": ["high_jitter"]}
    pipeline, publisher = _alerts()
    assert pipeline.process([_change(event("complete", "alerts-off", **bad))]).outcomes == [AlertOutcome.NOTHING_NEW]
    assert publisher.published == []
    assert pipeline.process([_change(event("complete", "alerts-on", **bad))]).outcomes == [AlertOutcome.PUBLISHED]


def test_a_stream_event_replacing_a_quiet_backfill_alerts_as_if_the_backfill_had_not_happened() -> None:
    # The stream's own event was still on its way (Twilio retries for 4 hours): the backfill must not swallow it.
    bad = {"data__tags": ["high_jitter"]}
    pipeline, publisher = _alerts()
    replaced = _change(event("complete", **bad), old=event("complete", "alerts-off", **bad))
    assert pipeline.process([replaced]).outcomes == [AlertOutcome.PUBLISHED]
    assert len(publisher.published) == 1
