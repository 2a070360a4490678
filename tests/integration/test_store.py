"""Given items DynamoDB itself refuses, when a batch is written, then only those items are refused
(and so kept as rejected by the pipeline); the other items are stored, nothing is retried forever."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from devtools.lambda_events import api_gateway_event
from tests.conftest import load_seed, variant
from tests.integration.conftest import Handler, LocalStack
from voice_insights.aws.summaries import SummaryStore, WriteStatus
from voice_insights.domain.items import StoredItem, stored_event
from voice_insights.ingest.webhook import route_path

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def item(key: str, **extra: dict[str, str]) -> StoredItem:
    attributes = {"pk": {"S": key}, "sk": {"S": "SUMMARY"}, "version": {"S": "1"}, **extra}
    return StoredItem(pk=key, sk="SUMMARY", version="1", event_id=key, event_type="t", attributes=attributes, size=100)


def test_an_item_too_large_for_dynamodb_is_refused_alone(stack: LocalStack) -> None:
    store = SummaryStore(stack.table_name)
    results = store.write([item("A"), item("B", data={"S": "x" * 500_000}), item("C")])
    assert [r.status for r in results] == [WriteStatus.STORED, WriteStatus.REFUSED, WriteStatus.STORED]
    assert "maximum allowed size" in results[1].detail
    assert sorted(i["pk"]["S"] for i in stack.items()) == ["A", "C"]


def test_a_value_dynamodb_cannot_hold_is_refused_alone(stack: LocalStack) -> None:
    store = SummaryStore(stack.table_name)
    results = store.write([item("A"), item("B", n={"N": "inf"}), item("C")])
    assert [r.status for r in results] == [WriteStatus.STORED, WriteStatus.REFUSED, WriteStatus.STORED]


def test_numbers_beyond_dynamodbs_range_stay_in_the_payload_only(
    stack: LocalStack, handlers: dict[str, Handler]
) -> None:
    huge = variant(load_seed("participant_summary_complete"), data__duration_seconds=10**40, data__quality_issues=2)
    route = "participant_summary_complete"
    answer = handlers[route](api_gateway_event(route_path(route), json.dumps([huge])))
    assert json.loads(answer["body"])["stored"] == 1, answer
    (stored,) = stack.items()
    assert "duration_seconds" not in stored and stored["issue_severity"]
    assert stored_event(stored).data["duration_seconds"] == 10**40


def test_an_event_whose_item_dynamodb_refuses_is_kept_as_rejected(
    stack: LocalStack, handlers: dict[str, Handler], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injected: the item built for one event is made larger than DynamoDB accepts."""
    import voice_insights.ingest.pipeline as pipeline_module

    real_to_item = pipeline_module.to_item

    def oversized_for_cp2(*args: Any, **kwargs: Any) -> StoredItem:
        built = real_to_item(*args, **kwargs)
        if built.sk == "PART#CP2":
            built.attributes["padding"] = {"S": "x" * 500_000}
        return built

    monkeypatch.setattr(pipeline_module, "to_item", oversized_for_cp2)
    seed = load_seed("participant_summary_complete")
    events = [variant(seed, id=f"NO{n}", data__participant_sid=f"CP{n}") for n in (1, 2, 3)]
    route = "participant_summary_complete"
    answer = handlers[route](api_gateway_event(route_path(route), json.dumps(events)))
    counts = json.loads(answer["body"])
    assert (answer["statusCode"], counts["stored"], counts["rejected"], counts["failed"]) == (200, 2, 1, 0)
    (kept,) = stack.rejected()
    assert kept["event_id"] == "NO2" and kept["reason"].startswith("DynamoDB refused the item")
    assert json.loads(kept["raw"]) == events[1]


def test_the_rejected_records_helper_reads_past_the_first_listing_page(stack: LocalStack) -> None:
    # ListObjectsV2 returns at most 1,000 keys per call; the 10,000-input fuzz run keeps ~19,000 records.
    for n in range(1_001):
        stack.s3.put_object(Bucket=stack.bucket, Key=f"rejected/{n:05d}.json", Body=b'{"reason": "x"}')
    assert len(stack.rejected()) == 1_001
