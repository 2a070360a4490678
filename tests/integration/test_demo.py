"""The local runner (python -m devtools.local): `demo` is the README's first command, `up` keeps the stack
running, `invoke` is `sam local invoke` without Docker. All run the built artifacts (`make build`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from devtools.cfn import load_template
from devtools.traffic import generate
from tests.integration.conftest import ROOT, TEMPLATE

ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'voice_insights'}{os.pathsep}{ROOT}"}


def local(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.local", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_accounts_for_every_event_of_a_few_hundred_on_both_paths_and_alerts_exactly() -> None:
    conferences, participants = 30, 5
    run = local("demo", "--conferences", str(conferences), "--participants", str(participants), "--no-samples",
                "--json", "--no-progress", "--seed", "11")  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout)
    traffic = generate(conferences, participants, random_seed=11)  # what was sent, rebuilt here

    sent = report["sent"]
    assert sent["total"] == len(traffic.deliveries) > 200
    assert sent["kinesis"] == len(traffic.on("kinesis")) > 50 and sent["webhook"] == len(traffic.on("webhook")) > 50
    conservation = report["conservation"]
    assert conservation["ok"] and conservation["unaccounted_ids"] == []
    assert conservation["sent_ids"] == len({d.key for d in traffic.deliveries})
    assert report["stored"]["conferences"] == conferences
    assert report["stored"]["participants"] == conferences * participants
    assert report["rejected"]["count"] == traffic.malformed == 6
    assert report["ignored"]["duplicate"] >= 1 and report["given_up"] == {"StreamFailuresQueue": 0,
                                                                          "AlertFailuresQueue": 0,
                                                                          "LakeFailuresQueue": 0}  # fmt: skip
    lake = report["lake"]  # the history lake (DuckDB over the local lake): the latest versions are the table's items
    assert lake["latest"] == {"conferences": conferences, "participants": conferences * participants}
    assert lake["rows"]["participant_summaries"] == conferences * participants  # one version each
    assert lake["rows"]["conference_summaries"] >= conferences and lake["problems"] == []
    expected_alerts = len(traffic.bad_conferences) + len(traffic.bad_participants)
    assert expected_alerts > 10
    assert report["alerts"]["published"] == expected_alerts
    assert report["settled"]["failed"] == 0 and report["problems"] == []


def test_the_readme_demo_runs_the_samples_and_generated_traffic_and_says_so() -> None:
    run = local("demo", "--no-progress")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "every event is accounted for" in run.stdout
    assert "What an email subscriber reads for the first one:" in run.stdout
    assert "[HIGH] Conference tagged 'start_failure' by Twilio" in run.stdout


def start_up() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.local", "up", "--json"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith('{"ready"'):
            return process, json.loads(line)["ready"]
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"`up` did not get ready: {process.stderr.read() if process.stderr else ''}")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_everything_stopped(state: dict[str, Any]) -> None:
    assert [port for port in state["ports"] if listening(port)] == []
    # Each emulator leads a process group holding the runtime it started: both must be gone.
    assert [pid for pid in state["pids"] if group_alive(pid)] == []


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_up_serves_the_stack_until_interrupted_then_stops_every_process_and_port(how: signal.Signals) -> None:
    process, state = start_up()
    try:
        functions = [
            r for r in load_template(TEMPLATE)["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
        ]
        assert len(state["pids"]) == len(functions) and all(listening(port) for port in state["ports"])  # one each
        route = state["webhook_routes"]["ParticipantSummaryCompleteFunction"]
        from devtools.traffic import signed_post

        body = json.loads((ROOT / "events/participant_summary_complete/webhook.json").read_text())["body"]
        assert signed_post(route, body.encode(), state["twilio_auth_token"]) == 200
    finally:
        process.send_signal(how)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    assert "stopped: every process and port the runner started is closed" in out
    assert "POST /v1/events/participant-summary-complete -> 200" in out  # shown as it flowed
    assert_everything_stopped(state)


def test_up_stops_everything_and_says_which_function_crashed() -> None:
    process, state = start_up()
    try:
        os.kill(state["pids"][0], signal.SIGKILL)  # one emulator dies; its runtime lives on in its group
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1
    assert "a function crashed" in err and "exited" in err
    assert_everything_stopped(state)


def test_invoke_runs_one_built_function_with_one_event_file() -> None:
    run = local("invoke", "ParticipantSummaryCompleteFunction", "events/participant_summary_complete/webhook.json")
    assert run.returncode == 0, run.stderr[-3000:]
    answer = json.loads(run.stdout)
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["stored"] == 1
    assert "Batch settled" in run.stderr  # the function's own logs


def test_invoke_can_store_the_sample_events_first_then_run_the_alert_function() -> None:
    run = local(
        "invoke", "QualityAlertsFunction", "events/quality_alerts/stream-participant-with-issues.json", "--seed"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout) == {"batchItemFailures": []}
    assert "Alert published" in run.stderr


def test_invoke_names_the_functions_when_one_is_unknown() -> None:
    run = local("invoke", "NoSuchFunction", "events/env.json")
    assert run.returncode == 2
    assert "unknown function 'NoSuchFunction'" in run.stderr and "QualityAlertsFunction" in run.stderr
