"""Twilio's Conference Insights REST resources as the CloudEvents the stream delivers. Pure functions, no I/O.

The Conference Summary and Conference Participant Summary resources (``GET /v1/Conferences`` and
``GET /v1/Conferences/{sid}/Participants`` on insights.twilio.com) carry the same summaries as the
``conference-summary.*`` and ``conference-participant-summary.complete`` events, under the same field names
but for a few (docs/backfill.md has the table). A mapped event goes through the same validation, ordering,
duplicate and rejection code as a streamed one; it carries the CloudEvents extension ``backfill``
("alerts-off" or "alerts-on"), which ``items.version_of`` ranks below every stream event of the same state and
``items.to_item`` records on the item (``ingested_by``, ``alerts``).
"""

from __future__ import annotations

from typing import Any

from voice_insights.domain.items import BACKFILL_ALERTS_OFF, BACKFILL_EXTENSION, BACKFILL_VERSION_MARK, version_of
from voice_insights.domain.models import EventType
from voice_insights.ingest.decoding import Accepted, decode
from voice_insights.ingest.routes import SUMMARY_ROUTES

BACKFILL_ALERTS_ON = "alerts-on"
CONFERENCE_SCHEMA = "https://events-schemas.twilio.com/VoiceInsights.ConferenceSummary/2"
PARTICIPANT_SCHEMA = "https://events-schemas.twilio.com/VoiceInsights.ConferenceParticipantSummary/2"
REST_BASE_URL = "https://insights.twilio.com/v1"

# REST-only fields: links between resources, not part of any summary event.
REST_ONLY_FIELDS = ("url", "links")
# REST name → event name.
RENAMED_PARTICIPANT_FIELDS = {"call_status": "call_state"}


def conference_event(resource: dict[str, Any], alerts: bool = False) -> dict[str, Any]:
    """The CloudEvent for one Conference Summary resource: ``.complete`` when Twilio's ``processing_state`` is
    ``complete``, else ``.partial`` (in_progress, timeout, unknown: a later complete summary still replaces it)."""
    data = _without_rest_fields(resource)
    complete = data.get("processing_state") == "complete"
    event_type = EventType.CONFERENCE_SUMMARY_COMPLETE if complete else EventType.CONFERENCE_SUMMARY_PARTIAL
    sid = str(data.get("conference_sid") or "")
    return _envelope(event_type, sid, data, resource, CONFERENCE_SCHEMA, f"{REST_BASE_URL}/Conferences/{sid}", alerts)


def participant_event(resource: dict[str, Any], alerts: bool = False) -> dict[str, Any]:
    """The CloudEvent for one Conference Participant Summary resource (there is only a ``.complete`` event)."""
    data = _without_rest_fields(resource)
    for rest_name, event_name in RENAMED_PARTICIPANT_FIELDS.items():
        if rest_name in data and event_name not in data:
            data[event_name] = data.pop(rest_name)
    sid = str(data.get("participant_sid") or "")
    source = f"{REST_BASE_URL}/Conferences/{data.get('conference_sid')}/Participants/{sid}"
    return _envelope(EventType.PARTICIPANT_SUMMARY_COMPLETE, sid, data, resource, PARTICIPANT_SCHEMA, source, alerts)


def _without_rest_fields(resource: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in resource.items() if name not in REST_ONLY_FIELDS}


def _envelope(
    event_type: EventType,
    sid: str,
    data: dict[str, Any],
    resource: dict[str, Any],
    schema: str,
    default_source: str,
    alerts: bool,
) -> dict[str, Any]:
    state = data.get("processing_state") or "unknown"
    return {
        "specversion": "1.0",
        "type": event_type.value,
        "source": resource.get("url") or default_source,
        # Deterministic: the same resource state read twice is the same event. No `time`: the REST API has none.
        "id": f"backfill:{sid}:{state}",
        "dataschema": schema,
        "datacontenttype": "application/json",
        BACKFILL_EXTENSION: BACKFILL_ALERTS_ON if alerts else BACKFILL_ALERTS_OFF,
        "data": data,
    }


def backfill_version(event: dict[str, Any]) -> str | None:
    """The version a mapped event would be stored with (read as the pipeline reads it, schema drift included),
    None when the pipeline would reject it."""
    route = next((r for r in SUMMARY_ROUTES if event.get("type") in r.event_types), None)
    decision = decode(event, route) if route is not None else None
    return version_of(decision.event) if isinstance(decision, Accepted) else None


def would_replace(stored_version: str | None, new_version: str | None) -> bool:
    """Whether writing ``new_version`` over ``stored_version`` changes the table (what reconcile lists)."""
    if new_version is None:
        return stored_version is None
    return stored_version is None or stored_version < new_version


def is_backfill_version(version: str | None) -> bool:
    return bool(version) and BACKFILL_VERSION_MARK in (version or "")
