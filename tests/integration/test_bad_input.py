"""Bad input on both paths: the hand-picked corpus in tests/fixtures/bad_inputs and hypothesis mutations of
valid events (missing fields, wrong types, nulls, huge strings and arrays, deep nesting, arrays where
objects belong, JSON that is not an object, unknown types and schema versions, truncated JSON,
non-UTF-8 bytes). For every input: no function error, the webhook answers a status the README
documents, and the input ends stored, ignored, or kept in the rejected bucket with a reason, counted
three ways (the functions' metrics or answers, the table stream, the bucket).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.lambda_events import api_gateway_event, read_table_stream_records
from devtools.traffic import ROUTE_OF_TYPE, seed
from tests.conftest import FIXTURES
from tests.integration.conftest import Handler, LocalStack, MetricsCapture, function_name
from tests.integration.driver import InProcessPipeline
from tests.reliability import scaled

CORPUS = sorted(path for path in (FIXTURES / "bad_inputs").iterdir() if path.name != "README.md")
DOCUMENTED_WEBHOOK_STATUSES = {200, 400, 413, 415}  # docs/architecture.md, "What each path answers"
OUTCOME_METRICS = ("EventsStored", "DuplicatesIgnored", "StaleIgnored", "EventsRejected", "SinkTestEvents")
WEBHOOK_FUNCTIONS = sorted(set(ROUTE_OF_TYPE.values()))
VALID_EVENTS = [
    seed("conference-summary-complete"),
    seed("conference-summary-partial"),
    seed("conference-participant-summary-complete"),
    json.loads((FIXTURES / "sink-test-event.json").read_text()),
]
DEEP = "__deep_nesting_{}__"


class Accounting:
    """What went in, and what the functions say came out; checked against the table and the bucket at the end."""

    def __init__(self, stack: LocalStack, handlers: dict[str, Handler]) -> None:
        self.stack = stack
        self.pipeline = InProcessPipeline(stack, handlers)
        self.metrics = MetricsCapture()
        self.kinesis_inputs = 0
        self.webhook_requests = 0
        self.webhook_elements = 0
        self.statuses: Counter[int] = Counter()
        self.webhook_outcomes: Counter[str] = Counter()
        # Whole bodies Twilio signed, refused with 4xx after being kept: once per body, however often it comes.
        self.bodies_kept: set[tuple[str, str]] = set()
        self.requests_refused = 0  # requests not proven Twilio's: a bounded record kept

    def on_kinesis(self, inputs: list[bytes]) -> None:
        before = self._settled()
        self.pipeline.put_on_stream(inputs)
        self.metrics.run(self.pipeline.ingest)
        self.kinesis_inputs += len(inputs)
        assert self._settled() - before == len(inputs), "a record was neither stored, ignored nor rejected"
        assert self.metrics.totals["EventsFailed"] == 0
        assert sum(poller.stats.function_errors for poller in self.pipeline.pollers) == 0, "a function raised"

    def on_webhook(self, function: str, body: bytes, elements: int | None) -> None:
        """``elements``: how many events the body holds when it is a JSON array, else None."""
        handler = self.pipeline.handlers[function_name(function)]
        route = self.pipeline.routes[function]
        answer = handler(api_gateway_event(route.path, body, stage=route.stage))
        status = int(answer["statusCode"])
        self.webhook_requests += 1
        self.statuses[status] += 1
        assert status in DOCUMENTED_WEBHOOK_STATUSES, f"undocumented status {status}: {answer['body'][:300]}"
        if status == 200:
            counts = json.loads(answer["body"])
            assert elements is not None
            assert sum(counts[k] for k in ("stored", "duplicates", "stale", "rejected", "test_events")) == elements
            assert counts["failed"] == 0
            self.webhook_outcomes.update({k: v for k, v in counts.items() if v})
            self.webhook_elements += elements
        elif "rejected" in json.loads(answer["body"]):
            self.bodies_kept.add((function, hashlib.sha256(body).hexdigest()))
        else:
            self.requests_refused += 1

    def _settled(self) -> int:
        return int(sum(self.metrics.totals[name] for name in OUTCOME_METRICS))

    def check_stores(self) -> dict[str, int]:
        """The table stream holds one change per stored event; the bucket one record per rejection."""
        stored = self.metrics.totals["EventsStored"] + self.webhook_outcomes["stored"]
        rejected = self.metrics.totals["EventsRejected"] + self.webhook_outcomes["rejected"] + len(self.bodies_kept)
        changes = read_table_stream_records(self.stack.client("dynamodbstreams"), self.stack.table_stream_arn)
        assert len(changes) == stored
        kept = self.stack.rejected()
        assert len(kept) == rejected
        assert all(record["reason"] for record in kept)
        assert all("raw" in record or "raw_base64" in record for record in kept)
        refused = self.stack.refused()
        assert len(refused) == self.requests_refused
        assert all(record["reason"] and "raw" not in record for record in refused)
        return {
            "kinesis_inputs": self.kinesis_inputs,
            "webhook_requests": self.webhook_requests,
            "webhook_elements": self.webhook_elements,
            "stored": int(stored),
            "ignored": int(
                sum(self.metrics.totals[n] for n in ("DuplicatesIgnored", "StaleIgnored", "SinkTestEvents"))
                + sum(self.webhook_outcomes[n] for n in ("duplicates", "stale", "test_events"))
            ),
            "rejected_with_reason": len(kept),
            "refused_requests_kept": len(refused),
            **{f"status_{status}": count for status, count in sorted(self.statuses.items())},
        }


def as_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def test_every_corpus_input_is_settled_on_both_paths(stack: LocalStack, handlers: dict[str, Handler]) -> None:
    accounting = Accounting(stack, handlers)
    assert len(CORPUS) >= 30
    for path in CORPUS:
        raw = path.read_bytes()
        accounting.on_kinesis([raw])
        function = WEBHOOK_FUNCTIONS[len(path.name) % len(WEBHOOK_FUNCTIONS)]
        value = as_json(raw)
        accounting.on_webhook(function, raw, len(value) if isinstance(value, list) else None)
        if raw and value is not None:
            accounting.on_webhook(function, b"[" + raw.strip() + b"]", 1)
    figures = accounting.check_stores()
    print(f"\nfigures | bad-input corpus: {len(CORPUS)} files, {json.dumps(figures)}")
    assert figures["kinesis_inputs"] == len(CORPUS)
    assert figures["rejected_with_reason"] >= len(CORPUS)  # every file is rejected at least on one path


# Generated inputs ------------------------------------------------------------------------------------

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
odd_values = st.one_of(
    json_values,
    st.integers(1_000, 300_000).map(lambda n: "x" * n),  # huge string
    st.integers(1_000, 50_000).map(lambda n: [0] * n),  # huge array
    st.integers(50, 5_000).map(DEEP.format),  # deep nesting, written into the text below
    st.just([]),
    st.just({}),
)


def key_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = []
    if isinstance(value, dict):
        for key, child in value.items():
            paths.append((*prefix, key))
            paths += key_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            paths.append((*prefix, index))
            paths += key_paths(child, (*prefix, index))
    return paths


def parent_of(event: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        event = event[key]
    return event


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A valid event with 1-3 mutations; a fresh id most of the time (else a redelivery)."""
    event: Any = copy.deepcopy(draw(st.sampled_from(VALID_EVENTS)))
    if draw(st.integers(0, 4)):
        event["id"] = "EZ" + draw(st.text("0123456789abcdef", min_size=32, max_size=32))
    for _ in range(draw(st.integers(1, 3))):
        operation = draw(st.sampled_from(["drop", "replace", "replace", "type", "schema", "wrap", "data_text"]))
        paths = key_paths(event) if isinstance(event, dict | list) else []
        if operation in ("drop", "replace") and paths:
            path = draw(st.sampled_from(paths))
            parent = parent_of(event, path)
            if operation == "drop":
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(odd_values)
        elif operation == "type" and isinstance(event, dict):
            event["type"] = draw(st.sampled_from([*ROUTE_OF_TYPE, "com.twilio.voice.insights.call-summary.complete"]))
        elif operation == "schema" and isinstance(event, dict):
            event["dataschema"] = draw(st.sampled_from(["", "https://events-schemas.twilio.com/x/99", None, 2]))
            event["specversion"] = draw(st.sampled_from(["1.0", "0.3", "2.0", None]))
        elif operation == "wrap":
            event = draw(st.sampled_from([[event], {"event": event}, json.dumps(event)]))
        elif operation == "data_text" and isinstance(event, dict) and "data" in event:
            event["data"] = json.dumps(event["data"])  # as Twilio's Kinesis sink writes it
    return event


