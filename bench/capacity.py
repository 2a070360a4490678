"""Sizing and monthly cost from the benchmark's measured figures per event: pure arithmetic, no measuring.

Limits and prices, each cited where it is used:
- a Kinesis shard takes 1,000 records/s or 1 MiB/s, whichever comes first
  (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html);
- Lambda gives CPU in proportion to memory, one full vCPU at 1,769 MB, and runs 1-10 batches of one shard at
  once (ParallelizationFactor) (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html,
  https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html);
- prices: AWS list prices, us-east-1, x86, on-demand, as published in 2025 (check before relying on them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIB = 1024 * 1024
SHARD_RECORDS_PER_S = 1000
SHARD_BYTES_PER_S = MIB
FULL_VCPU_MB = 1769
MIN_MEMORY_MB = 128
MAX_PARALLELIZATION_FACTOR = 10
SECONDS_PER_MONTH = 30 * 24 * 3600

PRICES = {
    "lambda_gb_second": 0.0000166667,
    "lambda_request": 0.20 / 1e6,
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit (since the November 2024 cut)
    "dynamodb_gb_month": 0.25,  # Standard table class storage, after the first 25 GB
    "kinesis_shard_hour": 0.015,  # provisioned
    "kinesis_put_unit": 0.014 / 1e6,  # provisioned, per 25 KB PUT payload unit
    "kinesis_on_demand_stream_hour": 0.04,
    "kinesis_on_demand_gb_in": 0.08,
    "kinesis_on_demand_gb_out": 0.04,
    "sns_publish": 0.50 / 1e6,  # per 64 KB publish request; a PublishBatch entry counts as one
    "s3_put": 0.005 / 1000,
}
# DynamoDB Standard-IA: storage 60 % cheaper, reads and writes 25 % dearer than Standard
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.TableClasses.html).
INFREQUENT_ACCESS_STORAGE = 0.4
INFREQUENT_ACCESS_WRITES = 1.25
PRICES_AS_OF = "2025 list prices (AWS pricing pages, us-east-1, on-demand)"


def records_per_saturated_second(record_bytes: float) -> float:
    """What one saturated shard delivers each second: 1,000 records, fewer when they are large."""
    return min(SHARD_RECORDS_PER_S, SHARD_BYTES_PER_S / record_bytes)


def seconds_per_second(memory_mb: int, cpu_per_record: float, io_per_record: float, rate: float, factor: int) -> float:
    """Wall seconds each of ``factor`` concurrent invocations needs for its share of one second of ``rate``."""
    cpu = cpu_per_record * max(FULL_VCPU_MB / memory_mb, 1.0)
    return (cpu + io_per_record) * rate / factor


def smallest_memory(cpu_per_record: float, io_per_record: float, rate: float) -> int | None:
    """The fewest MB (1-MB steps) at which one invocation keeps up with ``rate``; None when even a full vCPU
    does not (more memory gives more vCPUs, which one Python thread doing CPU work cannot use)."""
    if (cpu_per_record + io_per_record) * rate > 1.0:
        return None
    needed = max(MIN_MEMORY_MB, math.ceil(cpu_per_record * rate * FULL_VCPU_MB / (1.0 - io_per_record * rate)))
    while seconds_per_second(needed, cpu_per_record, io_per_record, rate, 1) > 1.0:
        needed += 1
    return needed


def lowest_factor(memory_mb: int, cpu_per_record: float, io_per_record: float, rate: float) -> int | None:
    """The smallest ParallelizationFactor (1-10) at which ``memory_mb`` keeps up with ``rate`` per shard."""
    factors = range(1, MAX_PARALLELIZATION_FACTOR + 1)
    fits = (f for f in factors if seconds_per_second(memory_mb, cpu_per_record, io_per_record, rate, f) <= 1.0)
    return next(fits, None)


@dataclass(frozen=True)
class PerEvent:
    """What one event costs, measured by make bench on its workload."""

    record_bytes: float  # the Kinesis record
    cpu_s: float  # the processing function's CPU (as Lambda bills it: the runtime's process)
    io_s: float  # its wall time waiting on DynamoDB
    summary_units: float  # the summaries table's write units (conditional failures included)
    ledger_units: float  # the alert ledger's
    index_units: float  # the indexes'
    stored_bytes: float  # what stays stored: item and index entries
    alerts: float  # SNS publishes
    alert_seconds: float  # the alert function's billed seconds at its memory
    invocations: float  # Lambda requests


@dataclass(frozen=True)
class Sizing:
    conferences_per_day: int
    events_per_s: float
    peak_events_per_s: float
    on_demand: bool
    shards: int
    factor: int | None
    memory_mb: int
    concurrency: int
    write_units_per_s: float
    monthly: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.monthly.values())

    @property
    def total_infrequent_access(self) -> float:
        """The month's total with the summaries table in the Standard-IA class (SummariesTableClass)."""
        writes = sum(v for k, v in self.monthly.items() if k.startswith("DynamoDB") and k != "DynamoDB storage")
        storage = self.monthly["DynamoDB storage"]
        return self.total - writes - storage + writes * INFREQUENT_ACCESS_WRITES + storage * INFREQUENT_ACCESS_STORAGE


