"""The local webhook gateway (devtools.gateway) turns HTTP requests into API Gateway REST proxy events
and answers as API Gateway does; the function here is a Python callable recording its events."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.cfn import load_template
from devtools.gateway import LocalGateway
from devtools.triggers import ApiRoute, api_routes
from tests.integration.conftest import TEMPLATE


class Recorder:
    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer or {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}
        self.error = error

    def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if self.error is not None:
            raise self.error
        return self.answer


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def gateway(recorder: Recorder) -> Iterator[LocalGateway]:
    routes = [ApiRoute("Function", "POST", "/events/thing", "v1")]
    with LocalGateway(routes, {"Function": recorder}) as running:
        yield running


def request(
    gateway: LocalGateway, method: str, path: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None
) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    connection.putrequest(method, path)
    for name, value in headers or []:
        connection.putheader(name, value)
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    answer = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, answer


def test_the_template_routes_are_the_webhook_routes() -> None:
    routes = {(r.function, r.method, r.path, r.stage) for r in api_routes(load_template(TEMPLATE))}
    assert routes == {
        ("ConferenceSummaryCompleteFunction", "POST", "/events/conference-summary-complete", "v1"),
        ("ConferenceSummaryPartialFunction", "POST", "/events/conference-summary-partial", "v1"),
        ("ParticipantSummaryCompleteFunction", "POST", "/events/participant-summary-complete", "v1"),
    }


def test_a_post_becomes_a_proxy_event_with_the_signature_header_as_received(
    gateway: LocalGateway, recorder: Recorder
) -> None:
    status, _ = request(
        gateway,
        "POST",
        "/v1/events/thing?bodySHA256=abc&x=1&x=2",
        b'[{"id": "EZ1"}]',
        [("Content-Type", "application/json"), ("X-Twilio-Signature", "sig=="), ("X-Twilio-Signature", "other==")],
    )
    assert status == 200
    (event,) = recorder.events
    assert event["httpMethod"] == "POST" and event["resource"] == "/events/thing" and event["path"] == "/events/thing"
    assert event["requestContext"]["stage"] == "v1" and event["requestContext"]["path"] == "/v1/events/thing"
    assert event["body"] == '[{"id": "EZ1"}]' and event["isBase64Encoded"] is False
    assert event["multiValueHeaders"]["X-Twilio-Signature"] == ["sig==", "other=="]
    assert event["headers"]["X-Twilio-Signature"] == "other=="  # the single-value map keeps the last, as AWS
    assert event["multiValueQueryStringParameters"] == {"bodySHA256": ["abc"], "x": ["1", "2"]}
    assert event["requestContext"]["domainName"] == f"127.0.0.1:{gateway.port}"


def test_a_body_that_is_not_utf8_is_passed_base64_encoded(gateway: LocalGateway, recorder: Recorder) -> None:
    request(gateway, "POST", "/v1/events/thing", b"\xff\xfe")
    assert recorder.events[0]["isBase64Encoded"] is True and recorder.events[0]["body"] == "//4="


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/events/other"), ("GET", "/v1/events/thing"), ("POST", "/events/thing")]
)
def test_unknown_routes_and_methods_answer_like_api_gateway(
    gateway: LocalGateway, recorder: Recorder, method: str, path: str
) -> None:
    status, answer = request(gateway, method, path)
    assert (status, answer) == (403, {"message": "Missing Authentication Token"})
    assert recorder.events == []


def test_a_function_error_is_a_502() -> None:
    failing = Recorder(error=RuntimeError("boom"))
    with LocalGateway([ApiRoute("F", "POST", "/x", "v1")], {"F": failing}) as gateway:
        status, answer = request(gateway, "POST", "/v1/x", b"[]")
    assert (status, answer) == (502, {"message": "Internal server error"})


def test_the_function_status_and_body_are_the_response() -> None:
    teapot = Recorder({"statusCode": 418, "headers": {"X-Reason": "tea"}, "body": '{"message": "short and stout"}'})
    with LocalGateway([ApiRoute("F", "POST", "/x", "v1")], {"F": teapot}) as gateway:
        assert request(gateway, "POST", "/v1/x", b"[]") == (418, {"message": "short and stout"})
