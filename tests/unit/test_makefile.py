"""Given the Makefile, when its recipes run (here with stand-ins for set-up, the SAM CLI and Python, in a copy of
the project's layout), then `make demo ARGS=--json` prints only the report on stdout, set-up and build chatter
going to stderr."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PYTHON_STAND_IN = """#!/bin/bash
# Stands in for .venv/bin/python: devtools.local prints its report on stdout, its own log on stderr.
if [[ " $* " == *" devtools.local demo "* ]]; then
  echo "local AWS endpoint (moto server): http://127.0.0.1:1" >&2
  echo '{"ok": true, "args": "'"$*"'"}'
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


def make(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", "-C", str(project), *args], capture_output=True, text=True)


def test_make_demo_json_prints_only_the_report_on_stdout(project: Path) -> None:
    ran = make(project, "demo", "ARGS=--json")

    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"ok": True, "args": "-m devtools.local demo --json"}
    for chatter in ("environments ready", "Build Succeeded", "local AWS endpoint"):
        assert chatter in ran.stderr
