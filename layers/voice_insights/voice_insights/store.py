"""The summaries' writes, the rejected events' store, and the AWS clients of every function.

Each summary is one conditional PutItem, several in flight at once:
- conditional, so a redelivered or older event never overwrites a newer one, without a read first;
- a standard write, billed 1 unit per KB, where a transaction bills 2 (docs/storage.md);
- a failed condition returns the stored item (``ReturnValuesOnConditionCheckFailure``), whose version
  tells a duplicate from a stale event; one item's failure never holds back another.
"""

from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from voice_insights.items import StoredItem, refused_as_duplicate
from voice_insights.observability import logger, utf8_json
from voice_insights.redaction import mask_phone_numbers_in
from voice_insights.settings import (
    LOCAL_CREDENTIALS,
    LOCAL_ENDPOINT_VARIABLE,
    LOCAL_REGION,
    ConfigurationError,
    local_endpoint_url,
)

# Writes in flight at once: each waits a DynamoDB round trip, and botocore's CPU per request is the limit.
WRITE_THREADS = 16

# Throttles, 5xx and timeouts are retried by botocore itself with backoff ("standard" mode,
# https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html); what is left is
# reported to Lambda as a batch item failure, or to Twilio as a 5xx, so the event comes again.
# Client-side parameter validation is off: DynamoDB validates every request anyway, and botocore's walk
# over every attribute costs CPU on each write (docs/performance.md).
AWS_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=WRITE_THREADS * 2,
    parameter_validation=False,
)
# Local runs (LOCAL_AWS_ENDPOINT_URL set): an endpoint that is down fails an invoke in seconds, not in the
# function's 30 s timeout; S3 by path, as a host such as host.docker.internal takes no bucket subdomain.
LOCAL_CLIENT_CONFIG = AWS_CLIENT_CONFIG.merge(
    Config(
        connect_timeout=1,
        read_timeout=5,
        retries={"mode": "standard", "total_max_attempts": 2},
        s3={"addressing_style": "path"},
    )
)
LOCAL_CHECK_SECONDS = 1.0  # name lookup, then TCP connect, each
LOCAL_ENDPOINT_HINT = (
    "start it with `make local-aws` (README: Try one function with `sam local invoke`); on Linux, bind it where "
    'containers reach it (make local-aws ARGS="--host 0.0.0.0", or the docker0 address) and pass '
    "--add-host host.docker.internal:host-gateway to sam local invoke / start-api"
)
_reachable_endpoints: set[str] = set()


