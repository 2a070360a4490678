"""Configuration, read once from the environment the template sets, into one pydantic model per function kind
(the shape of the environment models of ran-isenberg/aws-lambda-handler-cookbook); the quality rules stay pure."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voice_insights.domain.quality import DEFAULT_THRESHOLDS, SEVERITY_WORDS, Severity, Thresholds


class ConfigurationError(RuntimeError):
    pass


# API Gateway hands Lambda at most 6 MB (Lambda's synchronous payload limit).
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
# Twilio documents no batch size; this bounds one request's work well inside Twilio's 5 s response timeout
# (Event Streams webhook quickstart) and API Gateway's 29 s integration timeout.
DEFAULT_MAX_WEBHOOK_EVENTS = 1000

# Local runs only (`sam local invoke`/`start-api`, docs/running-locally.md, "Try one function with
# `sam local invoke`"): the AWS
# endpoint every client calls instead of AWS. template.yaml declares it empty, so a deployed function has none;
# `sam local` applies only the variables a template declares, so AWS_ENDPOINT_URL in an env-vars file never
# reaches a function.
LOCAL_ENDPOINT_VARIABLE = "LOCAL_AWS_ENDPOINT_URL"
# What local clients use whatever `sam local` passes from the user's profile: the local endpoint keeps its
# resources in this region (events/env.json's ARNs), and a user's real credentials never sign a local request.
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}  # nosec B105


def local_endpoint_url() -> str:
    """The local AWS endpoint to call instead of AWS, or "" (deployed: always "")."""
    return os.environ.get(LOCAL_ENDPOINT_VARIABLE, "").strip()


class Environment(BaseModel):
    """Variables the template sets, read by name (each field's alias); an empty value is the default."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, values: Any) -> Any:
        return {k: v for k, v in values.items() if v != ""} if isinstance(values, Mapping) else values

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Self:
        """Read from ``environ``; ConfigurationError names each variable that is missing or wrong."""
        try:
            return cls.model_validate(dict(environ))
        except ValidationError as error:
            problems = "; ".join(_problem(cls, detail) for detail in error.errors())
            raise ConfigurationError(f"{problems} (see template.yaml)") from None


class AlertRules(Environment):
    """The quality rules' thresholds (template parameters Alert*); ``thresholds`` hands them to the pure rules."""

    mos_below: float = Field(DEFAULT_THRESHOLDS.mos_below, alias="ALERT_MOS_BELOW")
    packet_loss_percent_above: float = Field(
        DEFAULT_THRESHOLDS.packet_loss_percent_above, alias="ALERT_PACKET_LOSS_PERCENT_ABOVE"
    )
    jitter_avg_ms_above: float = Field(DEFAULT_THRESHOLDS.jitter_avg_ms_above, alias="ALERT_JITTER_AVG_MS_ABOVE")
    jitter_max_ms_above: float = Field(DEFAULT_THRESHOLDS.jitter_max_ms_above, alias="ALERT_JITTER_MAX_MS_ABOVE")
    latency_avg_ms_above: float = Field(DEFAULT_THRESHOLDS.latency_avg_ms_above, alias="ALERT_LATENCY_AVG_MS_ABOVE")
    latency_max_ms_above: float = Field(DEFAULT_THRESHOLDS.latency_max_ms_above, alias="ALERT_LATENCY_MAX_MS_ABOVE")
    min_severity: Severity = Field(DEFAULT_THRESHOLDS.min_severity, alias="ALERT_MIN_SEVERITY")

    @field_validator("min_severity", mode="before")
    @classmethod
    def _severity_word(cls, word: Any) -> Any:
        if isinstance(word, str):
            found = SEVERITY_WORDS.get(word.strip().lower())
            if found is None:
                raise ValueError("must be low, medium or high")
            return found
        return word

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(**{field.name: getattr(self, field.name) for field in fields(Thresholds)})


class Settings(AlertRules):
    """A processing function's (Kinesis and webhook)."""

    table_name: str = Field(alias="SUMMARIES_TABLE_NAME", min_length=1)
    rejected_bucket: str = Field(alias="REJECTED_BUCKET_NAME", min_length=1)
    retention_days: int = Field(0, alias="RETENTION_DAYS", ge=0)
    webhook_secret_id: str = Field("", alias="WEBHOOK_SECRET_ARN")
    public_base_url: str = Field("", alias="WEBHOOK_PUBLIC_BASE_URL")
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, alias="WEBHOOK_MAX_BODY_BYTES", gt=0)
    max_webhook_events: int = Field(DEFAULT_MAX_WEBHOOK_EVENTS, alias="WEBHOOK_MAX_EVENTS", gt=0)


class AlertSettings(AlertRules):
    """The alert function's."""

    topic_arn: str = Field(alias="ALERT_TOPIC_ARN", min_length=1)
    ledger_table_name: str = Field(alias="ALERT_LEDGER_TABLE_NAME", min_length=1)
    summaries_table_name: str = Field(alias="SUMMARIES_TABLE_NAME", min_length=1)
    rejected_bucket: str = Field(alias="REJECTED_BUCKET_NAME", min_length=1)
    retention_days: int = Field(0, alias="RETENTION_DAYS", ge=0)
    # The chat topic (template: AlertChatTopic, when a chat channel or PublishChatAlerts asks for it); "": none.
    chat_topic_arn: str = Field("", alias="ALERT_CHAT_TOPIC_ARN")


class LakeSettings(AlertRules):
    """The lake writer's: each table's Firehose delivery stream (template: the lake block), and the bucket an
    unreadable change is kept in. The thresholds are the processors' own, so the lake's issues are the table's."""

    conference_stream: str = Field(alias="LAKE_CONFERENCE_STREAM_NAME", min_length=1)
    participant_stream: str = Field(alias="LAKE_PARTICIPANT_STREAM_NAME", min_length=1)
    rejected_bucket: str = Field(alias="REJECTED_BUCKET_NAME", min_length=1)


class ReadSettings(AlertRules):
    """The read API's."""

    table_name: str = Field(alias="SUMMARIES_TABLE_NAME", min_length=1)
    cursor_key_id: str = Field(alias="READ_CURSOR_KEY_ARN", min_length=1)
    # The template's CallSidIndex: without ByCallSid, GET /v1/calls/{callSid} answers 404 and queries nothing.
    call_sid_index: bool = Field(False, alias="CALL_SID_INDEX")


def _problem(model: type[BaseModel], detail: Any) -> str:
    field = model.model_fields.get(str(detail["loc"][0])) if detail["loc"] else None
    name = (field.alias if field is not None else None) or ".".join(str(part) for part in detail["loc"])
    if detail["type"] == "missing":
        return f"environment variable {name} is not set"
    return f"{name} {detail['msg'].removeprefix('Value error, ')}, got {detail.get('input')!r}"
