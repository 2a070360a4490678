"""Run a function built by `sam build` the way Lambda runs it, without Docker.

The Runtime Interface Emulator shipped in the aws-sam-cli wheel fronts `python -m awslambdaric`
(the Lambda runtime client), started in the built function folder with the built layer's
`python/` folder on PYTHONPATH, as Lambda mounts layers at /opt/python. The interpreter is
.venv-runtime's: awslambdaric and boto3 only, like the Lambda python3.13 image.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from devtools.cfn import Resolver
from devtools.loopback import free_port

ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = ROOT / ".aws-sam" / "build"
RUNTIME_PYTHON = ROOT / ".venv-runtime" / "bin" / "python"


class LambdaInvokeError(RuntimeError):
    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(f"{answer.get('errorType')}: {answer.get('errorMessage')}")
        self.answer = answer


def emulator_binary() -> Path:
    machine = "arm64" if os.uname().machine in ("aarch64", "arm64") else "x86_64"
    found = sorted(
        (ROOT / ".venv-sam" / "lib").glob(f"python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{machine}")
    )
    if not found:
        raise FileNotFoundError("the Lambda Runtime Interface Emulator ships with aws-sam-cli: run `make setup`")
    return found[-1]


class LambdaEmulator:
    """One built function under its own emulator on 127.0.0.1; calls are serialised (one at a time, as Lambda)."""

    def __init__(
        self,
        function_dir: Path,
        layer_dirs: list[Path],
        handler: str,
        env: dict[str, str],
        timeout_s: int = 30,
        memory_mb: int = 128,
        name: str = "function",
    ) -> None:
        self.function_dir = function_dir
        self.layer_dirs = layer_dirs
        self.handler = handler
        self.env = env
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.name = name
        self.port = free_port()
        self.runtime_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        # Append mode: the emulator writes at the end whatever the reader's position (they share the file).
        self._log = tempfile.TemporaryFile(mode="a+b")  # noqa: SIM115 (lives as long as the emulator)
        self._lock = threading.Lock()

    def start(self) -> LambdaEmulator:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": os.pathsep.join([str(self.function_dir), *(str(d) for d in self.layer_dirs)]),
            "LAMBDA_TASK_ROOT": str(self.function_dir),
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.timeout_s),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            **self.env,
        }
        command = [
            str(emulator_binary()),
            "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
            "--runtime-api-address", f"127.0.0.1:{self.runtime_port}",
            "--log-level", "error",
            str(RUNTIME_PYTHON), "-m", "awslambdaric", self.handler,
        ]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 (our own binary and arguments)
            command, cwd=self.function_dir, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the emulator for {self.name} exited early:\n{self.logs()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"the emulator for {self.name} did not listen within 15 s:\n{self.logs()}")

    def invoke_raw(self, event: Any) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations",
            data=json.dumps(event).encode(),
            method="POST",
        )
        with self._lock, urllib.request.urlopen(request, timeout=self.timeout_s + 5) as response:  # noqa: S310
            body = response.read()
        try:
            return json.loads(body)
        except ValueError:
            return body.decode(errors="replace")

    def invoke(self, event: Any) -> Any:
        """The handler's return value; raises LambdaInvokeError when the handler raised or timed out."""
        answer = self.invoke_raw(event)
        if isinstance(answer, dict) and "errorType" in answer:
            raise LambdaInvokeError(answer)
        if isinstance(answer, str) and "Task timed out" in answer:
            raise LambdaInvokeError({"errorType": "Timeout", "errorMessage": answer})
        return answer

    def logs(self, offset: int = 0) -> str:
        """What the function logged so far (from byte ``offset``)."""
        return self.log_bytes(offset).decode(errors="replace")

    def log_bytes(self, offset: int = 0) -> bytes:
        size = os.fstat(self._log.fileno()).st_size
        return os.pread(self._log.fileno(), max(size - offset, 0), offset)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the emulator and the runtime under it, even when the emulator itself already died: the
        runtime is in its process group (a group outlives its leader, and its id is not reused meanwhile)."""
        process, self._process = self._process, None
        if process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break  # the whole group is gone
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                continue
            time.sleep(0.05)  # the runtime may outlive the emulator by a moment: the SIGKILL round gets it
        process.wait()

    def __enter__(self) -> LambdaEmulator:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def built_function(
    logical_id: str, env: dict[str, str], template: dict[str, Any], parameters: dict[str, Any] | None = None
) -> LambdaEmulator:
    """An emulator for ``logical_id`` from .aws-sam/build, with the layers and settings the template gives it."""
    globals_ = template.get("Globals", {}).get("Function", {})
    properties = {**globals_, **template["Resources"][logical_id]["Properties"]}
    layers = [BUILD_DIR / layer["Ref"] / "python" for layer in properties.get("Layers", [])]
    resolver = Resolver(template, "local", parameters)  # MemorySize is a Ref to a template parameter
    return LambdaEmulator(
        function_dir=BUILD_DIR / logical_id,
        layer_dirs=layers,
        handler=properties["Handler"],
        env={**env, "POWERTOOLS_TRACE_DISABLED": "true"},  # no X-Ray daemon locally
        timeout_s=int(resolver.resolve(properties.get("Timeout", 30))),
        memory_mb=int(resolver.resolve(properties.get("MemorySize", 128))),  # 128: Lambda's default
        name=logical_id,
    )
