"""`sam local invoke` as docs/running-locally.md says, without Docker: the environment the SAM CLI's own code gives
each function for events/env.json (devtools/sam_env_probe.py), the built function under the Runtime Interface
Emulator, and
`make local-aws` (subprocess) as the endpoint. Only the endpoint's host differs from a container's run:
host.docker.internal:5000 becomes 127.0.0.1:<free port>."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from devtools.cfn import load_template
from devtools.lambda_rie import BUILD_DIR, built_function
from devtools.loopback import free_port
from devtools.sam_local import local_state, sam_local_environments
from tests.sam_local_cases import EVENT_FILES, ROOT, check_answer, check_state, function_of, local_aws

pytestmark = pytest.mark.skipif(not (BUILD_DIR / "template.yaml").exists(), reason="needs `make build`")

# A user with AWS configured: sam local passes their region and credentials into the function.
USERS_OWN_AWS = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "AKIAUSERSOWNKEY",
    "AWS_SECRET_ACCESS_KEY": "users-own-secret",
}


def functions(template: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function")


def test_the_built_template_gives_the_deployed_functions_no_endpoint_override() -> None:
    for path in (ROOT / "template.yaml", BUILD_DIR / "template.yaml"):
        template = load_template(path)
        globals_ = template["Globals"]["Function"]["Environment"]["Variables"]
        assert globals_["LOCAL_AWS_ENDPOINT_URL"] == "", path
        for logical_id in functions(template):
            own = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
            variables = {**globals_, **own}
            assert variables["LOCAL_AWS_ENDPOINT_URL"] == "", (path, logical_id)
            assert not [name for name in variables if name.startswith("AWS_ENDPOINT_URL")], (path, logical_id)


def test_sam_local_gives_each_function_the_endpoint_and_names_of_env_json() -> None:
    environments = sam_local_environments(caller_env=USERS_OWN_AWS)
    env_file = json.loads((ROOT / "events" / "env.json").read_text())
    for logical_id in functions(load_template(BUILD_DIR / "template.yaml")):
        env = environments[logical_id]
        assert env["LOCAL_AWS_ENDPOINT_URL"] == "http://host.docker.internal:5000"
        assert {name: env[name] for name in env_file[logical_id]} == env_file[logical_id]
        assert env["AWS_REGION"] == "eu-west-1"  # the user's: the functions use us-east-1 locally anyway


def as_here(env: dict[str, str], port: int) -> dict[str, str]:
    """The endpoint as this machine reaches `make local-aws` (a container: host.docker.internal:5000)."""
    endpoint = env["LOCAL_AWS_ENDPOINT_URL"].replace("host.docker.internal:5000", f"127.0.0.1:{port}")
    return {**env, "LOCAL_AWS_ENDPOINT_URL": endpoint}


@pytest.mark.slow
def test_every_sample_event_is_handled_and_kept_in_the_local_table_and_bucket_of_make_local_aws() -> None:
    environments = sam_local_environments(caller_env=USERS_OWN_AWS)
    template = load_template(BUILD_DIR / "template.yaml")
    port = free_port()
    answers = {}
    with local_aws("127.0.0.1", port) as ready:
        assert ready["resources"]["SummariesTable"] == "voice-insights-summaries"
        for event_file in EVENT_FILES:
            if event_file.name == "env.json":
                continue
            logical_id = function_of(event_file)
            with built_function(logical_id, as_here(environments[logical_id], port), template) as function:
                answer = function.invoke_raw(json.loads(event_file.read_text()))
            answers[event_file.relative_to(ROOT).as_posix()] = check_answer(event_file, answer)
        state = local_state(ready["endpoint_url"])
    for name, answer in answers.items():
        print(f"figures | {name} -> {answer}")
    print(f"figures | table {state['items']} | bucket {state['objects']} | alerts {state['alerts']}")
    assert len(answers) == 17
    check_state(state)


def closed_port() -> int:
    return free_port()  # bound and closed again: nothing listens there


@pytest.mark.parametrize(
    "event_file",
    [
        "events/conference_summary_complete/kinesis.json",
        "events/participant_summary_complete/webhook.json",
        "events/quality_alerts/stream-participant-with-issues.json",
    ],
)
def test_an_unreachable_local_endpoint_fails_the_invoke_within_seconds_with_one_log_line(event_file: str) -> None:
    environments = sam_local_environments()
    path = ROOT / event_file
    logical_id = function_of(path)
    env = {**environments[logical_id], "LOCAL_AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}"}
    with built_function(logical_id, env, load_template(BUILD_DIR / "template.yaml")) as function:
        started = time.monotonic()
        answer = function.invoke_raw(json.loads(path.read_text()))
        seconds = time.monotonic() - started
        logs = function.logs()
    print(f"figures | {event_file}: failed in {seconds:.2f} s: {answer.get('errorType')}: {answer.get('errorMessage')}")
    assert isinstance(answer, dict) and answer["errorType"] == "LocalEndpointUnreachable", answer
    assert seconds < 15
    lines = [line for line in logs.splitlines() if "Cannot reach the local AWS endpoint" in line]
    assert len(lines) == 1, logs
    message = json.loads(lines[0])["message"]
    assert "make local-aws" in message and "--add-host host.docker.internal:host-gateway" in message


def test_a_request_signed_for_start_apis_url_is_accepted(tmp_path: Path) -> None:
    """`sam local start-api --parameter-overrides WebhookPublicBaseUrl=http://127.0.0.1:3000`: the function checks
    signatures against the URL start-api serves; the request `make sign-request` prints is accepted there."""
    from devtools.sam_local import START_API_URL, signed_curl

    environments = sam_local_environments(parameter_overrides={"WebhookPublicBaseUrl": START_API_URL})
    source = ROOT / "events" / "participant_summary_complete" / "webhook.json"
    curl = signed_curl(source)
    url = curl.split("'")[1]
    signature = curl.split("X-Twilio-Signature: ")[1].split("'")[0]
    event = json.loads(source.read_text())
    route = event["resource"]
    body_sha = url.split("bodySHA256=")[1]
    # The event start-api builds (samcli.local.apigw.event_constructor): no stage in the path, its own host.
    event["headers"] = {"Content-Type": "application/json", "Host": "127.0.0.1:3000", "X-Twilio-Signature": signature}
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    event["queryStringParameters"] = {"bodySHA256": body_sha}
    event["multiValueQueryStringParameters"] = {"bodySHA256": [body_sha]}
    event["requestContext"].update(domainName="127.0.0.1:3000", path=route, resourcePath=route, stage="v1")
    assert url == f"{START_API_URL}{route}?bodySHA256={body_sha}"
    port = free_port()
    logical_id = function_of(source)
    with local_aws("127.0.0.1", port):
        env = as_here(environments[logical_id], port)
        assert env["WEBHOOK_PUBLIC_BASE_URL"] == START_API_URL
        with built_function(logical_id, env, load_template(BUILD_DIR / "template.yaml")) as function:
            assert function.invoke_raw(event)["statusCode"] == 200
            forged = "x" + signature
            event["headers"]["X-Twilio-Signature"] = event["multiValueHeaders"]["X-Twilio-Signature"][0] = forged
            assert function.invoke_raw(event)["statusCode"] == 403
