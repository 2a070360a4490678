"""`make bench`: what a million events cost, and can one invocation keep up with a saturated Kinesis shard?

Prints the figures (every one measured in this run), the cost per million events by component, the write units
per stored item of the table and each index (bench/indexes.py), the history lake's bytes, records and scans
(bench/lake.py) and the capacity table with the lake's components (bench/capacity.py);
`--write` writes them to bench/RESULTS.md too. Not part of `make test`: figures are reported, not asserted,
except that the benchmark fails when the table it verifies is wrong (ordering and duplicate guarantees).
"""

from __future__ import annotations

import argparse
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

from bench import capacity, fake_aws, indexes, lake, lambda_runtime, workload
from bench.capacity import FULL_VCPU_MB, PRICES, PRICES_AS_OF, PerEvent
from bench.invoke import fake
from devtools.cfn import Resolver, function_for_code, load_template
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
WORST_CASE_RUNS = 3
WRITE_UNITS_TARGET = 800  # per 1,000 events of the workload, the summaries' writes
ALL_WRITE_UNITS_TARGET = 1200  # per 1,000 events: the summaries', the ledger's and the indexes' (issue 30)
MONTH_TARGET = (10_000_000, 2000.0)  # conferences a day, dollars a month with 13 months queryable (issue 30)
CAPACITY_CONFERENCES_PER_DAY = (10_000, 100_000, 1_000_000, 10_000_000)
# The figures of `make bench` at cccf2d1, before the lake (bench/RESULTS.md then): per million events; write units
# per 1,000 events; the month at 10 million conferences a day (395 days in DynamoDB, nothing queryable by SQL).
BEFORE_PER_MILLION = {
    "DynamoDB summaries": 0.500,
    "DynamoDB ledger": 0.088,
    "DynamoDB indexes": 0.588,
    "Lambda": 0.082,
    "Kinesis": 0.027,
    "SNS": 0.070,
    "S3": 0.0,
}
BEFORE_WRITE_UNITS_PER_1000 = {"summaries": 800, "ledger": 140, "indexes": 940, "all": 1880}
BEFORE_MONTH_AT_10_MILLION = 6410.87
# The lake's settings when the template does not say (bench/run.py lake_settings): Firehose's largest buffer,
# its default Parquet compression, the lifecycle docs/history.md describes; the writer's batch as the alert function's.
LAKE_DEFAULTS = {"history_days": 400, "transitions": (("STANDARD_IA", 30), ("GLACIER_IR", 90)), "buffer_mib": 128,
                 "buffer_s": 900, "compression": "SNAPPY", "batch_size": 100}  # fmt: skip
ATHENA_QUERIES_PER_DAY = 24  # weekly KPI queries a day: a dashboard refreshed every hour (an assumption)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="also write the results to bench/RESULTS.md (tracked)")
    parser.add_argument("--participants", type=int, default=4, help="participants per conference (capacity table)")
    parser.add_argument("--peak-factor", type=float, default=4.0, help="busiest second / the day's average")
    parser.add_argument("--athena-queries-per-day", type=int, default=ATHENA_QUERIES_PER_DAY,
                        help="weekly KPI queries a day on Athena (capacity table)")  # fmt: skip
    args = parser.parse_args(argv)
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
                    figures["runtime_10"] = lambda_runtime.measure(endpoint)
    figures["parse"] = parse_cost()
    figures["cold"] = cold_starts()
    figures["layer"] = layer_size()
    settings = lake_settings()
    figures["lake"] = lake.measure(figures["handlers_10"]["stored_images"], settings["batch_size"],
                                   settings["compression"])  # fmt: skip
    figures["lake_settings"] = settings
    figures["athena_queries_per_day"] = args.athena_queries_per_day
    problems = verify(figures)
    table = render(figures, problems, args.participants, args.peak_factor)
    print(table)
    if args.write:
        (ROOT / "bench" / "RESULTS.md").write_text(table)
        print("wrote bench/RESULTS.md", file=sys.stderr)
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

    from voice_insights.domain.items import now_utc, to_item
    from voice_insights.domain.models import SummaryEvent
    from voice_insights.ingest.decoding import Accepted, decode
    from voice_insights.ingest.routes import SUMMARY_ROUTES

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


