"""Run the built functions locally, without Docker or an AWS account.

    .venv/bin/python -m devtools.local demo [--json] [--no-samples] [--conferences N] [--participants N]  # make demo
    .venv/bin/python -m devtools.local up [--json]                                                         # make up
    .venv/bin/python -m devtools.local invoke FUNCTION EVENT_FILE [--seed]  # `sam local invoke`, without Docker
    .venv/bin/python -m devtools.local local-aws [--host H] [--port P] [--json]  # make local-aws: for `sam local`
    .venv/bin/python -m devtools.local local-aws-show [--endpoint-url URL]       # make local-aws-show
    .venv/bin/python -m devtools.local sign-request EVENT_OR_BODY [--base-url URL] [--route R]  # make sign-request

``demo`` and ``up`` start the whole stack (devtools.runner): moto server, every built function under the
Lambda Runtime Interface Emulator, the stream pollers and the webhook gateway. ``demo`` sends generated
traffic and the samples through both paths and reports where every event ended (devtools.demo); ``up``
keeps the stack running until Ctrl-C or SIGTERM.

``invoke`` starts moto server on 127.0.0.1 with the template's data resources, runs FUNCTION (a
logical id from template.yaml) from .aws-sam/build under the emulator with the environment the
template gives it (pointed at the local resources), hands it EVENT_FILE, prints its answer on stdout
and its logs on stderr, then stops everything. ``--seed`` first stores the sample events of events/
through the processing functions, so that, say, the alert function finds conference names. The exit
status is 1 when the handler raised.

``local-aws``, ``local-aws-show`` and ``sign-request`` serve `sam local invoke`/`start-api` themselves (Docker):
a local AWS endpoint with the resources events/env.json names, what it holds, a signed `curl` (devtools.sam_local).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import signal
import sys
import time
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from devtools import sam_local
from devtools.cfn import create_data_resources, function_environment, function_for_code, load_template, local_client
from devtools.lake import LAKE_DIR
from devtools.lambda_events import LOCAL_AUTH_TOKEN, LOCAL_WEBHOOK_SECRET, twilio_signature
from devtools.lambda_rie import BUILD_DIR, built_function
from devtools.moto_server import MotoServer, aws_env
from devtools.queues import drain, subscribe_queue
from devtools.runner import FunctionCrashed, LocalRunner, NotBuilt

ROOT = Path(__file__).resolve().parents[1]
LOCAL_SAMPLES = ROOT / ".aws-sam" / "local"  # request bodies `up` prints ready-made commands for


def invoke(logical_id: str, event_file: Path, seed: bool = False) -> int:
    if not (BUILD_DIR / "template.yaml").exists():
        print("no .aws-sam/build: run `make build` first", file=sys.stderr)
        return 2
    template = load_template(BUILD_DIR / "template.yaml")
    functions = sorted(k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function")
    if logical_id not in functions:
        print(f"unknown function {logical_id!r}; the template has: {', '.join(functions)}", file=sys.stderr)
        return 2
    try:
        event: Any = json.loads(event_file.read_text())
    except (OSError, ValueError) as error:
        print(f"cannot read the event file {event_file}: {error}", file=sys.stderr)
        return 2
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    with MotoServer() as moto:
        resources = create_data_resources(ROOT / "template.yaml", moto.endpoint_url)
        local_client("secretsmanager", moto.endpoint_url).put_secret_value(
            SecretId=resources["TwilioWebhookSecret"]["ref"], SecretString=json.dumps(LOCAL_WEBHOOK_SECRET)
        )
        if seed:
            _seed(template, resources, moto.endpoint_url)
        env = {**function_environment(template, logical_id, resources), **aws_env(moto.endpoint_url)}
        with built_function(logical_id, env, template) as function:
            answer = function.invoke_raw(event)
        sys.stderr.write(function.logs())
    print(json.dumps(answer, indent=2) if not isinstance(answer, str) else answer)
    failed = isinstance(answer, dict) and "errorType" in answer
    return 1 if failed else 0


def _seed(template: dict[str, Any], resources: dict[str, Any], endpoint_url: str) -> None:
    """Store the sample Kinesis events of events/ through the processing functions."""
    source = load_template(ROOT / "template.yaml")
    for path in sorted((ROOT / "events").glob("*/kinesis.json")):
        logical_id = function_for_code(source, path.parent.name)
        env = {**function_environment(template, logical_id, resources), **aws_env(endpoint_url)}
        with built_function(logical_id, env, template) as function:
            function.invoke(json.loads(path.read_text()))


def demo(args: argparse.Namespace) -> int:
    from devtools import demo as demo_module

    options = demo_module.DemoOptions(
        conferences=args.conferences,
        participants=args.participants,
        samples=not args.no_samples,
        random_seed=args.seed,
        timeout_s=args.timeout,
        lake_dir=args.lake_dir,
    )
    try:
        report = demo_module.run(options, progress=not args.no_progress)
    except NotBuilt as error:
        print(error, file=sys.stderr)
        return 2
    except FunctionCrashed as error:
        print(f"stopped: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        demo_module.render(report)
    return 0 if report["ok"] else 1


def up(args: argparse.Namespace) -> int:
    """Everything running until Ctrl-C (or SIGTERM); alerts and invocations printed as they happen."""
    signal.signal(signal.SIGTERM, _interrupt)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        with LocalRunner(on_event=lambda line: print(f"  {line}", flush=True), lake_dir=args.lake_dir) as runner:
            alerts = subscribe_queue(runner.endpoint_url, runner.ref("AlertTopic"), "local-alerts")
            print(running_banner(runner, alerts, as_json=args.json), flush=True)
            while True:
                runner.check()
                for message in drain(runner.endpoint_url, alerts):
                    print(f"  ALERT {json.loads(message['Body'])['Subject']}", flush=True)
                time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopped: every process and port the runner started is closed", flush=True)
        return 0
    except NotBuilt as error:
        print(error, file=sys.stderr)
        return 2
    except FunctionCrashed as error:
        print(f"stopped, a function crashed: {error}", file=sys.stderr, flush=True)
        return 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def deployed_dashboard_url() -> str:
    """Where the template's Dashboard is once samconfig.toml's stack is deployed (its DashboardUrl output)."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text()).get("default", {})
    settings = {**config.get("global", {}).get("parameters", {}), **config.get("deploy", {}).get("parameters", {})}
    stack, region = settings.get("stack_name", "<stack>"), settings.get("region", "<region>")
    return f"https://console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={stack}-voice-insights"


