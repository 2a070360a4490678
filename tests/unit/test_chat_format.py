"""Given alerts, when they are rendered for chat, then they are AWS's documented custom notification format, carry
no event text that could format, mention or link, and leave what the alert topic's subscribers get unchanged."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from tests.conftest import ROOT, healthy_participant, load_seed, with_stream
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


def test_event_text_cannot_format_mention_or_link_in_the_chat() -> None:
    event = with_stream(
        healthy_participant(data__label="`<!channel>` *boss* [x](https://evil.example)"), "inbound", mos=2.0
    )
    description = chat_notification(participant_alert(event).payload)["content"]["description"]
    shown = description.split("*Participant* ", 1)[1].split(" (", 1)[0]
    assert shown.startswith("`") and shown.endswith("`") and shown.count("`") == 2  # one code span, none broken
    assert "<!channel>" in shown  # shown as text inside it, not as a mention


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
