"""Order and duplicates as properties (hypothesis): for generated conferences, any permutation of their
events, each delivered up to three times on either path in batches of any size, ends in exactly the
stored state of in-order single delivery, and the alert function publishes exactly one alert per
(item, issue), the same alerts as in order. Against moto server over HTTP, with the functions' handlers
driven as Lambda and Twilio drive them (tests/integration/driver.py).

Issues only grow along an item's versions here (a conference turns bad at some partial and stays bad):
when a later version drops an issue, whether it was alerted depends on whether the earlier version
arrived first, and that is by design (an alert is about a stored change, and a stale event stores none).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.moto_server import MotoServer
from devtools.traffic import HEALTHY_METRICS, ROUTE_OF_TYPE, Delivery, kinesis_bytes, seed
from tests.integration.conftest import LocalStack
from tests.integration.driver import InProcessPipeline, alert_keys, fresh_stack, stored_state
from tests.reliability import scaled

BAD_CONFERENCE_FIELDS = ("tags", "tag_info", "detected_issues")


@st.composite
def conferences(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events of 1-3 conferences: 0-2 partial summaries, maybe a complete one, 0-3 participants each."""
    partial, complete, participant = (
        seed("conference-summary-partial"),
        seed("conference-summary-complete"),
        seed("conference-participant-summary-complete"),
    )
    events = []
    for c in range(draw(st.integers(1, 3))):
        sid = f"CF{c:032x}"
        versions = [(partial, f"p{i}", 5 + i) for i in range(draw(st.integers(0, 2)))]
        if draw(st.booleans()):
            versions.append((complete, "c", 50))
        bad_from = draw(st.integers(0, len(versions)))  # versions from here on carry the issues
        for index, (template, kind, minute) in enumerate(versions):
            event = copy.deepcopy(template)
            event["id"] = f"EZ{kind}{c:029x}"
            event["time"] = f"2026-11-21T10:{minute:02d}:00Z"
            event["data"]["conference_sid"] = sid
            if index >= bad_from:
                event["data"].update({f: copy.deepcopy(complete["data"][f]) for f in BAD_CONFERENCE_FIELDS})
            else:
                event["data"].update(tags=[], tag_info=None, detected_issues={"call_quality": 0})
            events.append(event)
        for p in range(draw(st.integers(0, 3))):
            event = copy.deepcopy(participant)
            event["id"] = f"EZa{c:014x}{p:015x}"
            event["data"].update(
                conference_sid=sid, participant_sid=f"CP{c:016x}{p:016x}", call_sid=f"CA{c:016x}{p:016x}"
            )
            if not draw(st.booleans()):  # healthy
                event["data"]["quality_issues"] = 0
                event["data"]["metrics"] = {"inbound": HEALTHY_METRICS, "outbound": HEALTHY_METRICS}
            events.append(event)
    return events


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[list[Delivery]]]:
    """The events, and the same events 1-3 times each, shuffled, on either path, cut into batches."""
    events = draw(conferences())
    copies = [event for event in events for _ in range(draw(st.integers(1, 3)))]
    shuffled = draw(st.permutations(copies))
    sent = [_delivery(event, draw(st.sampled_from(["kinesis", "webhook"]))) for event in shuffled]
    batches, start = [], 0
    while start < len(sent):
        size = draw(st.integers(1, max(1, len(sent))))
        batches.append(sent[start : start + size])
        start += size
    return events, batches


def _delivery(event: dict[str, Any], path: str) -> Delivery:
    payload = kinesis_bytes(event) if path == "kinesis" else event
    return Delivery(path, payload, ROUTE_OF_TYPE[event["type"]], event["id"])  # type: ignore[arg-type]


def run(moto: MotoServer, batches: list[list[Delivery]]) -> tuple[Any, Counter[Any]]:
    """A fresh stack, each batch sent then settled (alerts too); the stored state and the alerts."""
    stack, handlers = fresh_stack(moto)
    alerts_queue = stack.subscribe_queue("alerts", raw=True)
    pipeline = InProcessPipeline(stack, handlers)
    for batch in batches:
        pipeline.send(batch)
        pipeline.settle()
    assert pipeline.given_up() == 0 and pipeline.webhooks.given_up == 0
    assert set(pipeline.webhooks.statuses) <= {200}
    return stored_state(stack), alert_keys(stack.drain(alerts_queue))


@pytest.mark.slow
def test_any_order_and_redelivery_ends_in_the_in_order_state_with_each_alert_once(
    stack: LocalStack, moto: MotoServer
) -> None:
    examples = Counter[str]()

    @settings(
        max_examples=scaled(default=12, full=150),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=False,
        print_blob=True,
    )
    @given(deliveries())
    def property_holds(case: tuple[list[dict[str, Any]], list[list[Delivery]]]) -> None:
        events, batches = case
        in_order = [[_delivery(event, "kinesis") for event in events]]
        expected_state, expected_alerts = run(moto, in_order)
        state, alerts = run(moto, batches)
        assert state == expected_state
        assert alerts == expected_alerts
        assert set(alerts.values()) <= {1}, f"an alert went out twice: {alerts}"
        examples["examples"] += 1
        examples["deliveries"] += sum(len(batch) for batch in batches)
        examples["alerts"] += sum(alerts.values())

    property_holds()
    print(f"\nfigures | order/duplicate property: {json.dumps(dict(examples))}")
    assert examples["examples"] > 0
