"""Given SAM's transform of a copy of template.yaml, when the local gateways and pollers are made from it, then they
invoke what API Gateway and Lambda would: each integration's function, alias or version, and only when a permission
for apigateway.amazonaws.com names exactly that with a SourceArn covering the request's method; otherwise 500
"Internal server error", logged as API Gateway logs it ("Invalid permissions on Lambda function").

Each test works on a modified copy of the template, so it keeps its meaning whatever template.yaml wires later: the
"today's wiring" copy puts back what template.yaml had when this was written (the read API's integrations invoke
``${ReadApiFunction.Arn}``, the unversioned function, while SAM's permissions name its alias ``live``)."""

from __future__ import annotations

import copy
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.cfn import load_template
from devtools.gateway import LocalGateway
from devtools.lambda_rie import BUILD_DIR
from devtools.runner import LocalRunner, NotBuilt
from devtools.triggers import READ_API, TemplateRefused, api_routes, stream_triggers
from tests.integration.conftest import TEMPLATE

FUNCTION_ARN = "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${%s}/invocations"
READ_PATHS = ["/issues", "/conferences", "/conferences/CF" + "0" * 32, "/calls/CA" + "0" * 32]


def read_api_invoking(template: dict[str, Any], target: str) -> dict[str, Any]:
    """A copy whose read API integrations all invoke ``target`` (``ReadApiFunction.Arn``: the function itself;
    ``ReadApiFunction.Alias``: its alias), the function publishing alias ``live`` (SAM's permissions name it)."""
    changed = copy.deepcopy(template)
    changed["Resources"]["ReadApiFunction"]["Properties"]["AutoPublishAlias"] = "live"
    for methods in changed["Resources"]["ReadApi"]["Properties"]["DefinitionBody"]["paths"].values():
        for spec in methods.values():
            spec["x-amazon-apigateway-integration"]["uri"] = {"Fn::Sub": FUNCTION_ARN % target}
    return changed


def todays_wiring(template: dict[str, Any]) -> dict[str, Any]:
    return read_api_invoking(template, "ReadApiFunction.Arn")


def fixed_wiring(template: dict[str, Any]) -> dict[str, Any]:
    return read_api_invoking(template, "ReadApiFunction.Alias")


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "body": json.dumps({"ok": True})}


