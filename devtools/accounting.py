"""Where every sent event ended, found by event id in what the functions left behind:

- stored: the ``event_id`` of the new images on the table's stream (every write, including the ones a
  newer event later replaced);
- ignored: the functions' "Event ignored: duplicate|stale" and sink-test log lines (Powertools JSON logs);
- rejected: the rejected-events bucket (the event id, or the raw payload when it has none, and the reason).

An event without a readable id is matched by the sha256 of its raw payload (``traffic.key_of``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from devtools.cfn import local_client
from devtools.lambda_events import read_table_stream_records
from devtools.lambda_rie import LambdaEmulator
from devtools.traffic import raw_key
from voice_insights.domain.items import stored_event

SETTLED = ("stored", "duplicates", "stale", "rejected", "test_events", "failed")
IGNORED_MESSAGES = {
    "Event ignored: duplicates": "duplicate",
    "Event ignored: stale": "stale",
    "Twilio sink test event received": "test_event",
}


@dataclass
class LogTally:
    """Reads the functions' logs as they grow (from where it last stopped)."""

    settled: Counter[str] = field(default_factory=Counter)
    ignored: dict[str, set[str]] = field(default_factory=lambda: {kind: set() for kind in IGNORED_MESSAGES.values()})
    errors: list[str] = field(default_factory=list)
    _offsets: dict[str, int] = field(default_factory=dict)
    _partial: dict[str, bytes] = field(default_factory=dict)

    def read(self, functions: dict[str, LambdaEmulator]) -> None:
        for name, function in functions.items():
            offset = self._offsets.get(name, 0)
            chunk = function.log_bytes(offset)
            self._offsets[name] = offset + len(chunk)
            text = self._partial.pop(name, b"") + chunk
            lines = text.split(b"\n")
            if lines[-1]:
                self._partial[name] = lines[-1]  # a line still being written
            for line in lines[:-1]:
                self._line(name, line)

    def _line(self, function: str, line: bytes) -> None:
        if not line.startswith(b"{"):
            return
        try:
            entry = json.loads(line)
        except ValueError:
            return
        message = entry.get("message")
        if message == "Batch settled":
            self.settled.update({name: int(entry.get(name, 0)) for name in SETTLED})
        elif message in IGNORED_MESSAGES and entry.get("event_id"):
            self.ignored[IGNORED_MESSAGES[message]].add(str(entry["event_id"]))
        elif entry.get("level") in ("ERROR", "CRITICAL"):
            self.errors.append(f"{function}: {message}")

    @property
    def settled_total(self) -> int:
        return sum(self.settled[name] for name in SETTLED if name != "failed")


def stored_event_ids(endpoint_url: str, table_stream_arn: str) -> set[str]:
    streams = local_client("dynamodbstreams", endpoint_url)
    ids = set()
    for record in read_table_stream_records(streams, table_stream_arn):
        image = record["dynamodb"].get("NewImage")
        if image:
            ids.add(stored_event(image).event_id)
    return ids


@dataclass(frozen=True)
class Rejection:
    key: str
    reason: str
    source: str
    function: str


def rejections(endpoint_url: str, bucket: str) -> list[Rejection]:
    records = kept_records(local_client("s3", endpoint_url), bucket)
    return [
        Rejection(_rejected_key(record), record["reason"], record.get("source", ""), record.get("function", ""))
        for record in records
    ]


def kept_records(s3: Any, bucket: str, prefix: str = "rejected/") -> list[dict[str, Any]]:
    """Every record kept under ``prefix``: each object is JSON Lines, one record a line (ListObjectsV2 pages)."""
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode()
            records.extend(json.loads(line) for line in body.split("\n") if line)  # not splitlines: U+2028 is text
    return records


def _rejected_key(record: dict[str, Any]) -> str:
    if record.get("event_id"):
        return str(record["event_id"])
    if "raw_base64" in record:
        return "raw:" + hashlib.sha256(base64.b64decode(record["raw_base64"])).hexdigest()
    return raw_key(str(record.get("raw", "")))


@dataclass
class Conservation:
    sent: set[str]
    stored: set[str]
    ignored: set[str]
    rejected: set[str]

    @property
    def unaccounted(self) -> set[str]:
        return self.sent - self.stored - self.ignored - self.rejected

    @property
    def ok(self) -> bool:
        return not self.unaccounted

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent_ids": len(self.sent),
            "stored_ids": len(self.sent & self.stored),
            "ignored_only_ids": len((self.sent & self.ignored) - self.stored),
            "rejected_ids": len(self.sent & self.rejected),
            "unaccounted_ids": sorted(self.unaccounted),
            "ok": self.ok,
        }
