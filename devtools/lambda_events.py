"""Build the events Lambda hands to a function, as AWS builds them, from real local resources.

- Kinesis: records read from the (moto) stream, base64 data, filtered with the template's
  FilterCriteria the way Lambda filters (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html).
- DynamoDB Streams: records read from the (moto) table stream, binary values base64-encoded as in
  Lambda's JSON, filtered the same way.
- API Gateway: REST API (payload 1.0) proxy events for a POST on a webhook route, signed as Twilio
  signs (X-Twilio-Signature over the URL with bodySHA256) with the local auth token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from twilio.request_validator import RequestValidator

REGION = "us-east-1"
ACCOUNT = "123456789012"
# The Twilio Auth Token of every local run: the local webhook secret holds it, local requests are signed with it.
LOCAL_AUTH_TOKEN = "local-twilio-auth-token-not-a-secret"  # noqa: S105 (published on purpose: local runs only)
LOCAL_WEBHOOK_SECRET = {"primary_auth_token": LOCAL_AUTH_TOKEN, "secondary_auth_token": ""}


def read_stream_records(kinesis: Any, stream_name: str) -> list[dict[str, Any]]:
    """Every record in the stream, from TRIM_HORIZON, as Lambda's Kinesis event records."""
    description = kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]
    stream_arn = description["StreamARN"]
    records = []
    for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            records.extend(kinesis_record(r, shard["ShardId"], stream_arn) for r in page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


def kinesis_record(record: dict[str, Any], shard_id: str, stream_arn: str) -> dict[str, Any]:
    sequence = record["SequenceNumber"]
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": sequence,
            "data": base64.b64encode(record["Data"]).decode(),
            "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/local",
        "awsRegion": REGION,
        "eventSourceARN": stream_arn,
    }


def kinesis_filter_matches(patterns: list[dict[str, Any]] | None, record: dict[str, Any]) -> bool:
    """Lambda's filtering of one Kinesis record: no patterns pass everything; patterns are OR-ed.

    A pattern on ``data`` only matches when the data is JSON: Lambda drops other records. Read strictly here
    (RFC 8259), as the catch-all function assumes; Lambda documents no leniency.
    Supported here: nested keys and lists of exact values (what this template uses).
    """
    if not patterns:
        return True
    try:  # strict JSON: UTF-8 text (no byte-order mark), no NaN or Infinity
        data = json.loads(base64.b64decode(record["kinesis"]["data"]).decode(), parse_constant=_not_json)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read as JSON
        return False
    return any(_matches(pattern.get("data", {}), data) for pattern in patterns)


def _values(value: Any) -> list[Any]:
    """An array matches when any of its elements does; other values are one value."""
    return value if isinstance(value, list) else [value]


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _matches(pattern: dict[str, Any], value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    for key, expected in pattern.items():
        if isinstance(expected, dict):
            if not _matches(expected, value.get(key)):
                return False
        elif not any(v in expected for v in _values(value.get(key))):
            return False
    return True


def read_table_stream_records(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    """Every record of a DynamoDB table stream, from TRIM_HORIZON, as Lambda's DynamoDB event records."""
    records = []
    description = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
    for shard in description["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(table_stream_record(r, stream_arn) for r in page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


def table_stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    body = dict(record["dynamodb"])
    created = body.get("ApproximateCreationDateTime")
    if created is not None and hasattr(created, "timestamp"):
        body["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in body:
            body[image] = _json_attribute_values(body[image])
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }


def table_stream_filter_matches(patterns: list[dict[str, Any]] | None, record: dict[str, Any]) -> bool:
    """Lambda's filtering of one DynamoDB stream record (patterns on the ``dynamodb`` key, OR-ed)."""
    if not patterns:
        return True
    return any(_matches(pattern, record) for pattern in patterns)


def _json_attribute_values(value: Any) -> Any:
    # boto3 returns B/BS as bytes; Lambda's JSON event carries them base64-encoded.
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _json_attribute_values(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_json_attribute_values(v) for v in value]
    return value


def twilio_signature(url: str, auth_token: str) -> str:
    """X-Twilio-Signature for a JSON webhook: HMAC-SHA1 of the full URL (which carries bodySHA256)."""
    signature: str = RequestValidator(auth_token).compute_signature(url, {})
    return signature


def api_gateway_event(
    path: str,
    body: str | bytes,
    headers: dict[str, str] | None = None,
    stage: str = "v1",
    auth_token: str | None = LOCAL_AUTH_TOKEN,
    host: str = "local.execute-api.localhost",
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API proxy event for a POST of ``body`` on ``path`` (what API Gateway sends Lambda),
    signed with ``auth_token`` as Twilio signs (unsigned when None; ``headers`` override). Twilio
    appends ``bodySHA256`` to the sink URL's own ``query``. A body that is not UTF-8 is passed base64-encoded,
    as API Gateway passes a binary body."""
    raw = body if isinstance(body, bytes) else body.encode()
    query = {**(query or {}), "bodySHA256": hashlib.sha256(raw).hexdigest()}
    signed: dict[str, str] = {}
    if auth_token is not None:
        url = f"https://{host}/{stage}{path}?" + urlencode(query, quote_via=quote, safe="")
        signed["X-Twilio-Signature"] = twilio_signature(url, auth_token)
    all_headers = {"Content-Type": "application/json", "Host": host, **signed, **(headers or {})}
    return proxy_event(
        "POST",
        path,
        path,
        stage,
        {name: [value] for name, value in all_headers.items()},
        {name: [value] for name, value in query.items()},
        raw,
    )


def proxy_event(
    method: str,
    path: str,
    resource: str,
    stage: str,
    headers: dict[str, list[str]],
    query: dict[str, list[str]],
    body: str | bytes,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """API Gateway's REST proxy event (payload 1.0): single-value maps keep the last value, as API Gateway does
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html)."""
    host = next((values[-1] for name, values in headers.items() if name.lower() == "host"), "localhost")
    is_base64 = False
    if isinstance(body, bytes):
        try:
            body = body.decode()
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(body).decode(), True
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "domainName": host,
            "apiId": "local",
            "requestId": str(uuid.uuid4()),
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": source_ip},
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


@dataclass
class LocalLambdaContext:
    """The context object attributes Powertools reads, for calling a handler in-process."""

    function_name: str = "local-function"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    timeout_ms: int = 30_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms
