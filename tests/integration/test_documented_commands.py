"""Given every `make <target> ARGS="…"` command line that README.md and docs/ show, when a newcomer runs it as
written (against the local stack and the project's Twilio stub where it needs AWS or Twilio, or without any AWS
configuration where it needs a deployed stack), then its stdout is its answer alone and parses as the format it
promises (CSV is CSV, JSON is one document), and a command that cannot reach what it needs says so in one line:
never a traceback. Each documented target is either run here or named below with the reason it is run elsewhere,
so a command added to the docs cannot escape.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from tests import lake_sample
from tests.integration.conftest import LocalStack

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *(p for p in sorted((ROOT / "docs").glob("*.md")) if p.name != "moto-upstream.md")]
TARGETS = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
COMMAND = re.compile(r'make ([a-z][a-z-]*) ARGS="((?:[^"\\]|\\.)*)"((?: *> *[\w.-]+)?)')

# Documented targets this test does not run, each with where it is proved instead.
RUN_ELSEWHERE = {
    "demo": "tests/integration/test_demo.py runs `make demo` and its --json",
    "up": "serves until Ctrl-C; tests/integration/test_demo.py starts the same stack",
    "local-aws": "serves until Ctrl-C; tests/integration/test_sam_local.py",
    "invoke": "tests/integration/test_built_functions.py and test_sam_local.py",
    "bench": "two minutes of CPU; tests/unit/test_bench.py",
    "sign-request": "tests/integration/test_sam_local.py signs and sends its curl",
    "connect": "talks to Twilio and CloudFormation only; tests/unit/test_connect_twilio.py with their stand-ins",
    "lock": "rewrites the lock files; make lock-check, part of make test, proves them",
}
# A placeholder a person fills in (`<stack>`, `…`, `[--fill]`): such a line is a template, not a command.
TEMPLATE_TEXT = re.compile(r"<(?!moto port>)[^>]*>|…|\[--")
NEEDS_DEPLOYED_STACK = re.compile(r"--stack-name|--queue-url")
# An address of another machine (Docker's host, for `sam local`): nothing here sends traffic beyond loopback.
ELSEWHERE_HOST = re.compile(r"https?://(?!127\.0\.0\.1|localhost|\[::1\])")
# What the docs set before their commands (a stack's outputs, an external id), as a reader's shell would hold them.
SHELL_VALUES = {
    "STREAM_FAILURES_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/voice-insights-StreamFailures",
    "ALERT_FAILURES_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/voice-insights-AlertFailures",
    "EXTERNAL_ID": "0" * 80,
}


def documented() -> list[tuple[str, str, str]]:
    found = []
    for page in PAGES:
        for target, args, redirect in COMMAND.findall(page.read_text()):
            if target in TARGETS and (target, args, redirect) not in found:
                found.append((target, args.replace('\\"', '"'), redirect.strip()))
    return found


COMMANDS = documented()
RUNNABLE = [
    c
    for c in COMMANDS
    if c[0] not in RUN_ELSEWHERE and not TEMPLATE_TEXT.search(c[1]) and not ELSEWHERE_HOST.search(c[1])
]


def test_the_docs_show_commands_and_each_target_is_run_or_accounted_for() -> None:
    assert len(RUNNABLE) >= 10
    assert set(RUN_ELSEWHERE) <= TARGETS
    assert {target for target, _, _ in COMMANDS} - {t for t, _, _ in RUNNABLE} <= set(RUN_ELSEWHERE) | {
        t for t, args, _ in COMMANDS if TEMPLATE_TEXT.search(args) or ELSEWHERE_HOST.search(args)
    }


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local lake covering the docs' example windows (September to December 2026)."""
    folder = tmp_path_factory.mktemp("lake")
    lake_sample.write(folder, lake_sample.rows(date(2026, 9, 1), 100, per_day=3))
    return folder


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """docs/backfill.md's stub, started as the page shows (on a free port instead of 8899); its base URL."""
    env = no_aws_environment(tmp_path_factory.mktemp("home")) | {"PYTHONPATH": "layers/voice_insights"}
    command = [str(ROOT / ".venv/bin/python"), "-m", "devtools.twilio_stub", "--port", "0", "--conferences", "20"]
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) as process:
        try:
            first = process.stdout.readline() if process.stdout else ""
            url = re.search(r"http://127\.0\.0\.1:\d+", first)
            assert url, first
            yield url.group(0)
        finally:
            process.terminate()