def read_api_requests(runner: LocalRunner, record: Path) -> list[str]:
    """Ready-made read API requests for the sample conference (stored once the put-record below has run)."""
    data = json.loads(base64.b64decode(json.loads((ROOT / record).read_text())["Records"][0]["kinesis"]["data"]))
    summary = data["data"] if isinstance(data["data"], dict) else json.loads(data["data"])
    base, day = runner.read_api_url, str(summary["start_time"])[:10]
    span = f"from={day}T00:00:00Z&to={(date.fromisoformat(day) + timedelta(days=1)).isoformat()}T00:00:00Z"
    return [
        f"{base}/conferences/{summary['conference_sid']}",
        f"{base}/conferences?accountSid={summary['account_sid']}&{span}",
        f"{base}/issues?{span}&severity=medium",
    ]


def query_command(record: Path) -> str:
    """A `make query` over the local lake for the weeks around the sample conference (the put-record above)."""
    data = json.loads(base64.b64decode(json.loads((ROOT / record).read_text())["Records"][0]["kinesis"]["data"]))
    summary = data["data"] if isinstance(data["data"], dict) else json.loads(data["data"])
    day = date.fromisoformat(str(summary["start_time"])[:10])
    start, end = day - timedelta(days=day.weekday()), day - timedelta(days=day.weekday()) + timedelta(days=28)
    return f'make query ARGS="--name weekly_kpis --from {start.isoformat()} --to {end.isoformat()}"'


def lake_shown(runner: LocalRunner) -> str:
    try:
        return f"{runner.lake_dir.resolve().relative_to(ROOT)}/"
    except ValueError:
        return f"{runner.lake_dir}/"


