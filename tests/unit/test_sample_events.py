"""The sample events in events/ are generated from the fixtures and stay consistent with them."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
FIXTURES = ROOT / "tests" / "fixtures"

# function folder -> (fixture, expected CloudEvent type)
FOLDERS = {
    "conference_summary_complete": (
        "seeds/conference-summary-complete.json",
        "com.twilio.voice.insights.conference-summary.complete",
    ),
    "conference_summary_partial": (
        "seeds/conference-summary-partial.json",
        "com.twilio.voice.insights.conference-summary.partial",
    ),
    "participant_summary_complete": (
        "seeds/conference-participant-summary-complete.json",
        "com.twilio.voice.insights.conference-participant-summary.complete",
    ),
}
KINESIS_FILES = ["kinesis.json", "kinesis-string-data.json"]
WEBHOOK_FILES = ["webhook.json", "webhook-batch.json"]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_make_events_check_passes():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_events.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize("name", KINESIS_FILES)
def test_kinesis_record_decodes_to_fixture(folder, name):
    fixture_name, expected_type = FOLDERS[folder]
    fixture = _load(FIXTURES / fixture_name)
    records = _load(EVENTS / folder / name)["Records"]
    assert len(records) == 1
    record = records[0]
    assert record["eventSource"] == "aws:kinesis"
    assert record["eventID"].endswith(":" + record["kinesis"]["sequenceNumber"])

    event = json.loads(base64.b64decode(record["kinesis"]["data"], validate=True))
    assert event["type"] == expected_type == fixture["type"]
    data = event["data"]
    if name == "kinesis-string-data.json":
        assert isinstance(data, str)
    if isinstance(data, str):
        data = json.loads(data)
    assert data == fixture["data"]
    assert {k: v for k, v in event.items() if k != "data"} == {k: v for k, v in fixture.items() if k != "data"}


@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize("name", WEBHOOK_FILES)
def test_webhook_body_is_array_and_hash_matches(folder, name):
    fixture_name, expected_type = FOLDERS[folder]
    fixture = _load(FIXTURES / fixture_name)
    event = _load(EVENTS / folder / name)
    body = event["body"]
    assert event["isBase64Encoded"] is False
    events = json.loads(body)
    assert isinstance(events, list)
    assert events[0] == fixture
    assert all(e["type"] == expected_type for e in events)

    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    assert event["queryStringParameters"]["bodySHA256"] == digest
    assert event["multiValueQueryStringParameters"]["bodySHA256"] == [digest]

    if name == "webhook-batch.json":
        assert len(events) == 3
        assert events[1] == events[0]  # redelivery
        assert events[2]["id"] == fixture["id"][:-1] + "2"
        assert events[2] != events[0]
    else:
        assert len(events) == 1


@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize("name", WEBHOOK_FILES)
def test_webhook_samples_are_signed_as_twilio_signs_with_the_local_token(folder, name):
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
    from twilio.request_validator import RequestValidator

    from devtools.lambda_events import LOCAL_AUTH_TOKEN
    from voice_insights.ingest.signature import public_url

    event = APIGatewayProxyEvent(_load(EVENTS / folder / name))
    url = public_url(event)
    assert url.startswith("https://abc123defg.execute-api.us-east-1.amazonaws.com/v1/events/")
    assert RequestValidator(LOCAL_AUTH_TOKEN).validate(url, event.body, event.headers["X-Twilio-Signature"])
