"""The summaries' writes: one conditional PutItem per item, several in flight at once.

- conditional, so a redelivered or older event never overwrites a newer one, without a read first;
- a standard write, billed 1 unit per KB, where a transaction bills 2 (docs/storage.md);
- a failed condition returns the stored item (``ReturnValuesOnConditionCheckFailure``), whose version
  tells a duplicate from a stale event; one item's failure never holds back another.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from voice_insights.aws.clients import describe_error, make_client
from voice_insights.domain.items import StoredItem, refused_as_duplicate

# Writes in flight at once: each waits a DynamoDB round trip, and botocore's CPU per request is the limit.
WRITE_THREADS = 16
WRITE_ROUNDS = 3
ROUND_BACKOFF_S = 0.1


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


class SummaryStore:
    def __init__(self, table_name: str, client: Any = None, threads: int = WRITE_THREADS) -> None:
        self.table_name = table_name
        self.client = client or make_client("dynamodb")
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ddb-write")

    def write(self, items: Sequence[StoredItem]) -> list[WriteResult]:
        """Write each item unless the table holds the same or a newer version. Results align with ``items``.

        An item whose write failed after botocore's own retries is tried again, up to WRITE_ROUNDS in all: one
        failed item fails its whole webhook request, or redelivers its Kinesis batch from that record, and
        every event written again costs a write unit."""
        results = list(self._pool.map(self.write_one, items))
        for round_number in range(1, WRITE_ROUNDS):
            again = [index for index, result in enumerate(results) if result.status is WriteStatus.FAILED]
            if not again:
                break
            time.sleep(ROUND_BACKOFF_S * round_number)
            for index, result in zip(again, self._pool.map(self.write_one, [items[i] for i in again]), strict=True):
                results[index] = result
        return results

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
