"""Given the README's first command, when `make demo`'s program runs on the built artifacts, then it
accounts for every event and shows the alerts (the same program a newcomer runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.integration.conftest import ROOT


def test_demo_accounts_for_every_event_and_publishes_the_alerts() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'voice_insights'}{os.pathsep}{ROOT}"}
    run = subprocess.run(
        [sys.executable, "-m", "devtools.demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "every event is accounted for" in run.stdout
    assert "Settled:     stored 4, duplicates 6, stale 8, rejected 2, test_events 1, failed 0" in run.stdout
    assert "read back from an SQS subscription (3):" in run.stdout
    assert "[HIGH] Conference tagged 'start_failure' by Twilio: Weekly Standup Meeting" in run.stdout


def local(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'voice_insights'}{os.pathsep}{ROOT}"}
    return subprocess.run(
        [sys.executable, "-m", "devtools.local", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


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
