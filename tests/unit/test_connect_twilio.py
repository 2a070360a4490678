"""Given a deployed stack's outputs, when the connect script runs against Twilio's Event Streams API
(a stub HTTP client that keeps sinks and subscriptions in memory: never the network), then it creates
exactly what is missing, walks the validation handshake, and a second run creates nothing."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
from contextlib import redirect_stdout
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from operate.connect_twilio import EVENT_TYPES, ConnectError, main, plan_sinks

API = "https://abc.execute-api.us-east-1.amazonaws.com/v1/events"
OUTPUTS = {
    "EventStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/vi",
    "TwilioKinesisSinkRoleArn": "arn:aws:iam::123456789012:role/twilio-sink",
    "ConferenceSummaryCompleteWebhookUrl": f"{API}/conference-summary-complete",
    "ConferenceSummaryPartialWebhookUrl": f"{API}/conference-summary-partial",
    "ParticipantSummaryCompleteWebhookUrl": f"{API}/participant-summary-complete",
}
BASE = "https://events.twilio.com/v1"


class FakeEventStreams(HttpClient):
    """Twilio's Events v1 API, in memory: Sinks, Validate, Subscriptions, SubscribedEvents."""

    def __init__(self) -> None:
        super().__init__(logger=None, is_async=False)  # type: ignore[arg-type]
        self.sinks: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.writes: list[str] = []
        self.test_ids: dict[str, str] = {}
        self._sids = itertools.count(1)

    def request(self, method: str, uri: str, params: Any = None, data: Any = None, **_: Any) -> Response:
        assert uri.startswith(BASE), uri  # the only host the script may talk to, and only through this stub
        path = uri.removeprefix(BASE)
        form = {k: v if isinstance(v, list) else [v] for k, v in (data or {}).items()}
        if method == "POST":
            self.writes.append(f"POST {re.sub(r'(DG|DF)[0-9a-f]+', '<sid>', path)}")
        if path == "/Sinks" and method == "GET":
            return self._page("sinks", list(self.sinks.values()))
        if path == "/Sinks" and method == "POST":
            sid = f"DG{next(self._sids):032x}"
            self.test_ids[sid] = f"TI{sid[2:]}"
            sink = {
                "sid": sid,
                "description": form["Description"][0],
                "sink_type": form["SinkType"][0],
                "sink_configuration": json.loads(form["SinkConfiguration"][0]),
                "status": "initialized",
            }
            self.sinks[sid] = sink
            return Response(201, json.dumps(sink))
        if match := re.fullmatch(r"/Sinks/(DG\w+)", path):
            return Response(200, json.dumps(self.sinks[match[1]]))
        if match := re.fullmatch(r"/Sinks/(DG\w+)/Validate", path):
            valid = form["TestId"][0] == self.test_ids[match[1]]
            if valid:
                self.sinks[match[1]]["status"] = "active"
            return Response(201, json.dumps({"result": "valid" if valid else "invalid"}))
        if path == "/Subscriptions" and method == "GET":
            sink_sid = (params or {}).get("SinkSid")
            return self._page("subscriptions", [s for s in self.subscriptions.values() if s["sink_sid"] == sink_sid])
        if path == "/Subscriptions" and method == "POST":
            sink_sid = form["SinkSid"][0]
            if self.sinks[sink_sid]["status"] != "active":
                return Response(400, json.dumps({"code": 20001, "message": "Sink must be active", "status": 400}))
            sid = f"DF{next(self._sids):032x}"
            types = [json.loads(t) for t in form["Types"]]
            self.subscriptions[sid] = {"sid": sid, "description": form["Description"][0], "sink_sid": sink_sid,
                                       "types": types}  # fmt: skip
            return Response(201, json.dumps(self.subscriptions[sid]))
        if match := re.fullmatch(r"/Subscriptions/(DF\w+)/SubscribedEvents", path):
            subscription = self.subscriptions[match[1]]
            if method == "POST":
                subscription["types"].append({"type": form["Type"][0], "schema_version": int(form["SchemaVersion"][0])})
                return Response(201, json.dumps(subscription["types"][-1]))
            return self._page("types", subscription["types"])
        return Response(404, json.dumps({"code": 20404, "message": f"no {method} {path}", "status": 404}))

    @staticmethod
    def _page(key: str, records: list[dict[str, Any]]) -> Response:
        meta = {"page": 0, "page_size": 50, "key": key, "next_page_url": None, "previous_page_url": None}
        return Response(200, json.dumps({key: records, "meta": meta}))


