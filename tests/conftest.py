"""Shared fixtures: the seed events (copied verbatim from Twilio's docs into tests/fixtures/seeds)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"

# Powertools needs these before any handler runs; tests never emit to a real account.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "VoiceInsightsEventsTest")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "voice-insights-events")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

SEED_FILES = {
    "conference_summary_complete": "conference-summary-complete.json",
    "conference_summary_partial": "conference-summary-partial.json",
    "participant_summary_complete": "conference-participant-summary-complete.json",
}


def load_seed(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "seeds" / SEED_FILES[name]).read_text())


@pytest.fixture
def seeds() -> dict[str, dict[str, Any]]:
    return {name: load_seed(name) for name in SEED_FILES}


@pytest.fixture
def sink_test_event() -> dict[str, Any]:
    return json.loads((FIXTURES / "sink-test-event.json").read_text())


def variant(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``event`` with envelope fields (``id=…``) or data fields (``data__status=…``) changed."""
    copied = copy.deepcopy(event)
    for name, value in changes.items():
        if name.startswith("data__"):
            copied["data"][name.removeprefix("data__")] = value
        else:
            copied[name] = value
    return copied


HEALTHY_STREAM = {
    "total_packets_lost": 0,
    "total_packets_received": 1000,
    "packet_loss_percentage": 0.0,
    "jitter": {"avg": 1.0, "max": 3.0},
    "latency": {"avg": 20.0, "max": 40.0},
    "mos": 4.4,
    "tags": [],
}


def healthy_participant(**changes: Any) -> dict[str, Any]:
    """The participant seed with good audio both ways and no tags (the seed itself is full of issues)."""
    event = variant(load_seed("participant_summary_complete"), data__quality_issues=0)
    event["data"]["metrics"] = {"inbound": copy.deepcopy(HEALTHY_STREAM), "outbound": copy.deepcopy(HEALTHY_STREAM)}
    return variant(event, **changes)


def with_stream(event: dict[str, Any], direction: str, **metrics: Any) -> dict[str, Any]:
    """A copy of a participant event with some of one direction's metrics changed."""
    copied = copy.deepcopy(event)
    copied["data"]["metrics"][direction].update(metrics)
    return copied


def healthy_conference(kind: str = "complete", **changes: Any) -> dict[str, Any]:
    """A conference seed without tags, tag details or detected issues."""
    event = variant(
        load_seed(f"conference_summary_{kind}"),
        data__tags=[],
        data__tag_info=None,
        data__detected_issues={"call_quality": 0, "region_configuration": 0, "participant_behavior": 0},
        data__status="completed",
    )
    return variant(event, **changes)