def render(figures: dict[str, Any], problems: list[str], participants: int = 4, peak_factor: float = 4.0) -> str:
    rows: list[tuple[str, str, str]] = []

    def row(name: str, value: str, target: str = "") -> None:
        rows.append((name, value, target))

    events = len(workload.build().events)
    per_1000 = 1000 / events
    run10 = figures["handlers_10"]
    bill = run10["billing"]
    summaries = bill["summaries"]
    summary_units = summaries["units"] * per_1000
    row("DynamoDB write units per 1,000 events: the summaries", f"{summary_units:,.0f} ({summaries['stored']} "
        f"items stored, {summaries['stored_units']} units; {summaries['condition_failed']} refused by their "
        f"condition, {summaries['condition_failed_units']} units); before: "
        f"{BEFORE_WRITE_UNITS_PER_1000['summaries']:,}",
        _target(summary_units <= WRITE_UNITS_TARGET, "<= 800"))  # fmt: skip
    ledger_units, index_units = bill["ledger"]["units"] * per_1000, bill["index_units"] * per_1000
    row("  the alert ledger, apart", f"{ledger_units:,.0f} ({bill['ledger']['writes']} alerted items)")
    row("  the indexes, apart", f"{index_units:,.0f} (before: {BEFORE_WRITE_UNITS_PER_1000['indexes']:,}; the "
        "default stack's indexes, by index below)")  # fmt: skip
    all_units = summary_units + ledger_units + index_units
    row("  all together", f"{all_units:,.0f} (before: {BEFORE_WRITE_UNITS_PER_1000['all']:,})",
        _target(all_units <= ALL_WRITE_UNITS_TARGET, f"<= {ALL_WRITE_UNITS_TARGET:,}"))  # fmt: skip
    row(*lake_rows(figures))

    runtime = figures["runtime_10"]
    cpu_per_record = runtime["cpu_s"] / runtime["records"]
    io_per_record = max(runtime["wall_s"] - runtime["cpu_s"], 0.0) / runtime["records"]
    rate = capacity.records_per_saturated_second(runtime["record_bytes"])
    spread = f"{min(runtime['cpu_runs_s']) * 1000:.0f}-{max(runtime['cpu_runs_s']) * 1000:.0f}"
    row("CPU as Lambda bills it: 1,000 participant events, 10 ms", f"{runtime['cpu_s'] * 1000:.0f} ms per batch in "
        f"a warm environment (median of {len(runtime['cpu_runs_s'])}: {spread} ms), wall {runtime['wall_s'] * 1000:.0f}"
        f" ms; the environment's first batch: CPU {runtime['first']['cpu_s'] * 1000:.0f} ms (the built function "
        f"under the runtime emulator and awslambdaric, a {runtime['event_bytes'] / 2**20:.1f} MB event)")  # fmt: skip
    row("A shard saturated with participant summaries", f"{rate:,.0f} records/s (a shard takes 1,000 records/s or "
        f"1 MiB/s; these records are {runtime['record_bytes']:,.0f} bytes)")  # fmt: skip
    smallest = capacity.smallest_memory(cpu_per_record, io_per_record, rate)
    row("  smallest memory that keeps up, StreamParallelizationFactor 1", f"{smallest} MB" if smallest else
        "none: more than one vCPU")  # fmt: skip
    factor = capacity.lowest_factor(256, cpu_per_record, io_per_record, rate)
    row("  at 256 MB: the lowest StreamParallelizationFactor that keeps up", str(factor) if factor else "over 10",
        _target(factor is not None, "one that keeps up"))  # fmt: skip
    memory_mb = template_memory()
    at_default = capacity.lowest_factor(memory_mb, cpu_per_record, io_per_record, rate)
    row(f"  at the template's {memory_mb} MB", f"StreamParallelizationFactor {at_default}" if at_default else
        "over 10")  # fmt: skip
    row("Peak RSS of the runtime, 1,000 records", f"{runtime['peak_rss_kb'] / 1024:.0f} MB",
        _target(runtime["peak_rss_kb"] / 1024 <= 128, "<= 128 MB"))  # fmt: skip

    throughput = {}
    for rtt in (0, 10):
        run = figures[f"handlers_{rtt}"]
        processing_wall = sum(run["functions"][f]["wall_s"] for f in PROCESSORS)
        throughput[rtt] = events / processing_wall
        naive = figures[f"naive_{rtt}"]
        naive_rate = naive["records"] / naive["wall_s"]
        row(f"In process: throughput, {rtt} ms DynamoDB round trip", f"{throughput[rtt]:,.0f} events/s "
            f"({processing_wall * 1000:.0f} ms for {events} events); naive baseline {naive_rate:,.0f} events/s "
            f"({naive['wall_s']:.2f} s), ratio {throughput[rtt] / naive_rate:.1f}x")  # fmt: skip
    parse = figures["parse"]
    row("In process: CPU per event, decode + validate + item", f"{parse['handler_s'] * 1e6:.0f} us; floor "
        f"(json.loads + model_validate) {parse['floor_s'] * 1e6:.0f} us; ratio "
        f"{parse['handler_s'] / parse['floor_s']:.2f}x")  # fmt: skip
    handler_cpu = sum(run10["functions"][f]["cpu_s"] for f in PROCESSORS)
    row("In process: handler CPU per 1,000 mixed events (10 ms)", f"{handler_cpu * per_1000:.3f} s (botocore "
        "requests included)")  # fmt: skip
    worst = figures["participants_10"]
    row("In process: 1,000 participant events, 10 ms", f"CPU {worst['cpu_s'] * 1000:.0f} ms per warm batch "
        f"(median of {len(worst['cpu_runs_s'])} processes), beside the runtime's figure above: the handler alone, "
        "without the runtime client reading the event")  # fmt: skip
    cold = figures["cold"]
    for name in FUNCTIONS:
        row(f"Init {name}", f"{cold[name] * 1000:.0f} ms ({cold[name] / cold['boto3']:.2f}x import boto3)")
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
    row("Requests per 1,000 events", f"DynamoDB {ddb * per_1000:.0f} by the processors + {alert_ddb * per_1000:.0f}"
        f" by the alert function; SNS {sns * per_1000:.0f} ({run10['published']} alerts)")  # fmt: skip

    per_event = per_event_figures(figures, events)
    cost = cost_per_million(per_event, memory_mb)
    the_lake = lake_figures(figures, memory_mb)
    kept = retention_days()
    sizings = [capacity.size(c, participants, per_event, memory_mb, peak_factor, kept, the_lake)
               for c in CAPACITY_CONFERENCES_PER_DAY]  # fmt: skip
    volume, most = MONTH_TARGET
    month = next(s.total for s in sizings if s.conferences_per_day == volume)
    row(f"A month at {volume:,} conferences a day, {the_lake.history_days} days queryable in the lake",
        f"${month:,.2f} (before: ${BEFORE_MONTH_AT_10_MILLION:,.2f}, nothing queryable by SQL; capacity table below)",
        _target(month <= most, f"<= ${most:,.0f}"))  # fmt: skip
    lines = [
        "# Benchmark results",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; `make bench`. DynamoDB and SNS are a",
        "stand-in over HTTP on 127.0.0.1 with a fixed delay per request (bench/fake_aws.py); the functions,",
        "botocore and the network stack are real. Prices: " + PRICES_AS_OF + ".",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        *[f"| {name} | {value} | {target} |" for name, value, target in rows],
        "",
        "Final table verified (ordering and duplicates): " + ("yes" if not problems else "NO: " + "; ".join(problems)),
        "",
        *cost_section(cost, memory_mb),
        "",
        *index_section(run10, events),
        "",
        *capacity.render(sizings, participants, peak_factor, kept, the_lake),
        "",
        *capacity.render_lake(list(CAPACITY_CONFERENCES_PER_DAY), participants, the_lake),
        "",
    ]
    return "\n".join(lines)


