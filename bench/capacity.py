"""Sizing and monthly cost from the benchmark's measured figures per event: pure arithmetic, no measuring.

Limits and prices, each cited where it is used:
- a Kinesis shard takes 1,000 records/s or 1 MiB/s, whichever comes first
  (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html);
- Lambda gives CPU in proportion to memory, one full vCPU at 1,769 MB, and runs 1-10 batches of one shard at
  once (ParallelizationFactor) (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html,
  https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html);
- Firehose buffers each partition of a delivery stream up to a size or a time, then writes one object
  (https://docs.aws.amazon.com/firehose/latest/dev/buffering.html); S3 lifecycle rules do not move objects under
  128 KB (https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html),
  and Standard-IA and Glacier Instant Retrieval bill an object at least 128 KB;
- prices: AWS list prices, us-east-1, x86, on-demand, as published in 2025 (check before relying on them):
  https://aws.amazon.com/dynamodb/pricing/on-demand/, https://aws.amazon.com/lambda/pricing/,
  https://aws.amazon.com/kinesis/data-streams/pricing/, https://aws.amazon.com/sns/pricing/,
  https://aws.amazon.com/firehose/pricing/, https://aws.amazon.com/s3/pricing/, https://aws.amazon.com/athena/pricing/.
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
    # Firehose, Direct PUT (the lake writer's PutRecordBatch): ingestion per GB in 5 KB steps per record (first
    # 500 TB a month); record-format conversion per GB of the same rounded volume; dynamic partitioning per GB
    # and per object delivered (and per hour of jq processing: FIREHOSE_JQ_HOUR, outside the totals).
    "firehose_gb": 0.029,
    "firehose_conversion_gb": 0.018,
    "firehose_partitioning_gb": 0.020,
    "firehose_partitioning_object": 0.005 / 1000,
    "athena_tb_scanned": 5.0,  # each query billed at least 10 MB
}
FIREHOSE_JQ_HOUR = 0.07
# S3 storage per GB-month by class (first 50 TB), lifecycle transition requests into a class, retrieval per GB read.
S3_GB_MONTH = {"STANDARD": 0.023, "STANDARD_IA": 0.0125, "GLACIER_IR": 0.004}
S3_TRANSITION = {"STANDARD_IA": 0.01 / 1000, "GLACIER_IR": 0.02 / 1000}
S3_RETRIEVAL_GB = {"STANDARD": 0.0, "STANDARD_IA": 0.01, "GLACIER_IR": 0.03}
S3_SMALLEST_TRANSITION_BYTES = 128 * 1024  # smaller objects stay in Standard; IA and Glacier IR bill at least this
ATHENA_MIN_BYTES = 10 * 1024 * 1024
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
class LakeRow:
    """One lake table's row, measured by make bench (bench/lake.py)."""

    json_bytes: float  # as the writer sends it (a JSON line)
    billed_bytes: float  # its share of the Firehose records, rounded up to 5 KB each, as the writer packs them
    parquet_bytes: float  # its share of the Parquet file


@dataclass(frozen=True)
class Lake:
    """The history lake: rows measured by make bench, settings from the template (bench/run.py lake_settings)."""

    conference: LakeRow
    participant: LakeRow
    weekly_scan_bytes: float  # per participant row: the columns the weekly KPI query reads
    cpu_per_row_s: float  # the lake writer: the row and its packing
    history_days: int  # HistoryRetentionDays
    transitions: tuple[tuple[str, int], ...]  # lifecycle: (storage class, after days), in order
    buffer_mib: int
    buffer_s: int
    queries_per_day: int  # weekly KPI queries on Athena (an assumption, stated with the table)
    memory_mb: int  # the lake writer's
    batch_size: int  # the lake writer's stream batch


def lake_objects_per_day(json_bytes_per_day: float, lake: Lake) -> float:
    """Objects one delivery stream writes a day: one per buffer, full by size or by time (rows of today's
    partition; a late or backfilled row of another day adds an object of its own partition)."""
    return max(86400 / lake.buffer_s, json_bytes_per_day / (lake.buffer_mib * MIB))


def s3_class_days(lake: Lake, object_bytes: float) -> dict[str, int]:
    """Days an object spends in each storage class over HistoryRetentionDays (the lifecycle's transitions)."""
    days = {"STANDARD": lake.history_days}
    if object_bytes < S3_SMALLEST_TRANSITION_BYTES:
        return days  # lifecycle leaves it in Standard
    previous, start = "STANDARD", 0
    for storage_class, after in lake.transitions:
        if after >= lake.history_days:
            break
        days[previous] = after - start
        previous, start = storage_class, after
    days[previous] = lake.history_days - start
    return days


