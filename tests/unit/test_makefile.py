"""Given the Makefile, when its recipes run (here with stand-ins for set-up, the SAM CLI and Python, in a copy of
the project's layout), then `make demo ARGS=--json` prints only the report on stdout, set-up and build chatter
going to stderr, and `make reliability` (half an hour) says when each test file starts and each test ends, with
the figures, and fails when one file fails after running the others."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PYTHON_STAND_IN = """#!/bin/bash
# Stands in for .venv/bin/python: devtools.local prints its report on stdout, its own log on stderr;
# pytest -v -s prints as it does (a test's own output between its name and its outcome).
if [[ " $* " == *" devtools.local demo "* ]]; then
  echo "local AWS endpoint (moto server): http://127.0.0.1:1" >&2
  echo '{"ok": true, "args": "'"$*"'"}'
elif [[ " $* " == *" -m pytest "* ]]; then
  file=${@: -1}
  echo "============================= test session starts =============================="
  echo "collecting ... collected 1 item"
  echo "$file::test_it 127.0.0.1 - - [01/Dec/2026 01:54:21] \"POST / HTTP/1.1\" 200 -"
  echo "127.0.0.1 - - [01/Dec/2026 01:54:22] \"POST / HTTP/1.1\" 200 -"
  echo "figures | $file: $RELIABILITY"
  if [[ $file == *"$FAIL"* ]]; then echo FAILED; echo "=== 1 failed in 0.01s ==="; exit 1; fi
  echo PASSED
  echo "============================== 1 passed in 0.01s ==============================="
fi
"""


def stand_in(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The Makefile in a directory where set-up, sam and python are stand-ins that talk as the real ones do."""
    if shutil.which("make") is None:
        pytest.skip("no make on PATH")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    stand_in(tmp_path / "scripts/setup.sh", "#!/bin/bash\necho 'setting up .venv ...'\necho 'environments ready'\n")
    stand_in(
        tmp_path / ".venv-sam/bin/sam", "#!/bin/bash\necho 'Building codeuri: functions/x'\necho 'Build Succeeded'\n"
    )
    stand_in(tmp_path / ".venv/bin/python", PYTHON_STAND_IN)
    return tmp_path


def make(project: Path, *args: str, fail: str = "nothing fails") -> subprocess.CompletedProcess[str]:
    command = ["make", "--no-print-directory", "-C", str(project), *args]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "FAIL": fail})


def test_make_demo_json_prints_only_the_report_on_stdout(project: Path) -> None:
    ran = make(project, "demo", "ARGS=--json")

    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"ok": True, "args": "-m devtools.local demo --json"}
    for chatter in ("environments ready", "Build Succeeded", "local AWS endpoint"):
        assert chatter in ran.stderr


def test_make_reliability_says_when_each_file_starts_and_each_test_ends(project: Path) -> None:
    ran = make(project, "reliability")

    assert ran.returncode == 0, ran.stderr
    files = ["test_properties.py", "test_bad_input.py", "test_faults.py", "test_load.py"]
    expected = []
    for name in files:
        path = f"tests/integration/{name}"
        expected += [f"<time> {path} ...", f"{path}::test_it", f"figures | {path}: full", "PASSED", "<summary>"]
    shown = [re.sub(r"^\d\d:\d\d:\d\d ", "<time> ", line) for line in ran.stdout.splitlines()]
    assert [re.sub(r"^=+ 1 passed .*", "<summary>", line) for line in shown] == expected


def test_make_reliability_runs_every_file_and_fails_when_one_failed(project: Path) -> None:
    ran = make(project, "reliability", fail="test_bad_input")

    assert ran.returncode != 0
    assert "FAILED" in ran.stdout.splitlines()
    assert "figures | tests/integration/test_load.py: full" in ran.stdout  # the files after it still ran


# Targets whose stdout is a command's answer (CSV, JSON, a curl line, a report): make must not echo the recipe there.
ANSWERING_TARGETS = ["demo", "up", "invoke", "local-aws", "local-aws-show", "sign-request", "bench", "connect",
                     "replay", "report", "backfill", "reconcile"]  # fmt: skip


def recipe(target: str) -> list[str]:
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{re.escape(target)}:", line))
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        body.append(line[1:])
    return body


@pytest.mark.parametrize("target", ANSWERING_TARGETS)
def test_a_target_that_answers_on_stdout_does_not_echo_its_command(target: str) -> None:
    # Given the recipe of a target whose output a user redirects (make report ... --format csv > week.csv)
    lines = recipe(target)
    # Then make prints none of its lines: each starts with @ (or continues one that does)
    assert lines, target
    assert lines[0].startswith("@"), f"make {target} echoes {lines[0]!r} onto stdout"