def template_memory() -> int:
    return int(load_template(ROOT / "template.yaml")["Parameters"]["FunctionMemorySize"]["Default"])


def retention_days() -> int:
    return int(load_template(ROOT / "template.yaml")["Parameters"]["RetentionDays"]["Default"])


def per_event_figures(figures: dict[str, Any], events: int) -> PerEvent:
    """What one event of the workload costs: write units, alerts and storage from the handler run; CPU and
    waiting from the runtime measurement of participant summaries (the largest events: an upper bound)."""
    run = figures["handlers_10"]
    runtime = figures["runtime_10"]
    bill = run["billing"]
    alert_invocations = max(len(run["alerts"]["answers"]), 1)
    return PerEvent(
        record_bytes=runtime["record_bytes"],
        cpu_s=runtime["cpu_s"] / runtime["records"],
        io_s=max(runtime["wall_s"] - runtime["cpu_s"], 0.0) / runtime["records"],
        summary_units=bill["summaries"]["units"] / events,
        ledger_units=bill["ledger"]["units"] / events,
        index_units=bill["index_units"] / events,
        stored_bytes=run["stored_bytes"] / events,
        alerts=run["published"] / events,
        alert_seconds=run["alerts"]["wall_s"] / events,
        invocations=(len(run["functions"]) + alert_invocations) / events,
    )


