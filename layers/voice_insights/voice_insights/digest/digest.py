"""The quality digest: a window of the history lake against the same window a week before, as text (email), the
``digest/1`` JSON (queue, Lambda and HTTPS subscribers: docs/digest.schema.json) and a chat notification. Pure: the
answers of the lake's named queries (``kpis``, ``worst_conferences``) in, the messages out.

Daily: yesterday against the same weekday of the week before. Weekly: the last week (Monday to Sunday, UTC)
against the one before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel

from voice_insights.alerts.alert_message import ascii_subject
from voice_insights.alerts.chat_message import CHAT_SOURCE, CHAT_TEXT_TYPE, CHAT_VERSION, ChatMessage
from voice_insights.domain.redaction import mask_phone_numbers_in, neutralise_controls

DIGEST_SCHEMA: Final = "voice-insights-events/digest/1"
CHAT_EVENT_TYPE: Final = "VoiceInsightsQualityDigest"
WORST_SHOWN = 5
# The kpis query's share columns, as the digest names the issue kinds (domain/quality.py's kinds).
SHARES = {
    "any_issue": "share_any_issue",
    "low_mos": "share_low_mos",
    "high_jitter": "share_high_jitter",
    "high_packet_loss": "share_high_packet_loss",
    "high_latency": "share_high_latency",
}
Kind = Literal["daily", "weekly"]


@dataclass(frozen=True, slots=True)
class Window:
    kind: Kind
    start: date  # inclusive
    end: date  # exclusive
    previous_start: date
    previous_end: date

    @property
    def period(self) -> str:
        """The kpis query's period grouping that makes the window one row."""
        return "day" if self.kind == "daily" else "week"


def window_for(kind: Kind, today: date) -> Window:
    """Daily: yesterday and the same weekday a week before. Weekly: the last Monday-to-Sunday week and the one
    before (the kpis query groups weeks from Monday)."""
    if kind == "daily":
        start = today - timedelta(days=1)
        return Window(kind, start, today, start - timedelta(days=7), today - timedelta(days=7))
    end = today - timedelta(days=today.weekday())
    return Window(kind, end - timedelta(days=7), end, end - timedelta(days=14), end - timedelta(days=7))


@dataclass(frozen=True, slots=True)
class Question:
    key: str  # what the answer is filed under
    query: str  # a named query of the lake (operate/queries/<query>.sql, AWS::Athena::NamedQuery <query>)
    parameters: dict[str, str]


def questions(window: Window) -> list[Question]:
    """What the digest asks the lake: KPIs overall and by region for both windows, the worst conferences."""
    asked = []
    for key, start, end in (
        ("current", window.start, window.end),
        ("previous", window.previous_start, window.previous_end),
    ):
        span = {"from": start.isoformat(), "to": end.isoformat(), "period": window.period}
        asked.append(Question(f"{key}_all", "kpis", {**span, "by": "all"}))
        asked.append(Question(f"{key}_region", "kpis", {**span, "by": "region"}))
    span = {"from": window.start.isoformat(), "to": window.end.isoformat(), "top": str(WORST_SHOWN)}
    asked.append(Question("worst", "worst_conferences", span))
    return asked


Rows = Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class DigestMessage:
    subject: str
    message: str  # MessageStructure=json: one body per protocol
    attributes: dict[str, dict[str, str]]


class DigestSpan(BaseModel):
    start: str  # first day, inclusive
    end: str  # the day after the last, exclusive


class DigestVolume(BaseModel):
    participants: int
    conferences: int
    participants_with_issues: int
    previous_participants: int
    previous_conferences: int


class DigestIssueShare(BaseModel):
    kind: str  # any_issue or an issue kind of domain/quality.py
    share: float | None  # of the window's participants, 0..1; None without participants
    previous_share: float | None


class DigestRegion(BaseModel):
    region: str
    participants: int
    mos_p95: float | None
    previous_mos_p95: float | None


class DigestConference(BaseModel):
    rank: int
    conference_sid: str
    start_time: str | None
    region: str | None
    participants: int | None
    participants_with_issues: int | None
    worst_mos: float | None
    issue_kinds: list[str]
    url: str | None  # the read API's GET /v1/conferences/{sid}; None without a read API URL


