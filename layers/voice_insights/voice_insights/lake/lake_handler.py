"""The lake writer's Lambda handler: the summaries table's stream in, lake rows out to Firehose."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from voice_insights.aws.lake import LakeDelivery
from voice_insights.aws.rejected import RejectedEventStore
from voice_insights.domain.lake_schema import CONFERENCE_TABLE, PARTICIPANT_TABLE
from voice_insights.lake.lake_writer import FUNCTION_NAME, LakeWriter, TableChange
from voice_insights.runtime.heap import keep_out_of_full_collections, without_cycle_collection
from voice_insights.runtime.observability import Handler, logger, metrics, tracer
from voice_insights.runtime.settings import LakeSettings
from voice_insights.runtime.stream_batch import StreamBatch, table_stream_batch


def make_lake_handler() -> Handler:
    @cache
    def lake_writer() -> LakeWriter:
        # Built on first use and kept for the life of the execution environment (clients are reused).
        settings = LakeSettings.from_env()
        streams = {CONFERENCE_TABLE: settings.conference_stream, PARTICIPANT_TABLE: settings.participant_stream}
        built = LakeWriter(settings.thresholds, LakeDelivery(streams), RejectedEventStore(settings.rejected_bucket))
        keep_out_of_full_collections()
        return built

    metrics.set_default_dimensions(function=FUNCTION_NAME)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @without_cycle_collection
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        batch: StreamBatch[dict[str, Any], TableChange] = table_stream_batch(event)
        changes = batch.prepare(TableChange.from_stream_record)
        time_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
        settled = lake_writer().process(changes, time_left).settled() if changes else []
        return batch.answer(settled)

    handler: Handler = lambda_handler
    return handler
