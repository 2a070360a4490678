"""The participant function measured as Lambda bills it: the built function (.aws-sam/build) under the Runtime
Interface Emulator and the Lambda runtime client (devtools.lambda_rie), invoked with 1,000 participant summaries
in one Kinesis event serialised as Lambda delivers it. CPU is read from the runtime's process (/proc), so
everything the function does counts (reading the 4 MB event, the handler, botocore), and nothing of the bench's.

The first invocation of an environment builds its clients; the warm figure is the median of the ones after it,
as a saturated shard is one batch after another in the same environment.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench import workload
from bench.invoke import bench_environment, fake
from devtools.cfn import load_template
from devtools.lambda_rie import built_function

FUNCTION = "ParticipantSummaryCompleteFunction"
INVOCATIONS = 6  # the first, then five in a warm environment


def measure(endpoint: str, invocations: int = INVOCATIONS) -> dict[str, Any]:
    records = workload.kinesis_records(workload.participants_only(1000))
    event = {"Records": records}
    template = load_template(workload.ROOT / "template.yaml")
    runs = []
    with built_function(FUNCTION, bench_environment(endpoint), template) as emulator:
        for _ in range(invocations):
            fake(endpoint, method="DELETE", path="/_reset")  # every batch stores its 1,000 items
            before = process_cpu(runtime_pid(emulator.pid))
            start = time.perf_counter()
            answer = emulator.invoke(event)
            wall = time.perf_counter() - start
            pid = runtime_pid(emulator.pid)
            runs.append({"wall_s": wall, "cpu_s": process_cpu(pid) - before, "answer": answer})
        peak_rss_kb = peak_rss(runtime_pid(emulator.pid))
    warm = sorted(runs[1:], key=lambda run: run["cpu_s"])
    median = warm[len(warm) // 2]
    return {
        "records": len(records),
        "event_bytes": len(json.dumps(event)),
        "record_bytes": statistics.mean(len(base64.b64decode(r["kinesis"]["data"])) for r in records),
        "first": runs[0],
        "wall_s": median["wall_s"],
        "cpu_s": median["cpu_s"],
        "cpu_runs_s": [run["cpu_s"] for run in warm],
        "answers_ok": all(run["answer"] == {"batchItemFailures": []} for run in runs),
        "peak_rss_kb": peak_rss_kb,
    }


def runtime_pid(emulator_pid: int | None) -> int | None:
    """The Lambda runtime client's process: the emulator's child (None before the emulator started it)."""
    if emulator_pid is None:
        return None
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == emulator_pid:  # the 4th field, ppid
            return int(stat.parent.name)
    return None


def process_cpu(pid: int | None) -> float:
    """User plus system CPU seconds of ``pid`` (all its threads) so far; 0 before it exists."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def peak_rss(pid: int | None) -> int:
    """The process's peak resident memory (VmHWM), in KB."""
    if pid is None:
        return 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
