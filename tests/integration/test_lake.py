"""The history lake end to end on the local stack: nothing lost, nothing doubled.

Generated traffic (duplicates, late partials, both paths) and backfilled items go through the processors into the
table; the lake writer reads the table's stream through the local runner's pollers (the template's trigger: filter,
batch size, partial batch responses, retry budget, on-failure queue) and sends its rows to moto's Firehose through
devtools/faults.py, which first takes Firehose down past the retry budget (the batches go to LakeFailuresQueue, where
the alarm watches), then fails half its calls (refused records in a 200 answer, 5xx, throttles, timeouts after the
records were taken, dropped connections). Once Firehose is back the given-up batches are replayed (make replay's
code), and the whole table stream is replayed once more on purpose. devtools/lake.py then does what Firehose does
with what it took, and DuckDB reads the Parquet files: the latest version of each summary (the highest version per
SID) is exactly the table's item, one row each, however many times a row was delivered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from botocore.config import Config

from devtools.faults import PARTIAL, FaultPlan, FaultProxy
from devtools.lake import LocalFirehose, latest_sql, read_lake_sql
from devtools.lambda_events import read_table_stream_records
from devtools.moto_server import MotoServer
from devtools.traffic import generate
from operate.replay import ReplayTarget, replay
from tests.integration.conftest import LocalStack
from tests.integration.driver import InProcessPipeline, fresh_stack
from tests.reliability import scaled
from voice_insights.aws import clients, lake
from voice_insights.aws.rejected import RejectedEventStore
from voice_insights.aws.summaries import SummaryStore
from voice_insights.domain import backfill
from voice_insights.domain.items import PARTICIPANT_SORT_KEY_PREFIX
from voice_insights.ingest import routes
from voice_insights.ingest.pipeline import Inbound, Pipeline

BATCH = 6  # deliveries per settle: many small writer batches, many Firehose calls to fail
TABLES = {"conference_summaries": "conference_sid", "participant_summaries": "participant_sid"}
# Short timeouts (the proxy holds a "timeout" 1 s) and one botocore retry: a test, not a deployment.
TEST_CLIENT_CONFIG = clients.AWS_CLIENT_CONFIG.merge(
    Config(connect_timeout=0.5, read_timeout=0.5, retries={"mode": "standard", "max_attempts": 2})
)


@pytest.fixture
def faults(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    monkeypatch.setattr(clients, "AWS_CLIENT_CONFIG", TEST_CLIENT_CONFIG)
    monkeypatch.setattr(lake, "RETRY_BACKOFF_S", (0.01, 0.02))
    with FaultProxy(moto.endpoint_url, random_seed=20261204, hold_s=1.0) as proxy:
        yield proxy


def table_versions(stack: LocalStack) -> dict[str, dict[str, str]]:
    """The version the table holds of each summary, per lake table, by SID."""
    found: dict[str, dict[str, str]] = {table: {} for table in TABLES}
    for item in stack.items():
        sort_key, version = item["sk"]["S"], item["version"]["S"]
        if sort_key.startswith(PARTICIPANT_SORT_KEY_PREFIX):
            found["participant_summaries"][sort_key.removeprefix(PARTICIPANT_SORT_KEY_PREFIX)] = version
        else:
            found["conference_summaries"][item["pk"]["S"].removeprefix("CONF#")] = version
    return found


def lake_versions(lake_dir: Path) -> tuple[dict[str, dict[str, str]], dict[str, int], dict[str, int]]:
    """The latest-version view of each table (SID → version, read with DuckDB), every row counted, and the rows
    of that view (one per SID if nothing is doubled)."""
    connection = duckdb.connect()
    latest, rows, view_rows = {}, {}, {}
    for table, key in TABLES.items():
        found = connection.execute(f"SELECT {key}, version FROM ({latest_sql(lake_dir, table)})").fetchall()
        latest[table] = dict(found)
        view_rows[table] = len(found)
        counted = connection.execute(f"SELECT count(*) FROM {read_lake_sql(lake_dir, table)}").fetchone()
        rows[table] = int(counted[0]) if counted else 0
    return latest, rows, view_rows


def backfilled(deliveries: list[Any], count: int) -> list[tuple[routes.Route, dict[str, Any]]]:
    """Summaries Twilio's REST API would return for conferences the stream never delivered: the generated
    complete conference summaries and their participants under new SIDs (docs/backfill.md)."""
    conferences, participants = [], []
    for delivery in deliveries:
        try:
            event = delivery.payload if isinstance(delivery.payload, dict) else json.loads(delivery.payload)
        except (TypeError, ValueError):  # a malformed delivery
            continue
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            continue
        data = event.get("data")
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                continue
        if not isinstance(data, dict) or not str(data.get("conference_sid", "")).startswith("CF"):
            continue
        resource = dict(data, conference_sid="CFbf" + data["conference_sid"][4:])
        if event["type"].endswith("conference-summary.complete"):
            resource["processing_state"] = "complete"  # what the REST API says of a completed summary
            conferences.append((routes.CONFERENCE_SUMMARY_COMPLETE, backfill.conference_event(resource)))
        elif isinstance(data.get("participant_sid"), str):
            resource["participant_sid"] = "CPbf" + data["participant_sid"][4:]
            participants.append((routes.PARTICIPANT_SUMMARY_COMPLETE, backfill.participant_event(resource)))
    return conferences[: count // 4] + participants[: count - count // 4]


@pytest.mark.slow
def test_the_lakes_latest_versions_are_the_table_whatever_firehose_does(
    stack: LocalStack, moto: MotoServer, faults: FaultProxy, tmp_path: Path
) -> None:
    deliveries = generate(conferences=scaled(default=10, full=40), participants_each=3, random_seed=5).deliveries
    stack_f, handlers = fresh_stack(moto, faults.endpoint_url)
    pipeline = InProcessPipeline(stack_f, handlers, parameters={"StreamMaximumRetryAttempts": 1})
    first, rest = deliveries[: len(deliveries) // 3], deliveries[len(deliveries) // 3 :]

    # Firehose down past the retry budget: the lake writer's batches are given up, with where they are.
    faults.plan = FaultPlan(rate=1.0, services=frozenset({"firehose"}), kinds=("server_error",))
    pipeline.send(first)
    pipeline.settle()
    lake_failures = stack_f.resources["LakeFailuresQueue"]["ref"]
    given_up = pipeline.given_up()
    assert given_up > 0

    # Then a flaky Firehose: half its calls fail, every way a call can.
    kinds = (PARTIAL, "server_error", "throttle", "timeout", "drop")
    faults.plan = FaultPlan(rate=0.5, services=frozenset({"firehose"}), kinds=kinds)
    for start in range(0, len(rest), BATCH):
        pipeline.send(rest[start : start + BATCH])
        pipeline.settle()
    # Backfilled summaries reach the lake through the table stream too.
    store = SummaryStore(stack_f.table_name, client=stack_f.dynamodb)
    kept = RejectedEventStore(stack_f.bucket, client=stack_f.s3)
    for route, event in backfilled(deliveries, count=12):
        Pipeline(route, store, kept).process([Inbound(raw=event)], source="backfill")
    pipeline.alert()
    faults.plan = FaultPlan()

    def target_of(function_arn: str, stream_arn: str) -> ReplayTarget:
        name = function_arn.split(":")[6]  # arn:aws:lambda:<region>:<account>:function:<name>[:<alias>]
        poller = next(p for p in pipeline.pollers if (p.trigger.function, p.trigger.stream_arn) == (name, stream_arn))
        return ReplayTarget(poller.invoke, list(poller.trigger.filter_patterns) or None)

    replayed = replay(lake_failures, stack_f.sqs, stack_f.kinesis, stack_f.client("dynamodbstreams"), target_of)
    assert replayed.kept == [] and replayed.replayed == replayed.messages > 0
    # A replay nobody needed: every version again, straight to the writer.
    writer = handlers["lake_writer"]
    records = read_table_stream_records(stack_f.client("dynamodbstreams"), stack_f.table_stream_arn)
    inserts = [record for record in records if record["eventName"] in ("INSERT", "MODIFY")]
    for start in range(0, len(inserts), 1000):
        assert writer({"Records": inserts[start : start + 1000]}) == {"batchItemFailures": []}

    converted = LocalFirehose(moto.endpoint_url, stack_f.resources, lake_dir=tmp_path).flush()
    latest, rows, view_rows = lake_versions(tmp_path)
    expected = table_versions(stack_f)
    injected = dict(faults.stats.injected)
    figures = {
        "deliveries": len(deliveries),
        "items": {table: len(versions) for table, versions in expected.items()},
        "stream_records": len(inserts),
        "rows": rows,
        "latest_view_rows": view_rows,
        "parquet_files": len(converted.files),
        "firehose_requests": faults.stats.requests["firehose"],
        "faults_injected": injected,
        "records_given_up": given_up,
        "batches_replayed": replayed.replayed,
    }
    print(f"\nfigures | lake under Firehose faults: {json.dumps(figures)}")
    # Refused records and answers lost after the write (redelivered rows) at least; the other kinds as they fell.
    assert {PARTIAL, "timeout"} <= {kind.split(":")[1] for kind in injected} <= {*kinds}
    backfilled_sids = {table: [sid for sid in versions if sid[2:4] == "bf"] for table, versions in expected.items()}
    assert {table: len(sids) for table, sids in backfilled_sids.items()} == {
        "conference_summaries": 3,
        "participant_summaries": 9,
    }  # the backfilled items are in the table, hence (below) in the lake
    assert latest == expected  # nothing lost: every summary's latest version, and no other
    assert view_rows == {table: len(versions) for table, versions in expected.items()}  # nothing doubled
    # Rows delivered more than once were written more than once, and the view counts each once.
    assert sum(rows.values()) > len(inserts) >= sum(view_rows.values())
    assert converted.failed_rows == {}
    assert (
        stack_f.sqs.get_queue_attributes(QueueUrl=lake_failures, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        == "0"
    )


def put_rows(stack: LocalStack, table: str, rows: list[dict[str, Any]]) -> None:
    stream = stack.resources["LakeConferenceStream" if table == "conference_summaries" else "LakeParticipantStream"]
    data = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    stack.client("firehose").put_record_batch(DeliveryStreamName=stream["ref"], Records=[{"Data": data}])


def conference_row(**values: Any) -> dict[str, Any]:
    from voice_insights.domain.lake_rows import conform

    return {**conform("conference_summaries", values), "dt": values.get("dt", "2026-12-01")}


def test_the_local_firehose_writes_parquet_of_the_glue_schema_under_the_deployed_keys(
    stack: LocalStack, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    put_rows(stack, "conference_summaries", [conference_row(conference_sid="CF1", version="1", duration_seconds=5)])
    put_rows(stack, "conference_summaries", [conference_row(conference_sid="CF2", version="1", dt="2026-12-02")])
    firehose = LocalFirehose(stack.endpoint_url, stack.resources, lake_dir=tmp_path)
    flushed = firehose.flush()
    assert sorted(key.rsplit("/", 1)[0] for key in flushed.files) == [
        "conference_summaries/dt=2026-12-01",
        "conference_summaries/dt=2026-12-02",
    ]
    for key in flushed.files:
        assert (
            key.endswith(".parquet")
            and (tmp_path / key).read_bytes() == stack.s3.get_object(Bucket=stack.lake_bucket, Key=key)["Body"].read()
        )  # the same bytes in the local S3 and in the folder
    table = pq.read_table(tmp_path / flushed.files[0])
    glue = stack.client("glue").get_table(
        DatabaseName=stack.resources["LakeDatabase"]["ref"], Name="conference_summaries"
    )["Table"]
    assert table.schema.names == [column["Name"] for column in glue["StorageDescriptor"]["Columns"]]  # no dt
    assert str(table.schema.field("duration_seconds").type) == "int64"
    keys = [item["Key"] for item in stack.s3.list_objects_v2(Bucket=stack.lake_bucket).get("Contents", [])]
    assert all("!{" not in key for key in keys)  # what moto wrote is gone, as Firehose keeps nothing else
    assert firehose.flush().files == []  # nothing new, nothing written


def test_a_value_its_column_cannot_hold_goes_to_the_error_prefix(stack: LocalStack, tmp_path: Path) -> None:
    good = conference_row(conference_sid="CF1", version="1")
    put_rows(stack, "conference_summaries", [good, {**good, "conference_sid": "CF2", "duration_seconds": "long"}])
    flushed = LocalFirehose(stack.endpoint_url, stack.resources, lake_dir=tmp_path).flush()
    assert flushed.rows == {"conference_summaries": 1} and flushed.failed_rows == {"conference_summaries": 1}
    (error_key,) = [p.relative_to(tmp_path).as_posix() for p in (tmp_path / "errors").rglob("*") if p.is_file()]
    assert error_key.startswith("errors/conference_summaries/format-conversion-failed/")


def test_a_column_the_template_and_the_writer_disagree_on_fails_loudly(stack: LocalStack, tmp_path: Path) -> None:
    from devtools.lake import LakeSchemaDrift

    put_rows(stack, "conference_summaries", [{**conference_row(conference_sid="CF1"), "new_column": 1}])
    with pytest.raises(LakeSchemaDrift, match="new_column"):
        LocalFirehose(stack.endpoint_url, stack.resources, lake_dir=tmp_path).flush()
