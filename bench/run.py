"""`make bench`: can one invocation keep up with a saturated Kinesis shard, on little memory, cheaply?

Prints one table (every figure measured in this run), then the write units per stored item of the table
and each index (bench/indexes.py), and writes them to bench/RESULTS.md. Not part of
`make test`: figures are reported, not asserted, except that the benchmark fails when the table it
verifies is wrong (ordering and duplicate guarantees).
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import fake_aws, indexes, workload
from bench.invoke import fake
from devtools.cfn import function_for_code, load_template
from devtools.loopback import free_port

ROOT = workload.ROOT
LAYER = ROOT / ".aws-sam" / "build" / "SharedLayer"
RUNTIME_PYTHON = ROOT / ".venv-runtime" / "bin" / "python"
FUNCTIONS = [
    "conference_summary_complete",
    "conference_summary_partial",
    "participant_summary_complete",
    "unrouted_events",
    "quality_alerts",
]
PROCESSORS = [
    "ConferenceSummaryCompleteFunction",
    "ConferenceSummaryPartialFunction",
    "ParticipantSummaryCompleteFunction",
]
FULL_VCPU_MB = 1769  # Lambda: one full vCPU at 1,769 MB, CPU in proportion below
# Lambda memory: 128 MB to 10,240 MB in 1-MB steps (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)
MIN_MEMORY_MB = 128
WORST_CASE_RUNS = 5

# AWS list prices, us-east-1, x86, as published on the AWS pricing pages in 2025 (check before relying):
PRICES = {
    "lambda_gb_second": 0.0000166667,
    "lambda_request": 0.20 / 1e6,
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand, per write request unit (since the Nov 2024 cut)
    "kinesis_shard_hour": 0.015,
    "kinesis_put_unit": 0.014 / 1e6,  # per 25 KB PUT payload unit
    "sns_publish": 0.50 / 1e6,  # per 64 KB publish request; a PublishBatch entry counts as one
}
PRICES_AS_OF = "2025 (AWS pricing pages, us-east-1)"


def main() -> int:
    if not (LAYER / "python").is_dir():
        print("no .aws-sam/build: run `make build` first", file=sys.stderr)
        return 2
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for rtt_ms in (0, 10):
            with StandIn(rtt_ms / 1000) as endpoint:
                figures[f"handlers_{rtt_ms}"] = run_scenario("handlers", endpoint, scratch)
                figures[f"naive_{rtt_ms}"] = run_scenario("naive", endpoint, scratch)
                if rtt_ms == 10:
                    # The memory figure rests on this one: the median of a few fresh processes, not one sample.
                    runs = [run_scenario("participants", endpoint, scratch) for _ in range(WORST_CASE_RUNS)]
                    figures["participants_10"] = median_run(runs)
    figures["parse"] = parse_cost()
    figures["cold"] = cold_starts()
    figures["layer"] = layer_size()
    problems = verify(figures)
    table = render(figures, problems)
    print(table)
    (ROOT / "bench" / "RESULTS.md").write_text(table)
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median CPU time, with every run's CPU time beside it."""
    ordered = sorted(runs, key=lambda run: run["cpu_s"])
    return {
        **ordered[len(ordered) // 2],
        "cpu_runs_s": [run["cpu_s"] for run in ordered],
        "first_batch_cpu_runs_s": sorted(run["first_batch_cpu_s"] for run in runs),
    }


class StandIn:
    """The DynamoDB/SNS stand-in in its own process, with a fixed delay per request."""

    def __init__(self, delay_s: float) -> None:
        self.port = free_port()
        ready = multiprocessing.Event()
        self.process = multiprocessing.Process(target=fake_aws.serve, args=(self.port, delay_s, ready), daemon=True)
        self.ready = ready

    def __enter__(self) -> str:
        self.process.start()
        if not self.ready.wait(10):
            raise RuntimeError("the stand-in did not start")
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: Any) -> None:
        self.process.terminate()
        self.process.join(5)


