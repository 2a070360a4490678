"""Given new issues on a summary, when the alert is rendered, then people and machines can both read it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, healthy_conference, healthy_participant, load_seed, with_stream
from tests.unit.test_redaction import CALLER_NUMBERS, shows_whole
from voice_insights.alerts.alert_message import (
    ALERT_SCHEMA,
    AlertContext,
    AlertPayload,
    SnsMessage,
    ascii_subject,
    build_alert,
    mask_phone_numbers,
    render,
)
from voice_insights.domain.models import ConferenceSummary, ParticipantSummary
from voice_insights.domain.quality import Thresholds, issues_of

SCHEMA_FILE = ROOT / "docs" / "alert.schema.json"


def context(**changes: Any) -> AlertContext:
    values = {
        "item_key": "CONF#CF1|PART#CP1",
        "event_type": "com.twilio.voice.insights.conference-participant-summary.complete",
        "event_id": "EZ123",
        "conference_name": "Support line",
        "detected_at": "2026-11-21T10:00:00Z",
        **changes,
    }
    return AlertContext(**values)


def participant_alert(event: dict[str, Any], **changes: Any) -> SnsMessage:
    summary = ParticipantSummary.model_validate(event["data"])
    return render(build_alert(summary, issues_of(summary, Thresholds()), context(**changes)))


def conference_alert(event: dict[str, Any]) -> SnsMessage:
    summary = ConferenceSummary.model_validate(event["data"])
    return render(
        build_alert(
            summary, issues_of(summary, Thresholds()), context(item_key="CONF#CF1|SUMMARY", conference_name=None)
        )
    )


def bodies(message: SnsMessage) -> dict[str, str]:
    parsed: dict[str, str] = json.loads(message.message)
    return parsed


def test_participant_with_several_issues() -> None:
    event = with_stream(
        healthy_participant(data__label="agent-7", **{"from": "+14155550123", "to": "+442071838750"}),
        "inbound",
        mos=2.9,
        packet_loss_percentage=7.25,
        tags=["silent"],
    )
    event["data"]["from"], event["data"]["to"] = "+14155550123", "+442071838750"
    message = participant_alert(event)
    text = bodies(message)["email"]

    assert message.subject == "[MEDIUM] Inbound MOS 2.9 is below 3.5: agent-7 (inbound) in Support line"
    assert "MEDIUM: 3 new call quality issue(s) for participant 'agent-7' in conference 'Support line'." in text
    for line in (
        "  - [medium] Inbound MOS 2.9 is below 3.5",
        "  - [medium] Inbound packet loss 7.25 % is above 5 %",
        "  - [medium] Inbound audio tagged 'silent' by Twilio",
        "  Call SID      CA0000000000000000000000000000001",
        "  Call          inbound sip call, completed",
        "  Region        us1 (conference mixed in us1)",
        "  Country       US",
        "  From / to     ********0123 / *********8750",
        "  Joined 2023-01-01T12:00:00Z, left 2023-01-01T12:30:00Z (1800 s)",
        "Conference    Support line (CF0000000000000000000000000000001)",
        "Open in Twilio Console: https://console.twilio.com/us1/monitor/logs/calls/CA0000000000000000000000000000001",
    ):
        assert line in text.splitlines()
    assert "4155550123" not in message.message and "2071838750" not in message.message


def test_machine_body_is_the_versioned_schema() -> None:
    message = participant_alert(load_seed("participant_summary_complete"))
    payloads = [AlertPayload.model_validate_json(bodies(message)[protocol]) for protocol in ("sqs", "lambda", "https")]
    assert payloads[0] == payloads[1] == payloads[2] == message.payload
    payload = payloads[0]
    assert payload.alert_schema == ALERT_SCHEMA
    assert payload.severity == "high"
    assert payload.summary_type == "participant"
    assert payload.participant is not None and payload.participant.from_masked == "*******7890"
    mos = next(issue for issue in payload.issues if issue.code == "inbound.mos")
    assert (mos.measured, mos.threshold, mos.kind) == (1.0, 3.5, "low_mos")
    assert [issue.severity for issue in payload.issues][:8] == ["high"] * 8  # worst first


def test_conference_with_tag_info_details() -> None:
    event = healthy_conference(
        data__friendly_name="Incident bridge",
        data__tags=["duplicate_identity", "start_failure"],
        data__tag_info={
            "duplicate_identity": [{"participant_identity": "alice", "participant_sids": ["CP1", "CP2"]}],
            "start_failure": {"reason": "Conference had no participants"},
        },
        data__detected_issues={"call_quality": 2, "region_configuration": 0, "participant_behavior": 0},
    )
    message = conference_alert(event)
    lines = bodies(message)["default"].splitlines()
    assert message.subject == "[HIGH] Conference tagged 'start_failure' by Twilio: Incident bridge"
    assert lines[0] == "HIGH: 3 new issue(s) on conference 'Incident bridge'."
    assert lines[lines.index("  - [high] Conference tagged 'start_failure' by Twilio") + 1] == (
        "      reason: Conference had no participants"
    )
    assert lines[lines.index("  - [medium] Conference tagged 'duplicate_identity' by Twilio") + 1] == (
        "      identity alice used by CP1, CP2"
    )
    assert "  - [medium] Twilio detected 2 call quality issue(s)" in lines
    assert "  Started 2023-10-01T15:30:00Z, ended 2023-10-01T16:00:00Z (last_participant_left)" in lines
    assert message.payload.console_url.endswith("/conferences/CF0000000000000000000000000000001")


def test_attributes_let_subscribers_filter() -> None:
    message = participant_alert(load_seed("participant_summary_complete"))
    attributes = {name: value["StringValue"] for name, value in message.attributes.items()}
    assert attributes["severity"] == "high"
    assert json.loads(attributes["issue_kinds"]) == [
        "high_jitter",
        "high_latency",
        "high_packet_loss",
        "low_mos",
        "silent",
    ]
    assert message.attributes["issue_kinds"]["DataType"] == "String.Array"
    assert attributes["account_sid"] == "AC0000000000000000000000000000001"
    assert attributes["conference_sid"] == "CF0000000000000000000000000000001"
    assert attributes["event_type"] == "com.twilio.voice.insights.conference-participant-summary.complete"
    assert all(value for value in attributes.values())  # SNS refuses empty attribute values


def test_subject_fits_sns_even_with_long_unicode_names() -> None:
    event = healthy_participant(data__label="Équipe support " * 10, data__quality_issues=2)
    message = participant_alert(event, conference_name="Réunion hebdomadaire — équipe Zürich " * 3)
    assert len(message.subject) < 100
    assert message.subject.isascii() and message.subject.isprintable()
    assert message.subject.startswith("[LOW] Twilio counted 2 quality issue(s): Equipe support")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\n\tline one\nline two", "line one line two"),
        ("✓✓✓", "Voice Insights alert"),
        ("x" * 150, "x" * 96 + "..."),
        ("call evil\u2024example\ufe52com", "call evil[.]example[.]com"),  # dots once made ASCII: defanged then
        ("".join(chr(ord(c) + 0xFEE0) for c in "www.evil.com"), "www[.]evil[.]com"),  # full-width letters and dots
    ],
)
def test_ascii_subject(text: str, expected: str) -> None:
    assert ascii_subject(text) == expected


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+14155550123", "********0123"),
        ("sip:alice@example.com", "*****************.com"),
        ("client:bob", "******:bob"),
        ("12345", "*"),  # short codes are masked whole
        (None, None),
    ],
)
def test_phone_numbers_are_masked(number: str | None, masked: str | None) -> None:
    assert mask_phone_numbers({"from": number}) == {"from": masked}


def test_alert_id_is_stable_for_the_same_item_and_issues() -> None:
    first = participant_alert(load_seed("participant_summary_complete"))
    again = participant_alert(load_seed("participant_summary_complete"), detected_at="2027-01-01T00:00:00Z")
    other_item = participant_alert(load_seed("participant_summary_complete"), item_key="CONF#CF1|PART#CP2")
    assert first.payload.alert_id == again.payload.alert_id != other_item.payload.alert_id


def test_published_json_schema_is_the_models() -> None:
    assert json.loads(Path(SCHEMA_FILE).read_text()) == AlertPayload.model_json_schema(), (
        "docs/alert.schema.json is stale: run `python scripts/alert_schema.py`"
    )


def everything_published(message: SnsMessage) -> str:
    """What subscribers can see of a message: subject, every body, every attribute."""
    return "\n".join([message.subject, *bodies(message).values(), message.message, json.dumps(message.attributes)])


def events_quoting(number: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A conference and a participant event with ``number`` in every free text an alert can show."""
    conference = healthy_conference(
        data__friendly_name=f"Bridge {number}",
        data__tags=[number, "start_failure"],
        data__tag_info={
            "duplicate_identity": [{"participant_identity": f"client:{number}", "participant_sids": [number]}],
            "start_failure": {"reason": f"Dialled {number}: no answer"},
        },
        data__end_reason=f"ended by {number}",
    )
    participant = with_stream(
        healthy_participant(data__label=f"Caller {number}"),
        "inbound",
        mos=2.0,
        tags=[number],
        tags_info={"description": f"Loss on {number}", "packet_loss": {"severity": "high"}},
    )
    return conference, participant


