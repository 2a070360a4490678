"""Pydantic models of the Twilio events this application receives.

The only module that knows Twilio's field names. Field lists and required
fields follow Twilio's event docs for VoiceInsights.ConferenceSummary and
VoiceInsights.ConferenceParticipantSummary (v1 and v2 carry the same fields).

Two deliberate departures from Twilio's published JSON schema:
- Unknown fields are kept (``extra="allow"``), not rejected: Twilio adds
  fields over time and a receiver that rejects them loses data.
- Enumerations are plain strings: Twilio's SDKs treat them as open, so a new
  value must not reject an event. The known values are listed per field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TwilioModel(BaseModel):
    """Base for every Twilio payload: keep unknown fields, accept names as sent."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class EventType(StrEnum):
    CONFERENCE_SUMMARY_COMPLETE = "com.twilio.voice.insights.conference-summary.complete"
    CONFERENCE_SUMMARY_PARTIAL = "com.twilio.voice.insights.conference-summary.partial"
    PARTICIPANT_SUMMARY_COMPLETE = "com.twilio.voice.insights.conference-participant-summary.complete"
    # One Twilio page names the participant event this way; treated as an alias.
    PARTICIPANT_SUMMARY_COMPLETE_ALIAS = "com.twilio.voice.insights.participant-summary.complete"
    # Sent once when an Event Streams sink is created (Twilio's sink validation handshake).
    SINK_TEST = "com.twilio.eventstreams.test-event"


# --- VoiceInsights.ConferenceSummary -------------------------------------------------


class DuplicateIdentity(TwilioModel):
    participant_identity: str
    participant_sids: list[str]


class StartFailure(TwilioModel):
    reason: str | None = None


class ConferenceTagInfo(TwilioModel):
    duplicate_identity: list[DuplicateIdentity]
    start_failure: StartFailure | None = None


class DetectedIssues(TwilioModel):
    call_quality: int | None = None
    region_configuration: int | None = None
    participant_behavior: int | None = None


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


class ParticipantProperties(TwilioModel):
    start_conference_on_enter: bool | None = None
    end_conference_on_exit: bool | None = None
    play_early_media: bool | None = None
    recording_enabled: bool | None = None
    trim_recording: bool | None = None
    requested_region: str
    enter_muted: bool | None = None
    beep_on_enter: bool | None = None
    beep_on_exit: bool | None = None


class ParticipantEvents(TwilioModel):
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


class MetricStats(TwilioModel):
    avg: float | None = None
    max: float | None = None


class TagDetail(TwilioModel):
    # known: high, medium
    severity: str


class TagsInfo(TwilioModel):
    description: str | None = None
    packet_loss: TagDetail | None = None
    jitter: TagDetail | None = None
    latency: TagDetail | None = None
    low_mos: TagDetail | None = None


class PacketLossOccurrence(TwilioModel):
    percent: float | None = None
    timestamp: int | None = None


class StatsOccurrence(TwilioModel):
    avg: float | None = None
    max: float | None = None
    timestamp: int | None = None


class Occurrences(TwilioModel):
    packet_loss: list[PacketLossOccurrence]
    jitter: list[StatsOccurrence]
    latency: list[StatsOccurrence]


class StreamMetrics(TwilioModel):
    total_packets_lost: int | None = None
    total_packets_received: int | None = None
    packet_loss_percentage: float | None = None
    jitter: MetricStats | None = None
    latency: MetricStats | None = None
    mos: float | None = None
    tags: list[str]
    tags_info: TagsInfo | None = None
    occurrences: Occurrences | None = None


class ParticipantMetrics(TwilioModel):
    inbound: StreamMetrics | None = None
    outbound: StreamMetrics | None = None


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
            # Parsed and validated in one pass by pydantic-core: a third less CPU than json.loads, then validating.
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