def get(port: int, path: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    answer = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, answer


def read_gateway(template: dict[str, Any], log: list[str]) -> tuple[LocalGateway, Recorder]:
    recorder = Recorder()
    gateway = LocalGateway(api_routes(template, READ_API), {"ReadApiFunction": recorder}, on_request=log.append)
    return gateway, recorder


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_template(TEMPLATE)


def test_todays_read_api_wiring_answers_500_invalid_permissions_and_never_invokes(source: dict[str, Any]) -> None:
    log: list[str] = []
    gateway, recorder = read_gateway(todays_wiring(source), log)
    with gateway:
        answers = [get(gateway.port, f"/v1{path}") for path in READ_PATHS]
    assert answers == [(500, {"message": "Internal server error"})] * len(READ_PATHS)
    assert recorder.events == []
    assert len(log) == len(READ_PATHS)
    assert all(
        "Invalid permissions on Lambda function: ReadApiFunction for arn:aws:execute-api:" in line for line in log
    )


def test_the_read_api_on_its_alias_is_invoked_on_every_route(source: dict[str, Any]) -> None:
    log: list[str] = []
    gateway, recorder = read_gateway(fixed_wiring(source), log)
    with gateway:
        answers = [get(gateway.port, f"/v1{path}") for path in READ_PATHS]
    assert answers == [(200, {"ok": True})] * len(READ_PATHS)
    assert [event["path"] for event in recorder.events] == READ_PATHS
    assert {event["requestContext"]["apiId"] for event in recorder.events} == {"readapi"}


def test_a_permission_covers_only_its_own_method_and_path(source: dict[str, Any]) -> None:
    changed = fixed_wiring(source)
    read_api = changed["Resources"]["ReadApiFunction"]["Properties"]
    del read_api["Events"]["GetCall"]  # its permission goes with it; the integration of /calls/{callSid} stays
    log: list[str] = []
    gateway, recorder = read_gateway(changed, log)
    with gateway:
        assert get(gateway.port, "/v1/calls/CA" + "0" * 32) == (500, {"message": "Internal server error"})
        assert get(gateway.port, "/v1/conferences/CF" + "0" * 32)[0] == 200
    assert [event["path"] for event in recorder.events] == ["/conferences/CF" + "0" * 32]
    assert "Invalid permissions" in log[0] and "/v1/GET/calls/CA" in log[0]


def test_a_permission_of_the_webhook_api_does_not_let_the_read_api_invoke(source: dict[str, Any]) -> None:
    """The read API's integration pointed at a webhook function: the webhook's permission names its own API only."""
    changed = read_api_invoking(source, "ParticipantSummaryCompleteFunction.Alias")
    routes = api_routes(changed, READ_API)
    assert {(r.function, r.qualifier) for r in routes} == {("ParticipantSummaryCompleteFunction", "live")}
    assert all(r.grants and not r.granted(r.path) for r in routes)


def test_every_mapping_of_the_template_invokes_its_functions_alias(source: dict[str, Any]) -> None:
    triggers = stream_triggers(source, created_streams(source))
    assert {(t.function, t.qualifier, t.version) for t in triggers} == {
        ("ConferenceSummaryCompleteFunction", "live", "1"),
        ("ConferenceSummaryPartialFunction", "live", "1"),
        ("ParticipantSummaryCompleteFunction", "live", "1"),
        ("UnroutedEventsFunction", "live", "1"),
        ("QualityAlertsFunction", "live", "1"),
        ("LakeWriterFunction", "live", "1"),
    }


def test_a_mapping_naming_an_alias_that_does_not_exist_is_refused_as_cloudformation_would(
    source: dict[str, Any], tmp_path: Path
) -> None:
    changed = copy.deepcopy(source)
    changed["Resources"]["QualityAlertsFunction"]["Properties"]["AutoPublishAlias"] = "other"
    changed["Resources"]["AlertsOnLive"] = {  # a mapping written by hand for alias live, which is not published now
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {
            "EventSourceArn": {"Fn::GetAtt": ["SummariesTable", "StreamArn"]},
            "FunctionName": {"Fn::Sub": "${QualityAlertsFunction}:live"},
            "StartingPosition": "LATEST",
        },
    }
    with pytest.raises(TemplateRefused, match="AlertsOnLive: FunctionName 'QualityAlertsFunction:live' names no"):
        stream_triggers(changed, created_streams(source))


def created_streams(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The data resources a mapping names, as devtools.cfn would have created them."""
    arn = "arn:aws:{}:us-east-1:123456789012:{}"
    return {
        "EventStream": {"ref": "s", "attrs": {"Arn": arn.format("kinesis", "stream/s")}},
        "SummariesTable": {"ref": "t", "attrs": {"StreamArn": arn.format("dynamodb", "table/t/stream/1")}},
        "StreamFailuresQueue": {"ref": "q1", "attrs": {"Arn": arn.format("sqs", "q1")}},
        "AlertFailuresQueue": {"ref": "q2", "attrs": {"Arn": arn.format("sqs", "q2")}},
    }


# The whole stack on a copy of the built template: the built functions, today's wiring of the read API.


def built_copy(tmp_path: Path, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(change(load_template(BUILD_DIR / "template.yaml")), sort_keys=False))
    return path


@pytest.fixture
def todays_stack(tmp_path: Path) -> Iterator[tuple[LocalRunner, list[str]]]:
    if not (BUILD_DIR / "template.yaml").exists():
        pytest.fail("no .aws-sam/build: run `make build`")
    log: list[str] = []
    with LocalRunner(on_event=log.append, template_path=built_copy(tmp_path, todays_wiring)) as runner:
        yield runner, log


def test_the_local_stack_on_todays_wiring_answers_every_read_route_500(
    todays_stack: tuple[LocalRunner, list[str]],
) -> None:
    runner, log = todays_stack
    for path in READ_PATHS:
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(runner.read_api_url + path, timeout=30)
        assert (answer.value.code, json.loads(answer.value.read())) == (500, {"message": "Internal server error"})
    denied = [line for line in log if "Invalid permissions on Lambda function" in line]
    assert len(denied) == len(READ_PATHS)
    assert runner.functions["ReadApiFunction"].logs() == ""  # never invoked


def test_a_mapping_to_nothing_stops_the_local_stack_with_one_line(tmp_path: Path) -> None:
    def to_nothing(template: dict[str, Any]) -> dict[str, Any]:
        changed = copy.deepcopy(template)
        changed["Resources"]["Orphan"] = {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {"EventSourceArn": {"Fn::GetAtt": ["EventStream", "Arn"]}, "FunctionName": "NoSuchFunction"},
        }
        return changed

    with pytest.raises(NotBuilt, match="Orphan: FunctionName 'NoSuchFunction' names no function"):
        LocalRunner(template_path=built_copy(tmp_path, to_nothing)).start()
