"""Given a signed webhook body that is refused whole (over the event cap, not an array), when it is kept and then
replayed (Twilio's signature has no timestamp: the same request verifies again and again), then the bucket keeps
one copy per body digest, written with S3's conditional write, and never a second version of it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from voice_insights.aws.rejected import RejectedEventStore

BUCKET = "rejected-events"
NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})  # as deployed
        yield client


def record(body: str, received_at: datetime = NOW) -> dict[str, Any]:
    return {"reason": "too many events", "function": "conference_summary_complete", "raw": body,
            "received_at": received_at.isoformat()}  # fmt: skip


def versions(s3: Any) -> list[dict[str, Any]]:
    return s3.list_object_versions(Bucket=BUCKET, Prefix="rejected/").get("Versions", [])


def test_a_body_kept_once_is_not_kept_again_when_replayed(s3: Any) -> None:
    store = RejectedEventStore(BUCKET, s3)
    body = "[" + ",".join(["{}"] * 6) + "]"
    digest = hashlib.sha256(body.encode()).hexdigest()
    first = store.keep_body(record(body), digest)
    replays = [store.keep_body(record(body, NOW.replace(hour=hour)), digest) for hour in range(19, 24)]
    assert first.kept_now and not any(replay.kept_now for replay in replays)
    assert {replay.key for replay in replays} == {first.key}
    assert first.key == f"rejected/signed-bodies/conference_summary_complete/{digest}.jsonl"
    assert len(versions(s3)) == 1  # one object, one version: the first request's record
    kept = s3.get_object(Bucket=BUCKET, Key=first.key)["Body"].read().decode()
    assert NOW.isoformat() in kept and body in kept

    other = store.keep_body(record(body + " "), hashlib.sha256((body + " ").encode()).hexdigest())
    assert other.kept_now and len(versions(s3)) == 2  # another body: another copy


class ConflictingClient:
    """S3 answering 409 ConditionalRequestConflict to the first of two concurrent conditional writes."""

    def __init__(self, s3: Any, conflicts: int) -> None:
        self.s3, self.conflicts, self.calls = s3, conflicts, 0

    def put_object(self, **params: Any) -> Any:
        self.calls += 1
        assert params["IfNoneMatch"] == "*"
        if self.conflicts:
            self.conflicts -= 1
            error = {"Error": {"Code": "ConditionalRequestConflict", "Message": "conflict"}}
            raise ClientError(error, "PutObject")  # type: ignore[arg-type]
        return self.s3.put_object(**params)


def test_a_concurrent_write_of_the_same_body_is_tried_again_and_ends_kept_once(s3: Any) -> None:
    client = ConflictingClient(s3, conflicts=1)
    kept = RejectedEventStore(BUCKET, client).keep_body(record("[1]"), "d" * 64)
    assert kept.kept_now and client.calls == 2 and len(versions(s3)) == 1


def test_a_write_that_keeps_failing_raises_so_twilio_delivers_again(s3: Any) -> None:
    with pytest.raises(ClientError):
        RejectedEventStore(BUCKET, ConflictingClient(s3, conflicts=5)).keep_body(record("[1]"), "d" * 64)
    assert versions(s3) == []
