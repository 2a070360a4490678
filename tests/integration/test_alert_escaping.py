"""Given a participant whose label carries mentions, formatting, HTML and links, delivered through Twilio's webhook
into the local endpoint (moto server over HTTP), when the alert function reads the table's stream, then what
people read is escaped where they read it: the chat topic's card (read from a queue subscribed to it) mentions,
links and formats nothing; the text an HTTP(S) or email subscriber gets (read from a local HTTP endpoint moto
posts to) and its subject carry no link a mail client would make; the alert/1 JSON keeps the label as sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from devtools.lambda_events import api_gateway_event
from devtools.queues import subscribe_queue
from tests.conftest import healthy_participant, with_stream
from tests.integration.conftest import LocalStack, MetricsCapture, load_handlers
from tests.integration.test_alerts import run_alerts
from voice_insights.ingest.webhook import route_path

ROUTE = "participant_summary_complete"
LABEL = "<!channel> <@U0123> *boss* _now_ [x](https://evil.example) www.evil.example evil.example.com/login"


class Received(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        Received.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def http_subscriber() -> Iterator[str]:
    Received.bodies = []
    server = HTTPServer(("127.0.0.1", 0), Received)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()


def strings_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return [value] if isinstance(value, str) else []


def test_what_people_read_of_an_alert_is_escaped_where_they_read_it(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, http_subscriber: str
) -> None:
    chat_topic = stack.sns.create_topic(Name="alert-chat")["TopicArn"]
    monkeypatch.setenv("ALERT_CHAT_TOPIC_ARN", chat_topic)
    chat = subscribe_queue(stack.endpoint_url, chat_topic, "chat", raw=True)
    machine = stack.subscribe_queue("machine", raw=True)
    stack.sns.subscribe(TopicArn=stack.topic_arn, Protocol="http", Endpoint=http_subscriber)
    handlers = load_handlers()
    event = with_stream(healthy_participant(id="EV-escape", data__label=LABEL), "inbound", mos=2.0)
    response = handlers[ROUTE](api_gateway_event(route_path(ROUTE), json.dumps([event])))
    assert response["statusCode"] == 200
    assert run_alerts(stack, handlers, MetricsCapture()) == {"batchItemFailures": []}

    (card,) = [json.loads(m["Body"]) for m in stack.drain(chat)]
    for text in strings_in(card):
        assert "<" not in text and ">" not in text and "*boss*" not in text and "evil.example" not in text, text
    assert "&lt;!channel&gt;" in card["content"]["title"] and "&lt;!channel&gt;" in card["metadata"]["summary"]
    assert "&lt;!channel&gt;" in card["content"]["description"]

    (notification,) = Received.bodies
    text, subject = notification["Message"], notification["Subject"]
    for shown in (text, subject):
        assert "www.evil.example" not in shown and "evil.example.com" not in shown and "https://evil" not in shown
    assert "www[.]evil[.]example evil[.]example[.]com/login" in text, text

    (alert,) = [json.loads(m["Body"]) for m in stack.drain(machine)]
    assert alert["participant"]["label"] == LABEL  # the JSON for machines: as sent