@pytest.fixture
def twilio() -> FakeEventStreams:
    return FakeEventStreams()


def run(twilio: FakeEventStreams, tmp_path: Any, *args: str) -> tuple[int, str]:
    outputs = tmp_path / "voice-insights.json"
    outputs.write_text(json.dumps(OUTPUTS))
    out = io.StringIO()
    client = Client("AC" + "0" * 32, "token", http_client=twilio)
    with redirect_stdout(out):
        status = main(["--outputs-file", str(outputs), *args], client=client)
    return status, out.getvalue()


def test_kinesis_sink_walks_the_handshake_and_is_idempotent(twilio: FakeEventStreams, tmp_path: Any) -> None:
    status, said = run(twilio, tmp_path, "--sink", "kinesis", "--external-id", "s3cr3t")
    assert status == 0
    assert twilio.writes == ["POST /Sinks"]
    (sink,) = twilio.sinks.values()
    assert sink["sink_configuration"] == {
        "arn": OUTPUTS["EventStreamArn"], "role_arn": OUTPUTS["TwilioKinesisSinkRoleArn"], "external_id": "s3cr3t"
    }  # fmt: skip
    assert f"--validate {sink['sid']}=<test id>" in said

    # Again without the test id: nothing new, the same advice.
    assert run(twilio, tmp_path, "--sink", "kinesis", "--external-id", "s3cr3t")[0] == 0
    assert twilio.writes == ["POST /Sinks"]

    validate = f"{sink['sid']}={twilio.test_ids[sink['sid']]}"
    status, said = run(twilio, tmp_path, "--sink", "kinesis", "--external-id", "s3cr3t", "--validate", validate)
    assert status == 0
    assert twilio.writes == ["POST /Sinks", "POST /Sinks/<sid>/Validate", "POST /Subscriptions"]
    (subscription,) = twilio.subscriptions.values()
    assert subscription["types"] == [{"type": t, "schema_version": 2} for t in EVENT_TYPES]

    status, said = run(twilio, tmp_path, "--sink", "kinesis", "--external-id", "s3cr3t")
    assert (status, said.strip()) == (0, "nothing to change")
    assert len(twilio.writes) == 3


def test_a_missing_event_type_is_added_to_the_existing_subscription(twilio: FakeEventStreams, tmp_path: Any) -> None:
    run(twilio, tmp_path, "--sink", "kinesis", "--external-id", "x")
    (sid,) = twilio.sinks
    run(twilio, tmp_path, "--sink", "kinesis", "--external-id", "x", "--validate", f"{sid}={twilio.test_ids[sid]}")
    (subscription,) = twilio.subscriptions.values()
    del subscription["types"][1]
    run(twilio, tmp_path, "--sink", "kinesis", "--external-id", "x")
    assert twilio.writes[-1] == "POST /Subscriptions/<sid>/SubscribedEvents"
    assert sorted(t["type"] for t in subscription["types"]) == sorted(EVENT_TYPES)


def test_webhook_sinks_one_per_event_type(twilio: FakeEventStreams, tmp_path: Any) -> None:
    run(twilio, tmp_path, "--sink", "webhook")
    assert len(twilio.sinks) == 3
    destinations = sorted(s["sink_configuration"]["destination"] for s in twilio.sinks.values())
    assert destinations == sorted(OUTPUTS[k] for k in OUTPUTS if k.endswith("WebhookUrl"))
    assert all(s["sink_configuration"]["batch_events"] is True for s in twilio.sinks.values())
    validations = [arg for sid, test_id in twilio.test_ids.items() for arg in ("--validate", f"{sid}={test_id}")]
    run(twilio, tmp_path, "--sink", "webhook", *validations)
    assert sorted(s["types"][0]["type"] for s in twilio.subscriptions.values()) == sorted(EVENT_TYPES)
    writes = len(twilio.writes)
    run(twilio, tmp_path, "--sink", "webhook")
    assert len(twilio.writes) == writes


