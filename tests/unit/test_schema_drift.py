"""Given an event that differs from Twilio's documented schema in a field storing does not need (missing, or of
another type), when it is decoded, stored, read back and alerted on, then it is stored with the field named in
``schema_violations``, its data kept as sent, and every later step reads it without raising."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import load_seed
from tests.unit.test_decoding import CONFERENCE_REQUIRED, PARTICIPANT_REQUIRED, ROUTE_BY_SEED, _without
from voice_insights.alerts.alert_message import AlertContext, build_alert, render
from voice_insights.domain.items import stored_event, summary_from_item, to_item
from voice_insights.domain.models import REQUIRED_TO_STORE
from voice_insights.domain.quality import Thresholds, issues_of
from voice_insights.domain.schema_drift import field_name, without
from voice_insights.ingest.decoding import Accepted, decode

RECEIVED = datetime(2026, 11, 30, tzinfo=UTC)
KEYS = REQUIRED_TO_STORE["data"]
# Every issue the rules know, so that the alert path reads every field.
STRICT = Thresholds(mos_below=5, packet_loss_percent_above=0, jitter_avg_ms_above=0, latency_avg_ms_above=0)


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every field of the seed's data, nested ones included (first list element only)."""
    paths = []
    if isinstance(value, dict):
        for key, child in value.items():
            paths += [(*prefix, key), *leaf_paths(child, (*prefix, key))]
    elif isinstance(value, list) and value:
        paths += leaf_paths(value[0], (*prefix, 0))
    return paths


def with_value(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copied = json.loads(json.dumps(event))
    node = copied["data"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return copied


def wrong_value(event: dict[str, Any], path: tuple[Any, ...]) -> Any:
    node = event["data"]
    for part in path:
        node = node[part]
    return "not what Twilio documents" if isinstance(node, dict | list) else {"unexpected": [1]}


MISSING = [("conference_summary_complete", f) for f in CONFERENCE_REQUIRED if f not in KEYS] + [
    ("participant_summary_complete", f) for f in PARTICIPANT_REQUIRED if f not in KEYS
]
WRONG = [
    (name, path)
    for name in ROUTE_BY_SEED
    for path in leaf_paths(load_seed(name)["data"])
    if path[0] not in KEYS and (name, path) != ("participant_summary_complete", ("metrics", "inbound", "tags", 0))
]


def stored_and_alerted(event: dict[str, Any], name: str) -> tuple[Accepted, dict[str, Any]]:
    decision = decode(json.dumps(event), ROUTE_BY_SEED[name])
    assert isinstance(decision, Accepted), decision
    item = to_item(decision.event, RECEIVED, 0, STRICT, decision.violations, decision.data_as_sent)
    assert stored_event(item.attributes).data == event["data"]  # kept as sent: nothing set aside is lost
    summary = summary_from_item(item.attributes)
    issues = issues_of(summary, STRICT)
    if issues:
        context = AlertContext(f"{item.pk}|{item.sk}", decision.event.type, decision.event.id, None, "now")
        message = render(build_alert(summary, issues, context))
        assert json.loads(json.loads(message.message)["sqs"])["event_id"] == event["id"]
    return decision, item.attributes


@pytest.mark.parametrize(("name", "field"), MISSING)
def test_a_missing_documented_field_is_stored_flagged_and_read_back(name: str, field: str) -> None:
    decision, attributes = stored_and_alerted(_without(load_seed(name), field), name)
    expected = "data." + field.replace(".0.", "[].")
    assert decision.violations == (expected,)
    assert attributes["schema_violations"] == {"SS": [expected]}


def case_id(value: Any) -> str:
    return field_name(value) if isinstance(value, tuple) else str(value)


@pytest.mark.parametrize(("name", "path"), WRONG, ids=case_id)
def test_a_field_of_another_type_is_stored_flagged_and_read_back(name: str, path: tuple[Any, ...]) -> None:
    seed = load_seed(name)
    _, attributes = stored_and_alerted(with_value(seed, path, wrong_value(seed, path)), name)
    assert attributes["schema_violations"]["SS"] == [field_name(("data", *path))]


def test_an_event_as_documented_has_no_violations_attribute() -> None:
    for name in ROUTE_BY_SEED:
        _, attributes = stored_and_alerted(load_seed(name), name)
        assert "schema_violations" not in attributes


def test_setting_aside_list_elements_takes_out_exactly_those_whatever_their_number() -> None:
    # Positions sorted as text put 9 before 10: deleting 2 and then 10 must not shift onto another element.
    assert without({"t": list(range(12))}, [("t", 2), ("t", 10)]) == {"t": [0, 1, 3, 4, 5, 6, 7, 8, 9, 11]}
    assert without({"a": [0, 1, {"b": [0, 1, 2]}]}, [("a", 2, "b", 1), ("a", 0)]) == {"a": [1, {"b": [0, 2]}]}


def test_a_conference_with_many_bad_tags_keeps_every_good_one() -> None:
    event = load_seed("conference_summary_complete")
    event["data"]["tags"] = [f"tag{n}" if n % 7 else n for n in range(300)]  # 43 numbers among 257 tags
    decision = decode(json.dumps(event), ROUTE_BY_SEED["conference_summary_complete"])
    assert isinstance(decision, Accepted), decision
    assert decision.event.data.tags == [f"tag{n}" for n in range(300) if n % 7]
    assert decision.violations == ("data.tags[]",)