def cost_per_million(per_event: PerEvent, memory_mb: int) -> dict[str, float]:
    """List-price cost of a million events like these, by component, at ``memory_mb``."""
    million = 1e6
    billed_seconds = per_event.cpu_s * max(FULL_VCPU_MB / memory_mb, 1.0) + per_event.io_s + per_event.alert_seconds
    rate = capacity.records_per_saturated_second(per_event.record_bytes)
    put_units = math.ceil(per_event.record_bytes / 25 / 1024)
    return {
        "DynamoDB summaries": million * per_event.summary_units * PRICES["dynamodb_write_unit"],
        "DynamoDB ledger": million * per_event.ledger_units * PRICES["dynamodb_write_unit"],
        "DynamoDB indexes": million * per_event.index_units * PRICES["dynamodb_write_unit"],
        "Lambda": million
        * (
            billed_seconds * memory_mb / 1024 * PRICES["lambda_gb_second"]
            + per_event.invocations * PRICES["lambda_request"]
        ),
        # Shard-hours at saturation (an idle shard costs the same per hour), and PUT payload units.
        "Kinesis": million * put_units * PRICES["kinesis_put_unit"]
        + million / rate / 3600 * PRICES["kinesis_shard_hour"],
        "SNS": million * per_event.alerts * PRICES["sns_publish"],
        "S3": 0.0,  # one PUT per batch with rejected events: the workload has none
    }


def cost_section(cost: dict[str, float], memory_mb: int) -> list[str]:
    lines = [
        f"## Cost per million events, by component (functions at {memory_mb} MB)",
        "",
        "Before: `make bench` at cccf2d1 (four indexes: ByStartDay and ByCallSid deployed). After: this run, the",
        "default stack (CallSidIndex=false). The lake's costs depend on the volume (objects a day, queries a day):",
        "they are in the capacity table.",
        "",
        "| component | before | after |",
        "|---|---|---|",
    ]
    for component, after in cost.items():
        before = BEFORE_PER_MILLION.get(component)
        lines.append(f"| {component} | {f'${before:.3f}' if before is not None else 'not counted'} | ${after:.3f} |")
    before_total = sum(BEFORE_PER_MILLION.values())
    lines.append(f"| total | ${before_total:.2f} | ${sum(cost.values()):.2f} |")
    return lines


def index_section(run: dict[str, Any], events: int) -> list[str]:
    """The write units per item, table and each index the template can create, of the items the handler run
    stored (10 ms), and which of them the default stack deploys."""
    every = indexes.table_from_template(ROOT / "template.yaml", indexes.ALL_INDEXES)
    deployed = indexes.table_from_template(ROOT / "template.yaml")
    return indexes.render(indexes.summarise(run["every_index_writes"]), every, deployed, events)


