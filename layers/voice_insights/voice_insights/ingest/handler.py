"""The Lambda handler every processing function uses: one factory, one route each."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from voice_insights.aws.rejected import RejectedEventStore
from voice_insights.aws.summaries import SummaryStore
from voice_insights.ingest.kinesis import handle_kinesis_batch, is_kinesis_event
from voice_insights.ingest.pipeline import Pipeline
from voice_insights.ingest.routes import Route
from voice_insights.runtime.heap import keep_out_of_full_collections, without_cycle_collection
from voice_insights.runtime.observability import Handler, logger, metrics, tracer
from voice_insights.runtime.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver


def make_handler(route: Route) -> Handler:
    """A Lambda handler for ``route`` that serves its Kinesis trigger and its webhook route."""

    @cache
    def pipeline() -> Pipeline:
        # Built on first use and kept for the life of the execution environment (clients are reused).
        settings = Settings.from_env()
        built = Pipeline(
            route,
            SummaryStore(settings.table_name),
            RejectedEventStore(settings.rejected_bucket),
            retention_days=settings.retention_days,
            thresholds=settings.thresholds,
        )
        keep_out_of_full_collections()
        return built

    @cache
    def webhook() -> APIGatewayRestResolver:
        # Imported by the first webhook request: a Kinesis-fed environment's cold start never loads the webhook's code.
        from voice_insights.ingest.webhook import build_resolver

        return build_resolver(route.name, pipeline)

    metrics.set_default_dimensions(function=route.name)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @without_cycle_collection
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
        if is_kinesis_event(event):
            return handle_kinesis_batch(event, pipeline())
        if is_api_gateway_event(event):
            logger.set_correlation_id(event["requestContext"].get("requestId"))
            return dict(webhook().resolve(event, context))
        raise ValueError("unsupported trigger: expected a Kinesis batch or an API Gateway proxy request")

    handler: Handler = lambda_handler
    return handler


def is_api_gateway_event(event: dict[str, Any]) -> bool:
    return "httpMethod" in event and "requestContext" in event
