"""docs/running-locally.md's literal `sam local invoke ... --env-vars events/env.json` for every file in events/,
with Docker, against `make local-aws` on port 5000; then the local table, bucket and alerts. `make sam-local-test`
runs it (SAM_LOCAL_TESTS=1); it needs Docker, the public Lambda python3.13 image (sam pulls it) and port 5000 free.
Linux: the endpoint listens on the docker0 bridge's gateway and the invoke passes --add-host."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess

import pytest

from devtools.sam_local import local_state
from tests.sam_local_cases import EVENT_FILES, ROOT, check_answer, check_state, function_of, local_aws

SAM = ROOT / ".venv-sam" / "bin" / "sam"


def why_not() -> str | None:
    if os.environ.get("SAM_LOCAL_TESTS") != "1":
        return "runs with `make sam-local-test` (Docker, slow)"
    if shutil.which("docker") is None:
        return "no docker client"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
    if info.returncode != 0:
        return f"no Docker engine (`docker info`: {(info.stderr or info.stdout).strip().splitlines()[-1:]})"
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", 5000)) == 0:
            return "port 5000 is in use (events/env.json names host.docker.internal:5000)"
    return None


pytestmark = pytest.mark.skipif(bool(reason := why_not()), reason=reason or "")


def listen_address() -> tuple[str, list[str]]:
    """Where containers reach the host, and what `sam local invoke` needs for host.docker.internal."""
    if platform.system() != "Linux":  # Docker Desktop: host.docker.internal reaches the host's 127.0.0.1
        return "127.0.0.1", []
    gateway = subprocess.run(
        ["docker", "network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return gateway, ["--add-host", "host.docker.internal:host-gateway"]


def test_the_readme_sam_local_invoke_of_every_sample_event_stores_it_locally() -> None:
    host, extra = listen_address()
    answers = {}
    with local_aws(host, 5000) as ready:
        for event_file in EVENT_FILES:
            name = event_file.relative_to(ROOT).as_posix()
            command = [str(SAM), "local", "invoke", function_of(event_file), "-e", name]
            run = subprocess.run(
                [*command, "--env-vars", "events/env.json", *extra],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
                check=False,
            )
            assert run.returncode == 0, run.stderr[-3000:]
            answer = json.loads(run.stdout.strip().splitlines()[-1])
            answers[name] = check_answer(event_file, answer)
        state = local_state(ready["endpoint_url"])
    for name, answer in answers.items():
        print(f"figures | {name} -> {answer}")
    assert len(answers) == 17
    check_state(state)
