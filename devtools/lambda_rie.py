"""Run a function built by `sam build` the way Lambda runs it, without Docker.

The Runtime Interface Emulator shipped in the aws-sam-cli wheel fronts `python -m awslambdaric`
(the Lambda runtime client), started in the built function folder with the built layer's
`python/` folder on PYTHONPATH, as Lambda mounts layers at /opt/python. The interpreter is
.venv-runtime's: awslambdaric and boto3 only, like the Lambda python3.13 image.

Lambda's limits hold here as deployed (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html):
the function's Timeout (the emulator's own), the 6 MB synchronous request payload (refused before the call) and
response payload (the emulator refuses it; answered as Lambda's error), and MemorySize: a watchdog kills the runtime
when its resident memory passes the function's size, as Lambda's sandbox does (``Runtime.OutOfMemory``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from devtools.cfn import Resolver
from devtools.loopback import free_port

ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = ROOT / ".aws-sam" / "build"
RUNTIME_PYTHON = ROOT / ".venv-runtime" / "bin" / "python"


# Lambda's synchronous invocation payload quota, 6 MB each way
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), in the bytes its errors name.
# "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
MAX_REQUEST_BYTES = 6 * 1024 * 1024
# "Response payload size exceeded maximum allowed payload size (6291556 bytes)." (the emulator's figure too)
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
MEMORY_POLL_S = 0.01  # how often the watchdog reads the runtime's resident memory during an invocation
IDLE_MEMORY_POLL_S = 0.2  # and between invocations (imports and init count too)


class LambdaInvokeError(RuntimeError):
    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(f"{answer.get('errorType')}: {answer.get('errorMessage')}")
        self.answer = answer


class RequestTooLarge(LambdaInvokeError):
    """Lambda refused the invocation itself (HTTP 413 RequestEntityTooLargeException): the function never ran."""


def request_too_large(size: int) -> dict[str, Any]:
    return {
        "errorType": "RequestEntityTooLargeException",
        "errorMessage": f"{size} byte payload is too large for the RequestResponse invocation type: Request must be "
        f"smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction operation",
    }


def invocation_payload(event: Any) -> bytes:
    """The event as Lambda receives it; RequestTooLarge past Lambda's 6 MB."""
    payload = json.dumps(event).encode()
    if len(payload) > MAX_REQUEST_BYTES:
        raise RequestTooLarge(request_too_large(len(payload)))
    return payload


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
        self._invoking = threading.Event()
        self._killed_for_memory = threading.Event()
        self.peak_memory_mb = 0.0  # the runtime's largest resident memory seen (Lambda's "Max Memory Used")

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
                threading.Thread(target=self._watch_memory, name=f"memory-{self.name}", daemon=True).start()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"the emulator for {self.name} did not listen within 15 s:\n{self.logs()}")

    def invoke_raw(self, event: Any) -> Any:
        """What Lambda's Invoke answers: the handler's return value, or Lambda's error object."""
        try:
            return self._call(invocation_payload(event))
        except RequestTooLarge as error:
            return error.answer

    def invoke(self, event: Any) -> Any:
        """The handler's return value; raises LambdaInvokeError when the handler raised, timed out, ran out of
        memory or answered over 6 MB, and RequestTooLarge when Lambda would not call it at all."""
        answer = self._call(invocation_payload(event))
        if isinstance(answer, dict) and "errorType" in answer:
            raise LambdaInvokeError(answer)
        if isinstance(answer, str) and "Task timed out" in answer:
            raise LambdaInvokeError({"errorType": "Sandbox.Timedout", "errorMessage": answer})
        return answer

    def _call(self, payload: bytes) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations", data=payload, method="POST"
        )
        with self._lock:
            offset = os.fstat(self._log.fileno()).st_size
            self._killed_for_memory.clear()
            self._invoking.set()
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s + 5) as response:  # noqa: S310
                    body = response.read()
            except urllib.error.HTTPError as error:  # the emulator's 502: the runtime died or its answer was refused
                return self._runtime_failure(error, self.logs(offset))
            finally:
                self._invoking.clear()
            if self._killed_for_memory.is_set():  # killed after it answered: the answer is Lambda's error
                return self._runtime_failure(None, self.logs(offset))
        try:
            return json.loads(body)
        except ValueError:
            return body.decode(errors="replace")

    def _runtime_failure(self, error: urllib.error.HTTPError | None, logs: str) -> dict[str, Any]:
        """Lambda's error object for a runtime that did not hand back an answer."""
        if self._killed_for_memory.is_set():
            return {"errorType": "Runtime.OutOfMemory", "errorMessage": "Runtime exited with error: signal: killed"}
        if "Exceeded maximum allowed payload size" in logs:  # the emulator refused the answer (as Lambda does)
            return {
                "errorType": "Function.ResponseSizeTooLarge",
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
            }
        return {"errorType": "Runtime.ExitError", "errorMessage": f"Runtime exited without answering ({error})"}

    def _watch_memory(self) -> None:
        """Kill the runtime when its resident memory passes MemorySize, as Lambda's sandbox does (no cgroup here)."""
        limit = self.memory_mb * 1024 * 1024
        while self.alive():
            used = sum(_resident_bytes(pid) for pid in _descendants(self.pid or 0))
            self.peak_memory_mb = max(self.peak_memory_mb, used / 1024 / 1024)
            if used > limit:
                for pid in _descendants(self.pid or 0):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self._killed_for_memory.set()
                self._log.write(
                    f"[local] Memory Size: {self.memory_mb} MB Max Memory Used: {used // 1024 // 1024} MB: "
                    "the runtime is killed (Runtime.OutOfMemory)\n".encode()
                )
                self._log.flush()
            time.sleep(MEMORY_POLL_S if self._invoking.is_set() else IDLE_MEMORY_POLL_S)

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


def _descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (the runtime under the emulator), from /proc."""
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in children.read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found


def _resident_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0  # gone meanwhile


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
