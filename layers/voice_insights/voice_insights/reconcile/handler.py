"""The scheduled reconcile's Lambda handler (template: ReconcileFunction, invoked by EventBridge Scheduler through
its alias): one window, one Twilio request at a time, stopped before the function's timeout, alerts off for what it
fills (as `make backfill`'s default). ``EventsFilledByReconcile`` counts the events the stream had lost."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from voice_insights.aws.rejected import RejectedEventStore
from voice_insights.aws.summaries import SummaryStore
from voice_insights.aws.twilio_api_secret import TwilioApiSecret
from voice_insights.reconcile.feeding import Feeder
from voice_insights.reconcile.insights import InsightsReader
from voice_insights.reconcile.scheduled import (
    RunResult,
    budgeted_sleep,
    reconcile_window,
    scheduled_moment,
    window_before,
)
from voice_insights.reconcile.twilio_http import check_base_url, retrying_client
from voice_insights.runtime.observability import Handler, logger, metrics, tracer
from voice_insights.runtime.settings import ReconcileSettings

FUNCTION_NAME = "reconcile"
FILLED_METRIC = "EventsFilledByReconcile"  # EventsFilledByReconcileAlarm
CUT_SHORT_METRIC = "ReconcileRunsCutShort"  # a run that ran out of time (the next run's window covers the rest)
# Left of the function's Timeout when the run stops reading: one Twilio request (30 s timeout) and a page's writes.
BUDGET_MARGIN_S = 60.0


@dataclass(frozen=True)
class Parts:
    settings: ReconcileSettings
    summaries: SummaryStore
    feeder: Feeder
    secret: TwilioApiSecret


def make_reconcile_handler() -> Handler:
    @cache
    def parts() -> Parts:
        # Built on first use and kept for the life of the execution environment (clients are reused).
        settings = ReconcileSettings.from_env()
        summaries = SummaryStore(settings.table_name)
        rejected = RejectedEventStore(settings.rejected_bucket)
        feeder = Feeder(summaries, rejected, settings.retention_days, settings.thresholds, keep_metrics=True)
        return Parts(settings, summaries, feeder, TwilioApiSecret(settings.twilio_secret_id))

    metrics.set_default_dimensions(function=FUNCTION_NAME)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        built = parts()
        settings = built.settings
        deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - BUDGET_MARGIN_S
        window = window_before(scheduled_moment(event), settings.lag_minutes, settings.window_hours)
        result = RunResult(window)
        credentials = built.secret.get()
        base_url = check_base_url(settings.twilio_base_url, "TWILIO_API_BASE_URL") if settings.twilio_base_url else None
        client = retrying_client(
            credentials.username, credentials.password, credentials.account_sid, base_url, budgeted_sleep(deadline)
        )
        reader = InsightsReader(client, max_seconds=max(deadline - time.monotonic(), 0.0))
        try:
            reconcile_window(reader, built.summaries, built.feeder, result)
        except Exception:  # what was filled before is counted; the run fails (ReconcileErrorsAlarm)
            logger.exception("Reconcile run failed", **publish(result, client))
            raise
        answer = publish(result, client)
        if result.filled:
            logger.warning("Reconcile filled events the stream lost", **answer)
        elif result.stopped:
            logger.warning("Reconcile run cut short by its time budget", **answer)
        else:
            logger.info("Reconcile run settled", **answer)
        return answer

    handler: Handler = lambda_handler
    return handler


def publish(result: RunResult, client: Any) -> dict[str, Any]:
    """The run's metrics, and its summary (what the invocation answers and logs)."""
    metrics.add_metric(name=FILLED_METRIC, unit=MetricUnit.Count, value=result.filled)
    metrics.add_metric(name=CUT_SHORT_METRIC, unit=MetricUnit.Count, value=1 if result.stopped else 0)
    return {**result.as_dict(), "twilio_requests": getattr(client.http_client, "requests", 0)}
