"""SQS queues subscribed to an SNS topic on the local endpoint, as a user subscribes one, and read back."""

from __future__ import annotations

import json
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
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        messages += batch
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    return messages
