"""SQS queues subscribed to an SNS topic on the local endpoint, as a user subscribes one, and read back."""

from __future__ import annotations

import json
import threading
from typing import Any

from devtools.cfn import local_client


def subscribe_queue(
    endpoint_url: str, topic_arn: str, name: str, filter_policy: dict[str, Any] | None = None, raw: bool = False
) -> str:
    """Create queue ``name``, subscribe it to ``topic_arn``; returns its URL."""
    sqs = local_client("sqs", endpoint_url)
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"RawMessageDelivery": "true" if raw else "false"}
    if filter_policy is not None:
        attributes["FilterPolicy"] = json.dumps(filter_policy)
    local_client("sns", endpoint_url).subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return url


def drain(endpoint_url: str, queue_url: str) -> list[dict[str, Any]]:
    """Every message in the queue, deleted as read."""
    sqs = local_client("sqs", endpoint_url)
    messages: list[dict[str, Any]] = []
    while batch := _take(sqs, queue_url):
        messages += batch
    return messages


def _take(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    batch: list[dict[str, Any]] = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    if batch:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    return batch


class QueueReader:
    """Reads a queue while messages arrive, as a subscriber does, until ``finish()``.

    Reading as they come keeps moto's queue short: its ReceiveMessage and DeleteMessage scan every
    message in the queue, so draining 10,000 alerts only at the end takes minutes.
    """

    def __init__(self, endpoint_url: str, queue_url: str, idle_wait_s: float = 0.2) -> None:
        self.endpoint_url, self.queue_url, self.idle_wait_s = endpoint_url, queue_url, idle_wait_s
        self.messages: list[dict[str, Any]] = []
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"read {queue_url}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        sqs = local_client("sqs", self.endpoint_url)
        try:
            while not self._stop.is_set():
                batch = _take(sqs, self.queue_url)
                self.messages += batch
                if not batch:
                    self._stop.wait(self.idle_wait_s)
        except BaseException as error:  # re-raised by finish()
            self._error = error

    def finish(self) -> list[dict[str, Any]]:
        """Stop reading; returns every message read, the ones still in the queue included."""
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"reading {self.queue_url} stopped: {self._error!r}") from self._error
        return self.messages + drain(self.endpoint_url, self.queue_url)
