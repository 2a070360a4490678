#!/usr/bin/env python3
"""Generate the sample events in events/ from the fixtures in tests/fixtures/.

    python3 scripts/make_events.py          # (re)write events/
    python3 scripts/make_events.py --check  # exit 1 if events/ differs from what would be written

Python >= 3.11. The table-stream events of the alert function hold items built by the layer's own
``to_item`` (so they are exactly what the processors store): that part needs the layer's
requirements (pydantic), as installed in .venv. The output is fully deterministic: every
"random-looking" value (sequence numbers, request ids, tokens) is derived from a
SHA-256 of a fixed label, and every timestamp is a constant.
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime as dt
import hashlib
import json
import sys
import uuid
from pathlib import Path

# --------------------------------------------------------------------------- #
# Configuration: function folders, their fixtures and webhook routes.
# --------------------------------------------------------------------------- #
FUNCTIONS: dict[str, dict[str, str]] = {
    "conference_summary_complete": {
        "fixture": "seeds/conference-summary-complete.json",
        "route": "/events/conference-summary-complete",
        "partition_key_field": "conference_sid",
        "logical_id": "ConferenceSummaryCompleteFunction",
    },
    "conference_summary_partial": {
        "fixture": "seeds/conference-summary-partial.json",
        "route": "/events/conference-summary-partial",
        "partition_key_field": "conference_sid",
        "logical_id": "ConferenceSummaryPartialFunction",
    },
    "participant_summary_complete": {
        "fixture": "seeds/conference-participant-summary-complete.json",
        "route": "/events/participant-summary-complete",
        "partition_key_field": "call_sid",
        "logical_id": "ParticipantSummaryCompleteFunction",
    },
}
UNROUTED_FOLDER = "unrouted_events"
UNROUTED_LOGICAL_ID = "UnroutedEventsFunction"
SINK_TEST_FIXTURE = "sink-test-event.json"
ALERTS_FOLDER = "quality_alerts"
ALERTS_LOGICAL_ID = "QualityAlertsFunction"
ALERT_ENV_VARS: dict[str, str] = {
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:voice-insights-alerts",
    "ALERT_LEDGER_TABLE_NAME": "voice-insights-alert-ledger",
}

# `sam local invoke/start-api --env-vars events/env.json`: sam local applies only variables the template
# declares, so this holds only those: every resource name (what `make local-aws` creates under these names)
# and LOCAL_AWS_ENDPOINT_URL, the local endpoint as a container reaches it (docs/running-locally.md, "Try one
# function with
# `sam local invoke`"). Everything else is the template's own value.
ENV_VARS: dict[str, str] = {
    "SUMMARIES_TABLE_NAME": "voice-insights-summaries",
    "REJECTED_BUCKET_NAME": "voice-insights-rejected-events",
    "WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:voice-insights-twilio-webhook",
    "LOCAL_AWS_ENDPOINT_URL": "http://host.docker.internal:5000",
}

READ_CURSOR_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/voice-insights-read-cursor"
LAKE_ENV_VARS = {
    "LAKE_CONFERENCE_STREAM_NAME": "voice-insights-lake-conference-summaries",
    "LAKE_PARTICIPANT_STREAM_NAME": "voice-insights-lake-participant-summaries",
}
DIGEST_ENV_VARS = {
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:voice-insights-alerts",
    "ATHENA_WORKGROUP": "voice-insights-lake",
    "LAKE_DATABASE": "voice_insights_lake",
    # NamedQuery ids (Athena gives them); under sam local the logical id would stand there instead
    "LAKE_QUERY_KPIS": "00000000-0000-0000-0000-00000000a001",
    "LAKE_QUERY_WORST_CONFERENCES": "00000000-0000-0000-0000-00000000a002",
}
TWILIO_API_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:voice-insights-twilio-api"  # noqa: S105 (a name)

# Fake AWS / API Gateway coordinates.
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/voice-insights-events"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/voice-insights-events-role"
SHARD_ID = "shardId-000000000000"
API_ID = "abc123defg"
API_HOST = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
STAGE = "v1"
SOURCE_IP = "35.90.102.130"  # inside Twilio's webhook range 35.90.102.128/25
USER_AGENT = "Twilio-Event-Streams/1.0"

# 2025-10-08T07:17:02.363Z: the instant the seed samples carry (in datacontenttype).
ARRIVAL_EPOCH_MS = 1759907822363
BASE_EVENT_TIME = dt.datetime.fromtimestamp(ARRIVAL_EPOCH_MS / 1000, dt.UTC)

TABLE_STREAM_ARN = (
    f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/voice-insights-summaries/stream/2025-10-08T07:00:00.000"
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES_DIR = ROOT / "tests" / "fixtures"
EVENTS_DIR = ROOT / "events"


# --------------------------------------------------------------------------- #
# Deterministic helpers
# --------------------------------------------------------------------------- #
def _digest(label: str) -> bytes:
    return hashlib.sha256(label.encode("utf-8")).digest()


def sequence_number(label: str) -> str:
    """A 56-digit Kinesis-style sequence number ("4959..."), derived from label."""
    n = int.from_bytes(_digest("seq:" + label), "big") % 10**52
    return "4959" + f"{n:052d}"


def uuid_like(label: str) -> str:
    return str(uuid.UUID(bytes=_digest("uuid:" + label)[:16], version=4))


def signature(url: str) -> str:
    """X-Twilio-Signature as Twilio computes it, with the local auth token (see devtools.lambda_events)."""
    sys.path.insert(0, str(ROOT))
    from devtools.lambda_events import LOCAL_AUTH_TOKEN, twilio_signature

    return twilio_signature(url, LOCAL_AUTH_TOKEN)


def compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def pretty(obj: object) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def iso_millis(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def load_fixture(rel: str) -> dict:
    return json.loads((FIXTURES_DIR / rel).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- #
# Event builders
# --------------------------------------------------------------------------- #
def kinesis_record(payload: bytes, partition_key: str, label: str) -> dict:
    seq = sequence_number(label)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": seq,
            "data": base64.b64encode(payload).decode("ascii"),
            "approximateArrivalTimestamp": ARRIVAL_EPOCH_MS / 1000,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD_ID}:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": ROLE_ARN,
        "awsRegion": REGION,
        "eventSourceARN": STREAM_ARN,
    }


def cloudevent_record(event: dict, partition_key: str, label: str) -> dict:
    return kinesis_record(compact(event).encode("utf-8"), partition_key, label)


def with_string_data(event: dict) -> dict:
    """The CloudEvent as Twilio's Kinesis sink writes it: `data` is a JSON-encoded string."""
    out = copy.deepcopy(event)
    out["data"] = json.dumps(event["data"])
    return out