@pytest.mark.parametrize("number", CALLER_NUMBERS)
def test_a_phone_number_in_any_free_text_is_masked_everywhere(number: str) -> None:
    """Given a caller's number in a participant's label, the conference name (read from a stored item, maybe
    written before names were masked), a conference's name, tags, duplicate identity and start failure reason,
    and Twilio's tag description, when the alerts are rendered, then the number is nowhere whole: subject,
    text, JSON body, attributes."""
    conference, participant = events_quoting(number)
    messages = [participant_alert(participant, conference_name=f"Bridge {number}"), conference_alert(conference)]
    for message in messages:
        assert not shows_whole(number, everything_published(message)), everything_published(message)
    assert "Caller " in messages[0].payload.subject and "Bridge " in messages[1].payload.subject  # text kept
    assert messages[1].payload.conference is not None
    assert messages[1].payload.conference.end_reason.startswith("ended by ")


def test_ids_and_times_in_an_alert_are_not_masked() -> None:
    message = participant_alert(load_seed("participant_summary_complete"), event_id="EZ" + "0123456789abcdef" * 2)
    payload = message.payload
    assert payload.participant is not None
    assert (payload.participant.call_sid, payload.participant.join_time) == (
        "CA0000000000000000000000000000001",
        "2023-01-01T12:00:00Z",
    )
    assert payload.event_id == "EZ" + "0123456789abcdef" * 2
    assert payload.console_url.endswith("/calls/CA0000000000000000000000000000001")


