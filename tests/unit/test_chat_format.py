"""Given alerts, when they are rendered for chat, then they are AWS's documented custom notification format, carry
no event text that could format, mention or link, and leave what the alert topic's subscribers get unchanged."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest

from tests.conftest import ROOT, healthy_conference, healthy_participant, load_seed, with_stream
from tests.unit.test_alert_message import conference_alert, events_quoting, participant_alert
from tests.unit.test_alerting import NOW, FakeLedger, FakeNames, FakePublisher, FakeRejected, change
from tests.unit.test_redaction import CALLER_NUMBERS, shows_whole
from voice_insights.alerts.alert_message import SnsMessage, render
from voice_insights.alerts.alerting import CHAT_FAILED_METRIC, CHAT_PUBLISHED_METRIC, AlertOutcome, AlertPipeline
from voice_insights.alerts.chat_message import (
    CHAT_EVENT_TYPE,
    MAX_ISSUES_SHOWN,
    ChatMessage,
    chat_notification,
    render_chat,
)
from voice_insights.domain.quality import Thresholds
from voice_insights.runtime.observability import metrics

SCHEMA = json.loads((ROOT / "docs" / "chat-notification.schema.json").read_text())


def alerts() -> list[SnsMessage]:
    participant, conference = load_seed("participant_summary_complete"), load_seed("conference_summary_complete")
    quoting_conference, quoting_participant = events_quoting(CALLER_NUMBERS[0])
    return [
        participant_alert(participant),
        participant_alert(participant, conference_name=None),
        conference_alert(conference),
        conference_alert(quoting_conference),
        participant_alert(quoting_participant),
    ]


@pytest.mark.parametrize("message", alerts(), ids=lambda m: m.payload.summary_type)
def test_every_chat_alert_is_a_documented_custom_notification(message: SnsMessage) -> None:
    notification = json.loads(render_chat(message.payload).message)
    jsonschema.validate(notification, SCHEMA)
    assert (notification["version"], notification["source"]) == ("1.0", "custom")
    assert notification["content"]["textType"] == "client-markdown"
    assert notification["metadata"]["eventType"] == CHAT_EVENT_TYPE


def test_the_schema_is_the_documented_one_and_refuses_what_the_chat_would_not_render() -> None:
    good = chat_notification(alerts()[0].payload)
    for broken in (
        {**good, "version": "2.0"},
        {**good, "source": "aws.cloudwatch"},
        {**good, "content": {**good["content"], "textType": "html"}},
        {key: value for key, value in good.items() if key != "content"},
        {**good, "content": {**good["content"], "title": "<!channel> look"}},  # ours: no raw mention or link
        {**good, "metadata": {**good["metadata"], "additionalContext": {"event_id": "<@U0123>"}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_a_chat_alert_says_what_the_alert_says() -> None:
    message = alerts()[0]
    payload = message.payload
    notification = chat_notification(payload)
    content = notification["content"]
    assert payload.subject in content["title"] and content["title"].startswith(":red_circle:")
    for issue in payload.issues[:MAX_ISSUES_SHOWN]:
        assert f"`{issue.title}`" in content["description"]
    if len(payload.issues) > MAX_ISSUES_SHOWN:
        assert f"and {len(payload.issues) - MAX_ISSUES_SHOWN} more" in content["description"]
    assert payload.console_url in content["nextSteps"][0]
    assert notification["id"] == payload.alert_id
    assert notification["metadata"]["threadId"] == payload.conference_sid  # a conference's alerts share a thread
    assert set(content["keywords"]) >= {payload.severity, *(issue.kind for issue in payload.issues)}


# What Slack's mrkdwn or Teams' markdown would make a mention, a link or formatting of.
HOSTILE = (
    "<!channel> <@U0123> <#C0123|general> <https://evil.example|click> @here @everyone *bold* _it_ ~gone~ "
    "~~struck~~ `code` [x](https://evil.example) ![i](evil.example/i.png) www.evil.example evil.example.com/path "
    "&lt;!here&gt; <at>Boss</at> <b>html</b> > quote"
)
MARKUP = [
    "<",
    ">",
    "&lt;!here",
    "*bold*",
    "_it_",
    "~gone~",
    "~~struck~~",
    "`code`",
    "](",
    "://",
    "www.evil",
    "evil.example",
    "@here",
    "@everyone",
    "<at>",
    "<b>",
]


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return []


def hostile_alerts() -> list[SnsMessage]:
    """Alerts with HOSTILE in every event text a chat card shows: label, conference name (participant and
    conference alerts), a tag (an issue's kind and title, a keyword), a reason, the SIDs and the event id."""
    event = with_stream(healthy_participant(data__label=HOSTILE, id=HOSTILE), "inbound", mos=2.0, tags=[HOSTILE])
    event["data"].update(call_sid=HOSTILE, account_sid=HOSTILE, participant_region=HOSTILE)
    conference = healthy_conference(data__friendly_name=HOSTILE, data__tags=[HOSTILE], data__end_reason=HOSTILE)
    return [
        participant_alert(event, conference_name=HOSTILE, event_id=HOSTILE),
        conference_alert(conference),
    ]


@pytest.mark.parametrize("message", hostile_alerts(), ids=lambda m: m.payload.summary_type)
def test_event_text_cannot_format_mention_or_link_in_the_chat(message: SnsMessage) -> None:
    """Given mentions, links, formatting and HTML in every event text of an alert, when it is rendered for chat,
    then no field of the card (title, description, summary, keywords, related resources, context) carries any
    of them as markup: Slack's control characters are escaped as Slack documents (&amp; &lt; &gt;), formatting
    characters replaced by look-alikes, mentions and links broken; and the card is still the documented format."""
    notification = chat_notification(message.payload)
    jsonschema.validate(notification, SCHEMA)
    console_step = notification["content"]["nextSteps"][0]  # the alert's own link, built from quoted SIDs
    for text in strings_in(notification):
        shown = text.replace(message.payload.console_url, "") if text == console_step else text
        shown = shown.replace("*Participant*", "").replace("*Call*", "").replace("*When*", "")
        shown = re.sub(r"\*(Conference|Issues|Account|event|high|medium|low)\*", "", shown)
        for markup in MARKUP:
            assert markup not in shown, (markup, text)
        assert re.fullmatch(r"(?:[^&]|&(?:amp|lt|gt);)*", shown), text  # every & is one of Slack's escapes
    description = notification["content"]["description"]
    assert "&lt;!channel&gt;" in description and "&lt;\uff20U0123&gt;" in description  # shown, as text
    assert "\u2217bold\u2217" in description and "evil[.]example" in description
    assert "&lt;!channel&gt;" in notification["content"]["title"] + notification["metadata"]["summary"]


def test_ordinary_text_reads_as_it_is_written_in_the_chat() -> None:
    message = participant_alert(
        with_stream(healthy_participant(data__label="agent_7 (Zürich) #2 AT&T"), "inbound", mos=2.0),
        conference_name="Weekly sync: v1.2.3, MOS 3.5",
    )
    notification = chat_notification(message.payload)
    assert "`agent_7 (Zürich) #2 AT&amp;T`" in notification["content"]["description"]
    assert "Weekly sync: v1.2.3, MOS 3.5" in notification["content"]["title"]
    assert notification["metadata"]["threadId"] == message.payload.conference_sid


@pytest.mark.parametrize("number", CALLER_NUMBERS)
def test_no_phone_number_reaches_the_chat_whole(number: str) -> None:
    for event_alert in (conference_alert(events_quoting(number)[0]), participant_alert(events_quoting(number)[1])):
        assert not shows_whole(number, render_chat(event_alert.payload).message)


class FakeChat:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[ChatMessage] = []
        self.fail = fail

    def publish(self, messages: list[ChatMessage]) -> list[str | None]:
        if self.fail:
            return ["Throttled: rate exceeded"] * len(messages)
        self.sent += messages
        return [None] * len(messages)


def chat_pipeline(publisher: FakePublisher, chat: FakeChat) -> AlertPipeline:
    return AlertPipeline(
        Thresholds(),
        FakeLedger(),  # type: ignore[arg-type]
        FakeNames(),  # type: ignore[arg-type]
        publisher,  # type: ignore[arg-type]
        FakeRejected(),  # type: ignore[arg-type]
        clock=lambda: NOW,
        chat=chat,  # type: ignore[arg-type]
    )


def bad_participant() -> dict[str, Any]:
    return with_stream(healthy_participant(id="EV-chat"), "inbound", mos=2.0)


def test_the_chat_variant_goes_to_its_own_topic_and_the_alert_topic_gets_what_it_got_before() -> None:
    publisher, chat = FakePublisher(), FakeChat()
    report = chat_pipeline(publisher, chat).process([change(bad_participant())])
    assert report.outcomes == [AlertOutcome.PUBLISHED]
    (alert,) = publisher.published
    assert alert.message == render(alert.payload).message  # default/email text, sqs/lambda/https alert/1 JSON
    assert set(json.loads(alert.message)) == {"default", "email", "sqs", "lambda", "https"}
    (posted,) = chat.sent
    assert json.loads(posted.message) == chat_notification(alert.payload)


def test_a_chat_topic_that_fails_neither_fails_nor_repeats_the_alert(caplog: pytest.LogCaptureFixture) -> None:
    publisher, chat = FakePublisher(), FakeChat(fail=True)
    metrics.clear_metrics()
    report = chat_pipeline(publisher, chat).process([change(bad_participant())])
    assert report.outcomes == [AlertOutcome.PUBLISHED]  # not FAILED: a retry would send the alert again
    assert len(publisher.published) == 1
    counted = {name: dict(metric) for name, metric in metrics.metric_set.items()}
    metrics.clear_metrics()
    assert counted[CHAT_FAILED_METRIC]["Value"] == [1.0] and counted[CHAT_PUBLISHED_METRIC]["Value"] == [0.0]
    assert "Chat alert not published" in caplog.text
