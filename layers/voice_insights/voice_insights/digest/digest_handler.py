"""The digest function's handler: EventBridge Scheduler's input (``{"kind": "daily"}`` or ``"weekly"``) in, the
digest of the history lake to the alert topic and chat out (docs/alerts.md, The digest)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, cast

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from voice_insights.alerts.chat_message import ChatMessage
from voice_insights.aws.clients import describe_error, make_client
from voice_insights.aws.lake_queries import AthenaLake, Lake
from voice_insights.digest.digest import (
    DigestMessage,
    DigestPayload,
    Kind,
    build_digest,
    questions,
    render,
    render_chat,
    window_for,
)
from voice_insights.runtime.observability import Handler, logger, metrics, tracer
from voice_insights.runtime.settings import Environment

FUNCTION_NAME = "quality_digest"
DIGESTS_SENT_METRIC = "DigestsSent"
DIGESTS_FAILED_METRIC = "DigestsFailed"
# Time kept back from the function's timeout for building and publishing once the queries are answered.
RESERVE_SECONDS = 10.0


class DigestSettings(Environment):
    topic_arn: str = Field(alias="ALERT_TOPIC_ARN", min_length=1)
    chat_topic_arn: str = Field("", alias="ALERT_CHAT_TOPIC_ARN")
    read_api_url: str = Field("", alias="READ_API_URL")  # the stack's ReadApiUrl output: .../v1
    workgroup: str = Field(alias="ATHENA_WORKGROUP", min_length=1)
    database: str = Field(alias="LAKE_DATABASE", min_length=1)
    kpis_query: str = Field(alias="LAKE_QUERY_KPIS", min_length=1)  # NamedQueryId
    worst_conferences_query: str = Field(alias="LAKE_QUERY_WORST_CONFERENCES", min_length=1)


class Topics:
    """The alert topic (text and JSON, as alerts) and, when configured, the chat topic."""

    def __init__(self, client: Any, topic_arn: str, chat_topic_arn: str = "") -> None:
        self.client, self.topic_arn, self.chat_topic_arn = client, topic_arn, chat_topic_arn

    def publish(self, message: DigestMessage, chat: ChatMessage) -> None:
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=message.subject,
            Message=message.message,
            MessageStructure="json",
            MessageAttributes=message.attributes,
        )
        if self.chat_topic_arn:
            self.client.publish(TopicArn=self.chat_topic_arn, Subject=chat.subject, Message=chat.message)


def send_digest(kind: Kind, today: date, lake: Lake, topics: Topics, read_api_url: str = "") -> DigestPayload:
    window = window_for(kind, today)
    digest = build_digest(window, lake.ask(questions(window)), read_api_url)
    topics.publish(render(digest), render_chat(digest))
    return digest


def handle(
    event: Any, time_left: Callable[[], float], lake: Lake, topics: Topics, read_api_url: str, today: date
) -> dict[str, Any]:
    """One digest; never raises: a wrong input or a failed query is answered, logged and counted."""
    kind = event.get("kind") if isinstance(event, dict) else None
    if kind not in ("daily", "weekly"):
        logger.error('Digest input not understood: expected {"kind": "daily"} or "weekly"', kind=str(kind)[:40])
        metrics.add_metric(name=DIGESTS_FAILED_METRIC, unit=MetricUnit.Count, value=1)
        return {"sent": False, "reason": "kind must be daily or weekly"}
    try:
        digest = send_digest(cast(Kind, kind), today, lake, topics, read_api_url)
    except Exception as error:  # the lake or SNS: reported, counted (DigestFailedAlarm), the next run tries again
        logger.exception("Digest not sent", kind=kind)
        metrics.add_metric(name=DIGESTS_FAILED_METRIC, unit=MetricUnit.Count, value=1)
        return {"sent": False, "reason": describe_error(error)}
    metrics.add_metric(name=DIGESTS_SENT_METRIC, unit=MetricUnit.Count, value=1)
    logger.info("Digest sent", digest_id=digest.digest_id, participants=digest.volume.participants)
    return {"sent": True, "digest_id": digest.digest_id}


def make_digest_handler(clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Handler:
    @cache
    def parts() -> tuple[DigestSettings, Topics]:
        settings = DigestSettings.from_env()
        return settings, Topics(make_client("sns"), settings.topic_arn, settings.chat_topic_arn)

    metrics.set_default_dimensions(function=FUNCTION_NAME)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        settings, topics = parts()
        time_left = lambda: context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS  # noqa: E731
        named = {"kpis": settings.kpis_query, "worst_conferences": settings.worst_conferences_query}
        lake = AthenaLake(make_client("athena"), settings.workgroup, settings.database, named, time_left)
        return handle(event, time_left, lake, topics, settings.read_api_url, clock().date())

    handler: Handler = lambda_handler
    return handler
