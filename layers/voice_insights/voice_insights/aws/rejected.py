"""The rejected events' store: what could not be stored is kept in S3 with its raw payload and the reason."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from voice_insights.aws.clients import make_client
from voice_insights.domain.redaction import mask_phone_numbers_in
from voice_insights.runtime.observability import utf8_json

SIGNED_BODIES_PREFIX = "rejected/signed-bodies"
# S3's conditional write: 412 PreconditionFailed when the key exists, 409 ConditionalRequestConflict when another
# write of it is under way, to be tried again (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
_EXISTS = "PreconditionFailed"
_CONFLICT = "ConditionalRequestConflict"
CONFLICT_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class KeptBody:
    key: str
    kept_now: bool  # False: the same body was kept before (a replay, or Twilio's retry)


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

    def keep_body(self, record: dict[str, Any], body_sha256: str) -> KeptBody:
        """Keep a signed body refused whole, once per body: its key is the body's SHA-256, written only if absent
        (If-None-Match: *), so a replay of the request keeps nothing more. Raises on AWS errors (the caller
        answers 5xx and Twilio delivers again)."""
        key = f"{SIGNED_BODIES_PREFIX}/{record.get('function', 'unknown')}/{body_sha256}.jsonl"
        body = (utf8_json(record) + "\n").encode()
        attempt = 1
        while True:
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType="application/x-ndjson", IfNoneMatch="*"
                )
                return KeptBody(key, kept_now=True)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code == _EXISTS:
                    return KeptBody(key, kept_now=False)
                if code != _CONFLICT or attempt >= CONFLICT_ATTEMPTS:
                    raise
                attempt += 1


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
