"""Configuration, read once from the environment the template sets."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from voice_insights.domain.quality import Thresholds


class ConfigurationError(RuntimeError):
    pass


# API Gateway hands Lambda at most 6 MB (Lambda's synchronous payload limit).
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
# Twilio documents no batch size; this bounds one request's work well inside Twilio's 5 s response timeout
# (Event Streams webhook quickstart) and API Gateway's 29 s integration timeout.
DEFAULT_MAX_WEBHOOK_EVENTS = 1000

# Local runs only (`sam local invoke`/`start-api`, README "Try one function with `sam local invoke`"): the AWS
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


@dataclass(frozen=True)
class Settings:
    table_name: str
    rejected_bucket: str
    retention_days: int = 0
    thresholds: Thresholds = field(default_factory=Thresholds)
    webhook_secret_id: str = ""
    public_base_url: str = ""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_webhook_events: int = DEFAULT_MAX_WEBHOOK_EVENTS

    @classmethod
    def from_env(cls) -> Settings:
        try:
            return cls(
                table_name=os.environ["SUMMARIES_TABLE_NAME"],
                rejected_bucket=os.environ["REJECTED_BUCKET_NAME"],
                retention_days=int(os.environ.get("RETENTION_DAYS", "0") or 0),
                thresholds=Thresholds.from_env(),
                webhook_secret_id=os.environ.get("WEBHOOK_SECRET_ARN", ""),
                public_base_url=os.environ.get("WEBHOOK_PUBLIC_BASE_URL", ""),
                max_body_bytes=int(os.environ.get("WEBHOOK_MAX_BODY_BYTES", "") or DEFAULT_MAX_BODY_BYTES),
                max_webhook_events=int(os.environ.get("WEBHOOK_MAX_EVENTS", "") or DEFAULT_MAX_WEBHOOK_EVENTS),
            )
        except KeyError as missing:
            raise ConfigurationError(f"environment variable {missing} is not set (see template.yaml)") from None


@dataclass(frozen=True)
class AlertSettings:
    topic_arn: str
    ledger_table_name: str
    summaries_table_name: str
    rejected_bucket: str
    thresholds: Thresholds
    retention_days: int = 0

    @classmethod
    def from_env(cls) -> AlertSettings:
        try:
            return cls(
                topic_arn=os.environ["ALERT_TOPIC_ARN"],
                ledger_table_name=os.environ["ALERT_LEDGER_TABLE_NAME"],
                summaries_table_name=os.environ["SUMMARIES_TABLE_NAME"],
                rejected_bucket=os.environ["REJECTED_BUCKET_NAME"],
                thresholds=Thresholds.from_env(),
                retention_days=int(os.environ.get("RETENTION_DAYS", "0") or 0),
            )
        except KeyError as missing:
            raise ConfigurationError(f"environment variable {missing} is not set (see template.yaml)") from None