def size(
    conferences_per_day: int,
    participants: int,
    per_event: PerEvent,
    memory_mb: int,
    peak_factor: float = 4.0,
    retention_days: int = 395,
) -> Sizing:
    """Shards or on-demand, parallelization factor, concurrency, write units and the monthly cost for a day of
    ``conferences_per_day`` conferences (a partial and a complete summary each, ``participants`` participant
    summaries), the busiest second ``peak_factor`` times the day's average."""
    events_per_day = conferences_per_day * (2 + participants)
    rate = events_per_day / 86400
    peak = rate * peak_factor
    per_shard = records_per_saturated_second(per_event.record_bytes)
    shards = max(1, math.ceil(peak / per_shard))
    on_demand = shards > 200  # where sizing shards by hand stops being sensible (a judgement, docs/performance.md)
    factor = lowest_factor(memory_mb, per_event.cpu_s, per_event.io_s, min(peak / shards, per_shard))
    concurrency = shards * (factor or MAX_PARALLELIZATION_FACTOR) + 1  # + the alert function
    events_per_month = events_per_day * 30
    gb_in = events_per_month * per_event.record_bytes / 1024**3
    if on_demand:
        kinesis = SECONDS_PER_MONTH / 3600 * PRICES["kinesis_on_demand_stream_hour"] + gb_in * (
            PRICES["kinesis_on_demand_gb_in"] + PRICES["kinesis_on_demand_gb_out"]
        )
    else:
        kinesis = shards * SECONDS_PER_MONTH / 3600 * PRICES["kinesis_shard_hour"]
        kinesis += events_per_month * math.ceil(per_event.record_bytes / 25 / 1024) * PRICES["kinesis_put_unit"]
    busy_seconds = per_event.cpu_s * max(FULL_VCPU_MB / memory_mb, 1.0) + per_event.io_s + per_event.alert_seconds
    stored_gb = events_per_day * min(retention_days, 3650) * per_event.stored_bytes / 1024**3
    monthly = {
        "DynamoDB summaries": events_per_month * per_event.summary_units * PRICES["dynamodb_write_unit"],
        "DynamoDB ledger": events_per_month * per_event.ledger_units * PRICES["dynamodb_write_unit"],
        "DynamoDB indexes": events_per_month * per_event.index_units * PRICES["dynamodb_write_unit"],
        "DynamoDB storage": stored_gb * PRICES["dynamodb_gb_month"],
        "Kinesis": kinesis,
        "Lambda": events_per_month
        * (
            busy_seconds * memory_mb / 1024 * PRICES["lambda_gb_second"]
            + per_event.invocations * PRICES["lambda_request"]
        ),
        "SNS": events_per_month * per_event.alerts * PRICES["sns_publish"],
    }
    return Sizing(
        conferences_per_day=conferences_per_day,
        events_per_s=rate,
        peak_events_per_s=peak,
        on_demand=on_demand,
        shards=shards,
        factor=factor,
        memory_mb=memory_mb,
        concurrency=concurrency,
        write_units_per_s=peak * (per_event.summary_units + per_event.ledger_units + per_event.index_units),
        monthly=monthly,
    )


def render(sizings: list[Sizing], participants: int, peak_factor: float, retention_days: int) -> list[str]:
    components = list(sizings[0].monthly)
    lines = [
        f"## Capacity and monthly cost, {participants} participants per conference",
        "",
        f"Computed from this run's figures per event (make bench): events are a partial and a complete summary and "
        f"{participants} participant summaries per conference; the busiest second is {peak_factor:g}x the day's "
        f"average; summaries are kept {retention_days} days (RetentionDays), and storage is shown once that many days "
        "are kept. Shards: what the busiest second needs "
        "(StreamCapacityMode PROVISIONED); above 200, ON_DEMAND. Factor: the lowest StreamParallelizationFactor that "
        "keeps up at the memory shown. Concurrency: shards x factor, plus the alert function. Write units: the "
        f"busiest second's (on-demand tables need no provisioning). {PRICES_AS_OF}; 30-day months.",
        "",
        "| conferences/day | events/s (busiest) | stream | factor | memory | concurrency | write units/s | "
        + " | ".join(components)
        + " | total/month | total, Standard-IA table |",
        "|---|---|---|---|---|---|---|" + "---|" * len(components) + "---|---|",
    ]
    for s in sizings:
        stream = "ON_DEMAND" if s.on_demand else f"{s.shards} shard{'s' if s.shards > 1 else ''}"
        factor = str(s.factor) if s.factor else "over 10: more memory"
        cells = " | ".join(f"${value:,.2f}" for value in s.monthly.values())
        lines.append(
            f"| {s.conferences_per_day:,} | {s.events_per_s:,.1f} ({s.peak_events_per_s:,.0f}) | {stream} | {factor} | "
            f"{s.memory_mb} MB | {s.concurrency:,} | {s.write_units_per_s:,.0f} | {cells} | "
            f"${s.total:,.2f} | ${s.total_infrequent_access:,.2f} |"
        )
    return lines
