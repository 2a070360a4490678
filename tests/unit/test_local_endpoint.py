"""Local runs (`sam local invoke`/`start-api`, issue 19): events/env.json reaches the functions only through
variables the template declares; LOCAL_AWS_ENDPOINT_URL points every AWS client (Secrets Manager's too) at the
local endpoint with a short connect timeout and bounded retries; an endpoint that does not answer fails in
seconds with one log line. Deployed, nothing changes."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.cfn import load_template
from voice_insights.aws import clients
from voice_insights.aws.clients import LocalEndpointUnreachable, make_client
from voice_insights.ingest import signature

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
ENV_FILE = json.loads((ROOT / "events" / "env.json").read_text())
FUNCTIONS = sorted(k for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::Serverless::Function")


def declared(logical_id: str) -> dict[str, Any]:
    variables = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    own = TEMPLATE["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return {**variables, **own}


@pytest.fixture(autouse=True)
def fresh_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients, "_reachable_endpoints", set())
    monkeypatch.delenv("LOCAL_AWS_ENDPOINT_URL", raising=False)
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:  # set by other tests' stacks
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # a user's own profile region, as sam local passes it
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUSERSOWNKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "users-own-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "users-own-token")


@pytest.fixture
def listening() -> Iterator[str]:
    """An endpoint on 127.0.0.1 that takes connections (and never answers)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_the_template_declares_the_local_endpoint_empty_for_every_function_and_no_aws_endpoint_url() -> None:
    for logical_id in FUNCTIONS:
        variables = declared(logical_id)
        assert variables["LOCAL_AWS_ENDPOINT_URL"] == "", logical_id
        assert not any(name.startswith("AWS_ENDPOINT_URL") for name in variables), logical_id


def test_env_json_sets_only_variables_the_template_declares_for_the_function() -> None:
    # sam local drops every other one silently: AWS_ENDPOINT_URL here sent the functions to real AWS.
    assert set(ENV_FILE) == set(FUNCTIONS)
    for logical_id, values in ENV_FILE.items():
        undeclared = set(values) - set(declared(logical_id))
        assert not undeclared, f"{logical_id}: {sorted(undeclared)} would be ignored by sam local"


def test_env_json_points_every_function_at_the_local_endpoint_and_names_every_resource_it_uses() -> None:
    for logical_id in FUNCTIONS:
        values = ENV_FILE[logical_id]
        assert values["LOCAL_AWS_ENDPOINT_URL"] == "http://host.docker.internal:5000"
        resources = [
            name
            for name, value in declared(logical_id).items()
            if isinstance(value, dict) and list(value) == ["Ref"] and value["Ref"] in TEMPLATE["Resources"]
        ]
        assert resources, logical_id
        missing = [name for name in resources if not values.get(name)]
        assert not missing, f"{logical_id}: {missing} would be the logical id under sam local"


def test_deployed_clients_call_aws_with_the_deployed_settings() -> None:
    client = make_client("dynamodb")
    assert client.meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"
    assert client.meta.config.connect_timeout == 2
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}  # max_attempts 4


@pytest.mark.parametrize("service", ["dynamodb", "s3", "sns", "secretsmanager"])
def test_local_clients_call_the_local_endpoint_in_its_region_with_local_credentials_and_short_timeouts(
    monkeypatch: pytest.MonkeyPatch, listening: str, service: str
) -> None:
    monkeypatch.setenv("LOCAL_AWS_ENDPOINT_URL", listening)
    client = make_client(service)
    assert client.meta.endpoint_url == listening
    assert client.meta.region_name == "us-east-1"  # where the local resources are, whatever the user's profile
    credentials = client._request_signer._credentials
    assert (credentials.access_key, credentials.token) == ("local", None)  # the user's own never sign
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 5)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert config.s3 == {"addressing_style": "path"}  # host.docker.internal takes no bucket subdomain


def test_the_webhook_secret_is_read_with_the_same_client(monkeypatch: pytest.MonkeyPatch, listening: str) -> None:
    monkeypatch.setenv("LOCAL_AWS_ENDPOINT_URL", listening)
    built: list[Any] = []

    class Client:
        def get_secret_value(self, **request: Any) -> dict[str, Any]:
            return {"SecretString": json.dumps({"primary_auth_token": "t"}), "Name": request["SecretId"]}

    def make(service: str) -> Any:
        built.append((service, make_client(service).meta.endpoint_url))
        return Client()

    monkeypatch.setattr(signature, "make_client", make)
    assert signature.CredentialSource("local-secret").get().auth_tokens == ("t",)
    assert built == [("secretsmanager", listening)]


def unreachable_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        {"level": record.levelname, "message": record.getMessage()}
        for record in caplog.records
        if "Cannot reach the local AWS endpoint" in record.getMessage()
    ]


def test_a_closed_local_endpoint_fails_at_once_with_one_log_line_saying_what_to_do(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("LOCAL_AWS_ENDPOINT_URL", endpoint)
    started = time.monotonic()
    with pytest.raises(LocalEndpointUnreachable, match="cannot be reached"):
        make_client("dynamodb")
    assert time.monotonic() - started < 3
    (line,) = unreachable_lines(caplog)
    assert line["level"] == "ERROR"
    assert endpoint in line["message"]
    assert "make local-aws" in line["message"]
    assert "--add-host host.docker.internal:host-gateway" in line["message"]


def test_a_name_that_does_not_resolve_in_time_fails_within_the_check_not_the_function_timeout(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # No network: the resolver does not answer (simulated: nothing leaves this machine).
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: time.sleep(5))
    monkeypatch.setenv("LOCAL_AWS_ENDPOINT_URL", "http://host.docker.internal:5000")
    started = time.monotonic()
    with pytest.raises(LocalEndpointUnreachable, match="TimeoutError"):
        make_client("s3")
    assert time.monotonic() - started < 2.5
    assert len(unreachable_lines(caplog)) == 1


def test_a_local_endpoint_that_cannot_be_reached_is_not_a_refused_webhook(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The invoke fails (setup error), instead of answering 503 as for a secret that cannot be read.
    monkeypatch.setenv("LOCAL_AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(LocalEndpointUnreachable):
        signature.CredentialSource("local-secret").get()
    assert len(unreachable_lines(caplog)) == 1


@pytest.mark.parametrize("value", ["host.docker.internal:5000", "ftp://127.0.0.1:5000", "http://127.0.0.1:port"])
def test_a_local_endpoint_that_is_not_an_http_url_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LOCAL_AWS_ENDPOINT_URL", value)
    with pytest.raises(clients.ConfigurationError, match="LOCAL_AWS_ENDPOINT_URL"):
        make_client("dynamodb")
