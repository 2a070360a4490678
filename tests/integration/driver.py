"""The whole pipeline driven in this process, as AWS and Twilio drive it, for the reliability tests.

Kinesis records are put on the (moto) stream and handed to the functions by the local runner's own
``StreamPoller`` (the template's filters and batch sizes, batch item failures, retries, bisect, the
on-failure queue), called synchronously; the alert function gets the table stream the same way.
Webhook bodies are posted as API Gateway proxy events signed with the local token, and retried on
5xx or a crash as Twilio retries. The handlers are the functions' own ``app.py`` modules, in-process.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from devtools.cfn import load_template
from devtools.lambda_events import api_gateway_event
from devtools.moto_server import MotoServer
from devtools.pollers import StreamPoller, shard_ids
from devtools.traffic import WEBHOOK_ATTEMPTS, Delivery, put_on_stream
from devtools.triggers import api_routes, stream_triggers
from tests.integration.conftest import TEMPLATE, Handler, LocalStack, function_name, load_handlers
from voice_insights.alerts.alert_message import AlertPayload
from voice_insights.domain.items import stored_event

FAST_RETRY_BACKOFF_S = (0.02, 0.05, 0.1)  # Lambda waits longer; the order of events is what matters here


@dataclass
class WebhookTally:
    requests: int = 0
    retried: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # final status per request
    given_up: int = 0


class InProcessPipeline:
    def __init__(
        self,
        stack: LocalStack,
        handlers: dict[str, Handler],
        parameters: dict[str, Any] | None = None,
        retry_backoff_s: tuple[float, ...] = FAST_RETRY_BACKOFF_S,
        webhook_attempts: int = WEBHOOK_ATTEMPTS,
    ) -> None:
        self.stack = stack
        self.handlers = handlers
        self.webhook_attempts = webhook_attempts
        template = load_template(TEMPLATE)
        queue_urls = {
            resource["attrs"]["Arn"]: resource["ref"]
            for resource in stack.resources.values()
            if resource["type"] == "AWS::SQS::Queue"
        }
        self.pollers: list[StreamPoller] = []
        for trigger in stream_triggers(template, stack.resources, parameters):
            handler = handlers[function_name(trigger.function)]
            for shard in shard_ids(trigger, stack.endpoint_url):
                poller = StreamPoller(
                    trigger, shard, stack.endpoint_url, handler, queue_urls=queue_urls, retry_backoff_s=retry_backoff_s
                )
                _ = poller.reader  # from now on (LATEST), as a deployed mapping reads
                self.pollers.append(poller)
        self.routes = {route.function: route for route in api_routes(template)}
        self.webhooks = WebhookTally()

    def send(self, deliveries: Sequence[Delivery]) -> None:
        """Kinesis deliveries onto the stream in one PutRecords; webhook ones in one POST per route."""
        on_stream = [d.payload for d in deliveries if d.path == "kinesis"]
        if on_stream:
            self.put_on_stream(on_stream)
        by_function: dict[str, list[Any]] = {}
        for delivery in deliveries:
            if delivery.path == "webhook":
                by_function.setdefault(delivery.function, []).append(delivery.payload)
        for function, elements in by_function.items():
            self.post(function, json.dumps(elements))

    def put_on_stream(self, payloads: Sequence[bytes]) -> None:
        deliveries = [Delivery("kinesis", payload, "", str(i)) for i, payload in enumerate(payloads)]
        put_on_stream(self.stack.endpoint_url, self.stack.stream_name, deliveries)

    def post(self, function: str, body: str) -> int:
        """POST ``body`` to ``function``'s webhook route until it answers below 500, as Twilio retries."""
        route = self.routes[function]
        handler = self.handlers[function_name(function)]
        self.webhooks.requests += 1
        status = 0
        for attempt in range(self.webhook_attempts):
            if attempt:
                self.webhooks.retried += 1
            try:
                status = int(handler(api_gateway_event(route.path, body, stage=route.stage))["statusCode"])
            except Exception:  # a crashed function is a 502 from API Gateway: Twilio retries it
                status = 502
            if status < 500:
                break
        else:
            self.webhooks.given_up += 1
        self.webhooks.statuses[status] = self.webhooks.statuses.get(status, 0) + 1
        return status

    def ingest(self) -> int:
        """Settle everything on the Kinesis stream; returns the records the functions' filters matched."""
        return sum(p.drain() for p in self.pollers if p.trigger.kind == "kinesis")

    def alert(self) -> int:
        """Settle everything on the table stream (the alert function)."""
        return sum(p.drain() for p in self.pollers if p.trigger.kind == "dynamodb")

    def settle(self) -> None:
        self.ingest()
        self.alert()

    def given_up(self) -> int:
        return sum(p.stats.sent_to_destination for p in self.pollers)


def comparable(item: dict[str, Any]) -> dict[str, Any]:
    """An item as two runs can compare it: its flat attributes and its event decoded, without when and how it
    arrived (``received_at``, ``arrived_via``, in the payload: the first delivery's, which differ between runs)."""
    event = dataclasses.asdict(stored_event(item))
    del event["received_at"], event["arrived_via"]
    return {**{name: value for name, value in item.items() if name != "payload"}, "event": event}


def fresh_stack(moto: MotoServer, functions_endpoint: str | None = None) -> tuple[LocalStack, dict[str, Handler]]:
    """An empty local stack, and handlers (with their clients) configured for it; the functions reach AWS
    through ``functions_endpoint`` when given (a fault proxy). The ``stack`` fixture restores the environment."""
    moto.reset()
    stack = LocalStack(moto.endpoint_url)
    os.environ.update(stack.function_env())
    os.environ["AWS_ENDPOINT_URL"] = functions_endpoint or moto.endpoint_url
    return stack, load_handlers()


def stored_state(stack: LocalStack) -> dict[tuple[str, str], dict[str, Any]]:
    return {(item["pk"]["S"], item["sk"]["S"]): comparable(item) for item in stack.items()}


def alert_keys(messages: list[dict[str, Any]]) -> Counter[tuple[str, str, str, str]]:
    """One entry per (item, issue) alerted: an issue is its code and severity."""
    alerted: Counter[tuple[str, str, str, str]] = Counter()
    for message in messages:
        alert = AlertPayload.model_validate_json(message["Body"])
        item = alert.participant.participant_sid if alert.participant else "SUMMARY"
        for issue in alert.issues:
            alerted[(alert.conference_sid, item, issue.code, issue.severity)] += 1
    return alerted
