"""Given events that each lack one field Twilio documents as required (but storing does not need), when they
arrive on either path, then every one is stored with the field named in ``schema_violations`` and counted in the
``SchemaViolations`` metric, in total and by field; none is rejected."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from devtools.lambda_events import api_gateway_event
from tests.conftest import load_seed, variant
from tests.integration.conftest import Handler, LocalStack, MetricsCapture, run_kinesis
from tests.unit.test_schema_drift import MISSING, _without
from voice_insights.domain.items import stored_event
from voice_insights.ingest.webhook import route_path


def drifted_events() -> list[tuple[str, dict[str, Any], str]]:
    """(function, event, the violation expected) per documented-required field, each event its own item."""
    cases = []
    for n, (name, field) in enumerate(MISSING):
        # SIDs of Twilio's form (hex digits): a SID off it would be a violation of its own (models.sid_pattern)
        keys = {"data__participant_sid": f"CP{n:032x}"} if name.startswith("participant") else {}
        event = variant(load_seed(name), id=f"NOdrift{n}", data__conference_sid=f"CFdf{n:030x}", **keys)
        cases.append((name, _without(event, field), "data." + field.replace(".0.", "[].")))
    return cases


@pytest.mark.parametrize("path", ["kinesis", "webhook"])
def test_events_missing_a_documented_field_are_stored_flagged_and_counted(
    stack: LocalStack, handlers: dict[str, Handler], metrics_capture: MetricsCapture, path: str
) -> None:
    cases = drifted_events()
    if path == "kinesis":  # data as a JSON string, as Twilio's Kinesis sink writes it
        records = [{"Data": json.dumps({**event, "data": json.dumps(event["data"])}).encode(), "PartitionKey": "k"}
                   for _, event, _ in cases]  # fmt: skip
        stack.kinesis.put_records(StreamName=stack.stream_name, Records=records)
        run_kinesis(stack, handlers, metrics_capture)
    else:
        for name in sorted({name for name, _, _ in cases}):
            body = json.dumps([event for case, event, _ in cases if case == name])
            answer = metrics_capture.run(lambda n=name, b=body: handlers[n](api_gateway_event(route_path(n), b)))
            assert answer["statusCode"] == 200, answer["body"]

    stored = {stored_event(item).event_id: item for item in stack.items()}
    assert len(stored) == len(cases) and stack.rejected() == []
    for _, event, violation in cases:
        assert stored[event["id"]]["schema_violations"] == {"SS": [violation]}
        assert stored_event(stored[event["id"]]).data == event["data"]
    per_field = metrics_capture.by_dimension("SchemaViolations", "field")
    assert per_field == Counter(violation for _, _, violation in cases)
    assert metrics_capture.totals["SchemaViolations"] - per_field.total() == len(cases)  # the alarm's metric
