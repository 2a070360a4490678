"""The alert function's Lambda handler: the summaries table's stream in, SNS alerts out."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from voice_insights.alerts.alerting import FUNCTION_NAME, AlertPipeline, ItemChange
from voice_insights.aws.alert_store import AlertLedger, AlertPublisher, ChatPublisher, ConferenceNames
from voice_insights.aws.clients import make_client
from voice_insights.aws.rejected import RejectedEventStore
from voice_insights.runtime.heap import keep_out_of_full_collections, without_cycle_collection
from voice_insights.runtime.observability import Handler, logger, metrics, tracer
from voice_insights.runtime.settings import AlertSettings
from voice_insights.runtime.stream_batch import StreamBatch, table_stream_batch


def make_alert_handler() -> Handler:
    @cache
    def alert_pipeline() -> AlertPipeline:
        # Built on first use and kept for the life of the execution environment (clients are reused).
        settings = AlertSettings.from_env()
        dynamodb = make_client("dynamodb")
        built = AlertPipeline(
            settings.thresholds,
            AlertLedger(settings.ledger_table_name, dynamodb),
            ConferenceNames(settings.summaries_table_name, dynamodb),
            AlertPublisher(settings.topic_arn),
            RejectedEventStore(settings.rejected_bucket),
            retention_days=settings.retention_days,
            chat=ChatPublisher(settings.chat_topic_arn) if settings.chat_topic_arn else None,
        )
        keep_out_of_full_collections()
        return built

    metrics.set_default_dimensions(function=FUNCTION_NAME)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @without_cycle_collection
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        batch: StreamBatch[dict[str, Any], ItemChange] = table_stream_batch(event)
        changes = batch.prepare(ItemChange.from_stream_record)
        time_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
        settled = alert_pipeline().process(changes, time_left=time_left).settled() if changes else []
        return batch.answer(settled)

    handler: Handler = lambda_handler
    return handler
