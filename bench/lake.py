"""The history lake's figures, measured on the rows of the items the bench's handler run stored.

Each stored version is one row (domain/lake_rows.row_of, as the lake writer builds it from the table's stream);
rows are packed into Firehose records as the writer packs them (aws/lake.pack, per stream batch and table) and
written as Parquet with pyarrow, one file per table, with lake_schema's columns and Glue types (``dt`` is the
partition folder, not a column of the file). Measured: JSON and Parquet bytes per row, each column's compressed
bytes per row (from the file's metadata), the Firehose records and their billed bytes (each rounded up to 5 KB:
https://aws.amazon.com/firehose/pricing/), and the columns the weekly KPI query reads (DuckDB's plan of
``make query --name weekly_kpis`` over the files). What these cost a month at a given volume: bench/capacity.py.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import billing
from voice_insights.aws.lake import pack, record_data
from voice_insights.domain.lake_rows import LakeRow, row_of
from voice_insights.domain.lake_schema import COLUMNS, PARTICIPANT_TABLE
from voice_insights.domain.quality import DEFAULT_THRESHOLDS

FIREHOSE_ROUNDING_BYTES = 5 * 1024  # each record billed in 5 KB steps
WEEKLY_QUERY = "weekly_kpis"


@dataclass(frozen=True)
class TableFigures:
    rows: int
    json_bytes: int  # the rows as the writer sends them: JSON lines
    event_json_bytes: int  # of which the event_json column's values (the event whole, masked)
    parquet_bytes: int  # the file
    records: int  # Firehose records, packed as the writer packs them
    billed_bytes: int  # those records rounded up to 5 KB each
    column_bytes: dict[str, int]  # compressed bytes of each column's chunks in the file

    def per_row(self, value: float) -> float:
        return value / self.rows if self.rows else 0.0


def arrow_schema(table: str) -> Any:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "boolean": pa.bool_(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "double": pa.float64(),
        "timestamp": pa.timestamp("ms", tz="UTC"),
        "array<string>": pa.list_(pa.string()),
    }
    return pa.schema([(name, types[kind]) for name, kind in COLUMNS[table]])


def _value(kind: str, value: Any) -> Any:
    if value is not None and kind == "timestamp":
        return datetime.fromisoformat(value)
    return value


def write_parquet(table: str, rows: list[LakeRow], path: Path, compression: str) -> None:
    """The rows as one Parquet file of the table's columns (what Firehose's conversion writes per buffer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = [json.loads(row.line) for row in rows]
    columns = {name: [_value(kind, v.get(name)) for v in values] for name, kind in COLUMNS[table]}
    pq.write_table(pa.Table.from_pydict(columns, schema=arrow_schema(table)), path, compression=compression)


def column_bytes(path: Path) -> dict[str, int]:
    """Each column's compressed bytes in the file (what a reader of that column fetches), over its row groups."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(path).metadata
    sizes: dict[str, int] = {}
    for group in range(metadata.num_row_groups):
        for position in range(metadata.num_columns):
            chunk = metadata.row_group(group).column(position)
            name = chunk.path_in_schema.split(".")[0]  # a list column's leaf is <name>.list.element
            sizes[name] = sizes.get(name, 0) + chunk.total_compressed_size
    return sizes


def records_of(batches: Iterable[list[LakeRow]]) -> dict[str, tuple[int, int]]:
    """Per table: Firehose records and their billed bytes, the rows of each stream batch packed as the writer does."""
    counts: dict[str, tuple[int, int]] = {}
    for batch in batches:
        for table in {row.table for row in batch}:
            lines = [row.line for row in batch if row.table == table]
            records, billed = counts.get(table, (0, 0))
            for positions in pack(lines):
                size = len(record_data([lines[p] for p in positions]))
                records += 1
                billed += math.ceil(size / FIREHOSE_ROUNDING_BYTES) * FIREHOSE_ROUNDING_BYTES
            counts[table] = (records, billed)
    return counts


def weekly_query_columns(lake_dir: Path, first_day: str) -> list[str]:
    """The participant columns DuckDB reads for ``make query --name weekly_kpis`` over the week from ``first_day``:
    the projections of its Parquet scan, from the query's plan (EXPLAIN, JSON)."""
    from operate import query

    named = query.catalog()[WEEKLY_QUERY]
    last = (date.fromisoformat(first_day) + timedelta(days=7)).isoformat()
    bound = query.bind(named.sql, {"from": first_day, "to": last}, named.preset)
    connection = query.duckdb_lake(lake_dir)
    try:
        plan = connection.execute("EXPLAIN (FORMAT json) " + query.to_duckdb(bound.sql), bound.values).fetchall()
    finally:
        connection.close()
    found: list[str] = []

    def visit(node: dict[str, Any]) -> None:
        extra = node.get("extra_info", {})
        if isinstance(extra, dict) and "parquet" in str(extra.get("Function", "")).lower():
            projections = extra.get("Projections", [])
            found.extend(p for p in ([projections] if isinstance(projections, str) else projections) if p != "dt")
        for child in node.get("children", []):
            visit(child)

    for _, text in plan:
        for node in json.loads(text):
            visit(node)
    return sorted(set(found))


