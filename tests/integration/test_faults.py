"""Faults: the functions reach moto server through devtools/faults.py, which fails a share of their
DynamoDB requests (throttling, 500s, timeouts after the write happened, dropped connections) or takes
SNS down. After Lambda-style retries (batch item failures, the template's retry budget) and Twilio-style
webhook retries, the stored state and the alerts are exactly those of a fault-free run of the same
traffic. A batch still failing after the retry budget is in the on-failure queue, and
``operate.replay`` replays it to the same end state.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config

from devtools.faults import FaultPlan, FaultProxy
from devtools.moto_server import MotoServer
from devtools.traffic import Delivery, generate
from operate.replay import ReplayTarget, replay
from tests.integration.conftest import LocalStack
from tests.integration.driver import InProcessPipeline, alert_keys, fresh_stack, stored_state
from tests.reliability import scaled
from voice_insights.aws import clients

BATCH = 20  # deliveries sent before each settle: several invocations per function, interleaved with alerts
# The functions' own clients, with timeouts short enough for a test: the proxy holds a "timeout" 1 s.
TEST_CLIENT_CONFIG = clients.AWS_CLIENT_CONFIG.merge(Config(connect_timeout=0.5, read_timeout=0.5))


@pytest.fixture
def faults(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    monkeypatch.setattr(clients, "AWS_CLIENT_CONFIG", TEST_CLIENT_CONFIG)
    with FaultProxy(moto.endpoint_url, random_seed=20261121, hold_s=1.0) as proxy:
        yield proxy


def traffic(conferences: int) -> list[Delivery]:
    return generate(conferences=conferences, participants_each=3, random_seed=5).deliveries


def run(
    moto: MotoServer, deliveries: list[Delivery], proxy: FaultProxy | None = None, plan: FaultPlan | None = None
) -> tuple[LocalStack, InProcessPipeline, str]:
    """``deliveries`` through a fresh stack in batches, each settled (ingest, then alerts)."""
    stack, handlers = fresh_stack(moto, proxy.endpoint_url if proxy else None)
    alerts_queue = stack.subscribe_queue("alerts", raw=True)
    pipeline = InProcessPipeline(stack, handlers, webhook_attempts=30)  # Twilio retries for 4 hours
    if proxy is not None and plan is not None:
        proxy.plan = plan
    for start in range(0, len(deliveries), BATCH):
        pipeline.send(deliveries[start : start + BATCH])
        pipeline.settle()
    return stack, pipeline, alerts_queue


def fault_free(moto: MotoServer, deliveries: list[Delivery]) -> tuple[Any, Counter[Any], set[tuple[str, str, str]]]:
    stack, _, alerts_queue = run(moto, deliveries)
    return outcome(stack, alerts_queue)


def outcome(stack: LocalStack, alerts_queue: str) -> tuple[Any, Counter[Any], set[tuple[str, str, str]]]:
    return stored_state(stack), alert_keys(stack.drain(alerts_queue)), rejections(stack)


def rejections(stack: LocalStack) -> set[tuple[str, str, str]]:
    """What was rejected, by whom and why. A batch retried from an earlier record rejects its bad records
    again: the same payload is then kept twice (two records, same reason), never lost."""
    return {(r["function"], r["reason"], r.get("raw") or r["raw_base64"]) for r in stack.rejected()}


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_dynamodb_faults_change_nothing_after_retries(
    stack: LocalStack, moto: MotoServer, faults: FaultProxy, rate: float
) -> None:
    deliveries = traffic(scaled(default=16, full=80))
    expected = fault_free(moto, deliveries)
    assert expected[1], "the workload must raise alerts, or the alert check proves nothing"

    stack_f, pipeline, queue = run(moto, deliveries, faults, FaultPlan(rate=rate))
    faults.plan = FaultPlan()
    state, alerts, rejected = outcome(stack_f, queue)
    injected = faults.stats.injected
    figures = {
        "rate": rate,
        "deliveries": len(deliveries),
        "dynamodb_requests": faults.stats.requests["dynamodb"],
        "faults_injected": dict(injected),
        "lambda_retries": sum(p.stats.retries for p in pipeline.pollers),
        "webhook_retries": pipeline.webhooks.retried,
        "given_up": pipeline.given_up(),
        "items": len(state),
        "alerts": sum(alerts.values()),
    }
    print(f"\nfigures | DynamoDB faults: {json.dumps(figures)}")
    assert sum(injected.values()) >= rate * figures["dynamodb_requests"] / 2
    if rate >= 0.5:
        assert {kind.split(":")[1] for kind in injected} == {"throttle", "server_error", "timeout", "drop"}
    assert pipeline.given_up() == 0 and pipeline.webhooks.given_up == 0
    assert state == expected[0]
    assert rejected == expected[2]
    assert alerts == expected[1], "an alert was lost or sent twice"


@pytest.mark.slow
def test_a_short_sns_outage_is_ridden_out_by_retries(stack: LocalStack, moto: MotoServer, faults: FaultProxy) -> None:
    deliveries = traffic(scaled(default=8, full=40))
    expected = fault_free(moto, deliveries)
    outage = FaultPlan(rate=1.0, services=frozenset({"sns"}), kinds=("unavailable", "drop"), limit=12)
    stack_f, pipeline, queue = run(moto, deliveries, faults, outage)
    state, alerts, _ = outcome(stack_f, queue)
    print(f"\nfigures | short SNS outage: {json.dumps(faults.stats.as_dict())}, alerts {sum(alerts.values())}")
    assert faults.stats.injected["sns:unavailable"] + faults.stats.injected["sns:drop"] == 12
    assert pipeline.given_up() == 0
    assert state == expected[0]
    assert alerts == expected[1]


@pytest.mark.slow
def test_batches_past_the_retry_budget_go_to_the_failure_queues_and_replay_exactly(
    stack: LocalStack, moto: MotoServer, faults: FaultProxy
) -> None:
    """DynamoDB down while the Kinesis batches are tried, SNS down while the alert batches are: both are
    given up to their on-failure queues with where they are; once AWS is back, a replay ends exactly
    where a fault-free run does."""
    deliveries = [d for d in traffic(scaled(default=4, full=20)) if d.path == "kinesis"]
    expected = fault_free(moto, deliveries)

    stack_f, handlers = fresh_stack(moto, faults.endpoint_url)
    queue = stack_f.subscribe_queue("alerts", raw=True)
    pipeline = InProcessPipeline(stack_f, handlers, parameters={"StreamMaximumRetryAttempts": 1})
    pipeline.send(deliveries)
    faults.plan = FaultPlan(rate=1.0, kinds=("server_error",), operations=frozenset({"PutItem"}))
    pipeline.ingest()
    given_up_ingest = pipeline.given_up()
    assert given_up_ingest > 0 and stack_f.items() == []

    stream_failures = stack_f.resources["StreamFailuresQueue"]["ref"]
    stack_f.sqs.set_queue_attributes(QueueUrl=stream_failures, Attributes={"VisibilityTimeout": "1"})

    def target_of(function_arn: str, stream_arn: str) -> ReplayTarget:
        """The function the record names, with its trigger's filter, as aws_target_of finds them on AWS."""
        name = function_arn.split(":")[6]  # arn:aws:lambda:<region>:<account>:function:<name>[:<alias>]
        poller = next(p for p in pipeline.pollers if (p.trigger.function, p.trigger.stream_arn) == (name, stream_arn))
        return ReplayTarget(poller.invoke, list(poller.trigger.filter_patterns) or None)

    still_down = replay(stream_failures, stack_f.sqs, stack_f.kinesis, stack_f.client("dynamodbstreams"), target_of)
    assert still_down.replayed == 0 and len(still_down.kept) == still_down.messages > 0  # kept for later

    faults.plan = FaultPlan(rate=1.0, services=frozenset({"sns"}), kinds=("unavailable",))
    time.sleep(1.1)  # the messages the first replay kept are visible again
    ingest_replay = replay(stream_failures, stack_f.sqs, stack_f.kinesis, stack_f.client("dynamodbstreams"), target_of)
    assert ingest_replay.kept == [] and ingest_replay.replayed == ingest_replay.messages > 0
    assert stored_state(stack_f) == expected[0]

    pipeline.alert()  # SNS is down: the alert batches are given up too
    given_up_alerts = pipeline.given_up() - given_up_ingest
    assert given_up_alerts > 0 and stack_f.drain(queue) == []

    faults.plan = FaultPlan()
    alert_failures = stack_f.resources["AlertFailuresQueue"]["ref"]
    alert_replay = replay(alert_failures, stack_f.sqs, stack_f.kinesis, stack_f.client("dynamodbstreams"), target_of)
    assert alert_replay.kept == [] and alert_replay.replayed == alert_replay.messages > 0
    alerts = alert_keys(stack_f.drain(queue))
    figures = {
        "records_given_up": {"kinesis": given_up_ingest, "table_stream": given_up_alerts},
        "replays": {"ingest": ingest_replay.as_dict(), "alerts": alert_replay.as_dict()},
        "faults_injected": dict(faults.stats.injected),
        "alerts": sum(alerts.values()),
    }
    print(f"\nfigures | retry budget exhausted, then replayed: {json.dumps(figures)}")
    assert alerts == expected[1]
    assert rejections(stack_f) == expected[2]