class DigestPayload(BaseModel):
    """The JSON body ``sqs``, ``lambda`` and ``https`` subscribers receive (``digest_schema`` versions it)."""

    digest_schema: Literal["voice-insights-events/digest/1"] = DIGEST_SCHEMA
    digest_id: str  # <kind>-<first day>: the same digest sent twice has the same id
    kind: Kind
    subject: str
    window: DigestSpan
    compared_with: DigestSpan
    volume: DigestVolume
    issues: list[DigestIssueShare]
    regions: list[DigestRegion]
    worst_conferences: list[DigestConference]


def build_digest(window: Window, answers: Mapping[str, Rows], read_api_url: str = "") -> DigestPayload:
    """The digest of the lake's answers to ``questions(window)``."""
    now, before = _one(answers.get("current_all", ())), _one(answers.get("previous_all", ()))
    previous_regions = {row["breakdown"]: row for row in answers.get("previous_region", ())}
    volume = DigestVolume(
        participants=int(now.get("participants") or 0),
        conferences=int(now.get("conferences") or 0),
        participants_with_issues=int(now.get("participants_with_issues") or 0),
        previous_participants=int(before.get("participants") or 0),
        previous_conferences=int(before.get("conferences") or 0),
    )
    issues = [
        DigestIssueShare(kind=kind, share=_number(now.get(column)), previous_share=_number(before.get(column)))
        for kind, column in SHARES.items()
    ]
    regions = [
        DigestRegion(
            region=str(row["breakdown"]),
            participants=int(row.get("participants") or 0),
            mos_p95=_number(row.get("mos_p95")),
            previous_mos_p95=_number(previous_regions.get(row["breakdown"], {}).get("mos_p95")),
        )
        for row in sorted(answers.get("current_region", ()), key=lambda row: str(row["breakdown"]))
    ]
    base = read_api_url.rstrip("/")
    worst = [
        DigestConference(
            rank=int(row["worst_rank"]),
            conference_sid=mask_phone_numbers_in(str(row["conference_sid"])),
            start_time=_text(row.get("start_time")),
            region=_text(row.get("mixer_region")),
            participants=_integer(row.get("participants")),
            participants_with_issues=_integer(row.get("participants_with_issues")),
            worst_mos=_number(row.get("worst_mos")),
            issue_kinds=[kind for kind in str(row.get("issue_kinds") or "").split(",") if kind],
            url=f"{base}/conferences/{row['conference_sid']}" if base else None,
        )
        for row in sorted(answers.get("worst", ()), key=lambda row: int(row["worst_rank"]))[:WORST_SHOWN]
    ]
    share = issues[0]
    when = f"daily digest {window.start}" if window.kind == "daily" else f"weekly digest, week of {window.start}"
    subject = ascii_subject(  # at most 100 characters (SNS)
        f"Voice Insights {when}: {_percent(share.share)} of {volume.participants:,} participants with an issue "
        f"(was {_percent(share.previous_share)})"
    )
    return DigestPayload(
        digest_id=f"{window.kind}-{window.start.isoformat()}",
        kind=window.kind,
        subject=subject,
        window=DigestSpan(start=window.start.isoformat(), end=window.end.isoformat()),
        compared_with=DigestSpan(start=window.previous_start.isoformat(), end=window.previous_end.isoformat()),
        volume=volume,
        issues=issues,
        regions=regions,
        worst_conferences=worst,
    )


