"""The only code the alert function uses to talk to SNS and to its DynamoDB tables.

- ``AlertLedger`` remembers, per stored item, the issues already alerted. Lambda retries a stream
  batch from its first failed record, so records after it come again: the ledger is what keeps
  their alerts from going out twice.
- ``ConferenceNames`` reads conference friendly names for participant alerts.
- ``AlertPublisher`` publishes: ``Publish`` for one message, ``PublishBatch`` for several.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from voice_insights.alerts.alert_message import SnsMessage
from voice_insights.alerts.chat_message import ChatMessage
from voice_insights.aws.clients import describe_error, make_client

# BatchGetItem: at most 100 keys per request
# (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
MAX_BATCH_GET_KEYS = 100
# PublishBatch: at most 10 entries and 256 KiB in total per request
# (https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html).
MAX_PUBLISH_BATCH_ENTRIES = 10
MAX_PUBLISH_BATCH_BYTES = 256 * 1024
MAX_UNPROCESSED_ROUNDS = 5

ItemKey = tuple[str, str]


class AlertLedger:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self.client = client or make_client("dynamodb")

    def alerted(self, keys: Iterable[ItemKey]) -> dict[ItemKey, set[str]]:
        """The issue fingerprints already alerted for each item (empty set when none)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[ItemKey, set[str]] = {key: set() for key in wanted}
        request_keys = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in wanted]
        for item in _batch_get(self.client, self.table_name, request_keys, "pk, sk, alerted"):
            found[(item["pk"]["S"], item["sk"]["S"])] = set(item.get("alerted", {}).get("SS", []))
        return found

    def remember(self, key: ItemKey, fingerprints: set[str], alerted_at: str, expires_at: int | None) -> None:
        """Add ``fingerprints`` to the item's alerted set (ADD merges: no read, no lost update)."""
        update = "ADD alerted :new SET last_alerted_at = :at"
        values: dict[str, Any] = {":new": {"SS": sorted(fingerprints)}, ":at": {"S": alerted_at}}
        if expires_at is not None:
            update += ", expires_at = :expires"
            values[":expires"] = {"N": str(expires_at)}
        self.client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}},
            UpdateExpression=update,
            ExpressionAttributeValues=values,
        )


class ConferenceNames:
    def __init__(self, summaries_table: str, client: Any = None) -> None:
        self.table_name = summaries_table
        self.client = client or make_client("dynamodb")

    def lookup(self, conference_sids: Iterable[str]) -> dict[str, str]:
        """Friendly names of the conferences whose summary is stored and named."""
        keys = [{"pk": {"S": f"CONF#{sid}"}, "sk": {"S": "SUMMARY"}} for sid in dict.fromkeys(conference_sids)]
        names = {}
        for item in _batch_get(self.client, self.table_name, keys, "pk, friendly_name"):
            if "friendly_name" in item:
                names[item["pk"]["S"].removeprefix("CONF#")] = item["friendly_name"]["S"]
        return names


class AlertPublisher:
    def __init__(self, topic_arn: str, client: Any = None) -> None:
        self.topic_arn = topic_arn
        self.client = client or make_client("sns")

    def publish(self, messages: Sequence[SnsMessage]) -> list[str | None]:
        """Publish each message; per message, None once SNS accepted it, else the reason it did not."""
        if len(messages) == 1:
            return [self._publish_one(messages[0])]
        outcomes: list[str | None] = []
        for chunk in sns_batches(messages, lambda message: message):
            outcomes += self._publish_batch(chunk)
        return outcomes

    def _publish_one(self, message: SnsMessage) -> str | None:
        try:
            self.client.publish(
                TopicArn=self.topic_arn,
                Subject=message.subject,
                Message=message.message,
                MessageStructure="json",
                MessageAttributes=message.attributes,
            )
        except Exception as error:  # reported per message: the record is retried
            return describe_error(error)
        return None

    def _publish_batch(self, chunk: list[SnsMessage]) -> list[str | None]:
        entries = [
            {
                "Id": str(index),
                "Subject": message.subject,
                "Message": message.message,
                "MessageStructure": "json",
                "MessageAttributes": message.attributes,
            }
            for index, message in enumerate(chunk)
        ]
        try:
            response = self.client.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
        except Exception as error:
            return [describe_error(error)] * len(chunk)
        outcomes: list[str | None] = ["SNS did not answer for this entry"] * len(chunk)
        for success in response.get("Successful", []):
            outcomes[int(success["Id"])] = None
        for failure in response.get("Failed", []):
            outcomes[int(failure["Id"])] = f"{failure.get('Code')}: {failure.get('Message')}"
        return outcomes


class ChatPublisher:
    """Publishes the chat variant of alerts already sent to the alert topic (``chat_message``), best effort:
    the alert is out and remembered, so a failure here is counted and logged, never retried (a retry would
    send the alert topic's subscribers the alert again)."""

    def __init__(self, topic_arn: str, client: Any = None) -> None:
        self.topic_arn = topic_arn
        self.client = client or make_client("sns")

    def publish(self, messages: Sequence[ChatMessage]) -> list[str | None]:
        """Per message, None once SNS accepted it, else the reason it did not."""
        outcomes: list[str | None] = []
        for message in messages:
            try:
                self.client.publish(TopicArn=self.topic_arn, Subject=message.subject, Message=message.message)
            except Exception as error:
                outcomes.append(describe_error(error))
            else:
                outcomes.append(None)
        return outcomes


def sns_batches[T](items: Sequence[T], message_of: Callable[[T], SnsMessage]) -> Iterator[list[T]]:
    """``items`` in order, cut so that each batch's messages fit in one PublishBatch request."""

    def size(item: T) -> int:
        return _published_size(message_of(item))

    return batches(items, MAX_PUBLISH_BATCH_ENTRIES, MAX_PUBLISH_BATCH_BYTES, size)


def _published_size(message: SnsMessage) -> int:
    # SNS counts the message body and the attributes (names, types and values).
    return len(message.message.encode()) + len(json.dumps(message.attributes).encode())


def _batch_get(client: Any, table: str, keys: list[dict[str, Any]], projection: str) -> Iterator[dict[str, Any]]:
    for start in range(0, len(keys), MAX_BATCH_GET_KEYS):
        request: dict[str, Any] = {
            table: {"Keys": keys[start : start + MAX_BATCH_GET_KEYS], "ProjectionExpression": projection}
        }
        for attempt in range(MAX_UNPROCESSED_ROUNDS):
            if attempt:
                time.sleep(0.05 * 2**attempt)  # DynamoDB asks for backoff before retrying unprocessed keys
            response = client.batch_get_item(RequestItems=request)
            yield from response.get("Responses", {}).get(table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise RuntimeError(f"DynamoDB left keys of {table} unprocessed after {MAX_UNPROCESSED_ROUNDS} rounds")


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
