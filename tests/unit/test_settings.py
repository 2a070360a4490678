"""Given the environment the template sets, when a function reads its settings, then every value is read by
its variable's name, an empty value is the default, and what is missing or wrong is named in one error."""

from __future__ import annotations

import pytest

from voice_insights.domain.quality import Severity, Thresholds
from voice_insights.runtime.settings import AlertSettings, ConfigurationError, ReadSettings, Settings

PROCESSOR = {"SUMMARIES_TABLE_NAME": "summaries", "REJECTED_BUCKET_NAME": "rejected"}


def test_a_processor_reads_its_variables_and_empty_ones_are_defaults() -> None:
    settings = Settings.from_env({**PROCESSOR, "RETENTION_DAYS": "395", "WEBHOOK_MAX_EVENTS": "", "OTHER": "x"})
    assert (settings.table_name, settings.rejected_bucket, settings.retention_days) == ("summaries", "rejected", 395)
    assert settings.max_webhook_events == 1000 and settings.webhook_secret_id == ""
    assert settings.thresholds == Thresholds()


def test_thresholds_come_from_the_alert_variables() -> None:
    settings = Settings.from_env({**PROCESSOR, "ALERT_MOS_BELOW": "3.2", "ALERT_MIN_SEVERITY": " High "})
    assert settings.thresholds == Thresholds(mos_below=3.2, min_severity=Severity.HIGH)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, ["environment variable SUMMARIES_TABLE_NAME is not set", "REJECTED_BUCKET_NAME is not set"]),
        ({**PROCESSOR, "RETENTION_DAYS": "a year"}, ["RETENTION_DAYS", "'a year'"]),
        ({**PROCESSOR, "RETENTION_DAYS": "-1"}, ["RETENTION_DAYS", "greater than or equal to 0"]),
        ({**PROCESSOR, "WEBHOOK_MAX_EVENTS": "0"}, ["WEBHOOK_MAX_EVENTS"]),
    ],
)
def test_what_is_missing_or_wrong_is_named(environ: dict[str, str], named: list[str]) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(environ)
    assert all(text in str(raised.value) for text in named), raised.value
    assert str(raised.value).endswith("(see template.yaml)")


def test_the_alert_function_and_the_read_api_read_theirs() -> None:
    alert = AlertSettings.from_env(
        {"ALERT_TOPIC_ARN": "arn:topic", "ALERT_LEDGER_TABLE_NAME": "ledger", "ALERT_CHAT_TOPIC_ARN": "", **PROCESSOR}
    )
    assert (alert.topic_arn, alert.ledger_table_name, alert.chat_topic_arn) == ("arn:topic", "ledger", "")
    read = ReadSettings.from_env({"SUMMARIES_TABLE_NAME": "summaries", "READ_CURSOR_KEY_ARN": "arn:key"})
    assert (read.table_name, read.cursor_key_id) == ("summaries", "arn:key")
    with pytest.raises(ConfigurationError, match="READ_CURSOR_KEY_ARN is not set"):
        ReadSettings.from_env({"SUMMARIES_TABLE_NAME": "summaries"})
