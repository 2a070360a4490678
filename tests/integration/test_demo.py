"""Given the README's first command, when `make demo`'s program runs on the built artifacts, then it
accounts for every event and shows the alerts (the same program a newcomer runs)."""

from __future__ import annotations

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