def lake_settings(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the template says of the lake (HistoryRetentionDays, the lake bucket's lifecycle, the delivery streams'
    buffer and Parquet compression, the lake writer's memory and batch), LAKE_DEFAULTS where it says nothing."""
    template = template if template is not None else load_template(ROOT / "template.yaml")
    resolver = Resolver(template, "bench")
    settings: dict[str, Any] = {**LAKE_DEFAULTS, "from_template": []}

    def found(name: str, value: Any) -> None:
        settings[name] = value
        settings["from_template"].append(name)

    if "HistoryRetentionDays" in template["Parameters"]:
        found("history_days", int(template["Parameters"]["HistoryRetentionDays"]["Default"]))
    for resource in template["Resources"].values():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::S3::Bucket":
            for rule in props.get("LifecycleConfiguration", {}).get("Rules", []):
                steps = [(step["StorageClass"], int(resolver.resolve(step["TransitionInDays"])))
                         for step in rule.get("Transitions", [])]  # fmt: skip
                if steps:
                    found("transitions", tuple(sorted(steps, key=lambda step: step[1])))
        elif kind == "AWS::KinesisFirehose::DeliveryStream":
            destination = props.get("ExtendedS3DestinationConfiguration", {})
            hints = destination.get("BufferingHints", {})
            if hints:
                found("buffer_mib", int(resolver.resolve(hints.get("SizeInMBs", settings["buffer_mib"]))))
                found("buffer_s", int(resolver.resolve(hints.get("IntervalInSeconds", settings["buffer_s"]))))
            serializer = destination.get("DataFormatConversionConfiguration", {}).get("OutputFormatConfiguration", {})
            compression = serializer.get("Serializer", {}).get("ParquetSerDe", {}).get("Compression")
            if compression:
                found("compression", str(resolver.resolve(compression)))
        elif kind == "AWS::Serverless::Function" and "lake_writer" in str(props.get("CodeUri", "")):
            memory = props.get("MemorySize", template["Globals"]["Function"].get("MemorySize"))
            if memory is not None:
                found("memory_mb", int(resolver.resolve(memory)))
            for event in props.get("Events", {}).values():
                if event.get("Type") == "DynamoDB" and "BatchSize" in event.get("Properties", {}):
                    found("batch_size", int(resolver.resolve(event["Properties"]["BatchSize"])))
    settings["from_template"] = sorted(set(settings["from_template"]))
    return settings


def lake_figures(figures: dict[str, Any], memory_mb: int) -> capacity.Lake:
    """The lake's measured rows (bench/lake.py) and the template's settings, for the capacity table."""
    measured, settings = figures["lake"], figures["lake_settings"]

    def row(table: str) -> capacity.LakeRow:  # Parquet bytes of the rows varied as real traffic (bench/lake.py)
        t = measured["tables"][table]
        return capacity.LakeRow(json_bytes=t["json_bytes"] / t["rows"], billed_bytes=t["billed_bytes"] / t["rows"],
                                parquet_bytes=measured["varied_parquet_bytes"][table] / t["rows"])  # fmt: skip

    return capacity.Lake(
        conference=row("conference_summaries"),
        participant=row("participant_summaries"),
        weekly_scan_bytes=measured["varied_weekly_query_bytes_per_participant_row"],
        cpu_per_row_s=measured["cpu_per_row_s"],
        history_days=settings["history_days"],
        transitions=tuple(tuple(step) for step in settings["transitions"]),  # type: ignore[misc]
        buffer_mib=settings["buffer_mib"],
        buffer_s=settings["buffer_s"],
        queries_per_day=figures["athena_queries_per_day"],
        memory_mb=settings.get("memory_mb", memory_mb),
        batch_size=settings["batch_size"],
    )


def lake_rows(figures: dict[str, Any]) -> tuple[str, str]:
    """The top table's line on the lake: bytes per row as sent and as Parquet, records, the weekly query's scan."""
    measured, settings = figures["lake"], figures["lake_settings"]
    parts = []
    for table, t in measured["tables"].items():
        parts.append(
            f"{table}: {t['rows']} rows, {t['json_bytes'] / t['rows']:,.0f} bytes each as sent (JSON; event_json "
            f"{t['event_json_bytes'] / t['json_bytes']:.0%} of them), "
            f"{t['parquet_bytes'] / t['rows']:,.0f} as Parquet ({measured['compression']}; "
            f"{t['parquet_bytes'] / t['json_bytes']:.1%}), varied as real traffic "
            f"{measured['varied_parquet_bytes'][table] / t['rows']:,.0f}, {t['records']} Firehose records "
            f"({t['rows'] / t['records']:,.0f} rows each, billed {t['billed_bytes'] / t['rows']:,.0f} bytes per row)"
        )
    columns = measured["weekly_query_columns"]
    parts.append(
        f"the weekly KPI query reads {len(columns)} of the participant table's columns: "
        f"{measured['weekly_query_bytes_per_participant_row']:,.1f} bytes per row (varied: "
        f"{measured['varied_weekly_query_bytes_per_participant_row']:,.1f}; the capacity table prices S3 and "
        f"Athena on the varied rows); the writer's CPU "
        f"{measured['cpu_per_row_s'] * 1e6:,.0f} us per row; settings from the template: "
        f"{', '.join(settings['from_template']) or 'none (defaults)'}"
    )
    return "The history lake, from the stored items (bench/lake.py)", "; ".join(parts)


def _target(met: bool | None, text: str) -> str:
    if met is None:
        return text
    return f"{'met' if met else 'NOT met'} ({text})"


if __name__ == "__main__":
    sys.exit(main())