def no_aws_environment(home: Path) -> dict[str, str]:
    keep = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "VIRTUAL_ENV"))}
    return keep | {"HOME": str(home), "AWS_CONFIG_FILE": str(home / "none"), "AWS_SHARED_CREDENTIALS_FILE":
                   str(home / "none"), "AWS_EC2_METADATA_DISABLED": "true", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                   "TWILIO_AUTH_TOKEN": "local", **SHELL_VALUES}  # fmt: skip


def run(target: str, args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """The line as a reader types it into bash (which expands $VARIABLES inside the double quotes)."""
    line = f'make --no-print-directory {target} ARGS="{args}"'
    return subprocess.run(
        ["bash", "-c", line], cwd=ROOT, env=no_aws_environment(home), capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


SET_UP = re.compile(r"^(make: \*\*\*|setting up \.venv|environments ready|Build Succeeded|Running |\s*$)")


def own_lines(stderr: str) -> list[str]:
    """What the command said on stderr, less the set-up's progress and make's line about the failed recipe."""
    return [line for line in stderr.splitlines() if not SET_UP.match(line)]


def parses(stdout: str, args: str) -> None:
    if "--format csv" in args:
        rows = list(csv.reader(io.StringIO(stdout)))
        assert rows and len({len(row) for row in rows}) == 1, stdout[:300]
    elif "--format json" in args or "--json" in args:
        json.loads(stdout)
    else:
        assert stdout.strip(), "no answer on stdout"


@pytest.mark.parametrize(("target", "args", "redirect"), RUNNABLE, ids=[f"{t} {a}" for t, a, _ in RUNNABLE])
def test_a_documented_command_runs_as_written(
    target: str, args: str, redirect: str, lake: Path, stack: LocalStack, stub: str, tmp_path: Path
) -> None:
    args = args.replace("<moto port>", str(stack.endpoint_url.rsplit(":", 1)[-1]))
    args = args.replace("http://127.0.0.1:8899", stub)
    # The docs put a redirect inside ARGS (`--format csv > worst.csv`): make's recipe shell writes the file.
    written = re.search(r" *> *(\S+)$", args)
    args = args[: written.start()] if written else args
    if target in ("query", "report") and "--lake-dir" not in args and not NEEDS_DEPLOYED_STACK.search(args):
        args += f" --lake-dir {lake}"  # where this test's lake is; the documented default is .lake/
    if "--png" in args:
        args = re.sub(r"--png (\S+)", lambda m: f"--png {tmp_path / m.group(1)}", args)
    if written:
        args += f" > {tmp_path / written.group(1)}"
    ran = run(target, args, tmp_path)
    if written and ran.returncode == 0:
        ran.stdout = (tmp_path / written.group(1)).read_text()
    assert "Traceback" not in ran.stderr, ran.stderr[-2000:]
    if NEEDS_DEPLOYED_STACK.search(args):
        # Then, with no AWS configuration and no deployed stack, one line says what to do
        assert ran.returncode != 0
        assert ran.stdout == ""
        said = own_lines(ran.stderr)  # its answer last, after its progress lines
        assert said and len(said[-1]) > 20 and said[-1].lower().count("error") + said[-1].count(":") > 0, ran.stderr
        return
    assert ran.returncode == 0, ran.stderr[-2000:]
    parses(ran.stdout, args)
    if "--png" in args:
        png = Path(re.search(r"--png (\S+)", args).group(1))  # type: ignore[union-attr]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if redirect:  # the answer is what a redirect would write: the same stdout
        assert not ran.stdout.startswith(("make ", "PYTHONPATH="))
