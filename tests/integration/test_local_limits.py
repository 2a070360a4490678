"""Given the Lambda Runtime Interface Emulator running a function (a small handler written here, and a built one),
the local gateway in front of it and the local stream poller, when an invocation passes one of AWS's limits, then it
is answered as AWS answers:

- Lambda (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): a request over 6 MB is refused
  before the function runs (RequestEntityTooLargeException, 413 through API Gateway); an answer over 6 MB is
  Function.ResponseSizeTooLarge (502); the function's Timeout is Sandbox.Timedout (502); passing MemorySize kills the
  runtime, Runtime.OutOfMemory "Runtime exited with error: signal: killed" (502), and the next call runs anew;
- API Gateway (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html): a body over 10 MB is 413,
  no answer within the 29 s integration timeout 504;
- Lambda's stream event-source mapping: no batch's event passes 6 MB, whatever the batch size.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
import uuid
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.cfn import load_template, local_client
from devtools.gateway import INTEGRATION_TIMEOUT_S, MAX_PAYLOAD_BYTES, LocalGateway
from devtools.lambda_rie import (
    BUILD_DIR,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    LambdaEmulator,
    LambdaInvokeError,
    RequestTooLarge,
    built_function,
)
from devtools.moto_server import MotoServer
from devtools.pollers import StreamPoller, shard_ids, take_batch
from devtools.triggers import ApiRoute, StreamTrigger

HANDLER = """
import json, time

def lambda_handler(event, context):
    ask = json.loads(event.get("body") or "{}") if "httpMethod" in event else event
    if "answer_bytes" in ask:
        return {"statusCode": 200, "body": "A" * ask["answer_bytes"]}
    if "sleep_s" in ask:
        time.sleep(ask["sleep_s"])
    held = [bytearray(1024 * 1024) for _ in range(ask.get("hold_mb", 0))]
    return {"statusCode": 200, "body": json.dumps({"held_mb": len(held), "event_bytes": len(json.dumps(event))})}
"""


@pytest.fixture(scope="module")
def function(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaEmulator]:
    folder = tmp_path_factory.mktemp("limits")
    (folder / "app.py").write_text(HANDLER)
    credentials = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1"}
    with LambdaEmulator(folder, [], "app.lambda_handler", credentials, timeout_s=2, memory_mb=128) as emulator:
        yield emulator


def body(answer: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(answer["body"])
    return decoded


def test_a_request_over_6_mb_is_refused_before_the_function_runs(function: LambdaEmulator) -> None:
    logged = len(function.log_bytes())
    padding = "x" * (MAX_REQUEST_BYTES - len(json.dumps({"pad": ""})))
    assert body(function.invoke({"pad": padding}))["event_bytes"] == MAX_REQUEST_BYTES  # 6,291,456 bytes pass
    logged = len(function.log_bytes())
    with pytest.raises(RequestTooLarge, match="Request must be smaller than 6291456 bytes for the InvokeFunction"):
        function.invoke({"pad": padding + "x"})
    assert "START" not in function.logs(logged)  # Lambda never started it
    assert function.invoke_raw({"pad": padding + "x"})["errorType"] == "RequestEntityTooLargeException"


def test_an_answer_over_6_mb_is_lambdas_response_size_error(function: LambdaEmulator) -> None:
    frame = len(json.dumps({"statusCode": 200, "body": ""}))
    assert len(function.invoke({"answer_bytes": MAX_RESPONSE_BYTES - frame})["body"]) == MAX_RESPONSE_BYTES - frame
    with pytest.raises(LambdaInvokeError) as error:
        function.invoke({"answer_bytes": MAX_RESPONSE_BYTES - frame + 1})
    assert error.value.answer == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    }
    assert body(function.invoke({}))["held_mb"] == 0  # and the next call runs


def test_the_functions_timeout_ends_the_invocation(function: LambdaEmulator) -> None:
    started = time.monotonic()
    with pytest.raises(LambdaInvokeError) as error:
        function.invoke({"sleep_s": 5})
    assert error.value.answer["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in error.value.answer["errorMessage"]
    assert 2 <= time.monotonic() - started < 4.5


def test_passing_memorysize_kills_the_runtime_as_lambda_does(function: LambdaEmulator) -> None:
    assert body(function.invoke({"hold_mb": 64}))["held_mb"] == 64  # within 128 MB
    with pytest.raises(LambdaInvokeError) as error:
        function.invoke({"hold_mb": 200})
    assert error.value.answer == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": "Runtime exited with error: signal: killed",
    }
    assert function.peak_memory_mb > 128
    assert body(function.invoke({"hold_mb": 64}))["held_mb"] == 64  # a new runtime serves the next call
    assert function.alive()


def test_a_built_function_over_its_memory_fails_at_init() -> None:
    """The read API's built function (Powertools, pydantic) given 32 MB: its imports alone pass it."""
    if not (BUILD_DIR / "template.yaml").exists():
        pytest.fail("no .aws-sam/build: run `make build`")
    template = load_template(BUILD_DIR / "template.yaml")
    template["Resources"]["ReadApiFunction"]["Properties"]["MemorySize"] = 32
    with built_function("ReadApiFunction", {"AWS_REGION": "us-east-1"}, template) as read_api:
        assert read_api.memory_mb == 32
        with pytest.raises(LambdaInvokeError, match=r"Runtime\.OutOfMemory"):
            read_api.invoke({"httpMethod": "GET", "path": "/issues"})