def run_scenario(name: str, endpoint: str, scratch: str) -> dict[str, Any]:
    fake(endpoint, method="DELETE", path="/_reset")
    result_file = Path(scratch) / f"{name}.json"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'voice_insights'}{os.pathsep}{ROOT}"}
    subprocess.run(  # noqa: S603 (our own module)
        [sys.executable, "-m", "bench.invoke", name, endpoint, str(result_file)],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(result_file.read_text())
    return result


def parse_cost(repeats: int = 5) -> dict[str, float]:
    """CPU per event: decode + validate + item (the handler's own work) vs json.loads + model_validate."""
    import base64

    from voice_insights.decoding import Accepted, decode
    from voice_insights.items import to_item
    from voice_insights.models import SummaryEvent
    from voice_insights.routes import SUMMARY_ROUTES
    from voice_insights.store import now_utc

    events = workload.build().events
    raws = [base64.b64decode(r["kinesis"]["data"]) for r in workload.kinesis_records(events)]
    route_of = {t: route for route in SUMMARY_ROUTES for t in route.event_types}
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(SummaryEvent)

    def handler_path() -> None:
        now = now_utc()
        for raw in raws:
            decision = decode(raw, route_of[json.loads(raw)["type"]])
            assert isinstance(decision, Accepted)
            to_item(decision.event, now)

    def floor() -> None:
        for raw in raws:
            event = json.loads(raw)
            event["data"] = json.loads(event["data"])
            adapter.validate_python(event)

    def best(call: Any) -> float:
        times = []
        for _ in range(repeats):
            start = time.process_time()
            call()
            times.append(time.process_time() - start)
        return min(times) / len(raws)

    # The handler path decodes the type once more to pick the route here; the functions do not.
    return {"handler_s": best(handler_path), "floor_s": best(floor)}


def cold_starts(runs: int = 5) -> dict[str, Any]:
    """Import/init of each handler module in a fresh runtime-like interpreter with the built layer as
    Lambda runs it (its shipped .pyc, nothing written: /opt is read-only), median of ``runs``; against
    ``import boto3`` alone, once without the .pyc to show what shipping them saves, and step by step."""
    template = load_template(ROOT / "template.yaml")

    def measure(code: str, env: dict[str, str], ignore_shipped_pyc: bool = False) -> float:
        samples = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as cache:
                if ignore_shipped_pyc:
                    env = {**env, "PYTHONPYCACHEPREFIX": cache}  # an empty cache elsewhere: everything compiles
                timer = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
                out = subprocess.run([str(RUNTIME_PYTHON), "-c", timer], env=env, capture_output=True, text=True,  # noqa: S603
                                     check=True, cwd=tempfile.gettempdir())  # fmt: skip
                samples.append(float(out.stdout.strip().splitlines()[-1]))
        return statistics.median(samples)

    def app(logical_id: str) -> str:
        return f"import runpy; runpy.run_path({str(ROOT / '.aws-sam' / 'build' / logical_id / 'app.py')!r})"

    participants = function_for_code(template, "participant_summary_complete")
    figures: dict[str, Any] = {"boto3": measure("import boto3", init_environment(template, participants))}
    for name in FUNCTIONS:
        logical_id = function_for_code(template, name)
        figures[name] = measure(app(logical_id), init_environment(template, logical_id))
    figures["participant_summary_complete_without_pyc"] = measure(
        app(participants), init_environment(template, participants), ignore_shipped_pyc=True
    )
    steps = [*INIT_STEPS, ("the function's own code: models, parser, clients", app(participants))]
    figures["steps"] = init_steps(steps, init_environment(template, participants), runs)
    return figures


# Where a function's init goes, in the order it happens: the AWS SDK, pydantic (its first model is
# what loads its schema machinery), Powertools' logger and metrics, the tracer as observability.py
# configures it (the X-Ray SDK, botocore patched), then the function's own modules.
INIT_STEPS = [
    ("import boto3", "import boto3"),
    ("pydantic: import, first model built", "from pydantic import BaseModel\nclass First(BaseModel):\n    x: int"),
    ("Powertools Logger, Metrics", "from aws_lambda_powertools import Logger, Metrics; Logger(); Metrics()"),
    ("Powertools Tracer: X-Ray SDK, botocore patched",
     "from aws_lambda_powertools import Tracer; Tracer(patch_modules=['botocore'])"),
]  # fmt: skip


def init_steps(steps: list[tuple[str, str]], env: dict[str, str], runs: int) -> list[tuple[str, float]]:
    """Each step's time, run one after the other in the same fresh interpreter; median per step of ``runs``."""
    timed = ["import time as _time", "_times = [_time.perf_counter()]"]
    for _, code in steps:
        timed += [code, "_times.append(_time.perf_counter())"]
    timed.append("print(*(b - a for a, b in zip(_times, _times[1:])))")
    samples = []
    for _ in range(runs):
        out = subprocess.run([str(RUNTIME_PYTHON), "-c", "\n".join(timed)], env=env, capture_output=True,  # noqa: S603
                             text=True, check=True, cwd=tempfile.gettempdir())  # fmt: skip
        samples.append([float(value) for value in out.stdout.strip().splitlines()[-1].split()])
    return [(label, statistics.median(sample[i] for sample in samples)) for i, (label, _) in enumerate(steps)]


def init_environment(template: dict[str, Any], logical_id: str) -> dict[str, str]:
    """The environment a function's init runs in on Lambda: the runtime's own variables and the template's
    literal ones, tracing on as deployed (``Tracing: Active``). Outside Lambda (no ``LAMBDA_TASK_ROOT``) the
    X-Ray SDK builds a botocore client for centralised sampling at import, which it never does on Lambda
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime)."""
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    function_variables = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    literal = {k: v for k, v in {**variables, **function_variables}.items() if isinstance(v, str)}
    return {
        **literal,
        "PYTHONPATH": str(LAYER / "python"),
        "PYTHONDONTWRITEBYTECODE": "1",  # /opt and /var/task are read-only on Lambda
        "LAMBDA_TASK_ROOT": str(ROOT / ".aws-sam" / "build" / logical_id),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(template["Parameters"]["FunctionMemorySize"]["Default"]),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def layer_size() -> dict[str, int]:
    files = [p for p in LAYER.rglob("*") if p.is_file()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(LAYER))
    return {"unzipped": sum(p.stat().st_size for p in files), "zipped": buffer.tell()}


def verify(figures: dict[str, Any]) -> list[str]:
    """The ordering and duplicate guarantees, on the final table of every handler run."""
    expected = workload.build()
    problems = []
    for rtt in (0, 10):
        run = figures[f"handlers_{rtt}"]
        items = run["final_items"]
        if len(items) != expected.unique_items:
            problems.append(f"{rtt} ms: {len(items)} items stored, expected {expected.unique_items}")
        conferences = [event_id for key, event_id in items.items() if key.endswith("|SUMMARY")]
        if not all(event_id.startswith("EZc") for event_id in conferences):
            problems.append(f"{rtt} ms: a conference holds a partial summary over its complete one")
        if run["writes"] != expected.unique_items:
            problems.append(
                f"{rtt} ms: {run['writes']} writes for {expected.unique_items} items (something was overwritten)"
            )
        failures = [f for f in run["functions"].values() if f["answer"] != {"batchItemFailures": []}]
        if failures:
            problems.append(f"{rtt} ms: batch item failures {failures}")
    return problems


def render(figures: dict[str, Any], problems: list[str]) -> str:
    rows: list[tuple[str, str, str]] = []

    def row(name: str, value: str, target: str = "") -> None:
        rows.append((name, value, target))

    events = len(workload.build().events)
    throughput = {}
    for rtt in (0, 10):
        run = figures[f"handlers_{rtt}"]
        processing_wall = sum(run["functions"][f]["wall_s"] for f in PROCESSORS)
        throughput[rtt] = events / processing_wall
        naive = figures[f"naive_{rtt}"]
        naive_rate = naive["records"] / naive["wall_s"]
        met = throughput[rtt] >= 3000 and throughput[rtt] / naive_rate >= 10 if rtt == 10 else None
        row(f"Throughput, {rtt} ms DynamoDB round trip", f"{throughput[rtt]:,.0f} events/s "
            f"({processing_wall * 1000:.0f} ms for {events} events)",
            _target(met, ">= 3,000 events/s and >= 10x naive") if rtt == 10 else "")  # fmt: skip
        row(f"  naive baseline, {rtt} ms", f"{naive_rate:,.0f} events/s ({naive['wall_s']:.2f} s); "
            f"ratio {throughput[rtt] / naive_rate:.1f}x")  # fmt: skip
    parse = figures["parse"]
    ratio = parse["handler_s"] / parse["floor_s"]
    row("CPU per event: decode + validate + item", f"{parse['handler_s'] * 1e6:.0f} us; floor "
        f"(json.loads + model_validate) {parse['floor_s'] * 1e6:.0f} us; ratio {ratio:.2f}x",
        _target(ratio <= 3, "<= 3x floor"))  # fmt: skip
    run10 = figures["handlers_10"]
    handler_cpu = sum(run10["functions"][f]["cpu_s"] for f in PROCESSORS)
    row("Whole handler CPU per 1,000 mixed events (10 ms)", f"{handler_cpu:.3f} s (botocore requests included)")
    worst = figures["participants_10"]
    cpu_per_1000 = worst["cpu_s"] / worst["records"] * 1000
    io_s = max(worst["wall_s"] - worst["cpu_s"], 0.0)
    smallest = smallest_memory(cpu_per_1000, io_s)
    spread = f"{min(worst['cpu_runs_s']) * 1000:.0f}-{max(worst['cpu_runs_s']) * 1000:.0f}"
    firsts = worst["first_batch_cpu_runs_s"]
    row("Worst case: 1,000 participant events, 10 ms", f"wall {worst['wall_s'] * 1000:.0f} ms, CPU "
        f"{worst['cpu_s'] * 1000:.0f} ms per batch in a warm environment (median of {len(worst['cpu_runs_s'])} "
        f"processes: {spread} ms); an environment's first batch: {statistics.median(firsts) * 1000:.0f} ms "
        f"({firsts[0] * 1000:.0f}-{firsts[-1] * 1000:.0f})")  # fmt: skip
    keeps_up = f"{smallest} MB (CPU x {FULL_VCPU_MB}/MB + {io_s * 1000:.0f} ms waiting <= 1 s; 1-MB steps)"
    row("Smallest memory that keeps up with a saturated shard", keeps_up,
        _target(smallest is not None and smallest <= 256, "<= 256 MB"))  # fmt: skip
    factor = parallelization_factor(256, cpu_per_1000, io_s)
    row("  or at 256 MB, with StreamParallelizationFactor", f"{factor} (batches of one shard at once; "
        "Lambda allows 1-10)" if factor else "over 10: not possible")  # fmt: skip
    rss_mb = worst["peak_rss_kb"] / 1024
    row("Peak RSS, one invocation of 1,000 records", f"{rss_mb:.0f} MB (before the batch: "
        f"{worst['rss_before_kb'] / 1024:.0f} MB)", _target(rss_mb <= 128, "<= 128 MB"))  # fmt: skip
    cold = figures["cold"]
    for name in FUNCTIONS:
        ratio = cold[name] / cold["boto3"]
        row(f"Init {name}", f"{cold[name] * 1000:.0f} ms ({ratio:.2f}x import boto3)", _target(ratio <= 1.5, "<= 1.5x"))
    row("Init floor: import boto3", f"{cold['boto3'] * 1000:.0f} ms (from the layer, with its .pyc)")
    row("Init participant_summary_complete, step by step", "each step's median, run in turn in one interpreter")
    elapsed = 0.0
    for label, seconds in cold["steps"]:
        elapsed += seconds
        row(f"  {'+ ' if elapsed > seconds else ''}{label}", f"{seconds * 1000:.0f} ms; so far {elapsed * 1000:.0f} ms "
            f"({elapsed / cold['boto3']:.2f}x import boto3)")  # fmt: skip
    without = cold["participant_summary_complete_without_pyc"]
    row("Init participant_summary_complete without the layer's .pyc", f"{without * 1000:.0f} ms (what SAM's "
        "python3.13 builder alone would ship)")  # fmt: skip
    layer = figures["layer"]
    row("Built layer", f"{layer['unzipped'] / 2**20:.1f} MB unzipped, {layer['zipped'] / 2**20:.1f} MB zipped")
    ddb = sum(v for k, v in run10["processor_requests"].items() if k.startswith("dynamodb:"))
    alert_requests = {k: v - run10["processor_requests"].get(k, 0) for k, v in run10["requests"].items()}
    sns = sum(v for k, v in alert_requests.items() if k.startswith("sns:"))
    alert_ddb = sum(v for k, v in alert_requests.items() if k.startswith("dynamodb:"))
    per_1000 = 1000 / events
    requests = (
        f"DynamoDB {ddb * per_1000:.0f} by the processors + {alert_ddb * per_1000:.0f} by the alert function; "
        f"SNS {sns * per_1000:.0f} ({run10['published']} alerts)"
    )
    row("Requests per 1,000 events", requests)
    cost = cost_per_million(figures, events)
    memory_mb, of_indexes = cost.pop("memory_mb"), cost.pop("DynamoDB indexes")
    parts = [f"{k} ${v:.3f}" + (f" (indexes ${of_indexes:.3f} of it)" if k == "DynamoDB" else "")
             for k, v in cost.items() if k != "total"]  # fmt: skip
    row(f"Cost per million events at {memory_mb:.0f} MB", f"${cost['total']:.2f}: " + ", ".join(parts))
    lines = [
        "# Benchmark results",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; `make bench`. DynamoDB and SNS are a",
        "stand-in over HTTP on 127.0.0.1 with a fixed delay per request (bench/fake_aws.py); the handlers,",
        "botocore and the network stack are real. Prices: " + PRICES_AS_OF + ".",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        *[f"| {name} | {value} | {target} |" for name, value, target in rows],
        "",
        "Final table verified (ordering and duplicates): " + ("yes" if not problems else "NO: " + "; ".join(problems)),
        "",
        *index_section(run10),
    ]
    return "\n".join(lines)


def index_section(run: dict[str, Any]) -> list[str]:
    """The write units per item, table and each index, of the items the handler run stored (10 ms)."""
    table = indexes.table_from_template(ROOT / "template.yaml")
    return [*indexes.render(indexes.summarise(run["write_units"]), table), ""]


def seconds_per_saturated_second(memory_mb: int, cpu_per_1000: float, io_s: float, factor: int = 1) -> float:
    """Wall seconds one invocation needs for the 1,000/``factor`` events a saturated shard gives it each second.

    Lambda gives CPU in proportion to memory, a full vCPU at 1,769 MB
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html); with a parallelization
    factor F it runs F batches of one shard at once (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html).
    """
    return (cpu_per_1000 * max(FULL_VCPU_MB / memory_mb, 1.0) + io_s) / factor


def smallest_memory(cpu_per_1000: float, io_s: float) -> int | None:
    """The fewest MB at which one invocation keeps up; None when even a full vCPU does not (more memory
    gives more vCPUs, which one Python thread doing CPU work cannot use)."""
    if cpu_per_1000 + io_s > 1.0:
        return None
    needed = max(MIN_MEMORY_MB, math.ceil(cpu_per_1000 * FULL_VCPU_MB / (1.0 - io_s)))
    return needed if seconds_per_saturated_second(needed, cpu_per_1000, io_s) <= 1.0 else needed + 1


def parallelization_factor(memory_mb: int, cpu_per_1000: float, io_s: float) -> int | None:
    """The smallest factor (Lambda allows 1-10) at which ``memory_mb`` keeps up with a saturated shard."""
    factors = range(1, 11)
    return next((f for f in factors if seconds_per_saturated_second(memory_mb, cpu_per_1000, io_s, f) <= 1.0), None)


def cost_per_million(figures: dict[str, Any], events: int) -> dict[str, float]:
    """List-price cost of a million events like these, at the template's default memory size."""
    memory_mb = int(load_template(ROOT / "template.yaml")["Parameters"]["FunctionMemorySize"]["Default"])
    scale = 1e6 / events
    run = figures["handlers_10"]
    seconds = 0.0
    for function in run["functions"].values():
        io_s = max(function["wall_s"] - function["cpu_s"], 0.0)
        seconds += io_s + function["cpu_s"] * max(FULL_VCPU_MB / memory_mb, 1.0)
    seconds += run["alerts"]["wall_s"]
    invocations = len(run["functions"]) + max(len(run["alerts"]["answers"]), 1)
    write_units = sum(indexes.units(size, per_kb=2) for size in run["item_bytes"])  # transactional: 2 per KB
    # Each index write is billed too (bench/indexes.py): in the DynamoDB figure, and apart in "DynamoDB indexes".
    index_units = sum(sum(write["indexes"].values()) for write in run.get("write_units", []))
    total = {
        "Lambda": scale
        * (seconds * memory_mb / 1024 * PRICES["lambda_gb_second"] + invocations * PRICES["lambda_request"]),
        "DynamoDB": scale * (write_units + index_units) * PRICES["dynamodb_write_unit"],
        "Kinesis": 1e6 * PRICES["kinesis_put_unit"] + 1e6 / 1000 / 3600 * PRICES["kinesis_shard_hour"],
        "SNS": scale * run["published"] * PRICES["sns_publish"],
    }
    total["total"] = sum(total.values())
    total["DynamoDB indexes"] = scale * index_units * PRICES["dynamodb_write_unit"]  # part of DynamoDB's
    total["memory_mb"] = memory_mb
    return total


def _target(met: bool | None, text: str) -> str:
    if met is None:
        return text
    return f"{'met' if met else 'NOT met'} ({text})"


if __name__ == "__main__":
    sys.exit(main())
