"""What every file in events/ must do under `sam local invoke --env-vars events/env.json` against `make local-aws`
(tests/integration/test_sam_local.py under the emulator, tests/docker/test_sam_local.py with Docker)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from devtools.cfn import function_for_code, load_template

ROOT = Path(__file__).resolve().parents[1]
EVENT_FILES = sorted((ROOT / "events").glob("*/*.json"))  # env.json is not in a folder


@cache
def _source_template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def function_of(event_file: Path) -> str:
    return function_for_code(_source_template(), event_file.parent.name)


def check_answer(event_file: Path, answer: Any) -> str:
    """The answer, summed up; AssertionError unless the event was handled in full (nothing to retry)."""
    assert isinstance(answer, dict), answer
    assert "errorType" not in answer, answer
    if event_file.name.startswith("webhook"):
        assert answer["statusCode"] == 200, answer  # signed for the URL its requestContext names
        return f"{answer['statusCode']} {answer['body']}"
    assert answer == {"batchItemFailures": []}, answer
    return "batchItemFailures: []"


# Stored: the seed conference and its participant (and the batch's second participant); rejected: the unknown
# type and the non-JSON record (one object per batch); alerted: the conference's tags and the participant.
EXPECTED_ITEMS = [
    "CONF#CF0000000000000000000000000000001 PART#CP0000000000000000000000000000001",
    "CONF#CF0000000000000000000000000000001 PART#CP0000000000000000000000000000002",
    "CONF#CF0000000000000000000000000000001 SUMMARY",
]


def check_state(state: dict[str, Any]) -> None:
    assert state["items"] == EXPECTED_ITEMS, state
    (rejected,) = state["objects"]
    assert rejected.startswith("rejected/") and "/unrouted_events/" in rejected, state
    assert len(state["alerts"]) == 2, state


@contextmanager
def local_aws(host: str, port: int) -> Iterator[dict[str, Any]]:
    """`make local-aws` (python -m devtools.local local-aws --json) until the block ends; yields what it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.local", "local-aws", "--host", host, "--port", str(port), "--json"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'voice_insights'}{os.pathsep}{ROOT}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.communicate(timeout=10)
        yield json.loads(line)["ready"]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
        assert process.returncode == 0, err
        assert "stopped" in out
