"""Pydantic models of the Twilio events this application receives.

The only module that knows Twilio's field names. Field lists and required
fields follow Twilio's event docs for VoiceInsights.ConferenceSummary and
VoiceInsights.ConferenceParticipantSummary (v1 and v2 carry the same fields).

Two deliberate departures from Twilio's published JSON schema:
- Unknown fields are kept (``extra="allow"``), not rejected: Twilio adds
  fields over time and a receiver that rejects them loses data.
- Enumerations are plain strings: Twilio's SDKs treat them as open, so a new
  value must not reject an event. The known values are listed per field.

The summaries are models; the objects nested in them are TypedDicts that pydantic
validates just as strictly (types, required keys, unknown keys kept) but hands back
as plain dicts: no Python object per nested value to build when validating or to
walk when writing their JSON back out.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, with_config

# Unknown fields are kept; names are accepted as sent (``from`` as well as ``from_``).
_TWILIO_CONFIG = ConfigDict(extra="allow", populate_by_name=True)


class TwilioModel(BaseModel):
    """Base for every Twilio payload that is a model: keep unknown fields, accept names as sent."""

    model_config = _TWILIO_CONFIG


# An object nested in a summary: a validated dict that keeps unknown keys.
twilio_object = with_config(ConfigDict(extra="allow"))


class EventType(StrEnum):
    CONFERENCE_SUMMARY_COMPLETE = "com.twilio.voice.insights.conference-summary.complete"
    CONFERENCE_SUMMARY_PARTIAL = "com.twilio.voice.insights.conference-summary.partial"
    PARTICIPANT_SUMMARY_COMPLETE = "com.twilio.voice.insights.conference-participant-summary.complete"
    # One Twilio page names the participant event this way; treated as an alias.
    PARTICIPANT_SUMMARY_COMPLETE_ALIAS = "com.twilio.voice.insights.participant-summary.complete"
    # Sent once when an Event Streams sink is created (Twilio's sink validation handshake).
    SINK_TEST = "com.twilio.eventstreams.test-event"


# What storing an event needs: its id and type, and the SIDs its keys are made of. Any other field may
# differ from Twilio's documentation: the event is stored with the difference recorded (schema_drift.py).
REQUIRED_TO_STORE = {
    "envelope": frozenset({"id", "type", "data"}),
    "data": frozenset({"conference_sid", "participant_sid", "account_sid"}),
}


# Twilio's SIDs: two letters naming the resource, then 32 hex digits
# (https://www.twilio.com/docs/glossary/what-is-a-sid); Twilio's own documentation samples have 31, so 1 to 64
# are taken. One rule for what ingest checks and what the read API looks up: a SID that differs is stored all the
# same, as a schema violation, and the read API answers such a SID 400, naming this rule (docs/read.md).
SID_PREFIXES = {"conference_sid": "CF", "account_sid": "AC", "participant_sid": "CP", "call_sid": "CA"}


def sid_pattern(prefix: str) -> str:
    return rf"^{prefix}[0-9a-fA-F]{{1,64}}$"


_SID_RULES = {name: re.compile(sid_pattern(prefix)) for name, prefix in SID_PREFIXES.items()}


def sid_violations(data: BaseModel) -> tuple[str, ...]:
    """The SID fields of a summary's ``data`` that are present and not Twilio's form: ``("data.call_sid",)``."""
    found = []
    for name, rule in _SID_RULES.items():
        value = getattr(data, name, None)
        if isinstance(value, str) and rule.fullmatch(value) is None:
            found.append(f"data.{name}")
    return tuple(found)


# --- VoiceInsights.ConferenceSummary -------------------------------------------------


@twilio_object
class DuplicateIdentity(TypedDict):
    participant_identity: str
    participant_sids: list[str]


@twilio_object
class StartFailure(TypedDict):
    reason: NotRequired[str | None]


@twilio_object
class ConferenceTagInfo(TypedDict):
    duplicate_identity: list[DuplicateIdentity]
    start_failure: NotRequired[StartFailure | None]


@twilio_object
class DetectedIssues(TypedDict):
    call_quality: NotRequired[int | None]
    region_configuration: NotRequired[int | None]
    participant_behavior: NotRequired[int | None]


class ConferenceSummary(TwilioModel):
    conference_sid: str
    account_sid: str
    friendly_name: str | None = None
    start_time: str
    create_time: str
    end_time: str
    duration_seconds: int | None = None
    connect_duration_seconds: int | None = None
    # known: in_progress, not_started, completed, summary_timeout
    status: str
    max_participants: int | None = None
    max_concurrent_participants: int | None = None
    unique_participants: int | None = None
    # known: last_participant_left, conference_ended_via_api, participant_with_end_conference_on_exit_left,
    # last_participant_kicked, participant_with_end_conference_on_exit_kicked
    end_reason: str
    ended_by: str | None = None
    recording_enabled: bool | None = None
    tags: list[str]
    tag_info: ConferenceTagInfo | None = None
    mixer_region: str
    mixer_region_requested: str
    detected_issues: DetectedIssues | None = None
    # known: complete, in_progress, timeout
    processing_state: str | None = None


# --- VoiceInsights.ConferenceParticipantSummary --------------------------------------


@twilio_object
class ParticipantProperties(TypedDict):
    start_conference_on_enter: NotRequired[bool | None]
    end_conference_on_exit: NotRequired[bool | None]
    play_early_media: NotRequired[bool | None]
    recording_enabled: NotRequired[bool | None]
    trim_recording: NotRequired[bool | None]
    requested_region: str
    enter_muted: NotRequired[bool | None]
    beep_on_enter: NotRequired[bool | None]
    beep_on_exit: NotRequired[bool | None]


@twilio_object
class ParticipantEvents(TypedDict):
    """Unix timestamps of what the participant did."""

    hold: list[int]
    unhold: list[int]
    mute: list[int]
    unmute: list[int]
    modify_beep: list[int]
    modify_exit: list[int]
    coaching: list[int]
    coaching_stopped: list[int]
    modify_coached_participant: list[int]


@twilio_object
class MetricStats(TypedDict):
    avg: NotRequired[float | None]
    max: NotRequired[float | None]


@twilio_object
class TagDetail(TypedDict):
    # known: high, medium
    severity: str


@twilio_object
class TagsInfo(TypedDict):
    description: NotRequired[str | None]
    packet_loss: NotRequired[TagDetail | None]
    jitter: NotRequired[TagDetail | None]
    latency: NotRequired[TagDetail | None]
    low_mos: NotRequired[TagDetail | None]


@twilio_object
class PacketLossOccurrence(TypedDict):
    percent: NotRequired[float | None]
    timestamp: NotRequired[int | None]


@twilio_object
class StatsOccurrence(TypedDict):
    avg: NotRequired[float | None]
    max: NotRequired[float | None]
    timestamp: NotRequired[int | None]


@twilio_object
class Occurrences(TypedDict):
    packet_loss: list[PacketLossOccurrence]
    jitter: list[StatsOccurrence]
    latency: list[StatsOccurrence]


@twilio_object
class StreamMetrics(TypedDict):
    total_packets_lost: NotRequired[int | None]
    total_packets_received: NotRequired[int | None]
    packet_loss_percentage: NotRequired[float | None]
    jitter: NotRequired[MetricStats | None]
    latency: NotRequired[MetricStats | None]
    mos: NotRequired[float | None]
    tags: list[str]
    tags_info: NotRequired[TagsInfo | None]
    occurrences: NotRequired[Occurrences | None]


@twilio_object
class ParticipantMetrics(TypedDict):
    inbound: NotRequired[StreamMetrics | None]
    outbound: NotRequired[StreamMetrics | None]


class ParticipantSummary(TwilioModel):
    participant_sid: str
    label: str | None = None
    conference_sid: str
    call_sid: str
    account_sid: str
    # known: inbound, outbound
    call_direction: str
    # ``from`` is a Python keyword. Phone numbers: never logged.
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    # known: answered, completed, busy, fail, noanswer, ringing, canceled
    call_state: str
    country_code: str | None = None
    is_moderator: bool | None = None
    join_time: str
    leave_time: str
    duration_seconds: int | None = None
    whisper: str | None = None
    agent_audio: bool | None = None
    outbound_queue_length: int | None = None
    outbound_time_in_queue: int | None = None
    # known: large, small, medium, off
    jitter_buffer_size: str
    is_coach: bool | None = None
    coached_participants: list[str]
    participant_region: str
    conference_region: str
    # known: carrier, client, sip, pstn
    call_type: str
    quality_issues: int | None = None
    properties: ParticipantProperties | None = None
    events: ParticipantEvents | None = None
    metrics: ParticipantMetrics | None = None
    call_status: str | None = None
    processing_state: str | None = None


class SinkTestData(TwilioModel):
    test_id: str


# --- The CloudEvents 1.0 envelope ----------------------------------------------------

DataT = TypeVar("DataT", bound=BaseModel)


class CloudEvent(TwilioModel, Generic[DataT]):
    """A CloudEvents 1.0 envelope as Twilio Event Streams sends it.

    ``datacontenttype`` is not validated: Twilio's own samples put a timestamp
    there. ``id`` prefixes are not validated either (not always ``EZ…``).
    """

    specversion: str
    type: str
    source: str
    id: str = Field(min_length=1)
    dataschema: str | None = None
    datacontenttype: str | None = None
    time: str | None = None
    data: DataT

    @field_validator("data", mode="before")
    @classmethod
    def _decode_string_data(cls, value: Any) -> Any:
        # Twilio's Kinesis sink sends `data` as a JSON-encoded string; its webhook sink as an object.
        if isinstance(value, (str, bytes)):
            # Parsed and validated in one pass by pydantic-core: cheaper than json.loads, then validating.
            data_model: type[BaseModel] = cls.model_fields["data"].annotation  # type: ignore[assignment]
            return data_model.model_validate_json(value)
        return value

    @property
    def schema_version(self) -> str | None:
        """The last path segment of ``dataschema`` (``"2"`` for …/ConferenceSummary/2)."""
        if not self.dataschema:
            return None
        return self.dataschema.rstrip("/").rsplit("/", 1)[-1].removesuffix(".json")


class ConferenceSummaryCompleteEvent(CloudEvent[ConferenceSummary]):
    type: Literal[EventType.CONFERENCE_SUMMARY_COMPLETE]


class ConferenceSummaryPartialEvent(CloudEvent[ConferenceSummary]):
    type: Literal[EventType.CONFERENCE_SUMMARY_PARTIAL]


class ParticipantSummaryCompleteEvent(CloudEvent[ParticipantSummary]):
    type: Literal[EventType.PARTICIPANT_SUMMARY_COMPLETE, EventType.PARTICIPANT_SUMMARY_COMPLETE_ALIAS]


class SinkTestEvent(CloudEvent[SinkTestData]):
    type: Literal[EventType.SINK_TEST]


ConferenceSummaryEvent = ConferenceSummaryCompleteEvent | ConferenceSummaryPartialEvent
SummaryEvent = ConferenceSummaryEvent | ParticipantSummaryCompleteEvent