# Through the local gateway: what API Gateway answers for each.


@pytest.fixture(scope="module")
def gateway(function: LambdaEmulator) -> Iterator[LocalGateway]:
    routes = [ApiRoute("Function", "POST", "/limits", "v1")]
    with LocalGateway(routes, {"Function": function.invoke}, integration_timeout_s=1) as running:
        yield running


def post(gateway: LocalGateway, data: bytes) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
    connection.request("POST", "/v1/limits", body=data, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    return response.status, json.loads(raw) if response.status != 200 else {"bytes": len(raw)}


def test_through_the_gateway_each_limit_is_api_gateways_answer(gateway: LocalGateway) -> None:
    assert post(gateway, json.dumps({"hold_mb": 1}).encode())[0] == 200
    assert post(gateway, b"x" * (MAX_PAYLOAD_BYTES + 1)) == (413, {"message": "Request Too Long"})
    over_lambda = json.dumps({"pad": "x" * MAX_REQUEST_BYTES}).encode()  # under API Gateway's 10 MB
    assert post(gateway, over_lambda) == (413, {"message": "Request Too Long"})
    assert post(gateway, json.dumps({"answer_bytes": 7_000_000}).encode()) == (
        502,
        {"message": "Internal server error"},
    )
    assert post(gateway, json.dumps({"hold_mb": 300}).encode()) == (502, {"message": "Internal server error"})
    assert post(gateway, json.dumps({"sleep_s": 1.5}).encode()) == (504, {"message": "Endpoint request timed out"})
    time.sleep(2)  # the function runs on to its own timeout, as on AWS
    assert post(gateway, json.dumps({"hold_mb": 1}).encode())[0] == 200


def test_the_gateways_limits_are_api_gateways_quotas() -> None:
    assert MAX_PAYLOAD_BYTES == 10 * 1024 * 1024
    assert INTEGRATION_TIMEOUT_S == LocalGateway([], {}).integration_timeout_s == 29


def test_the_functions_timeout_through_the_gateway_is_a_502(function: LambdaEmulator) -> None:
    with LocalGateway([ApiRoute("Function", "POST", "/limits", "v1")], {"Function": function.invoke}) as gateway:
        assert post(gateway, json.dumps({"sleep_s": 5}).encode()) == (502, {"message": "Internal server error"})


# The stream poller keeps each batch under Lambda's 6 MB.


def test_batches_are_cut_before_6_mb_whatever_the_batch_size(moto: MotoServer) -> None:
    name = f"limits-{uuid.uuid4().hex[:8]}"
    kinesis = local_client("kinesis", moto.endpoint_url)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    record = json.dumps({"pad": "x" * 700_000})  # 0.7 MB; about 0.93 MB once base64-encoded in the event
    for n in range(20):
        kinesis.put_record(StreamARN=arn, Data=json.dumps({"n": n, "record": record}).encode(), PartitionKey="p")
    spec = StreamTrigger("Function", "Stream", "kinesis", arn, 100, 0, 0, False, True, (), None, "TRIM_HORIZON")
    sizes: list[int] = []
    numbers: list[int] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        sizes.append(len(json.dumps(event)))
        numbers.extend(json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in event["Records"])
        return {"batchItemFailures": []}

    (shard,) = shard_ids(spec, moto.endpoint_url)
    StreamPoller(spec, shard, moto.endpoint_url, invoke).drain()
    assert numbers == list(range(20))
    assert max(sizes) <= MAX_REQUEST_BYTES and len(sizes) == 4  # 6 records a batch, not the batch size's 100
    kinesis.delete_stream(StreamName=name)


def test_a_batch_takes_at_least_one_record_and_counts_the_events_bytes() -> None:
    records = deque({"data": "x" * size} for size in (100, 100, 100))
    one = len(json.dumps({"Records": [{"data": "x" * 100}]}))
    two = len(json.dumps({"Records": [{"data": "x" * 100}] * 2}))
    assert take_batch(deque(records), 10, max_bytes=two) == list(records)[:2]
    assert take_batch(deque(records), 10, max_bytes=two - 1) == list(records)[:1]
    assert take_batch(deque(records), 10, max_bytes=one - 1) == list(records)[:1]
    assert take_batch(deque(records), 2, max_bytes=10**9) == list(records)[:2]
