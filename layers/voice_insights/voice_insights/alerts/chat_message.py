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

The content's ``title`` and ``description`` are rendered as the chat platform's markdown (the page's Parameter
details), so every string taken from the event, in every field of the card, goes through ``chat_text``: it can
then neither mention (``<!channel>``, ``<@U0123>``, ``@here``), link nor format, in Slack's mrkdwn or in Teams'
markdown. Phone numbers are already masked by ``build_alert``. In the description event text is also shown in
code spans, so that it reads apart from the card's own words.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from voice_insights.alerts.alert_message import AlertPayload, is_twilio_event_type
from voice_insights.domain.redaction import defang_links, neutralise_controls

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

# Slack reads &, < and > as control characters (mentions <!channel> <@U…>, links <url|text>) and documents their
# escape as HTML entities (https://api.slack.com/reference/surfaces/formatting#escaping); Teams' messages are
# HTML, where the same entities are the escape. Slack has no escape for its formatting characters, so they and the
# characters of Teams' markdown (CommonMark: emphasis, code, links) become look-alikes that format nothing.
_ENTITIES: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# ASTERISK OPERATOR, TILDE OPERATOR, an apostrophe.
_LOOK_ALIKES: Final = str.maketrans({"*": "\u2217", "~": "\u223c", "`": "'"})
# An underscore formats only where it opens or closes a word (_it_); inside one (low_mos) it stays.
_FORMATTING_UNDERSCORE: Final = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
# @here, @channel, @everyone (Slack, when names are linked) and any @name: the at sign as a full-width look-alike.
_MENTION: Final = re.compile(r"@(?=\w)")
# A markdown link or image, [text](url) or ![alt](url): its "](" broken apart.
_LINK: Final = re.compile(r"\]\s*\(")


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
            "title": _clip(f"{emoji} {chat_text(payload.subject)}", MAX_TITLE_CHARS),
            "description": description,
            "nextSteps": [
                f"Open it in Twilio Console: {payload.console_url}",
                f"Alert `{payload.alert_id}`: the same alert reaches queue and HTTPS subscribers as JSON "
                f"({payload.alert_schema})",
            ],
            "keywords": [chat_text(keyword) for keyword in keywords],
        },
        "metadata": {
            "threadId": chat_text(payload.conference_sid),  # one thread per conference
            "summary": chat_text(payload.subject),
            "eventType": CHAT_EVENT_TYPE,
            "relatedResources": [chat_text(resource) for resource in related],
            "additionalContext": {
                "alert_id": payload.alert_id,
                "alert_schema": payload.alert_schema,
                "severity": payload.severity,
                "account_sid": chat_text(payload.account_sid),
                "event_type": payload.event_type
                if is_twilio_event_type(payload.event_type)
                else chat_text(payload.event_type),
                "event_id": chat_text(payload.event_id),
            },
        },
    }


def render_chat(payload: AlertPayload) -> ChatMessage:
    """The message published to the chat topic."""
    return ChatMessage(
        subject=payload.subject, message=json.dumps(chat_notification(payload)), alert_id=payload.alert_id
    )


def chat_text(text: str) -> str:
    """Event text as Slack and Teams show it, whatever the field: one line, no mention, link or formatting."""
    shown = neutralise_controls(text).translate(_ENTITIES).translate(_LOOK_ALIKES)
    # FULLWIDTH COMMERCIAL AT, MODIFIER LETTER LOW MACRON.
    shown = _LINK.sub("] (", _MENTION.sub("\uff20", _FORMATTING_UNDERSCORE.sub("\u02cd", shown)))
    return defang_links(shown)  # last: its own [.] and [:] form no link


def _code(text: str) -> str:
    """Event text in a code span, apart from the card's own words."""
    return f"`{chat_text(text) or '-'}`"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["CHAT_EVENT_TYPE", "ChatMessage", "chat_notification", "chat_text", "render_chat"]