def webhook_event(route: str, events: list[dict], label: str) -> dict:
    body = compact(events)
    body_sha = hashlib.sha256(body.encode("utf-8")).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "Host": API_HOST,
        "I-Twilio-Idempotency-Token": hashlib.sha256(("idem:" + label).encode()).hexdigest()[:32],
        "User-Agent": USER_AGENT,
        "X-Twilio-Signature": signature(f"https://{API_HOST}/{STAGE}{route}?bodySHA256={body_sha}"),
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443",
    }
    return {
        "resource": route,
        "path": route,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {"bodySHA256": body_sha},
        "multiValueQueryStringParameters": {"bodySHA256": [body_sha]},
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route,
            "httpMethod": "POST",
            "path": f"/{STAGE}{route}",
            "stage": STAGE,
            "domainName": API_HOST,
            "apiId": API_ID,
            "requestId": uuid_like(label),
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": SOURCE_IP, "userAgent": USER_AGENT},
            "requestTimeEpoch": ARRIVAL_EPOCH_MS,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _bump_sid(sid: str) -> str:
    return sid[:-4] + "0002"


def variant_of(event: dict) -> dict:
    """A distinct event for the batch: id ends in "2"; participant -> other participant/call,
    conference -> `time` one minute later than the original (or than the seed instant)."""
    out = copy.deepcopy(event)
    out["id"] = event["id"][:-1] + "2"
    data = out["data"]
    if "participant_sid" in data or "call_sid" in data:
        for key in ("participant_sid", "call_sid"):
            if key in data:
                data[key] = _bump_sid(data[key])
    else:
        base = parse_time(event["time"]) if "time" in event else BASE_EVENT_TIME
        out["time"] = iso_millis(base + dt.timedelta(minutes=1))
    return out


def unknown_type_event() -> dict:
    return {
        "specversion": "1.0",
        "type": "com.twilio.voice.insights.call-summary.complete",
        "source": "AB00000000000000000000000001",
        "id": "NO00000000000000000000000009",
        "dataschema": "https://events-schemas.twilio.com/VoiceInsights.CallSummary/1",
        "datacontenttype": "application/json",
        "time": iso_millis(BASE_EVENT_TIME),
        "data": {
            "call_sid": "CA0000000000000000000000000000009",
            "account_sid": "AC0000000000000000000000000000001",
            "call_type": "carrier",
            "call_state": "completed",
            "duration": 42,
            "processing_state": "complete",
        },
    }


def stored_image(event: dict) -> dict:
    """The DynamoDB item (low-level attribute values) the processors store for ``event``."""
    sys.path.insert(0, str(ROOT / "layers" / "voice_insights"))
    from pydantic import TypeAdapter

    from voice_insights.domain.items import to_item
    from voice_insights.ingest.routes import SUMMARY_ROUTES

    model = next(route.model for route in SUMMARY_ROUTES if event["type"] in route.event_types)
    parsed = TypeAdapter(model).validate_python(event)
    # Lambda's stream events carry binary values base64-encoded.
    return {
        name: {"B": base64.b64encode(value["B"]).decode()} if "B" in value else value
        for name, value in to_item(parsed, BASE_EVENT_TIME).attributes.items()
    }


def table_stream_record(new: dict, old: dict | None, label: str) -> dict:
    """One record of the summaries table's stream, as Lambda delivers it (NEW_AND_OLD_IMAGES)."""
    new_image = stored_image(new)
    body: dict = {
        "ApproximateCreationDateTime": ARRIVAL_EPOCH_MS // 1000,
        "Keys": {"pk": new_image["pk"], "sk": new_image["sk"]},
        "NewImage": new_image,
    }
    if old is not None:
        body["OldImage"] = stored_image(old)
    body["SequenceNumber"] = sequence_number(label)[:21]
    body["SizeBytes"] = len(compact(body))
    body["StreamViewType"] = "NEW_AND_OLD_IMAGES"
    return {
        "eventID": uuid_like(label).replace("-", ""),
        "eventName": "INSERT" if old is None else "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": body,
        "eventSourceARN": TABLE_STREAM_ARN,
    }


def alert_events() -> dict[str, str]:
    participant = load_fixture("seeds/conference-participant-summary-complete.json")
    partial = load_fixture("seeds/conference-summary-partial.json")
    complete = load_fixture("seeds/conference-summary-complete.json")
    later_complete = {**complete, "id": complete["id"][:-1] + "2"}
    records = {
        # The seed participant: low MOS, jitter, 'silent' and Twilio's tags_info both ways.
        "stream-participant-with-issues.json": [table_stream_record(participant, None, "alerts/participant")],
        # The seed conference: tags, tag_info (duplicate identity, start failure), detected issues.
        "stream-conference-with-tags.json": [table_stream_record(complete, None, "alerts/conference")],
        # The complete summary replacing its partial with the same issues: nothing new, no alert.
        "stream-modify-nothing-new.json": [table_stream_record(later_complete, partial, "alerts/modify")],
    }
    return {f"{ALERTS_FOLDER}/{name}": pretty({"Records": batch}) for name, batch in records.items()}


# --------------------------------------------------------------------------- #
# Assemble everything
# --------------------------------------------------------------------------- #
def build() -> dict[str, str]:
    """Return {path relative to events/: file text}."""
    files: dict[str, str] = {}
    for folder, cfg in FUNCTIONS.items():
        event = load_fixture(cfg["fixture"])
        pkey = event["data"][cfg["partition_key_field"]]
        route = cfg["route"]
        files[f"{folder}/kinesis.json"] = pretty({"Records": [cloudevent_record(event, pkey, f"{folder}/kinesis")]})
        files[f"{folder}/kinesis-string-data.json"] = pretty(
            {"Records": [cloudevent_record(with_string_data(event), pkey, f"{folder}/kinesis-string-data")]}
        )
        files[f"{folder}/webhook.json"] = pretty(webhook_event(route, [event], f"{folder}/webhook"))
        batch = [event, copy.deepcopy(event), variant_of(event)]
        files[f"{folder}/webhook-batch.json"] = pretty(webhook_event(route, batch, f"{folder}/webhook-batch"))

    test_event = load_fixture(SINK_TEST_FIXTURE)
    files[f"{UNROUTED_FOLDER}/kinesis-test-event.json"] = pretty(
        {"Records": [cloudevent_record(test_event, test_event["id"], f"{UNROUTED_FOLDER}/test-event")]}
    )
    unknown = unknown_type_event()
    files[f"{UNROUTED_FOLDER}/kinesis-unknown-type.json"] = pretty(
        {
            "Records": [
                cloudevent_record(unknown, unknown["data"]["call_sid"], f"{UNROUTED_FOLDER}/unknown-type"),
                kinesis_record(b"not json at all", "not-json", f"{UNROUTED_FOLDER}/not-json"),
            ]
        }
    )

    files.update(alert_events())

    logical_ids = [cfg["logical_id"] for cfg in FUNCTIONS.values()] + [UNROUTED_LOGICAL_ID]
    env = {lid: dict(ENV_VARS) for lid in logical_ids}
    env[ALERTS_LOGICAL_ID] = {**ENV_VARS, **ALERT_ENV_VARS}
    # The read API (docs/read.md); its cursor key is a KMS HMAC key, which `make local-aws` does not create.
    env["ReadApiFunction"] = {**ENV_VARS, "READ_CURSOR_KEY_ARN": READ_CURSOR_KEY_ARN}
    # The scheduled reconcile (docs/backfill.md); TWILIO_API_BASE_URL is left to the template's "" (Twilio itself).
    env["ReconcileFunction"] = {**ENV_VARS, "TWILIO_API_SECRET_ARN": TWILIO_API_SECRET_ARN}
    # The lake writer (docs/history.md): the two Firehose streams, as `make local-aws` names them.
    env["LakeWriterFunction"] = {**ENV_VARS, **LAKE_ENV_VARS}
    # The digest (docs/alerts.md, The digest): Athena is not local; `python -m devtools.digest` runs it on DuckDB.
    env["DigestFunction"] = {**ENV_VARS, **DIGEST_ENV_VARS}
    files["env.json"] = pretty(env)
    return files


def check(files: dict[str, str]) -> list[str]:
    problems = []
    for rel, text in sorted(files.items()):
        path = EVENTS_DIR / rel
        if not path.is_file():
            problems.append(f"missing:    events/{rel}")
        elif path.read_bytes() != text.encode("utf-8"):
            problems.append(f"differs:    events/{rel}")
    if EVENTS_DIR.is_dir():
        for path in sorted(EVENTS_DIR.rglob("*.json")):
            rel = path.relative_to(EVENTS_DIR).as_posix()
            if rel not in files:
                problems.append(f"unexpected: events/{rel}")
    return problems


def write(files: dict[str, str]) -> None:
    for rel, text in sorted(files.items()):
        path = EVENTS_DIR / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
            path.write_bytes(text.encode("utf-8"))
            print(f"wrote events/{rel}")
    for line in check(files):
        if line.startswith("unexpected"):
            print(f"warning: {line} (not generated; delete it if stale)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify events/ instead of writing it")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        problems = check(files)
        if problems:
            print("events/ is out of date (run: python3 scripts/make_events.py):")
            for line in problems:
                print("  " + line)
            return 1
        print(f"events/ is up to date ({len(files)} files)")
        return 0
    write(files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