SID_COLUMNS = ("participant_sid", "conference_sid", "call_sid", "event_id")
TIME_COLUMNS = ("join_time", "leave_time", "start_time", "end_time", "create_time", "event_time", "received_at")
# Plausible ranges of each direction's KPIs (MOS 1-4.5; milliseconds; percent; packets).
KPI_RANGES = {"mos": (1.0, 4.5, 2), "jitter_avg": (0.0, 30.0, 1), "jitter_max": (0.0, 120.0, 1),
              "packet_loss_percentage": (0.0, 5.0, 2), "latency_avg": (10.0, 300.0, 1),
              "latency_max": (10.0, 900.0, 1)}  # fmt: skip


def varied(rows: list[LakeRow], seed: int = 30) -> list[LakeRow]:
    """The rows as real traffic would vary them: the bench's events are three Twilio samples with counted SIDs and
    the same KPIs, which compress far better than real ones. Here every SID is random hex (in event_json and
    version too), each time a random second of its day, each KPI random in its range; the JSON stays as long."""
    import random

    rng = random.Random(seed)  # noqa: S311 (reproducible figures, not cryptography)
    new_sid: dict[str, str] = {}
    out = []
    for row in rows:
        values = json.loads(row.line)
        text = values.get("event_json") or ""
        for name in SID_COLUMNS:
            old = values.get(name)
            if isinstance(old, str) and len(old) > 2:
                new = new_sid.setdefault(old, old[:2] + "".join(rng.choice("0123456789abcdef") for _ in old[2:]))
                values[name] = new
                text = text.replace(old, new)
                values["version"] = values["version"].replace(old, new)
        for name in TIME_COLUMNS:
            if isinstance(values.get(name), str):
                moment = datetime.fromisoformat(values[name])
                midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
                values[name] = (midnight + timedelta(seconds=rng.uniform(0, 86399))).isoformat()
        for direction in ("inbound", "outbound"):
            for kpi, (low, high, digits) in KPI_RANGES.items():
                if isinstance(values.get(f"{direction}_{kpi}"), int | float):
                    values[f"{direction}_{kpi}"] = round(rng.uniform(low, high), digits)
            for counter in ("packets_lost", "packets_received"):
                if isinstance(values.get(f"{direction}_{counter}"), int):
                    values[f"{direction}_{counter}"] = rng.randint(0, 200_000)
        if values.get("event_json") is not None:
            values["event_json"] = text
        line = json.dumps(values, separators=(",", ":")).encode()
        out.append(LakeRow(row.table, row.dt, line, row.without_event_json))
    return out


def parquet_figures(rows: list[LakeRow], compression: str) -> tuple[dict[str, tuple[int, dict[str, int]]], list[str]]:
    """Per table: the Parquet file's bytes and each column's; and the columns the weekly KPI query reads."""
    figures: dict[str, tuple[int, dict[str, int]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        lake = Path(scratch)
        for table in COLUMNS:
            mine = [row for row in rows if row.table == table]
            if not mine:
                continue
            folder = lake / table / f"dt={mine[0].dt}"  # the bench's rows of a table share their day
            folder.mkdir(parents=True)
            path = folder / "bench.parquet"
            write_parquet(table, mine, path, compression)
            figures[table] = (path.stat().st_size, column_bytes(path))
        days = sorted({row.dt for row in rows if row.table == PARTICIPANT_TABLE})
        read = weekly_query_columns(lake, days[0]) if days else []
    return figures, read


def measure(images: list[dict[str, Any]], batch_size: int, compression: str) -> dict[str, Any]:
    """The lake's figures for the stored items ``images`` (DynamoDB JSON, in the order the stream delivered them),
    as they are and ``varied`` as real traffic would be."""
    start = time.process_time()
    rows = [row_of(billing.decoded(image) or {}, DEFAULT_THRESHOLDS) for image in images]
    row_cpu = (time.process_time() - start) / max(len(rows), 1)
    start = time.process_time()
    records = records_of(rows[i : i + batch_size] for i in range(0, len(rows), batch_size))
    pack_cpu = (time.process_time() - start) / max(len(rows), 1)
    real, read = parquet_figures(varied(rows), compression)
    tables: dict[str, TableFigures] = {}
    as_they_are, _ = parquet_figures(rows, compression)
    for table, (size, columns) in as_they_are.items():
        mine = [row for row in rows if row.table == table]
        tables[table] = TableFigures(
            rows=len(mine),
            json_bytes=sum(len(row.line) + 1 for row in mine),
            event_json_bytes=sum(len(json.dumps(json.loads(row.line)["event_json"])) for row in mine),
            parquet_bytes=size,
            records=records[table][0],
            billed_bytes=records[table][1],
            column_bytes=columns,
        )
    participants = tables.get(PARTICIPANT_TABLE)
    scanned = sum(participants.column_bytes.get(name, 0) for name in read) if participants else 0
    varied_scan = sum(real[PARTICIPANT_TABLE][1].get(name, 0) for name in read) if participants else 0
    return {
        "compression": compression,
        "batch_size": batch_size,
        "tables": {name: figures.__dict__ for name, figures in tables.items()},
        "weekly_query_columns": read,
        "weekly_query_bytes_per_participant_row": participants.per_row(scanned) if participants else 0.0,
        # The same rows varied as real traffic (varied): what the capacity table prices S3 and Athena on.
        "varied_parquet_bytes": {name: size for name, (size, _) in real.items()},
        "varied_weekly_query_bytes_per_participant_row": participants.per_row(varied_scan) if participants else 0.0,
        "cpu_per_row_s": row_cpu + pack_cpu,
    }