def to_text(value: Any) -> bytes:
    text = json.dumps(value)
    for depth in range(50, 5_001):
        marker = f'"{DEEP.format(depth)}"'
        if marker in text:
            text = text.replace(marker, "[" * depth + "]" * depth)
    return text.encode()


@st.composite
def raw_inputs(draw: st.DrawFn) -> bytes:
    raw = to_text(draw(mutated_events()))
    damage = draw(st.sampled_from(["none"] * 6 + ["truncate", "non_utf8", "bytes"]))
    if damage == "truncate":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if damage == "non_utf8":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80\x80"])) + raw[at:]
    if damage == "bytes":
        return draw(st.binary(max_size=64))
    return raw


@pytest.mark.slow
def test_generated_bad_inputs_are_settled_on_both_paths(stack: LocalStack, handlers: dict[str, Handler]) -> None:
    accounting = Accounting(stack, handlers)
    wanted = scaled(default=400, full=10_000)

    @settings(
        max_examples=max(1, wanted // 10),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
        print_blob=True,
    )
    @given(st.lists(raw_inputs(), min_size=1, max_size=20), st.sampled_from(WEBHOOK_FUNCTIONS))
    def settled(inputs: list[bytes], function: str) -> None:
        accounting.on_kinesis(inputs)
        values = [as_json(raw) for raw in inputs]
        as_elements = [raw for raw, value in zip(inputs, values, strict=True) if value is not None]
        if as_elements:  # the JSON ones as one webhook batch, as Twilio posts them
            accounting.on_webhook(function, b"[" + b",".join(as_elements) + b"]", len(as_elements))
        for raw, value in zip(inputs, values, strict=True):
            if value is None:  # a body that is not JSON at all
                accounting.on_webhook(function, raw, None)

    while accounting.kinesis_inputs < wanted:
        settled()
    figures = accounting.check_stores()
    print(f"\nfigures | bad-input fuzz: {accounting.kinesis_inputs} generated inputs tried; {json.dumps(figures)}")
    assert accounting.kinesis_inputs >= wanted
