"""Which event types each processing function accepts.

The template's Kinesis event-source filters say the same thing in YAML;
``tests/unit/test_template.py`` keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from voice_insights.domain.models import (
    ConferenceSummaryCompleteEvent,
    ConferenceSummaryPartialEvent,
    EventType,
    ParticipantSummaryCompleteEvent,
    SinkTestEvent,
)


@dataclass(frozen=True)
class Route:
    """One processing function: its name, the summary types it stores, and the model that validates them."""

    name: str
    event_types: frozenset[EventType]
    # A discriminated union on CloudEvent `type`: the route's summary event or Twilio's sink test event.
    model: Any
    event_model: Any = None  # the route's summary event alone (None for the catch-all function)


def _route(name: str, event_model: Any, *event_types: EventType) -> Route:
    model = Annotated[event_model | SinkTestEvent, Field(discriminator="type")]
    return Route(name=name, event_types=frozenset(event_types), model=model, event_model=event_model)


CONFERENCE_SUMMARY_COMPLETE = _route(
    "conference_summary_complete", ConferenceSummaryCompleteEvent, EventType.CONFERENCE_SUMMARY_COMPLETE
)
CONFERENCE_SUMMARY_PARTIAL = _route(
    "conference_summary_partial", ConferenceSummaryPartialEvent, EventType.CONFERENCE_SUMMARY_PARTIAL
)
PARTICIPANT_SUMMARY_COMPLETE = _route(
    "participant_summary_complete",
    ParticipantSummaryCompleteEvent,
    EventType.PARTICIPANT_SUMMARY_COMPLETE,
    EventType.PARTICIPANT_SUMMARY_COMPLETE_ALIAS,
)
# Receives every Kinesis record (no filter) and deals with what no other function takes:
# Twilio's sink test event, unknown types and records that are not JSON at all.
UNROUTED = Route(name="unrouted_events", event_types=frozenset(), model=SinkTestEvent)

SUMMARY_ROUTES = (CONFERENCE_SUMMARY_COMPLETE, CONFERENCE_SUMMARY_PARTIAL, PARTICIPANT_SUMMARY_COMPLETE)
ROUTED_EVENT_TYPES: frozenset[str] = frozenset(t.value for route in SUMMARY_ROUTES for t in route.event_types)