def render_text(digest: DigestPayload) -> str:
    """What email subscribers read."""
    start, end = date.fromisoformat(digest.window.start), date.fromisoformat(digest.window.end)
    before = date.fromisoformat(digest.compared_with.start), date.fromisoformat(digest.compared_with.end)
    volume = digest.volume
    lines = [
        f"Voice Insights {digest.kind} quality digest: {_span(start, end)} against {_span(*before)}.",
        "",
        f"Participants: {volume.participants:,} ({_change(volume.participants, volume.previous_participants)}); "
        f"conferences: {volume.conferences:,} ({_change(volume.conferences, volume.previous_conferences)}).",
        "",
        "Share of participants with each issue (the week before):",
    ]
    for issue in digest.issues:
        lines.append(f"  {issue.kind:<18} {_percent(issue.share):>7}  ({_percent(issue.previous_share)})")
    lines += ["", "MOS p95 by region (the week before):"]
    for region in digest.regions or []:
        lines.append(
            f"  {region.region:<8} {_mos(region.mos_p95):>5}  ({_mos(region.previous_mos_p95)}), "
            f"{region.participants:,} participant(s)"
        )
    if not digest.regions:
        lines.append("  (no participants)")
    lines += ["", f"Worst conferences (at most {WORST_SHOWN}):"]
    if not digest.worst_conferences:
        lines.append("  (no conference with an issue)")
    for conference in digest.worst_conferences:
        own = f"; conference issues: {', '.join(conference.issue_kinds)}" if conference.issue_kinds else ""
        lines.append(
            f"  {conference.rank}. {conference.conference_sid} ({conference.region or '-'}): "
            f"{conference.participants_with_issues or 0} of {conference.participants or 0} participants with an "
            f"issue, worst MOS {_mos(conference.worst_mos)}{own}"
        )
        if conference.url:
            lines.append(f"     {conference.url}")
    lines += ["", f"Digest {digest.digest_id} (schema {digest.digest_schema}); docs/alerts.md, The digest."]
    return "\n".join(lines)


def render(digest: DigestPayload) -> DigestMessage:
    """The SNS message for the alert topic: text for email, the JSON for machines (``MessageStructure=json``), as
    alerts are. Its attributes name it a digest: a subscription filtering on alert attributes (severity,
    issue_kinds) does not receive it."""
    text, machine = render_text(digest), digest.model_dump_json()
    bodies = {"default": text, "email": text, "sqs": machine, "lambda": machine, "https": machine}
    attributes = {
        "digest_schema": {"DataType": "String", "StringValue": digest.digest_schema},
        "digest_kind": {"DataType": "String", "StringValue": digest.kind},
    }
    return DigestMessage(digest.subject, json.dumps(bodies), attributes)


def render_chat(digest: DigestPayload) -> ChatMessage:
    """The digest as the chat integration's custom notification (see alerts/chat_message.py)."""
    share = digest.issues[0]
    lines = [
        f"*Participants* {digest.volume.participants:,} "
        f"({_change(digest.volume.participants, digest.volume.previous_participants)})",
        f"*With an issue* {_percent(share.share)} (was {_percent(share.previous_share)})",
        "*Issues* " + ", ".join(f"{i.kind} {_percent(i.share)}" for i in digest.issues[1:]),
        "*MOS p95* " + (", ".join(f"`{_code(r.region)}` {_mos(r.mos_p95)}" for r in digest.regions) or "-"),
        "*Worst conferences*",
        *(f"{c.rank}. `{_code(c.conference_sid)}` worst MOS {_mos(c.worst_mos)}" + (f" {c.url}" if c.url else "")
          for c in digest.worst_conferences),
    ]  # fmt: skip
    notification = {
        "version": CHAT_VERSION,
        "source": CHAT_SOURCE,
        "id": digest.digest_id,
        "content": {
            "textType": CHAT_TEXT_TYPE,
            "title": f":bar_chart: {digest.subject}",
            "description": "\n".join(lines)[:4000],
            "keywords": ["digest", digest.kind],
        },
        "metadata": {
            "threadId": f"digest-{digest.kind}",
            "summary": digest.subject,
            "eventType": CHAT_EVENT_TYPE,
            "additionalContext": {"digest_id": digest.digest_id, "digest_schema": digest.digest_schema},
        },
    }
    return ChatMessage(subject=digest.subject, message=json.dumps(notification), alert_id=digest.digest_id)


def _one(rows: Rows) -> Mapping[str, Any]:
    return rows[0] if rows else {}


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _integer(value: Any) -> int | None:
    return None if value is None else int(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value.isoformat() if hasattr(value, "isoformat") else value)


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f} %"


def _mos(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _change(now: int, before: int) -> str:
    if before == 0:
        return "none the week before" if now else "none either week"
    return f"{100 * (now - before) / before:+.1f} % on {before:,}"


def _span(start: date, end: date) -> str:
    last = end - timedelta(days=1)
    if last == start:
        return f"{start.isoformat()} ({start.strftime('%A')})"
    return f"{start.isoformat()} to {last.isoformat()}"


def _code(text: str) -> str:
    return neutralise_controls(text).replace("`", "'")
