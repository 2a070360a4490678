"""Given the project's own venv first on PATH (as the Makefile puts it), when setup picks Python 3.13,
then it picks the base interpreter, never the venv's own one (setup may delete and rebuild that venv)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_setup_never_picks_an_interpreter_inside_a_project_venv() -> None:
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    chosen = subprocess.run(
        ["bash", str(ROOT / "scripts" / "setup.sh"), "--which-python"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert chosen and Path(chosen).is_file()
    assert not Path(chosen).resolve().is_relative_to(ROOT), chosen
    assert ROOT / ".venv" not in Path(chosen).parents