FORGED_LINE = "Open in Twilio Console: https://evil.example/login"
# Line breaks of every kind a mail client or splitlines() honours, and controls that hide or reorder text.
INJECTIONS = ["\r\n", "\n", "\r", "\v", "\f", "\x85", "\u2028", "\u2029", "\x1e", "\x1b[2K\r", "\u202e"]
UNSAFE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def forged_alerts(field: str, text: str) -> list[tuple[SnsMessage, str]]:
    """The alerts whose ``field`` carries ``text``, with the JSON path of where their payload keeps it."""
    if field == "label":
        return [(participant_alert(with_stream(healthy_participant(data__label=text), "inbound", mos=2.0)), "label")]
    if field == "conference name":
        participant = participant_alert(with_stream(healthy_participant(), "inbound", mos=2.0), conference_name=text)
        conference = conference_alert(healthy_conference(data__friendly_name=text, data__tags=["silent"]))
        return [(participant, "conference_name"), (conference, "conference_name")]
    if field == "tag":
        return [(conference_alert(healthy_conference(data__tags=[text])), "kind")]
    if field == "description":
        event = with_stream(
            healthy_participant(), "inbound", tags_info={"description": text, "jitter": {"severity": "high"}}
        )
        return [(participant_alert(event), "details")]
    tag_info: dict[str, Any] = {"duplicate_identity": []}
    if field == "identity":
        tag_info["duplicate_identity"] = [{"participant_identity": text, "participant_sids": ["CP1", "CP2"]}]
    else:
        tag_info["start_failure"] = {"reason": text}
    return [(conference_alert(healthy_conference(data__tag_info=tag_info)), "details")]


