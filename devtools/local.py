"""Run the built functions locally, without Docker or an AWS account.

    python -m devtools.local demo                                   # what `make demo` runs
    python -m devtools.local invoke FUNCTION EVENT_FILE [--seed]    # `sam local invoke`, without Docker

``invoke`` starts moto server on 127.0.0.1 with the template's data resources, runs FUNCTION (a
logical id from template.yaml) from .aws-sam/build under the Lambda Runtime Interface Emulator with
the environment the template gives it (pointed at the local resources), hands it EVENT_FILE, prints
its answer on stdout and its logs on stderr, then stops everything. ``--seed`` first stores the
sample events of events/ through the processing functions, so that, say, the alert function finds
conference names. The exit status is 1 when the handler raised.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from devtools.cfn import create_data_resources, function_environment, function_for_code, load_template, local_client
from devtools.lambda_events import LOCAL_WEBHOOK_SECRET
from devtools.lambda_rie import BUILD_DIR, built_function
from devtools.moto_server import MotoServer, aws_env

ROOT = Path(__file__).resolve().parents[1]


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="the sample events through both paths, the alerts, the accounting")
    one = commands.add_parser("invoke", help="one built function with one event file (sam local invoke, no Docker)")
    one.add_argument("function", help="a logical id from template.yaml, e.g. ConferenceSummaryCompleteFunction")
    one.add_argument("event_file", type=Path)
    one.add_argument("--seed", action="store_true", help="store the sample events first")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from devtools import demo

        return demo.main()
    return invoke(args.function, args.event_file, args.seed)


if __name__ == "__main__":
    sys.exit(main())
