"""What one alert says: the versioned machine payload, the text people read, the SNS attributes.

Pure functions, no AWS. One alert covers one stored summary (a participant or a conference) and
lists the issues that are new on it. Phone numbers never appear whole: Powertools data masking
keeps the last four characters of ``from``/``to``, and every other string taken from the event (a
label, a conference name, an end reason; the issues quote theirs masked already) has whatever looks
like a phone number masked but its last four digits (``redaction``).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote

from aws_lambda_powertools.utilities.data_masking import DataMasking
from pydantic import BaseModel

from voice_insights.domain.models import ConferenceSummary, EventType, ParticipantSummary
from voice_insights.domain.quality import Issue
from voice_insights.domain.redaction import defang_links, inline_text, mask_phone_numbers_in, neutralise_controls

ALERT_SCHEMA: Final = "voice-insights-events/alert/1"

# SNS Publish: Subject is ASCII, no line breaks or control characters, under 100 characters
# (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
MAX_SUBJECT_CHARS = 99

# A conference with many duplicate identities must not push a message past SNS's 256 KB.
MAX_DETAILS_CHARS = 1000

# Twilio's console pages for one call and one conference. Not a documented API: if Twilio moves
# them, the alert still names the SIDs.
CALL_CONSOLE_URL = "https://console.twilio.com/us1/monitor/logs/calls/{call_sid}"
CONFERENCE_CONSOLE_URL = "https://console.twilio.com/us1/monitor/logs/conferences/{conference_sid}"

# Mask every character but the last four; shorter values (short codes, ids) are masked whole.
_KEEP_LAST_FOUR = r"^.{1,7}$|.(?=.{4})"
_masker = DataMasking()


class AlertIssue(BaseModel):
    code: str
    kind: str
    severity: str
    title: str
    measured: float | None = None
    threshold: float | None = None
    unit: str | None = None
    details: str | None = None


# Fields Twilio documents as required may be null: an event that lacks one is stored and alerted on all the
# same (schema_drift.py); only the SIDs that make an item's keys are always there.
class AlertParticipant(BaseModel):
    participant_sid: str
    call_sid: str | None
    label: str | None = None
    call_direction: str | None
    call_type: str | None
    call_state: str | None
    participant_region: str | None
    conference_region: str | None
    country_code: str | None = None
    from_masked: str | None = None
    to_masked: str | None = None
    join_time: str | None
    leave_time: str | None
    duration_seconds: int | None = None


class AlertConference(BaseModel):
    status: str | None
    processing_state: str | None = None
    start_time: str | None
    end_time: str | None
    end_reason: str | None
    mixer_region: str | None
    unique_participants: int | None = None


class AlertPayload(BaseModel):
    """The JSON body ``sqs``, ``lambda`` and ``https`` subscribers receive (``alert_schema`` versions it). Its
    strings are the event's as sent, phone numbers masked, and escaped for nothing (no entity, no defanged link):
    a consumer that shows them as HTML, markdown or a chat message escapes them."""

    alert_schema: Literal["voice-insights-events/alert/1"] = ALERT_SCHEMA
    alert_id: str
    severity: str
    subject: str
    summary_type: Literal["participant", "conference"]
    event_type: str
    event_id: str
    account_sid: str
    conference_sid: str
    conference_name: str | None = None
    participant: AlertParticipant | None = None
    conference: AlertConference | None = None
    issues: list[AlertIssue]
    occurred_at: str | None
    detected_at: str
    console_url: str


@dataclass(frozen=True, slots=True)
class AlertContext:
    """What the stored item says about the event beside the summary itself."""

    item_key: str
    event_type: str
    event_id: str
    conference_name: str | None
    detected_at: str


@dataclass(frozen=True, slots=True)
class SnsMessage:
    subject: str
    message: str  # MessageStructure=json: one body per protocol
    attributes: dict[str, dict[str, str]]
    payload: AlertPayload


def build_alert(
    summary: ConferenceSummary | ParticipantSummary, issues: list[Issue], context: AlertContext
) -> AlertPayload:
    """The alert for ``issues`` (worst first, at least one) newly found on ``summary``."""
    if not issues:
        raise ValueError("an alert needs at least one issue")
    ordered = sorted(issues, key=lambda issue: -issue.severity)
    fingerprints = ",".join(sorted(issue.fingerprint for issue in ordered))
    alert_id = hashlib.sha256(f"{context.item_key}|{fingerprints}".encode()).hexdigest()[:32]
    conference_sid = mask_phone_numbers_in(summary.conference_sid)
    common: dict[str, Any] = {
        "alert_id": alert_id,
        "severity": ordered[0].severity.label,
        "event_type": mask_phone_numbers_in(context.event_type),
        "event_id": mask_phone_numbers_in(context.event_id),
        "account_sid": mask_phone_numbers_in(summary.account_sid),
        "conference_sid": conference_sid,
        "issues": [_alert_issue(issue) for issue in ordered],
        "detected_at": context.detected_at,
    }
    if isinstance(summary, ParticipantSummary):
        participant = _participant(summary)
        # The stored conference name: masked when stored, but an item written before that was not.
        conference_name = _masked(context.conference_name)
        direction = f" ({participant.call_direction})" if participant.call_direction else ""
        who = _clip(f"{participant.label or participant.participant_sid}{direction}", 28)
        where = f"{who} in {_clip(conference_name or conference_sid, 36)}"
        return AlertPayload(
            **common,
            subject=_subject(ordered[0], where),
            summary_type="participant",
            conference_name=conference_name,
            participant=participant,
            occurred_at=participant.leave_time,
            console_url=CALL_CONSOLE_URL.format(call_sid=quote(participant.call_sid, safe=""))
            if participant.call_sid
            else CONFERENCE_CONSOLE_URL.format(conference_sid=quote(conference_sid, safe="")),
        )
    name = _masked(summary.friendly_name or context.conference_name)
    conference = AlertConference.model_validate(_masked_strings(summary, AlertConference))
    return AlertPayload(
        **common,
        subject=_subject(ordered[0], _clip(name or conference_sid, 48)),
        summary_type="conference",
        conference_name=name,
        conference=conference,
        occurred_at=conference.end_time,
        console_url=CONFERENCE_CONSOLE_URL.format(conference_sid=quote(conference_sid, safe="")),
    )


def render(payload: AlertPayload) -> SnsMessage:
    """The SNS message: subject, one body per protocol (``MessageStructure=json``) and attributes."""
    text = render_text(payload)
    machine = payload.model_dump_json()
    bodies = {"default": text, "email": text, "sqs": machine, "lambda": machine, "https": machine}
    kinds = sorted({neutralise_controls(issue.kind) for issue in payload.issues})
    attributes = {
        "severity": _string(payload.severity),
        "issue_kinds": {"DataType": "String.Array", "StringValue": json.dumps(kinds)},
        "summary_type": _string(payload.summary_type),
        "account_sid": _string(payload.account_sid),
        "conference_sid": _string(payload.conference_sid),
        "event_type": _string(payload.event_type),
        "alert_schema": _string(payload.alert_schema),
    }
    return SnsMessage(subject=payload.subject, message=json.dumps(bodies), attributes=attributes, payload=payload)


def render_text(payload: AlertPayload) -> str:
    """The body an email reader sees: who, what, when, where to look.

    Event text is shown as ``inline_text``: it cannot break a line (so every line, the console link's
    included, is this function's) nor carry a link a mail client would make clickable."""
    console_url = payload.console_url  # build_alert made it from a quoted SID: the one link shown
    shown = AlertPayload.model_validate(_inline(payload.model_dump()))
    if is_twilio_event_type(payload.event_type):  # Twilio's own reverse-DNS name: no link, shown as Twilio names it
        shown.event_type = payload.event_type
    count = len(shown.issues)
    conference = shown.conference_name or shown.conference_sid
    lines: list[str] = []
    if shown.participant is not None:
        who = shown.participant
        lines += [
            f"{shown.severity.upper()}: {count} new call quality issue(s) for participant "
            f"'{who.label or who.participant_sid}' in conference '{conference}'.",
            "",
            "Who",
            f"  Participant   {who.label or '-'} ({who.participant_sid})",
            f"  Call SID      {who.call_sid or '-'}",
            f"  Call          {who.call_direction or '-'} {who.call_type or '-'} call, {who.call_state or '-'}",
            f"  Region        {who.participant_region or '-'} (conference mixed in {who.conference_region or '-'})",
            f"  Country       {who.country_code or '-'}",
            f"  From / to     {who.from_masked or '-'} / {who.to_masked or '-'}",
        ]
    else:
        lines += [f"{shown.severity.upper()}: {count} new issue(s) on conference '{conference}'."]
    lines += ["", "What"]
    previous_details = None
    for issue in shown.issues:
        lines.append(f"  - [{issue.severity}] {issue.title}")
        if issue.details and issue.details != previous_details:  # tags_info shares one description
            lines.append(f"      {issue.details}")
        previous_details = issue.details
    lines += ["", "When"]
    if shown.participant is not None:
        who = shown.participant
        duration = f" ({who.duration_seconds} s)" if who.duration_seconds is not None else ""
        lines.append(f"  Joined {who.join_time or '-'}, left {who.leave_time or '-'}{duration}")
    elif shown.conference is not None:
        conf = shown.conference
        lines.append(f"  Started {conf.start_time or '-'}, ended {conf.end_time or '-'} ({conf.end_reason or '-'})")
        lines.append(f"  Status {conf.status or '-'}, mixed in {conf.mixer_region or '-'}")
    lines += [
        f"  Detected {shown.detected_at}",
        "",
        f"Conference    {shown.conference_name or '-'} ({shown.conference_sid})",
        f"Account       {shown.account_sid}",
        f"Twilio event  {shown.event_type} {shown.event_id}",
        f"Open in Twilio Console: {console_url}",
        "",
        f"Alert {shown.alert_id} (schema {shown.alert_schema}).",
    ]
    return "\n".join(lines)


def is_twilio_event_type(value: str) -> bool:
    """Whether ``value`` is one of the event types Twilio documents (not text an event made up)."""
    return value in EventType.__members__.values()


def mask_phone_numbers(parties: dict[str, str | None]) -> dict[str, str | None]:
    """Phone numbers (or SIP/client addresses) with all but their last four characters masked."""
    present = {name: value for name, value in parties.items() if value}
    if not present:
        return dict.fromkeys(parties)
    masked: dict[str, str] = _masker.erase(
        present, fields=list(present), regex_pattern=_KEEP_LAST_FOUR, mask_format="*"
    )
    return {name: masked.get(name) for name in parties}


def ascii_subject(text: str) -> str:
    """``text`` as SNS accepts a subject: ASCII, no control characters, under 100 characters."""
    plain = unicodedata.normalize("NFKD", neutralise_controls(text)).encode("ascii", "ignore").decode()
    plain = defang_links(plain)  # NFKD makes dots of look-alikes (U+2024, U+FE52): a host name may appear only now
    plain = re.sub(r"[\x00-\x1f\x7f]+", " ", plain).strip()
    plain = re.sub(r"^[^0-9A-Za-z\[\]().,:;!?'\"#*+-]+", "", plain)  # must begin with a letter, digit or punctuation
    if len(plain) > MAX_SUBJECT_CHARS:
        plain = plain[: MAX_SUBJECT_CHARS - 3].rstrip() + "..."
    return plain or "Voice Insights alert"


def _subject(worst_issue: Issue, where: str) -> str:
    # The caller clips the names, not the issue, so that the worst issue always shows.
    return ascii_subject(inline_text(f"[{worst_issue.severity.label.upper()}] {worst_issue.title}: {where}"))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _participant(summary: ParticipantSummary) -> AlertParticipant:
    masked = mask_phone_numbers({"from": summary.from_, "to": summary.to})
    fields = _masked_strings(summary, AlertParticipant)
    return AlertParticipant(**fields, from_masked=masked["from"], to_masked=masked["to"])


def _masked_strings(summary: BaseModel, into: type[BaseModel]) -> dict[str, Any]:
    """The summary's fields that ``into`` shows, every string with its phone numbers masked."""
    fields = summary.model_dump(include=set(into.model_fields) - {"from_masked", "to_masked"})
    return {name: mask_phone_numbers_in(value) if isinstance(value, str) else value for name, value in fields.items()}


def _masked(text: str | None) -> str | None:
    return mask_phone_numbers_in(text) if text else text


def _alert_issue(issue: Issue) -> AlertIssue:
    return AlertIssue(
        code=issue.code,
        kind=issue.kind,
        severity=issue.severity.label,
        title=issue.title,
        measured=issue.measured,
        threshold=issue.threshold,
        unit=issue.unit or None,
        details=_clip(issue.details, MAX_DETAILS_CHARS) if issue.details else None,
    )


def _string(value: str) -> dict[str, str]:
    # Subscribers print attributes and filter on them: no line break or control from the event in them.
    return {"DataType": "String", "StringValue": neutralise_controls(value)}


def _inline(value: Any) -> Any:
    """``value`` (a payload's JSON data) with every string in it as ``inline_text`` shows it."""
    if isinstance(value, str):
        return inline_text(value)
    if isinstance(value, dict):
        return {name: _inline(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_inline(item) for item in value]
    return value


__all__ = ["ALERT_SCHEMA", "AlertContext", "AlertPayload", "SnsMessage", "build_alert", "render"]
