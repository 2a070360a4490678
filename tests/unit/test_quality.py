"""Given a summary, when the quality rules run, then each rule fires just past its threshold and not at it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import healthy_conference, healthy_participant, load_seed, with_stream
from tests.unit.test_redaction import CALLER_NUMBERS, shows_whole
from voice_insights.domain.models import ConferenceSummary, ParticipantSummary
from voice_insights.domain.quality import Severity, Thresholds, alerting, issues_of
from voice_insights.runtime.settings import AlertRules, ConfigurationError

DEFAULTS = Thresholds()


def participant_issues(event: dict[str, Any], thresholds: Thresholds = DEFAULTS) -> dict[str, Severity]:
    return {i.code: i.severity for i in issues_of(ParticipantSummary.model_validate(event["data"]), thresholds)}


def conference_issues(event: dict[str, Any]) -> dict[str, Severity]:
    return {i.code: i.severity for i in issues_of(ConferenceSummary.model_validate(event["data"]), DEFAULTS)}


def test_a_healthy_participant_has_no_issue() -> None:
    assert participant_issues(healthy_participant()) == {}


# (metrics to change, code of the issue, value at the threshold, a value just inside, just outside)
THRESHOLD_RULES = [
    ("mos", "inbound.mos", 3.5, 3.51, 3.49),
    ("packet_loss_percentage", "inbound.packet_loss", 5.0, 4.99, 5.01),
    ("jitter.avg", "inbound.jitter_avg", 5.0, 4.99, 5.01),
    ("jitter.max", "inbound.jitter_max", 30.0, 29.99, 30.01),
    ("latency.avg", "inbound.latency_avg", 150.0, 149.99, 150.01),
    ("latency.max", "inbound.latency_max", 150.0, 149.99, 150.01),
]


def _set(event: dict[str, Any], path: str, value: float) -> dict[str, Any]:
    if "." in path:
        metric, statistic = path.split(".")
        stats = {**event["data"]["metrics"]["inbound"][metric], statistic: value}
        return with_stream(event, "inbound", **{metric: stats})
    return with_stream(event, "inbound", **{path: value})


@pytest.mark.parametrize(("path", "code", "at", "inside", "outside"), THRESHOLD_RULES)
def test_threshold_rule_fires_only_past_its_threshold(
    path: str, code: str, at: float, inside: float, outside: float
) -> None:
    assert participant_issues(_set(healthy_participant(), path, at)) == {}
    assert participant_issues(_set(healthy_participant(), path, inside)) == {}
    assert participant_issues(_set(healthy_participant(), path, outside)) == {code: Severity.MEDIUM}


def test_outbound_metrics_are_checked_like_inbound() -> None:
    event = with_stream(healthy_participant(), "outbound", mos=2.0, packet_loss_percentage=9.5)
    assert participant_issues(event) == {"outbound.mos": Severity.MEDIUM, "outbound.packet_loss": Severity.MEDIUM}


def test_thresholds_are_the_operators_to_tune() -> None:
    event = with_stream(healthy_participant(), "inbound", mos=3.8)
    assert participant_issues(event) == {}
    assert participant_issues(event, Thresholds(mos_below=4.0)) == {"inbound.mos": Severity.MEDIUM}


def test_missing_metrics_raise_nothing() -> None:
    event = with_stream(healthy_participant(), "inbound", mos=None, jitter=None, latency={"avg": None, "max": None})
    event["data"]["metrics"]["outbound"] = None
    assert participant_issues(event) == {}


def test_every_metric_tag_is_an_issue() -> None:
    event = with_stream(healthy_participant(), "outbound", tags=["silent", "a_tag_twilio_adds_later"])
    assert participant_issues(event) == {
        "outbound.tag.silent": Severity.MEDIUM,
        "outbound.tag.a_tag_twilio_adds_later": Severity.MEDIUM,
    }


def test_tags_info_entries_carry_twilios_severity() -> None:
    tags_info = {
        "description": "High packet loss detected",
        "packet_loss": {"severity": "high"},
        "jitter": {"severity": "medium"},
        "latency": {"severity": "something_new"},  # unknown word: still alerts, as medium
        "echo": {"severity": "high"},  # an entry Twilio adds later
    }
    issues = issues_of(
        ParticipantSummary.model_validate(with_stream(healthy_participant(), "inbound", tags_info=tags_info)["data"]),
        DEFAULTS,
    )
    assert {i.code: (i.severity, i.kind) for i in issues} == {
        "inbound.twilio.packet_loss": (Severity.HIGH, "high_packet_loss"),
        "inbound.twilio.jitter": (Severity.MEDIUM, "high_jitter"),
        "inbound.twilio.latency": (Severity.MEDIUM, "high_latency"),
        "inbound.twilio.echo": (Severity.HIGH, "echo"),
    }
    assert {i.details for i in issues} == {"High packet loss detected"}
    assert [i.severity for i in issues] == sorted((i.severity for i in issues), reverse=True)  # worst first


def test_tags_info_entries_of_another_shape_are_no_issue_and_no_error() -> None:
    # Open enums: Twilio may add entries that are not {"severity": ...}; they must not fail the event.
    tags_info = {
        "note": "free text",
        "history": ["high"],
        "count": 3,
        "empty": None,
        "echo": {"level": "high"},
        "noise": {"severity": 2},
        "crosstalk": {"severity": "high"},
    }
    event = with_stream(healthy_participant(), "inbound", tags_info=tags_info)
    assert participant_issues(event) == {"inbound.twilio.crosstalk": Severity.HIGH}


def test_quality_issues_count_is_a_low_issue_above_zero() -> None:
    assert participant_issues(healthy_participant(data__quality_issues=0)) == {}
    assert participant_issues(healthy_participant(data__quality_issues=1)) == {"quality_issues": Severity.LOW}


def test_the_seed_participant_has_every_kind_of_participant_issue() -> None:
    codes = participant_issues(load_seed("participant_summary_complete"))
    for direction in ("inbound", "outbound"):
        assert {f"{direction}.mos", f"{direction}.jitter_avg", f"{direction}.tag.silent"} <= set(codes)
        assert {f"{direction}.twilio.{name}" for name in ("packet_loss", "jitter", "latency", "low_mos")} <= set(codes)
    assert f"{direction}.packet_loss" not in codes  # 0 % loss in the seed


# --- conferences ------------------------------------------------------------------------------


def test_a_healthy_conference_has_no_issue() -> None:
    assert conference_issues(healthy_conference()) == {}


def test_conference_tags_with_their_tag_info_details() -> None:
    event = healthy_conference(
        data__tags=["duplicate_identity", "start_failure", "high_jitter"],
        data__tag_info={
            "duplicate_identity": [{"participant_identity": "alice", "participant_sids": ["CP1", "CP2"]}],
            "start_failure": {"reason": "Conference had no participants"},
        },
    )
    issues = {i.code: i for i in issues_of(ConferenceSummary.model_validate(event["data"]), DEFAULTS)}
    assert {code: i.severity for code, i in issues.items()} == {
        "tag.start_failure": Severity.HIGH,
        "tag.duplicate_identity": Severity.MEDIUM,
        "tag.high_jitter": Severity.MEDIUM,
    }
    assert issues["tag.duplicate_identity"].details == "identity alice used by CP1, CP2"
    assert issues["tag.start_failure"].details == "reason: Conference had no participants"


def test_tag_info_details_count_even_when_the_tag_list_omits_them() -> None:
    # Twilio's own sample: tags ["silent"] with duplicate_identity and start_failure details.
    codes = conference_issues(load_seed("conference_summary_complete"))
    assert {"tag.silent", "tag.duplicate_identity", "tag.start_failure"} <= set(codes)


@pytest.mark.parametrize(
    ("name", "severity"),
    [
        ("call_quality", Severity.MEDIUM),
        ("region_configuration", Severity.MEDIUM),
        ("participant_behavior", Severity.LOW),
    ],
)
def test_detected_issues_count_above_zero(name: str, severity: Severity) -> None:
    counts = {"call_quality": 0, "region_configuration": 0, "participant_behavior": 0}
    assert conference_issues(healthy_conference(data__detected_issues=counts)) == {}
    event = healthy_conference(data__detected_issues={**counts, name: 1})
    assert conference_issues(event) == {f"detected.{name}": severity}


def test_summary_timeout_status_is_a_low_issue() -> None:
    assert conference_issues(healthy_conference(data__status="in_progress")) == {}
    assert conference_issues(healthy_conference(data__status="summary_timeout")) == {
        "status.summary_timeout": Severity.LOW
    }


# --- severities and settings -------------------------------------------------------------------


def test_minimum_severity_drops_lesser_issues() -> None:
    summary = ParticipantSummary.model_validate(load_seed("participant_summary_complete")["data"])
    every = issues_of(summary, DEFAULTS)
    assert {i.severity for i in alerting(every, DEFAULTS)} == {Severity.HIGH, Severity.MEDIUM}
    high_only = Thresholds(min_severity=Severity.HIGH)
    assert {i.severity for i in alerting(every, high_only)} == {Severity.HIGH}
    # Worst first (the processors store the first one's severity), equal severities in the rules' order.
    assert [i.severity for i in every] == sorted((i.severity for i in every), reverse=True)
    assert every[0].severity is Severity.HIGH


def test_thresholds_read_from_the_environment_the_template_sets() -> None:
    environ = {
        "ALERT_MOS_BELOW": "3.2",
        "ALERT_PACKET_LOSS_PERCENT_ABOVE": "2",
        "ALERT_JITTER_AVG_MS_ABOVE": "",  # empty: the default
        "ALERT_MIN_SEVERITY": "Medium",
    }
    thresholds = AlertRules.from_env(environ).thresholds
    assert (thresholds.mos_below, thresholds.packet_loss_percent_above) == (3.2, 2.0)
    assert thresholds.jitter_avg_ms_above == DEFAULTS.jitter_avg_ms_above
    assert thresholds.min_severity is Severity.MEDIUM


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ALERT_MOS_BELOW": "three"}, "ALERT_MOS_BELOW Input should be a valid number.*got 'three'"),
        ({"ALERT_MIN_SEVERITY": "critical"}, "ALERT_MIN_SEVERITY must be low, medium or high"),
    ],
)
def test_bad_settings_are_named_clearly(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AlertRules.from_env(environ)


@pytest.mark.parametrize(
    ("word", "severity"),
    [("high", Severity.HIGH), (" HIGH ", Severity.HIGH), ("Low", Severity.LOW), ("h\u0131gh", None), ("", None)],
)
def test_severity_words_read_the_same_in_events_and_in_settings(word: str, severity: Severity | None) -> None:
    # A word the setting refuses must be an unknown word in an event too (dotless i upper-cases to "HIGH").
    assert Severity.parse(word) is (severity or Severity.MEDIUM)  # an unknown word counts as medium
    if severity:
        assert AlertRules.from_env({"ALERT_MIN_SEVERITY": word}).thresholds.min_severity is severity
    elif word:
        with pytest.raises(ConfigurationError, match="must be low, medium or high"):
            AlertRules.from_env({"ALERT_MIN_SEVERITY": word})


# --- event text in issues ----------------------------------------------------------------------


@pytest.mark.parametrize("number", CALLER_NUMBERS)
def test_issues_quote_event_text_with_phone_numbers_masked(number: str) -> None:
    """Given a caller's number in every free text a summary's issues quote (tags, Twilio's tag description,
    a tags_info entry and severity word, a duplicate identity, a start failure reason, a detected issue name),
    when the rules run, then no issue's code, kind, title or details shows it whole: they reach the items'
    issue codes, logs and alerts."""
    participant = with_stream(
        healthy_participant(),
        "inbound",
        tags=[f"caller {number}"],
        tags_info={"description": f"Loss on {number}", number: {"severity": f"high {number}"}},
    )
    conference = healthy_conference(
        data__tags=[number],
        data__tag_info={
            "duplicate_identity": [{"participant_identity": f"client:{number}", "participant_sids": [number]}],
            "start_failure": {"reason": f"Dialled {number}: no answer"},
        },
        data__detected_issues={"call_quality": 0, f"{number} issues": 2},
    )
    issues = issues_of(ParticipantSummary.model_validate(participant["data"]), DEFAULTS) + issues_of(
        ConferenceSummary.model_validate(conference["data"]), DEFAULTS
    )
    assert len(issues) == 6
    quoted = [text for i in issues for text in (i.code, i.kind, i.title, i.details)]
    assert not [text for text in quoted if shows_whole(number, text)]
    assert any(text.startswith("reason: Dialled ") for text in quoted)  # the rest of the text is kept