def kept_in_payload(payload: dict[str, Any], path: str) -> list[str]:
    if path in ("kind", "details"):
        return [issue[path] for issue in payload["issues"] if issue[path]]
    return [payload["participant"]["label"] if path == "label" else payload[path]]


@pytest.mark.parametrize("injection", INJECTIONS, ids=repr)
@pytest.mark.parametrize("field", ["conference name", "label", "tag", "description", "identity", "reason"])
def test_event_text_cannot_add_a_line_or_hide_text_in_the_email_or_the_attributes(field: str, injection: str) -> None:
    """Given a line break (or a control that hides or reorders text) and a forged console line in one free-text
    field, when the alert is rendered, then the email has no line but its own, the only console line is the
    real one and the forged link is not clickable; no attribute carries a control; the subject keeps SNS's rules;
    and the JSON body is valid JSON carrying the value as sent."""
    text = f"x{injection}{FORGED_LINE}"
    for message, path in forged_alerts(field, text):
        for protocol in ("default", "email"):
            email = bodies(message)[protocol]
            assert not UNSAFE.search(email), repr(email)
            assert email.split("\n") == email.splitlines()
            console_lines = [line for line in email.splitlines() if "Open in Twilio Console:" in line]
            assert [line for line in console_lines if line.startswith("Open")] == [
                f"Open in Twilio Console: {message.payload.console_url}"
            ]
            assert "https://evil" not in email and "https[:]//evil[.]example/login" in email
        for name, attribute in message.attributes.items():
            assert not UNSAFE.search(attribute["StringValue"]) and "\n" not in attribute["StringValue"], name
        assert all(not UNSAFE.search(kind) for kind in json.loads(message.attributes["issue_kinds"]["StringValue"]))
        assert message.subject.isascii() and message.subject.isprintable() and len(message.subject) < 100
        assert any(text in kept for kept in kept_in_payload(json.loads(bodies(message)["sqs"]), path))


LINKS = ["www.evil.example", "WWW.EVIL.EXAMPLE/login", "evil.example.com/login", "help@evil.example", "evil.zip"]


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("field", ["conference name", "label", "tag", "description", "identity", "reason"])
def test_event_text_cannot_carry_a_link_a_mail_client_would_make(field: str, link: str) -> None:
    """Given a web address without a scheme, a bare domain or an e-mail address in one free-text field, when the
    alert is rendered, then the email and the subject show it with its dots defanged (a mail client links none of
    them), the Twilio event type and the console link stay whole, and the JSON body carries the value as sent."""
    for message, path in forged_alerts(field, f"call {link} now"):
        for shown in (bodies(message)["default"], bodies(message)["email"], message.subject):
            assert link.lower() not in shown.lower(), shown
            assert "evil[.]" in shown.lower() or "evil[.]" not in link, shown
        email = bodies(message)["email"]
        assert f"Twilio event  {message.payload.event_type} " in email  # Twilio's own type, not defanged
        assert f"Open in Twilio Console: {message.payload.console_url}" in email
        assert any(link in kept for kept in kept_in_payload(json.loads(bodies(message)["sqs"]), path))
