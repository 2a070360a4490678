"""The Lambda handler every processing function uses: one factory, one route each."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from voice_insights.heap import keep_out_of_full_collections, without_cycle_collection
from voice_insights.kinesis import handle_kinesis_batch, is_kinesis_event
from voice_insights.observability import Handler, logger, metrics, tracer
from voice_insights.pipeline import Pipeline
from voice_insights.routes import Route
from voice_insights.settings import ConfigurationError, Settings
from voice_insights.signature import CredentialSource
from voice_insights.store import RejectedEventStore, SummaryStore
from voice_insights.webhook import WebhookAuth, build_resolver, is_api_gateway_event


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
    def webhook_auth() -> WebhookAuth:
        settings = Settings.from_env()
        if not settings.webhook_secret_id:
            # Without a secret nothing can be checked, and nothing unchecked is accepted (503 via the error).
            raise ConfigurationError("WEBHOOK_SECRET_ARN is not set (see template.yaml)")
        return WebhookAuth(
            CredentialSource(settings.webhook_secret_id), settings.public_base_url, settings.max_body_bytes
        )

    resolver = build_resolver(route.name, pipeline, webhook_auth)
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
            return dict(resolver.resolve(event, context))
        raise ValueError("unsupported trigger: expected a Kinesis batch or an API Gateway proxy request")

    handler: Handler = lambda_handler
    return handler
