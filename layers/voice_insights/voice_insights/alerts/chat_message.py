"""One alert as Slack and Microsoft Teams show it: AWS's chat integration's custom notification format.

Amazon Q Developer in chat applications (formerly AWS Chatbot) posts to a channel only the SNS messages it
recognises: AWS services' own notifications (CloudWatch alarms among them) and *custom notifications*, a JSON
body with ``version`` "1.0", ``source`` "custom" and a ``content`` (``textType`` "client-markdown", ``title``,
``description``, ``nextSteps``, ``keywords``) plus optional ``metadata`` (``threadId``, ``summary``,
``eventType``, ``relatedResources``, ``additionalContext``):
https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html

The alert topic's subscribers get ``MessageStructure=json`` bodies (text for email, the ``alert/1`` JSON for
``sqs``/``lambda``/``https``); the chat integration subscribes over HTTPS, so this body goes to a topic of its
own (the template's ``AlertChatTopic``) and what the alert topic's subscribers receive does not change.

Every string taken from the event is shown in a code span (backticks removed from it first): in Slack's and
Teams' markdown it can then neither format, mention (``<!channel>``) nor link; phone numbers are already masked
by ``build_alert``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from voice_insights.alerts.alert_message import AlertPayload
from voice_insights.domain.redaction import neutralise_controls

CHAT_VERSION: Final = "1.0"
CHAT_SOURCE: Final = "custom"
CHAT_TEXT_TYPE: Final = "client-markdown"
CHAT_EVENT_TYPE: Final = "VoiceInsightsQualityAlert"

# Our own bounds (a chat card stays readable; far below SNS's 256 KB): the documented format names no limits.
MAX_TITLE_CHARS = 250
MAX_DESCRIPTION_CHARS = 4000
MAX_ISSUES_SHOWN = 10
MAX_KEYWORDS = 10

SEVERITY_EMOJI = {"high": ":red_circle:", "medium": ":large_orange_circle:", "low": ":large_yellow_circle:"}


@dataclass(frozen=True, slots=True)
class ChatMessage:
    subject: str
    message: str  # the custom notification, as JSON: published without MessageStructure
    alert_id: str


def chat_notification(payload: AlertPayload) -> dict[str, Any]:
    """The custom notification for one alert (the same alert the other subscribers receive)."""
    emoji = SEVERITY_EMOJI.get(payload.severity, ":warning:")
    conference = payload.conference_name or payload.conference_sid
    lines: list[str] = []
    if payload.participant is not None:
        who = payload.participant
        lines += [
            f"*Participant* {_code(who.label or who.participant_sid)} ({_code(who.participant_sid)}), "
            f"call {_code(who.call_sid or '-')}",
            f"*Call* {_code(' '.join(v or '-' for v in (who.call_direction, who.call_type, who.call_state)))}, "
            f"region {_code(who.participant_region or '-')}, from {_code(who.from_masked or '-')} "
            f"to {_code(who.to_masked or '-')}",
            f"*When* joined {_code(who.join_time or '-')}, left {_code(who.leave_time or '-')}",
        ]
    elif payload.conference is not None:
        conf = payload.conference
        lines.append(
            f"*When* started {_code(conf.start_time or '-')}, ended {_code(conf.end_time or '-')} "
            f"({_code(conf.end_reason or '-')})"
        )
    lines.append(f"*Conference* {_code(conference)} ({_code(payload.conference_sid)})")
    lines.append(f"*Issues* ({len(payload.issues)} new)")
    for issue in payload.issues[:MAX_ISSUES_SHOWN]:
        lines.append(f"• *{issue.severity}* {_code(issue.title)}")
    if len(payload.issues) > MAX_ISSUES_SHOWN:
        lines.append(f"• and {len(payload.issues) - MAX_ISSUES_SHOWN} more (see the alert's JSON)")
    lines.append(f"*Account* {_code(payload.account_sid)} · *event* {_code(payload.event_id)}")
    description = "\n".join(lines)
    if len(description) > MAX_DESCRIPTION_CHARS:
        description = description[: MAX_DESCRIPTION_CHARS - 1] + "…"
    kinds = sorted({issue.kind for issue in payload.issues})
    keywords = [payload.severity, payload.summary_type, *kinds][:MAX_KEYWORDS]
    related = [payload.conference_sid]
    if payload.participant is not None and payload.participant.call_sid:
        related.append(payload.participant.call_sid)
    return {
        "version": CHAT_VERSION,
        "source": CHAT_SOURCE,
        "id": payload.alert_id,
        "content": {
            "textType": CHAT_TEXT_TYPE,
            "title": _clip(f"{emoji} {payload.subject}", MAX_TITLE_CHARS),
            "description": description,
            "nextSteps": [
                f"Open it in Twilio Console: {payload.console_url}",
                f"Alert `{payload.alert_id}`: the same alert reaches queue and HTTPS subscribers as JSON "
                f"({payload.alert_schema})",
            ],
            "keywords": [neutralise_controls(keyword) for keyword in keywords],
        },
        "metadata": {
            "threadId": payload.conference_sid,  # one thread per conference
            "summary": payload.subject,
            "eventType": CHAT_EVENT_TYPE,
            "relatedResources": related,
            "additionalContext": {
                "alert_id": payload.alert_id,
                "alert_schema": payload.alert_schema,
                "severity": payload.severity,
                "account_sid": payload.account_sid,
                "event_type": payload.event_type,
                "event_id": payload.event_id,
            },
        },
    }


def render_chat(payload: AlertPayload) -> ChatMessage:
    """The message published to the chat topic."""
    return ChatMessage(
        subject=payload.subject, message=json.dumps(chat_notification(payload)), alert_id=payload.alert_id
    )


def _code(text: str) -> str:
    """Event text as a markdown code span: never formatting, a mention or a link."""
    plain = neutralise_controls(text).replace("`", "'").replace("\n", " ")
    return f"`{plain}`" if plain else "`-`"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["CHAT_EVENT_TYPE", "ChatMessage", "chat_notification", "render_chat"]