def running_banner(runner: LocalRunner, alert_queue: str, as_json: bool = False) -> str:
    assert runner.gateway is not None
    env = aws_env(runner.endpoint_url)
    routes = runner.gateway.route_urls()
    sample = LOCAL_SAMPLES / "participant-summary-complete.json"
    LOCAL_SAMPLES.mkdir(parents=True, exist_ok=True)
    body = json.loads(json.loads((ROOT / "events/participant_summary_complete/webhook-batch.json").read_text())["body"])
    sample.write_text(json.dumps(body))
    record = (ROOT / "events/conference_summary_complete/kinesis.json").relative_to(ROOT)
    record_data = LOCAL_SAMPLES / "conference-summary-complete-record.json"
    record_data.write_bytes(base64.b64decode(json.loads((ROOT / record).read_text())["Records"][0]["kinesis"]["data"]))
    url = routes["ParticipantSummaryCompleteFunction"]
    signed_url = f"{url}?bodySHA256={hashlib.sha256(sample.read_bytes()).hexdigest()}"
    state = {
        "endpoint_url": runner.endpoint_url,
        "environment": env,
        "resources": {name: runner.ref(name) for name in sorted(runner.resources)},
        "webhook_routes": routes,
        "alert_queue": alert_queue,
        "twilio_auth_token": LOCAL_AUTH_TOKEN,
        "deployed_dashboard_url": deployed_dashboard_url(),
        "read_api_url": runner.read_api_url,
        "lake_dir": str(runner.lake_dir),
        "query": query_command(record),
        "pids": runner.process_ids(),
        "ports": runner.ports(),
    }
    if as_json:
        return json.dumps({"ready": state})
    read = read_api_requests(runner, record)
    return "\n".join(
        [
            f"Local AWS endpoint (moto server): {runner.endpoint_url}",
            f"Read API (API Gateway stand-in, authorisation not checked locally): {runner.read_api_url}",
            "Webhook routes (API Gateway stand-in; signatures checked with the local Twilio auth token "
            f"{LOCAL_AUTH_TOKEN!r}):",
            *(f"  {function:<36} POST {route}" for function, route in routes.items()),
            "Resources:",
            *(f"  {name:<28} {ref}" for name, ref in state["resources"].items()),
            f"Alerts are printed here as they arrive (queue {alert_queue} subscribed to the topic).",
            "CloudWatch dashboard (deployed stack only: nothing local reports to CloudWatch):",
            f"  {state['deployed_dashboard_url']}",
            "",
            "In another shell:",
            "  " + " ".join(f"export {k}={v};" for k, v in env.items()),
            f"  aws kinesis put-record --stream-name {runner.ref('EventStream')} --partition-key demo \\",
            f"      --data fileb://{os.path.relpath(record_data, ROOT)}  # fileb:// works on AWS CLI v1 and v2 alike",
            f"  curl -s -X POST '{signed_url}' -H 'Content-Type: application/json' \\",
            f"      -H 'X-Twilio-Signature: {twilio_signature(signed_url, LOCAL_AUTH_TOKEN)}' \\",
            f"      --data-binary @{os.path.relpath(sample, ROOT)}",
            f"  aws dynamodb scan --table-name {runner.ref('SummariesTable')}",
            "  # the read API (docs/read.md); IAM is not checked locally: answers say so in X-Local-Gateway-Auth",
            *(f"  curl -s '{url}'" for url in read),
            f"  # the history lake (docs/history.md): every stored version, Parquet under {lake_shown(runner)}",
            f"  {state['query']}",
            "",
            "Running; Ctrl-C stops everything.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_demo = commands.add_parser("demo", help="generated traffic and the samples through the whole local stack")
    run_demo.add_argument("--conferences", type=int, default=40)
    run_demo.add_argument("--participants", type=int, default=4, help="per conference")
    run_demo.add_argument("--seed", type=int, default=7, help="of the generated traffic")
    run_demo.add_argument("--no-samples", action="store_true", help="generated traffic only, not events/")
    run_demo.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    run_demo.add_argument("--no-progress", action="store_true")
    run_demo.add_argument("--timeout", type=float, default=300, help="seconds to wait for the stack to settle")
    run_demo.add_argument("--lake-dir", type=Path, default=LAKE_DIR, help="the local lake's folder (emptied first)")
    run_up = commands.add_parser("up", help="the local stack, running until interrupted")
    run_up.add_argument("--lake-dir", type=Path, default=LAKE_DIR, help="the local lake's folder (emptied first)")
    run_up.add_argument("--json", action="store_true", help="print the endpoints, pids and ports as one JSON line")
    one = commands.add_parser("invoke", help="one built function with one event file (sam local invoke, no Docker)")
    one.add_argument("function", help="a logical id from template.yaml, e.g. ConferenceSummaryCompleteFunction")
    one.add_argument("event_file", type=Path)
    one.add_argument("--seed", action="store_true", help="store the sample events first")
    aws = commands.add_parser("local-aws", help="a local AWS endpoint for `sam local invoke`/`start-api` (Docker)")
    aws.add_argument("--host", default="127.0.0.1", help="address to listen on (Linux: the docker0 address)")
    aws.add_argument("--port", type=int, default=sam_local.DEFAULT_PORT)
    aws.add_argument("--json", action="store_true", help="print the endpoint and resources as one JSON line")
    look = commands.add_parser("local-aws-show", help="what the local table, bucket and alert queue hold")
    look.add_argument("--endpoint-url", default=f"http://127.0.0.1:{sam_local.DEFAULT_PORT}")
    sign = commands.add_parser("sign-request", help="a signed curl for `sam local start-api`")
    sign.add_argument("source", type=Path, help="an API Gateway event from events/, or a JSON body file")
    sign.add_argument("--base-url", default=sam_local.START_API_URL, help="start-api's URL (WebhookPublicBaseUrl)")
    sign.add_argument("--route", help="the route, for a body file (e.g. /events/participant-summary-complete)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    if args.command == "demo":
        return demo(args)
    if args.command == "up":
        return up(args)
    if args.command == "local-aws":
        return sam_local.serve(args.host, args.port, args.json)
    if args.command == "local-aws-show":
        return sam_local.show(args.endpoint_url)
    if args.command == "sign-request":
        print(sam_local.signed_curl(args.source, args.base_url, args.route))
        return 0
    return invoke(args.function, args.event_file, args.seed)


if __name__ == "__main__":
    sys.exit(main())