def lake_monthly(conferences_per_day: int, participants: int, lake: Lake) -> dict[str, float]:
    """The lake's month: Firehose (ingestion, conversion, dynamic partitioning), S3 by class (storage once
    HistoryRetentionDays are kept) and requests, Athena's weekly queries, the lake writer's Lambda."""
    tables = {"conference": (conferences_per_day * 2, lake.conference), "participant":
              (conferences_per_day * participants, lake.participant)}  # fmt: skip
    monthly = dict.fromkeys(
        ("Firehose ingestion", "Firehose conversion", "Firehose partitioning", "S3 Standard", "S3 Standard-IA",
         "S3 Glacier IR", "S3 requests", "Athena", "Lambda lake writer"), 0.0)  # fmt: skip
    names = {"STANDARD": "S3 Standard", "STANDARD_IA": "S3 Standard-IA", "GLACIER_IR": "S3 Glacier IR"}
    for rows_per_day, row in tables.values():
        billed_gb = rows_per_day * 30 * row.billed_bytes / 1024**3
        monthly["Firehose ingestion"] += billed_gb * PRICES["firehose_gb"]
        monthly["Firehose conversion"] += billed_gb * PRICES["firehose_conversion_gb"]
        objects = lake_objects_per_day(rows_per_day * row.json_bytes, lake)
        object_bytes = rows_per_day * row.parquet_bytes / objects
        monthly["Firehose partitioning"] += (
            rows_per_day * 30 * row.json_bytes / 1024**3 * PRICES["firehose_partitioning_gb"]
            + objects * 30 * PRICES["firehose_partitioning_object"]
        )
        days = s3_class_days(lake, object_bytes)
        for storage_class, in_class in days.items():
            billed = object_bytes if storage_class == "STANDARD" else max(object_bytes, S3_SMALLEST_TRANSITION_BYTES)
            monthly[names[storage_class]] += objects * in_class * billed / 1024**3 * S3_GB_MONTH[storage_class]
        transitions = sum(S3_TRANSITION[c] for c in days if c != "STANDARD")
        monthly["S3 requests"] += objects * 30 * (PRICES["s3_put"] + transitions)
        seconds = rows_per_day * 30 * lake.cpu_per_row_s * max(FULL_VCPU_MB / lake.memory_mb, 1.0)
        invocations = rows_per_day * 30 / lake.batch_size
        monthly["Lambda lake writer"] += (
            seconds * lake.memory_mb / 1024 * PRICES["lambda_gb_second"] + invocations * PRICES["lambda_request"]
        )
    week_bytes = conferences_per_day * participants * 7 * lake.weekly_scan_bytes
    per_query = max(week_bytes, ATHENA_MIN_BYTES) / 1024**4 * PRICES["athena_tb_scanned"]  # the last week: Standard
    monthly["Athena"] = per_query * lake.queries_per_day * 30
    return monthly


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
    retention_days: int = 45,
    lake: Lake | None = None,
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
        **(lake_monthly(conferences_per_day, participants, lake) if lake is not None else {}),
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


def render(
    sizings: list[Sizing], participants: int, peak_factor: float, retention_days: int, lake: Lake | None = None
) -> list[str]:
    components = list(sizings[0].monthly)
    history = (
        f" The lake keeps every stored version {lake.history_days} days (HistoryRetentionDays; S3 storage shown once "
        "that many days are kept, by class after the lifecycle's transitions: "
        + ", ".join(f"{storage_class} after {after} days" for storage_class, after in lake.transitions)
        + f"); Athena: {lake.queries_per_day} weekly KPI queries a day (an assumption), each over the last week (in "
        f"Standard: no retrieval fee). Not in the totals: Firehose's jq hours for dynamic partitioning "
        f"(${FIREHOSE_JQ_HOUR}/h, which AWS does not relate to volume: at most 2 streams x 720 h = "
        f"${2 * 720 * FIREHOSE_JQ_HOUR:,.0f} a month), S3 GETs, KMS requests (bucket keys)."
        if lake is not None
        else ""
    )
    lines = [
        f"## Capacity and monthly cost, {participants} participants per conference",
        "",
        f"Computed from this run's figures per event (make bench): events are a partial and a complete summary and "
        f"{participants} participant summaries per conference; the busiest second is {peak_factor:g}x the day's "
        f"average; summaries are kept {retention_days} days (RetentionDays), and storage is shown once that many days "
        f"are kept.{history} Shards: what the busiest second needs "
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


def render_lake(volumes: list[int], participants: int, lake: Lake) -> list[str]:
    """Per volume: the lake's rows, objects and files a day per table, the history kept, the weekly query's bytes."""
    lines = [
        "## The lake at these volumes",
        "",
        f"Per delivery stream (one per table): one object per buffer of {lake.buffer_mib} MiB of rows as sent or "
        f"{lake.buffer_s} s, whichever comes first, for today's partition. Rows: a conference's partial and complete "
        f"summary (both stored when they arrive in order) and {participants} participant summaries.",
        "",
        "| conferences/day | table | rows/day | objects/day | rows per file | MB per file | TB kept "
        f"({lake.history_days} days) | weekly KPI query: GB scanned, $ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for conferences in volumes:
        for name, rows, row in (("conference_summaries", conferences * 2, lake.conference),
                                ("participant_summaries", conferences * participants, lake.participant)):  # fmt: skip
            objects = lake_objects_per_day(rows * row.json_bytes, lake)
            kept = rows * lake.history_days * row.parquet_bytes / 1024**4
            if name == "participant_summaries":
                scanned = rows * 7 * lake.weekly_scan_bytes
                billed = max(scanned, ATHENA_MIN_BYTES) / 1024**4 * PRICES["athena_tb_scanned"]
                query = f"{scanned / 1024**3:,.3f} GB, ${billed:,.4f}"
            else:
                query = "not read"
            lines.append(
                f"| {conferences:,} | {name} | {rows:,} | {objects:,.0f} | {rows / objects:,.0f} | "
                f"{rows * row.parquet_bytes / objects / 1e6:,.2f} | {kept:,.2f} | {query} |"
            )
    return lines
