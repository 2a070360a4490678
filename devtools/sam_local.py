"""`sam local invoke` and `sam local start-api` against a local AWS endpoint (docs/running-locally.md,
"Try one function with `sam local invoke`").

- ``make local-aws`` (``serve``): moto server with the template's data resources under the fixed names
  events/env.json gives the functions, the local Twilio auth token in the webhook secret; prints what to run
  on macOS and on Linux, then runs until Ctrl-C or SIGTERM.
- ``make local-aws-show``: what the local table, bucket and alert queue hold.
- ``make sign-request``: a signed `curl` for `sam local start-api` (Twilio's signature over the URL it serves).
- ``sam_local_environments``: the environment the SAM CLI's own code gives each function for an env-vars file.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from devtools.cfn import create_data_resources, load_template, local_client
from devtools.lambda_events import LOCAL_AUTH_TOKEN, LOCAL_WEBHOOK_SECRET, twilio_signature
from devtools.moto_server import MotoServer

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
ENV_FILE = ROOT / "events" / "env.json"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
LOCAL_BODIES = ROOT / ".aws-sam" / "local"
DEFAULT_PORT = 5000
START_API_URL = "http://127.0.0.1:3000"  # `sam local start-api`'s default host and port
ALERT_QUEUE = "voice-insights-local-alerts"  # subscribed to the alert topic, so alerts can be read back
ENDPOINT_VARIABLE = "LOCAL_AWS_ENDPOINT_URL"


def resource_name(value: str) -> str:
    """The name in an env.json value: the value itself, or the last part of an ARN (topic, secret)."""
    return value.rsplit(":", 1)[-1] if value.startswith("arn:") else value


def fixed_names(template: dict[str, Any], env_values: dict[str, dict[str, str]]) -> dict[str, str]:
    """{logical id: name} for every resource a function's variable names with ``!Ref`` (SUMMARIES_TABLE_NAME:
    !Ref SummariesTable), named as events/env.json names it. Two functions naming one resource apart: ValueError."""
    globals_ = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    names: dict[str, str] = {}
    for function, values in env_values.items():
        if function not in template["Resources"]:
            continue
        own = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
        declared = {**globals_, **own}
        for variable, value in values.items():
            ref = declared.get(variable)
            if not (isinstance(ref, dict) and list(ref) == ["Ref"] and ref["Ref"] in template["Resources"]):
                continue
            name = resource_name(value)
            if names.setdefault(ref["Ref"], name) != name:
                raise ValueError(f"{ref['Ref']} is named both {names[ref['Ref']]!r} and {name!r} in the env-vars file")
    return names


def start_local_aws(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, env_file: Path = ENV_FILE
) -> tuple[MotoServer, dict[str, dict[str, Any]]]:
    """moto server on host:port with the template's data resources (the env file's names); the caller stops it."""
    names = fixed_names(load_template(TEMPLATE), json.loads(env_file.read_text()))
    moto = MotoServer(port, host).start()
    try:
        resources = create_data_resources(TEMPLATE, moto.endpoint_url, stack_name="sam-local", names=names)
        local_client("secretsmanager", moto.endpoint_url).put_secret_value(
            SecretId=resources["TwilioWebhookSecret"]["ref"], SecretString=json.dumps(LOCAL_WEBHOOK_SECRET)
        )
        sqs, sns = local_client("sqs", moto.endpoint_url), local_client("sns", moto.endpoint_url)
        queue = sqs.create_queue(QueueName=ALERT_QUEUE)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=resources["AlertTopic"]["ref"], Protocol="sqs", Endpoint=queue_arn)
    except BaseException:
        moto.stop()
        raise
    return moto, resources


def docker_bridge_address() -> str | None:
    """The docker0 address on Linux (where host-gateway points), if there is one."""
    try:
        out = subprocess.run(
            ["ip", "-4", "-o", "addr", "show", "docker0"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.split()
    return parts[parts.index("inet") + 1].split("/")[0] if "inet" in parts else None


def banner(moto: MotoServer, resources: dict[str, dict[str, Any]], env_file: Path = ENV_FILE) -> str:
    endpoints = {v.get(ENDPOINT_VARIABLE, "") for v in json.loads(env_file.read_text()).values()}
    configured = ", ".join(sorted(e for e in endpoints if e)) or "(none)"
    bridge = docker_bridge_address() or "172.17.0.1"
    rel_env = env_file.relative_to(ROOT) if env_file.is_relative_to(ROOT) else env_file
    invoke = (
        ".venv-sam/bin/sam local invoke ConferenceSummaryCompleteFunction \\\n"
        f"      -e events/conference_summary_complete/kinesis.json --env-vars {rel_env}"
    )
    lines = [
        f"Local AWS endpoint (moto server) listening on {moto.host}:{moto.port}; the template's data resources:",
        *(f"  {logical_id:<32} {item['ref']}" for logical_id, item in sorted(resources.items())),
        f"The webhook secret holds the local Twilio auth token {LOCAL_AUTH_TOKEN!r};",
        f"alerts published to the topic land in the SQS queue {ALERT_QUEUE!r} (make local-aws-show).",
        "",
        f"{rel_env} points the functions at {ENDPOINT_VARIABLE}={configured}. In another shell, after `make build`:",
        "",
        "  macOS or Windows (Docker Desktop: host.docker.internal reaches this machine's 127.0.0.1):",
        f"    {invoke}",
        "",
        "  Linux (Docker Engine): containers reach the host at the docker0 address, so this server must listen there",
        f'  (make local-aws ARGS="--host {bridge}"), and host.docker.internal needs --add-host:',
        f"    {invoke} \\\n      --add-host host.docker.internal:host-gateway",
        "",
        f'  Then: make local-aws-show ARGS="--endpoint-url {moto.endpoint_url}"  (the table, the bucket, the alerts)',
        "",
        "Running; Ctrl-C stops it (the resources go with it).",
    ]
    if moto.port != DEFAULT_PORT or not any(f":{moto.port}" in e for e in endpoints):
        lines.insert(0, f"NOTE: {rel_env} says {configured}: edit its port to {moto.port}, or run on {DEFAULT_PORT}.\n")
    if platform.system() == "Linux" and moto.host in ("127.0.0.1", "localhost"):
        lines.insert(0, f"NOTE: bound to {moto.host}: Docker Engine's containers cannot reach it (see Linux below).\n")
    return "\n".join(lines)


def serve(host: str, port: int, as_json: bool = False, env_file: Path = ENV_FILE) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        moto, resources = start_local_aws(host, port, env_file)
    except OSError as error:
        print(f"cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 2
    try:
        if as_json:
            refs = {logical_id: item["ref"] for logical_id, item in resources.items()}
            print(json.dumps({"ready": {"endpoint_url": moto.endpoint_url, "resources": refs}}), flush=True)
        else:
            print(banner(moto, resources, env_file), flush=True)
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopped: the local endpoint is closed", flush=True)
        return 0
    finally:
        moto.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _named(existing: list[str], wanted: str, fragment: str) -> str | None:
    """``wanted`` (events/env.json's name: `make local-aws`) when it exists, else the one name holding ``fragment``
    (`make up` names resources as CloudFormation would, from the logical id), else None."""
    if wanted in existing:
        return wanted
    found = [name for name in existing if fragment in name.lower()]
    return found[0] if len(found) == 1 else None


def local_state(endpoint_url: str, env_file: Path = ENV_FILE) -> dict[str, Any]:
    """What the local resources hold: table items (keys), bucket objects (keys) and alert subjects, at the endpoint of
    `make local-aws` (events/env.json's names) or of `make up`. Reading the queue consumes the alerts it returns."""
    names = fixed_names(load_template(TEMPLATE), json.loads(env_file.read_text()))
    dynamodb, s3, sqs = (local_client(service, endpoint_url) for service in ("dynamodb", "s3", "sqs"))
    table = _named(dynamodb.list_tables()["TableNames"], names["SummariesTable"], "summariestable")
    bucket = _named([b["Name"] for b in s3.list_buckets()["Buckets"]], names["RejectedEventsBucket"], "rejectedevents")
    queues = [url.rsplit("/", 1)[-1] for url in sqs.list_queues().get("QueueUrls", [])]
    queue_name = _named(queues, ALERT_QUEUE, "local-alerts")
    items = [
        f"{item['pk']['S']} {item['sk']['S']}"
        for page in (dynamodb.get_paginator("scan").paginate(TableName=table) if table else [])
        for item in page["Items"]
    ]
    objects = [
        obj["Key"]
        for page in (s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) if bucket else [])
        for obj in page.get("Contents", [])
    ]
    alerts = []
    queue = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"] if queue_name else None
    while queue and (messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])):
        for message in messages:
            alerts.append(json.loads(message["Body"]).get("Subject", ""))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return {"items": sorted(items), "objects": sorted(objects), "alerts": alerts, "found": [table, bucket, queue_name]}


