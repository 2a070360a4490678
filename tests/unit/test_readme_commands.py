"""Given the README and the docs/ pages it links to, when a newcomer copies their commands into a shell with no
virtual environment activated, then they run: Python and the SAM CLI are called from the project's environments
(.venv, .venv-sam), never a bare `python` or `sam` that may be another one or none, and every `--help` command they
name answers with usage. (docs/moto-upstream.md is left out: it is written for moto's maintainers, in their terms.)"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [page for page in sorted((ROOT / "docs").glob("*.md")) if page.name != "moto-upstream.md"]
PAGES = [ROOT / "README.md", *DOCS]
README = "\n".join(page.read_text() for page in PAGES)
# a bare interpreter or SAM CLI in command position: `python -m …`, `python scripts/…`, `sam deploy --…`
BARE = re.compile(r"(?<![\w/.-])(python3?|pytest) (-m |scripts/)|(?<![\w/.-])sam (deploy|logs|local \w+) --")
HELP_COMMANDS = re.findall(r"`(\.venv/bin/python -m [\w.]+(?: [\w-]+)* --help)`", README)


def test_no_readme_command_needs_an_activated_environment() -> None:
    bare = [line.strip() for line in README.splitlines() if BARE.search(line)]

    assert bare == []


@pytest.mark.parametrize("command", HELP_COMMANDS)
def test_every_help_command_of_the_readme_runs_as_written(command: str) -> None:
    environment = {name: value for name, value in os.environ.items() if name not in ("VIRTUAL_ENV", "PYTHONPATH")}
    ran = subprocess.run(shlex.split(command), cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("usage:")


def test_the_readme_names_its_help_commands() -> None:
    assert len(HELP_COMMANDS) >= 3