def test_dry_run_writes_nothing(twilio: FakeEventStreams, tmp_path: Any) -> None:
    status, said = run(twilio, tmp_path, "--sink", "webhook", "--dry-run")
    assert status == 0 and twilio.writes == []
    assert said.count("would create webhook sink") == 3
    assert "3 change(s) planned" not in said and "6 change(s) planned" in said


def test_a_sink_pointing_elsewhere_is_reported_not_changed(twilio: FakeEventStreams, tmp_path: Any) -> None:
    run(twilio, tmp_path, "--sink", "kinesis", "--external-id", "x")
    (sink,) = twilio.sinks.values()
    sink["sink_configuration"]["arn"] = "arn:aws:kinesis:us-east-1:123456789012:stream/other"
    _, said = run(twilio, tmp_path, "--sink", "kinesis", "--external-id", "x")
    assert "exists with another configuration" in said
    assert twilio.writes == ["POST /Sinks"]


def test_a_wrong_test_id_is_a_clear_error(twilio: FakeEventStreams, tmp_path: Any, capsys: Any) -> None:
    run(twilio, tmp_path, "--sink", "kinesis", "--external-id", "x")
    (sid,) = twilio.sinks
    status, _ = run(twilio, tmp_path, "--sink", "kinesis", "--external-id", "x", "--validate", f"{sid}=TIwrong")
    assert status == 2
    assert "did not validate sink" in capsys.readouterr().err
    assert twilio.sinks[sid]["status"] == "initialized"


def test_unreadable_outputs_are_a_clear_error(twilio: FakeEventStreams, capsys: Any) -> None:
    assert main(["--outputs-file", "/nonexistent.json", "--sink", "kinesis"], client=Client("AC1", "t")) == 2
    assert "cannot read stack outputs from /nonexistent.json" in capsys.readouterr().err


def test_kinesis_needs_the_role_output_and_the_external_id() -> None:
    with pytest.raises(ConnectError, match="TwilioKinesisSinkRoleArn"):
        plan_sinks({"EventStreamArn": "arn"}, "kinesis", "s", "x")
    with pytest.raises(ConnectError, match="--external-id is required"):
        plan_sinks(OUTPUTS, "kinesis", "s", "")


def test_a_custom_domain_replaces_the_api_host_in_webhook_destinations() -> None:
    plans = plan_sinks(OUTPUTS, "webhook", "s", webhook_base_url="https://hooks.example.com/twilio/")
    assert sorted(p.configuration["destination"] for p in plans) == [
        "https://hooks.example.com/twilio/events/conference-summary-complete",
        "https://hooks.example.com/twilio/events/conference-summary-partial",
        "https://hooks.example.com/twilio/events/participant-summary-complete",
    ]


@pytest.fixture
def no_aws_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    """No region, no credentials anywhere boto3 looks (and never the instance metadata service)."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return monkeypatch


@pytest.mark.parametrize(
    ("environment", "said"),
    [({}, "You must specify a region."), ({"AWS_REGION": "us-east-1"}, "You must specify a region."),
     ({"AWS_DEFAULT_REGION": "us-east-1"}, "Unable to locate credentials")],
)  # fmt: skip
def test_without_aws_configuration_it_says_what_to_set_instead_of_a_traceback(
    no_aws_configuration: pytest.MonkeyPatch, capsys: Any, environment: dict[str, str], said: str
) -> None:
    for name, value in environment.items():
        no_aws_configuration.setenv(name, value)

    assert main(["--stack-name", "voice-insights", "--sink", "kinesis", "--dry-run"]) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"error: {said} Set AWS_DEFAULT_REGION (boto3 does not read AWS_REGION)")
    assert "--outputs-file" in err and "Traceback" not in err


def test_a_stack_cloudformation_does_not_know_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    cloudformation = session.client("cloudformation")
    stubber = Stubber(cloudformation)
    stubber.add_client_error("describe_stacks", "ValidationError", "Stack with id nope does not exist")
    monkeypatch.setattr(boto3, "client", lambda service: cloudformation)

    with stubber:
        assert main(["--stack-name", "nope", "--sink", "kinesis"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: cannot read the outputs of stack 'nope': An error occurred (ValidationError)")
