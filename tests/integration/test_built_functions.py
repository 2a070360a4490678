"""Given the artifacts `sam build` produced, when each function runs under the Lambda Runtime Interface
Emulator with a file from events/ against the local endpoint, then it answers and stores as on AWS.

This is what tests the packaging: handler paths, the layer's contents and its requirements. The
interpreter is .venv-runtime's (awslambdaric + boto3 only), so nothing comes from the dev venv.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from devtools.cfn import function_environment, load_template
from devtools.lambda_events import LOCAL_AUTH_TOKEN, api_gateway_event, twilio_signature
from devtools.lambda_rie import BUILD_DIR, built_function
from devtools.moto_server import aws_env
from tests.conftest import load_seed
from tests.integration.conftest import ROOT, TEMPLATE, LocalStack

EVENTS = ROOT / "events"
PROCESSORS = {
    "ConferenceSummaryCompleteFunction": "conference_summary_complete",
    "ConferenceSummaryPartialFunction": "conference_summary_partial",
    "ParticipantSummaryCompleteFunction": "participant_summary_complete",
}


@pytest.fixture(scope="module", autouse=True)
def _require_build() -> None:
    if not (BUILD_DIR / "template.yaml").exists():
        pytest.fail("no .aws-sam/build: run `make build` (make test and make integration do it)")


def sample(path: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / path).read_text())
    return event


def emulator_env(stack: LocalStack, logical_id: str) -> dict[str, str]:
    template = load_template(TEMPLATE)
    return {**function_environment(template, logical_id, stack.resources), **aws_env(stack.endpoint_url)}


@pytest.mark.parametrize("logical_id", PROCESSORS)
def test_built_processor_stores_the_sample_events(stack: LocalStack, logical_id: str) -> None:
    folder = PROCESSORS[logical_id]
    with built_function(logical_id, emulator_env(stack, logical_id), load_template(BUILD_DIR / "template.yaml")) as fn:
        assert fn.invoke(sample(f"{folder}/kinesis.json")) == {"batchItemFailures": []}, fn.logs()
        assert len(stack.items()) == 1
        # The same event again, with data as a JSON string (Twilio's Kinesis sink), then via the webhook.
        assert fn.invoke(sample(f"{folder}/kinesis-string-data.json")) == {"batchItemFailures": []}
        answer = fn.invoke(sample(f"{folder}/webhook.json"))
        assert answer["statusCode"] == 200, answer
        assert json.loads(answer["body"])["duplicates"] == 1
        # The stored event twice and a newer one: the newer is stored; the two others are ignored
        # (as duplicates, or as stale when the newer one is of the same item and beats them in the batch).
        answer = fn.invoke(sample(f"{folder}/webhook-batch.json"))
        counts = json.loads(answer["body"])
        ignored = counts["duplicates"] + counts["stale"]
        assert (answer["statusCode"], counts["stored"], ignored, counts["rejected"]) == (200, 1, 2, 0), counts
    assert "Batch settled" in fn.logs()
    assert "+1234567890" not in fn.logs()  # no phone numbers in logs
    assert len(stack.items()) == (2 if folder == "participant_summary_complete" else 1)
    assert stack.rejected() == []


def test_built_unrouted_function_logs_test_events_and_keeps_the_rest(stack: LocalStack) -> None:
    logical_id = "UnroutedEventsFunction"
    with built_function(logical_id, emulator_env(stack, logical_id), load_template(BUILD_DIR / "template.yaml")) as fn:
        assert fn.invoke(sample("unrouted_events/kinesis-test-event.json")) == {"batchItemFailures": []}
        assert fn.invoke(sample("unrouted_events/kinesis-unknown-type.json")) == {"batchItemFailures": []}
    assert "Twilio sink test event received" in fn.logs()
    test_id = json.loads((ROOT / "tests/fixtures/sink-test-event.json").read_text())["data"]["test_id"]
    assert test_id in fn.logs()
    rejected = stack.rejected()
    assert len(rejected) == 2
    assert {r["raw"] for r in rejected if "raw" in r} >= {"not json at all"}
    assert stack.items() == []


def test_built_alert_function_alerts_on_the_sample_stream_events(stack: LocalStack) -> None:
    queue = stack.subscribe_queue("alerts", raw=True)
    logical_id = "QualityAlertsFunction"
    with built_function(logical_id, emulator_env(stack, logical_id), load_template(BUILD_DIR / "template.yaml")) as fn:
        for name in ("stream-participant-with-issues", "stream-conference-with-tags", "stream-modify-nothing-new"):
            assert fn.invoke(sample(f"quality_alerts/{name}.json")) == {"batchItemFailures": []}, fn.logs()
        # Lambda delivering the first batch again: the ledger keeps it from going out twice.
        assert fn.invoke(sample("quality_alerts/stream-participant-with-issues.json")) == {"batchItemFailures": []}
    alerts = [json.loads(message["Body"]) for message in stack.drain(queue)]
    assert sorted(alert["summary_type"] for alert in alerts) == ["conference", "participant"]
    assert all(alert["severity"] == "high" for alert in alerts)
    assert "Alert published" in fn.logs() and "Stream batch settled" in fn.logs()
    assert "+1234567890" not in fn.logs() and all("+1234567890" not in json.dumps(a) for a in alerts)


def test_built_lake_writer_sends_a_row_per_stored_version_to_firehose(stack: LocalStack) -> None:
    logical_id = "LakeWriterFunction"
    with built_function(logical_id, emulator_env(stack, logical_id), load_template(BUILD_DIR / "template.yaml")) as fn:
        for name in ("stream-participant-with-issues", "stream-conference-with-tags", "stream-modify-nothing-new"):
            assert fn.invoke(sample(f"quality_alerts/{name}.json")) == {"batchItemFailures": []}, fn.logs()
    assert "Lake batch settled" in fn.logs()
    objects = stack.s3.list_objects_v2(Bucket=stack.lake_bucket).get("Contents", [])
    body = b"".join(stack.s3.get_object(Bucket=stack.lake_bucket, Key=o["Key"])["Body"].read() for o in objects)
    rows = [json.loads(line) for line in body.splitlines()]  # moto's Firehose keeps the records as sent
    assert len(rows) == 3 and {row["dt"] for row in rows} and all(row["version"] for row in rows)
    assert b"+1234567890" not in body and "+1234567890" not in fn.logs()  # masked in the lake, never logged


MAX_BODY_BYTES = 20_000


def signed_cases(body: str) -> list[tuple[str, dict[str, Any], int]]:
    """(case, API Gateway event, expected status) for the signature checks the built function must make."""
    path = "/events/conference-summary-complete"
    tampered = api_gateway_event(path, body)
    tampered["body"] = body.replace("Weekly Standup Meeting", "Forged meeting")
    other_route = api_gateway_event(path, body)
    other_route["requestContext"]["path"] = "/v1/events/conference-summary-partial"  # signed for another URL
    too_large = json.dumps([json.loads(body)[0], {"padding": "x" * MAX_BODY_BYTES}])
    return [
        ("signed", api_gateway_event(path, body), 200),
        ("tampered body", tampered, 403),
        ("missing signature", api_gateway_event(path, body, auth_token=None), 403),
        ("wrong token", api_gateway_event(path, body, auth_token="wrong-token"), 403),
        ("secondary token", api_gateway_event(path, body, auth_token="rotated-in-token"), 200),
        ("other stage", api_gateway_event(path, body, stage="prod"), 200),
        ("extra query parameter", api_gateway_event(path, body, query={"tenant": "acme"}), 200),
        ("not JSON", api_gateway_event(path, body, headers={"Content-Type": "text/plain"}), 415),
        ("signed for another URL", other_route, 403),
        ("too large", api_gateway_event(path, too_large), 413),
    ]


def test_built_processor_checks_twilio_signatures(stack: LocalStack) -> None:
    stack.set_webhook_secret({"primary_auth_token": LOCAL_AUTH_TOKEN, "secondary_auth_token": "rotated-in-token"})
    logical_id = "ConferenceSummaryCompleteFunction"
    body = json.dumps([load_seed("conference_summary_complete")])
    cases = signed_cases(body)
    env = {**emulator_env(stack, logical_id), "WEBHOOK_MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with built_function(logical_id, env, load_template(BUILD_DIR / "template.yaml")) as fn:
        answers = {case: fn.invoke(event)["statusCode"] for case, event, _ in cases}
    assert answers == {case: status for case, _, status in cases}, fn.logs()
    assert len(stack.refused()) == sum(1 for _, _, status in cases if status != 200) and stack.rejected() == []
    assert "Forged meeting" not in fn.logs()  # refused requests are recorded, never logged


def test_built_processor_checks_a_custom_domain_against_the_configured_base_url(stack: LocalStack) -> None:
    logical_id = "ConferenceSummaryCompleteFunction"
    base = "https://hooks.example.com/twilio"
    env = {**emulator_env(stack, logical_id), "WEBHOOK_PUBLIC_BASE_URL": base}
    body = json.dumps([load_seed("conference_summary_complete")])
    path = "/events/conference-summary-complete"
    event = api_gateway_event(path, body, host="hooks.example.com", auth_token=None)
    url = f"{base}{path}?bodySHA256={event['queryStringParameters']['bodySHA256']}"
    event["headers"]["X-Twilio-Signature"] = twilio_signature(url, LOCAL_AUTH_TOKEN)
    with built_function(logical_id, env, load_template(BUILD_DIR / "template.yaml")) as fn:
        assert fn.invoke(event)["statusCode"] == 200, fn.logs()
        assert fn.invoke(api_gateway_event(path, body))["statusCode"] == 403  # signed for the API's own URL


def test_built_layer_is_self_contained() -> None:
    """The layer must carry every import the code needs: the runtime only has boto3 and awslambdaric."""
    layer = BUILD_DIR / "SharedLayer" / "python"
    packages = (
        "voice_insights",
        "aws_lambda_powertools",
        "pydantic",
        "pydantic_core",
        "aws_xray_sdk",
        "jsonpath_ng",
        "twilio",
    )
    for package in packages:
        assert (layer / package).is_dir(), f"{package} missing from the built layer"
    assert not any(Path(BUILD_DIR / name / "voice_insights").exists() for name in PROCESSORS)


def test_every_module_of_the_built_layer_ships_bytecode_valid_whatever_the_timestamps() -> None:
    # Lambda mounts the layer read-only: a .pyc checked against source timestamps would be compiled again at every
    # cold start (layers/voice_insights/Makefile). Flags 0b01 in the header: hash-based, not checked.
    package = Path(__file__).resolve().parents[2] / ".aws-sam" / "build" / "SharedLayer" / "python" / "voice_insights"
    modules = sorted(package.rglob("*.py"))
    assert len(modules) > 30
    for module in modules:
        (compiled,) = (module.parent / "__pycache__").glob(f"{module.stem}.cpython-313*.pyc")
        assert struct.unpack("<I", compiled.read_bytes()[4:8])[0] == 0b01, compiled
