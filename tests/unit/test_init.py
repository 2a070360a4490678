"""Given a function's module imported as Lambda imports it (tracing on), then its init loads only what the
function uses: cold starts pay for every module loaded."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

LOADED = """
import sys, runpy
runpy.run_path({app!r})
print(sorted(m for m in {modules!r} if m in sys.modules))
"""


# Powertools' batch utility imports every Powertools event class, and every parser model (dozens of
# pydantic models, 45-55 ms) when pydantic is already loaded; every function reads stream records as
# they come (dicts) and needs neither. The processors load the webhook's code (API Gateway resolver and
# event classes, twilio's validator, the Secrets Manager provider) on their first webhook request only.
PT = "aws_lambda_powertools.utilities"
WEBHOOK_ONLY = ("aws_lambda_powertools.event_handler", f"{PT}.parameters", "twilio", "voice_insights.ingest.webhook")
UNUSED = {
    "participant_summary_complete": (f"{PT}.parser.models", f"{PT}.batch", f"{PT}.data_classes", *WEBHOOK_ONLY),
    "quality_alerts": (f"{PT}.parser.models", f"{PT}.batch", f"{PT}.data_classes", *WEBHOOK_ONLY),
}


@pytest.mark.parametrize("function", UNUSED)
def test_init_does_not_import_powertools_utilities_the_function_does_not_use(function: str, tmp_path: object) -> None:
    script = LOADED.format(app=str(ROOT / "functions" / function / "app.py"), modules=UNUSED[function])
    assert run_as_on_lambda(script, tmp_path) == "[]"


TRACED_MODULES = """
import sys
import voice_insights.ingest.handler
from aws_xray_sdk.core.patcher import _PATCHED_MODULES
print(sorted(_PATCHED_MODULES))
print(sorted(m for m in ("requests", "sqlite3") if m in sys.modules))
"""


def test_the_tracer_patches_the_aws_sdk_only(tmp_path: object) -> None:
    # X-Ray's default patch_all would also import and patch requests (which twilio brings, unused
    # here) and sqlite3: 24 ms of init.
    patched, imported = run_as_on_lambda(TRACED_MODULES, tmp_path).splitlines()
    assert patched == "['botocore']"
    assert imported == "[]"


FROZEN_AFTER_FIRST_BATCH = """
import base64, gc, json, runpy, types
from voice_insights.alerts.alerting import AlertPipeline
from voice_insights.ingest.pipeline import Pipeline
handler = runpy.run_path({app!r})["lambda_handler"]
context = types.SimpleNamespace(function_name="test", memory_limit_in_mb=1024, aws_request_id="r1",
                                invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:test")
collector_running = []
for pipeline in (Pipeline, AlertPipeline):
    def process(self, *args, _process=pipeline.process, **kwargs):
        collector_running.append(gc.isenabled())
        return _process(self, *args, **kwargs)
    pipeline.process = process
before = gc.get_freeze_count()
answer = handler({{"Records": [{record}]}}, context)
assert answer == {{"batchItemFailures": []}}, answer
print(before, gc.get_freeze_count() > 0, collector_running, gc.isenabled())
"""
# Neither batch makes an AWS request: Twilio's sink test event is only logged, a REMOVE never alerts.
SINK_TEST = {"specversion": "1.0", "type": "com.twilio.eventstreams.test-event", "source": "Sink", "id": "EZ1",
             "data": {"test_id": "T1"}}  # fmt: skip
FIRST_BATCH = {
    "participant_summary_complete": {
        "eventSource": "aws:kinesis",
        "eventID": "shardId-000000000000:1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/twilio-events",
        "kinesis": {
            "data": base64.b64encode(json.dumps(SINK_TEST).encode()).decode(),
            "sequenceNumber": "1",
            "partitionKey": "EZ1",
            "approximateArrivalTimestamp": 1795278064.6,
        },
    },
    "quality_alerts": {
        "eventSource": "aws:dynamodb",
        "eventName": "REMOVE",
        "dynamodb": {"Keys": {"pk": {"S": "CONF#CF1"}, "sk": {"S": "SUMMARY"}}, "SequenceNumber": "1"},
    },
}


@pytest.mark.parametrize("function", FIRST_BATCH)
def test_objects_built_before_the_first_batch_are_out_of_the_collectors_reach(function: str, tmp_path: object) -> None:
    # Modules, models and clients live as long as the execution environment; a full collection that
    # walks them all costs 40-50 ms of CPU, every few batches (make bench).
    script = FROZEN_AFTER_FIRST_BATCH.format(
        app=str(ROOT / "functions" / function / "app.py"), record=repr(FIRST_BATCH[function])
    )
    # And the collector is paused while the batch runs (reference counting frees its objects), then resumed.
    assert run_as_on_lambda(script, tmp_path).splitlines()[-1] == "0 True [False] True"


WEBHOOK_LOADED_ON_DEMAND = """
import runpy, sys, types
handler = runpy.run_path({app!r})["lambda_handler"]
context = types.SimpleNamespace(function_name="test", memory_limit_in_mb=1024, aws_request_id="r1",
                                invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:test")
assert handler({{"Records": [{record}]}}, context) == {{"batchItemFailures": []}}
print("voice_insights.ingest.webhook" in sys.modules)
request = {{"httpMethod": "GET", "path": "/nothing-here", "resource": "/{{proxy+}}", "headers": {{}},
           "requestContext": {{"requestId": "q1", "stage": "Prod"}}, "body": None, "isBase64Encoded": False}}
print(handler(request, context)["statusCode"], "voice_insights.ingest.webhook" in sys.modules)
"""


def test_the_webhook_code_is_loaded_by_the_first_webhook_request_not_by_a_kinesis_batch(tmp_path: object) -> None:
    function = "participant_summary_complete"
    script = WEBHOOK_LOADED_ON_DEMAND.format(
        app=str(ROOT / "functions" / function / "app.py"), record=repr(FIRST_BATCH[function])
    )
    assert run_as_on_lambda(script, tmp_path).splitlines()[-2:] == ["False", "404 True"]


def run_as_on_lambda(script: str, task_root: object) -> str:
    """``script``'s output in a fresh interpreter with the layer, in a Lambda-like environment, tracing on."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        check=True,
        text=True,
        env={
            "PYTHONPATH": str(ROOT / "layers" / "voice_insights"),
            "LAMBDA_TASK_ROOT": str(task_root),
            "AWS_LAMBDA_FUNCTION_NAME": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "voice-insights-events",
            "POWERTOOLS_METRICS_NAMESPACE": "VoiceInsightsEvents",
            "SUMMARIES_TABLE_NAME": "summaries",
            "REJECTED_BUCKET_NAME": "rejected",
            "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
            "ALERT_LEDGER_TABLE_NAME": "ledger",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        },
    )
    return done.stdout.strip()
