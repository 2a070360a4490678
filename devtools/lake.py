"""The history lake, locally: what Amazon Data Firehose does after it takes the lake writer's records, done on what
moto's Firehose wrote, and the lake read back with DuckDB.

moto's Firehose writes each PutRecordBatch's records as given into one object under ``<Prefix>YYYY/MM/DD/HH/``, the
``!{partitionKeyFromQuery:dt}`` of the prefix left as it is; it neither converts to Parquet nor partitions. So
``LocalFirehose`` reads those objects, splits the newline-delimited rows (Firehose's JSON deaggregation), groups them
by the row's ``dt`` (dynamic partitioning), converts each group to SNAPPY Parquet with the schema of the Glue table the
stream names, read back from moto's Glue (so a column the template and the writer disagree on fails here, loudly:
Firehose would drop it without a word), and writes each file under the key the deployed stream would
(``<table>/dt=YYYY-MM-DD/<stream>-1-<time>-<uuid>.parquet``) in the local S3 and the same bytes under ``.lake/``, so
that DuckDB reads the lake after the stack stops. A row a column's type cannot hold goes where Firehose puts it,
``errors/<table>/format-conversion-failed/``, as JSON with its raw data. Each pass is one buffer flush: locally every
``interval_s`` seconds, deployed at 128 MiB or LakeBufferIntervalSeconds.
(https://docs.aws.amazon.com/firehose/latest/dev/record-format-conversion.html,
https://docs.aws.amazon.com/firehose/latest/dev/dynamic-partitioning.html)
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from devtools.cfn import local_client

ROOT = Path(__file__).resolve().parents[1]
LAKE_DIR = ROOT / ".lake"  # gitignored; `make query` reads it by default
PARTITION_EXPRESSION = "!{partitionKeyFromQuery:dt}"
ERROR_TYPE_EXPRESSION = "!{firehose:error-output-type}"
CONVERSION_FAILED = "format-conversion-failed"
PARTITION_KEY = "dt"


class LakeSchemaDrift(RuntimeError):
    """The rows' columns are not the Glue table's: the template and domain/lake_schema.py disagree."""


@dataclass(frozen=True)
class LakeStream:
    """One delivery stream as configured (read back from moto's Firehose)."""

    name: str
    bucket: str
    prefix: str  # with !{partitionKeyFromQuery:dt}
    error_prefix: str  # with !{firehose:error-output-type}
    database: str
    table: str

    @property
    def raw_prefix(self) -> str:
        """Where moto writes what the stream takes: the prefix up to its first expression, as written."""
        return self.prefix.split("!{", 1)[0]


@dataclass
class FlushStats:
    rows: Counter[str] = field(default_factory=Counter)  # per table
    files: list[str] = field(default_factory=list)  # keys written
    failed_rows: Counter[str] = field(default_factory=Counter)  # per table, written to errors/


def lake_streams(endpoint_url: str, resources: dict[str, dict[str, Any]]) -> list[LakeStream]:
    """The template's Firehose streams that convert to a Glue table, as the local endpoint holds them."""
    firehose = local_client("firehose", endpoint_url)
    streams = []
    for resource in resources.values():
        if resource["type"] != "AWS::KinesisFirehose::DeliveryStream":
            continue
        description = firehose.describe_delivery_stream(DeliveryStreamName=resource["ref"])
        (destination,) = description["DeliveryStreamDescription"]["Destinations"]
        s3 = destination["ExtendedS3DestinationDescription"]
        schema = s3["DataFormatConversionConfiguration"]["SchemaConfiguration"]
        streams.append(
            LakeStream(
                name=resource["ref"],
                bucket=s3["BucketARN"].rsplit(":", 1)[-1],
                prefix=s3["Prefix"],
                error_prefix=s3["ErrorOutputPrefix"],
                database=schema["DatabaseName"],
                table=schema["TableName"],
            )
        )
    return streams


def arrow_type(glue_type: str) -> pa.DataType:
    """The Parquet (Arrow) type of a Glue/Hive column type, as Firehose's Parquet serializer writes it."""
    if glue_type.startswith("array<") and glue_type.endswith(">"):
        return pa.list_(arrow_type(glue_type[len("array<") : -1]))
    simple = {
        "string": pa.string(),
        "bigint": pa.int64(),
        "int": pa.int32(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "timestamp": pa.timestamp("us"),  # Hive's timestamp has no zone: UTC values
    }
    return simple[glue_type]


def glue_schema(endpoint_url: str, stream: LakeStream) -> pa.Schema:
    """The Glue table's columns (not its partition keys) as an Arrow schema."""
    table = local_client("glue", endpoint_url).get_table(DatabaseName=stream.database, Name=stream.table)["Table"]
    columns = table["StorageDescriptor"]["Columns"]
    return pa.schema([pa.field(column["Name"], arrow_type(column["Type"])) for column in columns])


def _value(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_timestamp(kind):
        if not isinstance(value, str):
            raise TypeError(f"not a time: {value!r}")
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    return value


def parquet_bytes(rows: list[dict[str, Any]], schema: pa.Schema) -> bytes:
    """The rows as one SNAPPY-compressed Parquet file of ``schema`` (raises when a value does not fit its column)."""
    columns = {
        column.name: pa.array([_value(row.get(column.name), column.type) for row in rows], type=column.type)
        for column in schema
    }
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns, schema=schema), buffer, compression="snappy")
    return buffer.getvalue()


class LocalFirehose:
    """Converts and places what moto's Firehose wrote, every ``interval_s`` seconds on a thread (``start``), or
    once per ``flush``. ``fresh``: empty the local copy of its tables first (``.lake/`` mirrors this run's S3)."""

    def __init__(
        self,
        endpoint_url: str,
        resources: dict[str, dict[str, Any]],
        lake_dir: Path = LAKE_DIR,
        interval_s: float = 1.0,
        fresh: bool = True,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.streams = lake_streams(endpoint_url, resources)
        self.lake_dir = Path(lake_dir)
        self.interval_s = interval_s
        self.s3 = local_client("s3", endpoint_url)
        self.schemas = {stream.name: glue_schema(endpoint_url, stream) for stream in self.streams}
        self.totals = FlushStats()
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-firehose", daemon=True)
        if fresh:
            for stream in self.streams:
                shutil.rmtree(self.lake_dir / stream.table, ignore_errors=True)
            shutil.rmtree(self.lake_dir / "errors", ignore_errors=True)

    def start(self) -> LocalFirehose:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def __enter__(self) -> LocalFirehose:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                self.flush()
            self.flush()  # what came in before the stop
        except BaseException as error:  # the runner reports it and stops everything
            self.error = error

    def flush(self) -> FlushStats:
        """One buffer flush: every object moto's Firehose wrote since the last one, converted and placed."""
        with self._lock:
            stats = FlushStats()
            for stream in self.streams:
                self._flush_stream(stream, stats)
            self.totals.rows.update(stats.rows)
            self.totals.files += stats.files
            self.totals.failed_rows.update(stats.failed_rows)
            return stats

    def _flush_stream(self, stream: LakeStream, stats: FlushStats) -> None:
        raw_keys = [key for key in self._keys(stream.bucket, stream.raw_prefix) if PARTITION_EXPRESSION in key]
        if not raw_keys:
            return
        schema = self.schemas[stream.name]
        expected = set(schema.names)
        by_day: dict[str, list[dict[str, Any]]] = {}
        for key in raw_keys:
            body = self.s3.get_object(Bucket=stream.bucket, Key=key)["Body"].read()
            for line in body.splitlines():
                if not line.strip():
                    continue
                row = json.loads(line)
                columns = set(row) - {PARTITION_KEY}
                if columns != expected:
                    raise LakeSchemaDrift(
                        f"rows for {stream.table} have columns the Glue table does not "
                        f"({sorted(columns - expected)}) and lack some it has ({sorted(expected - columns)}): "
                        "template.yaml's columns must be domain/lake_schema.py's"
                    )
                by_day.setdefault(str(row[PARTITION_KEY]), []).append(row)
        now = datetime.now(UTC)
        for day, rows in sorted(by_day.items()):
            good, bad = self._convertible(rows, schema)
            if good:
                key = f"{stream.prefix.replace(PARTITION_EXPRESSION, day)}{self._object_name(stream, now)}.parquet"
                self._put(stream.bucket, key, parquet_bytes(good, schema))
                stats.rows[stream.table] += len(good)
                stats.files.append(key)
            if bad:
                error_prefix = stream.error_prefix.replace(ERROR_TYPE_EXPRESSION, CONVERSION_FAILED)
                key = f"{error_prefix}{now:%Y/%m/%d/%H}/{self._object_name(stream, now)}"
                self._put(stream.bucket, key, b"".join(self._error_record(row) for row in bad))
                stats.failed_rows[stream.table] += len(bad)
        for key in raw_keys:  # Firehose keeps nothing but what it delivered
            self.s3.delete_object(Bucket=stream.bucket, Key=key)

    @staticmethod
    def _convertible(rows: list[dict[str, Any]], schema: pa.Schema) -> tuple[list[dict[str, Any]], list[Any]]:
        try:
            parquet_bytes(rows, schema)
            return rows, []
        except (pa.ArrowException, TypeError, ValueError):  # find the rows that fail, as Firehose does per record
            good, bad = [], []
            for row in rows:
                try:
                    parquet_bytes([row], schema)
                    good.append(row)
                except (pa.ArrowException, TypeError, ValueError):
                    bad.append(row)
            return good, bad

    @staticmethod
    def _error_record(row: dict[str, Any]) -> bytes:
        raw = json.dumps(row, separators=(",", ":")).encode()
        record = {"rawData": base64.b64encode(raw).decode(), "errorCode": "DataFormatConversion.InvalidSchema"}
        return json.dumps(record).encode() + b"\n"

    @staticmethod
    def _object_name(stream: LakeStream, now: datetime) -> str:
        return f"{stream.name}-1-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}"

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def _put(self, bucket: str, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        path = self.lake_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# --- reading the lake back (DuckDB) ---------------------------------------------------------------------------------

# The latest version of a summary is its row with the highest version (the lake contract).
LATEST_KEYS = {"conference_summaries": "conference_sid", "participant_summaries": "participant_sid"}


def read_lake_sql(lake_dir: Path, table: str) -> str:
    """DuckDB's read of one table of a lake folder, dt a string as in Athena."""
    pattern = (Path(lake_dir) / table / "*" / "*.parquet").as_posix().replace("'", "''")
    return f"read_parquet('{pattern}', hive_partitioning = true, hive_types_autocast = false)"


def latest_sql(lake_dir: Path, table: str) -> str:
    """The latest-version view of one table: one row per summary, its highest version."""
    key = LATEST_KEYS[table]  # names from this module's constants, the folder quoted: no outside text in the SQL
    ranked = f"SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY version DESC) AS rank"
    return f"SELECT * EXCLUDE (rank) FROM ({ranked} FROM {read_lake_sql(lake_dir, table)}) WHERE rank = 1"  # noqa: S608


def has_table(lake_dir: Path, table: str) -> bool:
    return any((Path(lake_dir) / table).glob("*/*.parquet"))


@dataclass(frozen=True)
class LakeSummary:
    participant_rows: int
    conference_rows: int
    participants: int  # latest versions
    conferences: int
    days: int
    p95_inbound_mos: float | None
    share_with_issues: float | None  # of the latest participant versions

    def line(self) -> str:
        mos = "n/a" if self.p95_inbound_mos is None else f"{self.p95_inbound_mos:.1f}"
        share = "n/a" if self.share_with_issues is None else f"{100 * self.share_with_issues:.0f} %"
        return (
            f"{self.participant_rows} participant rows, {self.conferences} conferences over {self.days} days; "
            f"p95 inbound MOS {mos}, {share} with issues"
        )


def summarise(lake_dir: Path = LAKE_DIR) -> LakeSummary:
    """What the demo says about the lake, computed with DuckDB over the lake folder."""
    import duckdb

    connection = duckdb.connect()
    counts: dict[str, tuple[int, int, set[str]]] = {}
    for table in LATEST_KEYS:
        if not has_table(lake_dir, table):
            counts[table] = (0, 0, set())
            continue
        source = read_lake_sql(lake_dir, table)
        rows = connection.execute(f"SELECT count(*) FROM {source}").fetchone()  # noqa: S608 (see latest_sql)
        latest = connection.execute(f"SELECT count(*) FROM ({latest_sql(lake_dir, table)})").fetchone()  # noqa: S608
        days = connection.execute(f"SELECT DISTINCT dt FROM {source}").fetchall()  # noqa: S608
        counts[table] = (int(rows[0]) if rows else 0, int(latest[0]) if latest else 0, {str(d) for (d,) in days})
    p95 = share = None
    if has_table(lake_dir, "participant_summaries"):
        measures = "quantile_cont(inbound_mos, 0.95), avg(CASE WHEN issue_severity IS NULL THEN 0 ELSE 1 END)"
        latest = latest_sql(lake_dir, "participant_summaries")
        found = connection.execute(f"SELECT {measures} FROM ({latest})").fetchone()  # noqa: S608 (see latest_sql)
        if found is not None:
            p95, share = found
    conference_rows, conferences, conference_days = counts["conference_summaries"]
    participant_rows, participants, participant_days = counts["participant_summaries"]
    return LakeSummary(
        participant_rows=participant_rows,
        conference_rows=conference_rows,
        participants=participants,
        conferences=conferences,
        days=len(conference_days | participant_days),
        p95_inbound_mos=None if p95 is None else float(p95),
        share_with_issues=None if share is None else float(share),
    )