def show(endpoint_url: str) -> int:
    try:
        state = local_state(endpoint_url)
    except (BotoCoreError, ClientError) as error:
        print(f"error: cannot read the local resources at {endpoint_url} ({type(error).__name__}): is make up or "
              "make local-aws running there? (--endpoint-url)", file=sys.stderr)  # fmt: skip
        return 2
    if not any(state["found"]):
        print(f"error: no summaries table, bucket or alert queue of this project at {endpoint_url}: the endpoint "
              "make up or make local-aws prints (--endpoint-url)", file=sys.stderr)  # fmt: skip
        return 2
    print(f"{len(state['items'])} item(s) in the summaries table:", *state["items"], sep="\n  ")
    print(f"{len(state['objects'])} object(s) in the rejected-events bucket:", *state["objects"], sep="\n  ")
    print(f"{len(state['alerts'])} alert(s) since the last look:", *state["alerts"], sep="\n  ")
    return 0


def signed_curl(source: Path, base_url: str = START_API_URL, route: str | None = None) -> str:
    """A `curl` that POSTs a body as Twilio would: to ``base_url`` + route with ``bodySHA256``, signed with the local
    token over that URL. ``source``: an API Gateway event from events/ (its body and route) or a JSON body file."""
    body = source.read_bytes()
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    if isinstance(event, dict) and "httpMethod" in event and isinstance(event.get("body"), str):
        route = route or event["resource"]
        LOCAL_BODIES.mkdir(parents=True, exist_ok=True)
        body_file = LOCAL_BODIES / f"{source.parent.name}-{source.stem}-body.json"
        body_file.write_text(event["body"])
        body = body_file.read_bytes()
    else:
        body_file = source
    if not route:
        raise ValueError("a body file needs --route (e.g. /events/participant-summary-complete)")
    url = f"{base_url.rstrip('/')}{route}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    shown = body_file.relative_to(Path.cwd()) if body_file.is_relative_to(Path.cwd()) else body_file
    return (
        f"curl -sS -X POST '{url}' -H 'Content-Type: application/json' \\\n"
        f"  -H 'X-Twilio-Signature: {twilio_signature(url, LOCAL_AUTH_TOKEN)}' --data-binary @{shown}"
    )


def sam_local_environments(
    env_file: Path = ENV_FILE,
    template: Path = ROOT / ".aws-sam" / "build" / "template.yaml",
    parameter_overrides: dict[str, str] | None = None,
    caller_env: dict[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """{logical id: environment} as `sam local invoke --env-vars env_file` gives each function, computed by the SAM
    CLI's own code (devtools/sam_env_probe.py under .venv-sam). ``caller_env``: the caller's AWS_* variables (say, a
    user's region and credentials); otherwise none, and an empty home, as for a user with no AWS configuration."""
    with tempfile.TemporaryDirectory() as home:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "SAM_CLI_TELEMETRY": "0"}
        env.update(caller_env or {})
        pairs = [f"{name}={value}" for name, value in (parameter_overrides or {}).items()]
        out = subprocess.run(  # noqa: S603 (our own script and arguments)
            [str(SAM_PYTHON), str(ROOT / "devtools" / "sam_env_probe.py"), str(template), str(env_file), *pairs],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=True,
        ).stdout
    environments: dict[str, dict[str, str]] = json.loads(out)
    return environments