class WriteStatus(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    STALE = "stale"
    REFUSED = "refused"  # DynamoDB refuses the item itself (e.g. validation): retrying cannot help
    FAILED = "failed"  # transient: try again later


@dataclass(frozen=True, slots=True)
class WriteResult:
    status: WriteStatus
    detail: str = ""


class LocalEndpointUnreachable(RuntimeError):
    """LOCAL_AWS_ENDPOINT_URL is set and nothing answers there: a local run's setup error, not the event's."""


def make_client(service: str) -> Any:
    """Every AWS client of the functions (Secrets Manager's too). Deployed: AWS, AWS_CLIENT_CONFIG. With
    LOCAL_AWS_ENDPOINT_URL (local runs only): that endpoint, checked first, with LOCAL_CLIENT_CONFIG."""
    endpoint = local_endpoint_url()
    if not endpoint:
        return boto3.client(service, config=AWS_CLIENT_CONFIG)  # type: ignore[call-overload]
    check_local_endpoint(endpoint)
    return boto3.client(  # type: ignore[call-overload]
        service, config=LOCAL_CLIENT_CONFIG, endpoint_url=endpoint, region_name=LOCAL_REGION, **LOCAL_CREDENTIALS
    )


def check_local_endpoint(endpoint: str) -> None:
    """Raise LocalEndpointUnreachable, after one log line saying what to do, unless ``endpoint`` takes a TCP
    connection within LOCAL_CHECK_SECONDS (its name looked up within as long). Checked once while it answers."""
    if endpoint in _reachable_endpoints:
        return
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise ConfigurationError(f"{LOCAL_ENDPOINT_VARIABLE} is not a URL: {error}") from None
    if not host or parts.scheme not in ("http", "https"):
        raise ConfigurationError(f"{LOCAL_ENDPOINT_VARIABLE} must be http(s)://host:port, not {endpoint!r}")
    try:
        address = _look_up(host, port)
        socket.create_connection(address, timeout=LOCAL_CHECK_SECONDS).close()
    except OSError as error:
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        what = f"the local AWS endpoint {LOCAL_ENDPOINT_VARIABLE}={endpoint}"
        logger.error(f"Cannot reach {what} ({reason}): {LOCAL_ENDPOINT_HINT}", local_endpoint=endpoint)
        raise LocalEndpointUnreachable(f"{LOCAL_ENDPOINT_VARIABLE}={endpoint} cannot be reached ({reason})") from None
    _reachable_endpoints.add(endpoint)


def _look_up(host: str, port: int) -> tuple[str, int]:
    """The first address of ``host``; a resolver that does not answer (no network) times out, not the function."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-endpoint-lookup")
    try:
        found = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(LOCAL_CHECK_SECONDS)
    except FutureTimeout:
        raise TimeoutError(f"no answer for the name {host!r} within {LOCAL_CHECK_SECONDS:g} s") from None
    finally:
        pool.shutdown(wait=False)
    address = found[0][4]
    return str(address[0]), int(address[1])


class SummaryStore:
    def __init__(self, table_name: str, client: Any = None, threads: int = WRITE_THREADS) -> None:
        self.table_name = table_name
        self.client = client or make_client("dynamodb")
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ddb-write")

    def write(self, items: Sequence[StoredItem]) -> list[WriteResult]:
        """Write each item unless the table holds the same or a newer version. Results align with ``items``."""
        return list(self._pool.map(self.write_one, items))

    def write_one(self, item: StoredItem) -> WriteResult:
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item.attributes,
                ConditionExpression="attribute_not_exists(pk) OR #version < :version",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":version": {"S": item.version}},
                # The stored version tells a duplicate (same version) from a stale event (newer stored).
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                stored: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
                stored_version = stored.get("version", {}).get("S")
                same = refused_as_duplicate(stored_version, item.version)  # a backfill of a stored state too
                return WriteResult(
                    WriteStatus.DUPLICATE if same else WriteStatus.STALE, f"stored version {stored_version}"
                )
            if code == "ValidationException":  # the item itself (e.g. over 400 KB): writing it again cannot help
                return WriteResult(WriteStatus.REFUSED, describe_error(exc))
            return WriteResult(WriteStatus.FAILED, describe_error(exc))  # what botocore's retries left
        except BotoCoreError as exc:
            return WriteResult(WriteStatus.FAILED, describe_error(exc))
        return WriteResult(WriteStatus.STORED)

    def query_conference(self, conference_sid: str) -> list[dict[str, Any]]:
        """The conference summary and all of its participant summaries, in one Query (paginated)."""
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"CONF#{conference_sid}"}},
        )
        return [item for page in pages for item in page["Items"]]


class RejectedEventStore:
    """Keeps rejected events in S3 with the raw payload and the reason: one JSON Lines object per batch, one line
    per event (a single JSON object reads the same way), so a batch of bad events costs one request."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        self.client = client or make_client("s3")

    def keep(self, record: dict[str, Any], received_at: datetime) -> str:
        """Store one rejection record; returns its key. Raises on AWS errors (the caller retries)."""
        return self.keep_all([record], received_at)

    def keep_all(self, records: Sequence[dict[str, Any]], received_at: datetime, prefix: str = "rejected") -> str:
        """Store the records of one batch together; returns the key. Raises on AWS errors (the caller retries)."""
        first = records[0]
        event_id = first.get("event_id") or ("batch" if len(records) > 1 else "no-id")
        # Keys show in listings and logs: a forged id's phone number is masked there too (the record keeps it).
        safe_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in mask_phone_numbers_in(str(event_id)))[:64]
        key = (
            f"{prefix}/{received_at:%Y/%m/%d}/{first.get('function', 'unknown')}/"
            f"{received_at:%H%M%S}-{safe_id}-{uuid.uuid4().hex[:12]}.jsonl"
        )
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body="".join(utf8_json(record) + "\n" for record in records).encode(),
            ContentType="application/x-ndjson",
        )
        return key


def raw_payload_fields(raw: bytes | str | Any) -> dict[str, Any]:
    """How a rejected payload is kept: as text when it is text, base64 otherwise, never altered."""
    if isinstance(raw, bytes):
        try:
            return {"raw": raw.decode("utf-8")}
        except UnicodeDecodeError:
            return {"raw_base64": base64.b64encode(raw).decode()}
    if isinstance(raw, str):
        return {"raw": raw}
    return {"raw": json.dumps(raw, ensure_ascii=False)}


def now_utc() -> datetime:
    return datetime.now(UTC)


def batches[T](items: Sequence[T], max_count: int, max_bytes: int, size: Callable[[T], int]) -> Iterator[list[T]]:
    """``items`` in order, cut into batches of at most ``max_count`` items and ``max_bytes`` in total."""
    batch: list[T] = []
    total = 0
    for item in items:
        item_size = size(item)
        if batch and (len(batch) == max_count or total + item_size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += item_size
    if batch:
        yield batch


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"
