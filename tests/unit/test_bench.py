"""Given the benchmark's workload and stand-in, then they are what bench/RESULTS.md says they are
(the benchmark itself runs with `make bench`, outside the test run)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter

from bench import billing, capacity, fake_aws, indexes, lake, lambda_runtime, workload
from bench.invoke import billed_bytes
from bench.run import ROOT, cost_per_million, init_environment, init_steps, lake_settings, median_run, verify
from devtools.cfn import load_template
from tests.conftest import load_seed
from voice_insights.domain.items import item_size, to_item
from voice_insights.domain.models import SummaryEvent


def test_workload_is_1000_events_with_the_stated_mix() -> None:
    built = workload.build()
    assert len(built.events) == 1000
    assert built.unique_items == 700 and built.duplicates == 100 and built.stale == 100
    types = Counter(event["type"].rsplit(".", 2)[-2] for event in built.events)
    assert types["conference-participant-summary"] >= 600
    ids = Counter(event["id"] for event in built.events)
    assert sum(count - 1 for count in ids.values()) == 100  # the redeliveries
    assert built.events != workload.build(seed=8).events  # shuffled, reproducibly


def test_the_stand_in_applies_the_stores_condition_like_dynamodb() -> None:
    state = fake_aws.State()

    def put(version: str) -> int:
        item = {"pk": {"S": "CONF#1"}, "sk": {"S": "SUMMARY"}, "version": {"S": version}}
        request = {"TableName": "t", "Item": item, "ConditionExpression": fake_aws.CONDITION,
                   "ExpressionAttributeValues": {":version": {"S": version}}}  # fmt: skip
        status, _ = fake_aws._dynamodb(state, "PutItem", request)
        return status

    assert [put("2#b"), put("2#b"), put("1#a"), put("2#c")] == [200, 400, 400, 200]
    assert [change["eventName"] for change in state.changes] == ["INSERT", "MODIFY"]
    # Every attempt is logged for the billing, the refused ones with no new item.
    assert [(w["old"] is None, w["new"] is None) for w in state.writes] == [
        (True, False),
        (False, True),
        (False, True),
        (False, False),
    ]


def test_the_cost_counts_the_bytes_dynamodb_bills_for_each_stored_item() -> None:
    event = TypeAdapter(SummaryEvent).validate_python(load_seed("participant_summary_complete"))
    item = to_item(event, datetime(2026, 11, 21, tzinfo=UTC))
    state = fake_aws.State()
    request = {"TableName": "t", "Item": item.attributes, "ConditionExpression": fake_aws.CONDITION,
               "ExpressionAttributeValues": {":version": {"S": item.version}}}  # fmt: skip
    fake_aws._dynamodb(state, "PutItem", request)
    assert billed_bytes(state.changes[0]) == item.size  # the JSON text of the image is 10-20 % longer
    as_sent = json.loads(json.dumps(state.changes[0], default=lambda b: base64.b64encode(b).decode()))
    assert billed_bytes(as_sent) == item.size  # binary values as DynamoDB JSON carries them: base64, decoded


def test_each_write_request_is_billed_on_the_larger_item_whether_or_not_it_was_written() -> None:
    table = indexes.table_from_template(ROOT / "template.yaml")
    small = {"pk": {"S": "CONF#1"}, "sk": {"S": "SUMMARY"}, "version": {"S": "1"}}
    large = {**small, "version": {"S": "2"}, "payload": {"B": base64.b64encode(b"x" * 1500).decode()}}
    ledger = {"pk": {"S": "CONF#1"}, "sk": {"S": "SUMMARY"}, "alerted": {"SS": ["a"]}}
    writes = [
        {"table": "s", "old": None, "new": small},  # stored: 1 unit
        {"table": "s", "old": small, "new": large},  # stored over a smaller one: the larger, 2 units
        {"table": "s", "old": large, "new": None},  # its condition failed: still the stored item's 2 units
        {"table": "l", "old": None, "new": ledger},
    ]
    billed = billing.summarise(writes, "s", "l", table)
    assert billed["summaries"] == {"stored": 2, "stored_units": 3, "condition_failed": 1,
                                   "condition_failed_units": 2, "units": 5}  # fmt: skip
    assert billed["ledger"] == {"writes": 1, "units": 1}
    assert len(billed["index_writes"]) == 2 and billed["index_units"] == 0  # no index key attributes


def test_verify_catches_a_partial_over_a_complete_summary() -> None:
    run = {"final_items": {"CONF#x|SUMMARY": "EZp1"}, "writes": 700, "functions": {}}
    problems = verify({"handlers_0": run, "handlers_10": run})
    assert any("partial summary over its complete one" in problem for problem in problems)


def test_a_saturated_shard_carries_1000_records_or_one_mib_a_second() -> None:
    assert capacity.records_per_saturated_second(200) == 1000
    assert capacity.records_per_saturated_second(2048) == 512


def test_the_memory_that_keeps_up_follows_lambdas_cpu_share() -> None:
    # 0.3 ms of CPU per record, 1,000 records/s: at 531 MB 1,769/531 x 0.3 = 0.9994 s, at 530 MB 1.0013 s.
    assert capacity.smallest_memory(0.0003, 0.0, 1000) == 531
    assert capacity.smallest_memory(0.0003, 0.0005, 1000) == 1062  # waiting counts: 0.3 x 1,769/1,062 + 0.5 s
    assert capacity.smallest_memory(0.0003, 0.0, 500) == 266  # half the records: half the memory
    assert capacity.smallest_memory(0.00001, 0.0, 1000) == 128  # Lambda's smallest size
    assert capacity.smallest_memory(0.0009, 0.0002, 1000) is None  # one vCPU is the most one invocation can use


def test_a_parallelization_factor_shares_a_saturated_shard_between_batches() -> None:
    # At 256 MB, 0.3 ms of CPU per record at 1,000 records/s takes 2.07 s of wall: three batches at once keep up.
    assert capacity.lowest_factor(256, 0.0003, 0.0, 1000) == 3
    assert capacity.lowest_factor(1024, 0.0003, 0.0, 1000) == 1
    assert capacity.lowest_factor(128, 0.001, 0.0, 1000) is None  # 13.8 s: over Lambda's 10


PER_EVENT = capacity.PerEvent(record_bytes=2048, cpu_s=0.001, io_s=0.0001, summary_units=0.8, ledger_units=0.14,
                              index_units=0.24, stored_bytes=1500, alerts=0.14, alert_seconds=0.0001,
                              invocations=0.005)  # fmt: skip


def test_the_cost_per_million_events_prices_each_component() -> None:
    cost = cost_per_million(PER_EVENT, memory_mb=1024)
    assert cost["DynamoDB summaries"] == pytest.approx(0.8 * 0.625)  # 800,000 units at $0.625 a million
    assert cost["DynamoDB ledger"] == pytest.approx(0.14 * 0.625)
    assert cost["SNS"] == pytest.approx(0.14 * 0.50)
    # 1,769/1,024 x 1 ms + 0.1 ms + 0.1 ms per event, at 1 GB
    assert cost["Lambda"] == pytest.approx(1e6 * ((0.001 * 1769 / 1024 + 0.0002) * 0.0000166667 + 0.005 * 0.2e-6))


def test_the_capacity_table_sizes_shards_factor_and_cost_from_the_figures_per_event() -> None:
    small = capacity.size(10_000, 4, PER_EVENT, memory_mb=1024)
    assert small.events_per_s == pytest.approx(60_000 / 86400)
    assert (small.shards, small.on_demand, small.factor) == (1, False, 1)
    large = capacity.size(10_000_000, 4, PER_EVENT, memory_mb=1024)
    # 60 million events a day, 2,778/s at the busiest second; 512 records/s per shard of 2 KB records
    assert large.shards == 6 and not large.on_demand
    assert large.factor == 1 and large.concurrency == 7
    assert large.monthly["DynamoDB summaries"] == pytest.approx(60e6 * 30 * 0.8 * 0.625e-6)
    ddb_writes = sum(large.monthly[k] for k in ("DynamoDB summaries", "DynamoDB ledger", "DynamoDB indexes"))
    assert large.total_infrequent_access == pytest.approx(
        large.total - 0.6 * large.monthly["DynamoDB storage"] + 0.25 * ddb_writes
    )
    assert large.monthly["DynamoDB storage"] == pytest.approx(60e6 * 45 * 1500 / 1024**3 * 0.25)  # 45 days kept
    huge = capacity.size(1_000_000_000, 4, PER_EVENT, memory_mb=1024)
    assert huge.on_demand
    lines = capacity.render([small, large, huge], 4, 4.0, 45)
    assert lines[-1].startswith("| 1,000,000,000 |") and "ON_DEMAND" in lines[-1]
    with_lake = capacity.size(10_000_000, 4, PER_EVENT, memory_mb=1024, lake=LAKE)
    assert with_lake.total == pytest.approx(large.total + sum(capacity.lake_monthly(10_000_000, 4, LAKE).values()))
    assert "Athena" in capacity.render([with_lake], 4, 4.0, 45, LAKE)[-3]


def test_init_is_measured_in_the_environment_lambda_gives_the_function() -> None:
    # Outside Lambda the X-Ray SDK builds a sampling client at import (0.08 s) that it never builds on Lambda.
    env = init_environment(load_template(ROOT / "template.yaml"), "ParticipantSummaryCompleteFunction")
    assert env["LAMBDA_TASK_ROOT"] == str(ROOT / ".aws-sam" / "build" / "ParticipantSummaryCompleteFunction")
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "ParticipantSummaryCompleteFunction"
    assert "POWERTOOLS_TRACE_DISABLED" not in env  # Tracing: Active, as deployed
    assert env["POWERTOOLS_SERVICE_NAME"] == "voice-insights-events"  # the template's own variables


def test_the_worst_case_is_the_median_of_its_runs() -> None:
    runs = [
        {"cpu_s": 0.31, "wall_s": 0.33, "first_batch_cpu_s": 0.35},
        {"cpu_s": 0.21, "wall_s": 0.23, "first_batch_cpu_s": 0.22},
        {"cpu_s": 0.20, "wall_s": 0.24, "first_batch_cpu_s": 0.25},
    ]
    assert median_run(runs) == {
        "cpu_s": 0.21,
        "wall_s": 0.23,
        "first_batch_cpu_s": 0.22,
        "cpu_runs_s": [0.20, 0.21, 0.31],
        "first_batch_cpu_runs_s": [0.22, 0.25, 0.35],
    }


def test_init_steps_time_each_step_in_turn_in_one_interpreter() -> None:
    # The second step reads what the first one set: both run in the same interpreter, in order.
    steps = [("set", "import time; started = 1"), ("sleep", "time.sleep(0.05 * started)"), ("nothing", "pass")]
    timed = init_steps(steps, {}, runs=3)
    assert [label for label, _ in timed] == ["set", "sleep", "nothing"]
    assert timed[1][1] >= 0.05
    assert timed[2][1] < 0.05


def test_index_write_units_follow_each_indexs_keys_and_projection() -> None:
    table = indexes.table_from_template(ROOT / "template.yaml", indexes.ALL_INDEXES)
    assert {index.name: (index.keys, index.projection) for index in table.indexes} == {
        "ByAccountStartTime": (("gsi1pk", "gsi1sk"), "ALL"),
        "ByCallSid": (("gsi2pk",), "KEYS_ONLY"),
        "ByIssueMonth": (("gsi3pk", "gsi3sk"), "ALL"),
    }
    # The default stack (CallSidIndex=false) has no ByCallSid: its items' gsi2pk cost no index write there.
    default = indexes.table_from_template(ROOT / "template.yaml")
    assert [index.name for index in default.indexes] == ["ByAccountStartTime", "ByIssueMonth"]
    data = {"data": {"S": "x" * 1500}}  # the item over 1 KB, its keys well under
    conference = {"pk": {"S": "CONF#CF1"}, "sk": {"S": "SUMMARY"}, **data,
                  "gsi1pk": {"S": "ACCT#AC1"}, "gsi1sk": {"S": "2026-11-21T10:00:00Z#CF1"}}  # fmt: skip
    with_issues = {**conference, "gsi3pk": {"S": "ISSUES#2026-11"}, "gsi3sk": {"S": "2026-11-21T10:00:00Z#CF1#SUMMARY"}}
    assert item_size(conference) > 1024 and item_size(with_issues) < 2048

    healthy = indexes.write_units(conference, None, table)
    assert healthy["kind"] == "conference" and healthy["table"] == 2  # 1 per KB, a standard write
    assert healthy["in"] == {"ByAccountStartTime": True, "ByCallSid": False, "ByIssueMonth": False}
    # ALL: the whole item, 2 KB; not in the sparse index: nothing.
    assert healthy["indexes"] == {"ByAccountStartTime": 2, "ByCallSid": 0, "ByIssueMonth": 0}
    flagged = indexes.write_units(with_issues, None, table)
    assert flagged["in"]["ByIssueMonth"] and flagged["indexes"]["ByIssueMonth"] == 2

    # A newer version: issues found (put), then gone (delete); a moved start time is a delete and a put.
    assert indexes.write_units(with_issues, conference, table)["indexes"]["ByIssueMonth"] == 2
    assert indexes.write_units(conference, with_issues, table)["indexes"]["ByIssueMonth"] == 2
    moved = {**conference, "gsi1sk": {"S": "2026-11-21T10:05:00Z#CF1"}}
    assert indexes.write_units(moved, conference, table)["indexes"]["ByAccountStartTime"] == 4
    assert indexes.write_units(conference, conference, table)["indexes"]["ByAccountStartTime"] == 0  # nothing changed

    # KEYS_ONLY: the table's and the index's keys, under 1 KB whatever the item holds.
    participant = {"pk": {"S": "CONF#CF1"}, "sk": {"S": "PART#CP1"}, "gsi2pk": {"S": "CALL#CA1"}, **data}
    keys_only = indexes.projected(participant, table, table.indexes[1])
    assert keys_only is not None and set(keys_only) == {"pk", "sk", "gsi2pk"}
    assert indexes.write_units(participant, None, default)["indexes"] == {"ByAccountStartTime": 0, "ByIssueMonth": 0}
    summary = indexes.summarise([healthy, flagged, indexes.write_units(participant, None, table)])
    assert summary["conference"]["items"] == 2 and summary["conference"]["table"] == 2
    assert summary["conference"]["indexes"]["ByIssueMonth"] == {"units": 1.0, "share": 0.5, "units_in": 2.0}
    assert summary["participant"]["indexes"]["ByCallSid"] == {"units": 1.0, "share": 1.0, "units_in": 1.0}
    assert summary["all"]["index_total"] == (2 + 4 + 1) / 3
    lines = indexes.render(summary, table, default, events=6)
    assert "| ByCallSid | 167 | read API: GET /v1/calls/{callSid}; only with CallSidIndex=true | no |" in lines


def test_every_index_the_template_can_create_has_a_reader_in_the_code() -> None:
    # An index nobody queries is a write per item for nothing: each one names its reader, and the reader exists.
    queries = (ROOT / "layers/voice_insights/voice_insights/read/summary_queries.py").read_text()
    table = indexes.table_from_template(ROOT / "template.yaml", indexes.ALL_INDEXES)
    assert {index.name for index in table.indexes} == set(indexes.READERS)
    for name in indexes.READERS:
        assert f'"{name}"' in queries


LAKE = capacity.Lake(
    conference=capacity.LakeRow(json_bytes=2000, billed_bytes=2048, parquet_bytes=200),
    participant=capacity.LakeRow(json_bytes=4000, billed_bytes=4096, parquet_bytes=400),
    weekly_scan_bytes=20, cpu_per_row_s=0.0002, history_days=400,
    transitions=(("STANDARD_IA", 30), ("GLACIER_IR", 90)), buffer_mib=128, buffer_s=900, queries_per_day=100,
    memory_mb=1024, batch_size=100,
)  # fmt: skip


def test_the_lake_writes_an_object_per_buffer_full_by_size_or_time() -> None:
    assert capacity.lake_objects_per_day(1e6, LAKE) == 96  # a buffer every 900 s
    assert capacity.lake_objects_per_day(200 * 128 * 1024 * 1024, LAKE) == 200  # 128 MiB buffers


def test_lake_objects_spend_the_lifecycles_days_in_each_class_small_ones_stay_in_standard() -> None:
    assert capacity.s3_class_days(LAKE, 10e6) == {"STANDARD": 30, "STANDARD_IA": 60, "GLACIER_IR": 310}
    assert capacity.s3_class_days(LAKE, 100 * 1024) == {"STANDARD": 400}  # under 128 KB: lifecycle leaves it
    short = capacity.Lake(**{**LAKE.__dict__, "history_days": 60})
    assert capacity.s3_class_days(short, 10e6) == {"STANDARD": 30, "STANDARD_IA": 30}


def test_the_lakes_month_prices_firehose_s3_athena_and_the_writer() -> None:
    month = capacity.lake_monthly(1_000_000, 4, LAKE)
    conference_rows, participant_rows = 2e6 * 30, 4e6 * 30
    billed_gb = (conference_rows * 2048 + participant_rows * 4096) / 1024**3
    assert month["Firehose ingestion"] == pytest.approx(billed_gb * 0.029)
    assert month["Firehose conversion"] == pytest.approx(billed_gb * 0.018)
    objects = 96 + 4e6 * 4000 / (128 * 1024**2)  # conferences: by time; participants: by size
    json_gb = (conference_rows * 2000 + participant_rows * 4000) / 1024**3
    assert month["Firehose partitioning"] == pytest.approx(json_gb * 0.02 + objects * 30 * 0.005 / 1000)
    # Parquet once 400 days are kept: 30 in Standard, 60 in Standard-IA, 310 in Glacier IR
    parquet_gb_a_day = (2e6 * 200 + 4e6 * 400) / 1024**3
    assert month["S3 Standard"] == pytest.approx(parquet_gb_a_day * 30 * 0.023)
    assert month["S3 Glacier IR"] == pytest.approx(parquet_gb_a_day * 310 * 0.004)
    week = 4e6 * 7 * 20  # the weekly query's columns, a week of participant rows
    assert month["Athena"] == pytest.approx(week / 1024**4 * 5.0 * 100 * 30)
    small = capacity.lake_monthly(100, 4, LAKE)
    assert small["Athena"] == pytest.approx(10 * 1024**2 / 1024**4 * 5.0 * 100 * 30)  # at least 10 MB a query


def test_the_lake_rows_are_packed_as_the_writer_packs_them_and_billed_in_5_kb_steps() -> None:
    from voice_insights.domain.lake_rows import LakeRow

    rows = [LakeRow("participant_summaries", "2026-11-21", b"x" * 999) for _ in range(12)]
    rows.append(LakeRow("conference_summaries", "2026-11-21", b"y" * 99))
    # One batch: 12 participant rows of 1,000 bytes with their newlines in one record (12,000 bytes: 15 KB billed),
    # the conference row alone (100 bytes: 5 KB billed); two batches: two records of each table's rows.
    assert lake.records_of([rows]) == {"participant_summaries": (1, 15 * 1024), "conference_summaries": (1, 5 * 1024)}
    split = lake.records_of([rows[:6], rows[6:]])
    assert split["participant_summaries"] == (2, 2 * 10 * 1024)


def test_the_lake_is_measured_on_parquet_and_the_weekly_query_reads_only_its_columns() -> None:
    event = TypeAdapter(SummaryEvent).validate_python(load_seed("participant_summary_complete"))
    conference = TypeAdapter(SummaryEvent).validate_python(load_seed("conference_summary_complete"))
    images = [to_item(e, datetime(2026, 11, 21, tzinfo=UTC)).attributes for e in (event, conference)]
    measured = lake.measure(images, batch_size=100, compression="SNAPPY")
    participants = measured["tables"]["participant_summaries"]
    assert participants["rows"] == 1 and measured["tables"]["conference_summaries"]["rows"] == 1
    assert participants["parquet_bytes"] > 0 and participants["records"] == 1
    columns = measured["weekly_query_columns"]
    assert {"inbound_mos", "outbound_mos", "join_time", "version", "participant_sid", "issue_kinds"} <= set(columns)
    assert "event_json" not in columns and "from_number" not in columns  # the query never reads the event
    read = sum(participants["column_bytes"][c] for c in columns)
    assert measured["weekly_query_bytes_per_participant_row"] == read
    assert read < sum(participants["column_bytes"].values())
    # Varied as real traffic (random SIDs, times, KPIs): the same columns, more bytes than the samples' rows.
    assert measured["varied_weekly_query_bytes_per_participant_row"] > 0
    assert set(measured["varied_parquet_bytes"]) == {"participant_summaries", "conference_summaries"}


def test_rows_varied_as_real_traffic_keep_their_shape_day_and_links() -> None:
    from voice_insights.domain.lake_rows import LakeRow

    row = {
        "participant_sid": "CP" + "0" * 32,
        "conference_sid": "CF" + "0" * 32,
        "event_id": "EZ" + "1" * 32,
        "version": "2#2026-11-21T10:00:00Z#EZ" + "1" * 32,
        "join_time": "2026-11-21T10:00:00+00:00",
        "inbound_mos": 4.3,
        "inbound_packets_lost": 0,
        "event_json": '{"conference_sid": "CF' + "0" * 32 + '"}',
    }
    rows = [LakeRow("participant_summaries", "2026-11-21", json.dumps(row).encode())] * 2
    first, second = (json.loads(r.line) for r in lake.varied(rows))
    assert first["participant_sid"] != row["participant_sid"] and first["participant_sid"].startswith("CP")
    assert first["participant_sid"] == second["participant_sid"]  # one summary stays one summary (its versions)
    assert first["event_id"] in first["version"] and first["conference_sid"] in first["event_json"]
    assert first["join_time"].startswith("2026-11-21") and 1.0 <= first["inbound_mos"] <= 4.5
    assert lake.varied(rows) == lake.varied(rows)  # reproducible


def test_the_lakes_settings_come_from_the_template_where_it_gives_them() -> None:
    template = {
        "Parameters": {"HistoryRetentionDays": {"Default": 500}, "Buffer": {"Default": 600}},
        "Globals": {"Function": {"MemorySize": 1024}},
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"LifecycleConfiguration": {"Rules": [
                {"Transitions": [{"StorageClass": "GLACIER_IR", "TransitionInDays": 120},
                                 {"StorageClass": "STANDARD_IA", "TransitionInDays": 45}]}]}}},
            "Stream": {"Type": "AWS::KinesisFirehose::DeliveryStream", "Properties": {
                "ExtendedS3DestinationConfiguration": {
                    "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": {"Ref": "Buffer"}},
                    "DataFormatConversionConfiguration": {"OutputFormatConfiguration": {
                        "Serializer": {"ParquetSerDe": {"Compression": "ZSTD"}}}}}}},
            "Writer": {"Type": "AWS::Serverless::Function", "Properties": {
                "CodeUri": "functions/lake_writer/", "MemorySize": 512,
                "Events": {"Changes": {"Type": "DynamoDB", "Properties": {"BatchSize": 1000}}}}},
        },
    }  # fmt: skip
    settings = lake_settings(template)
    assert settings["history_days"] == 500
    assert settings["transitions"] == (("STANDARD_IA", 45), ("GLACIER_IR", 120))
    assert (settings["buffer_mib"], settings["buffer_s"], settings["compression"]) == (64, 600, "ZSTD")
    assert (settings["memory_mb"], settings["batch_size"]) == (512, 1000)
    bare = lake_settings({"Parameters": {}, "Globals": {"Function": {}}, "Resources": {}})
    assert bare["from_template"] == [] and bare["compression"] == "SNAPPY" and bare["buffer_s"] == 900


def test_the_runtime_measurement_reads_the_emulators_child_process() -> None:
    # The runtime client is the emulator's child; its CPU and peak memory are read from /proc.
    child = subprocess.Popen([sys.executable, "-c", "import time; sum(range(3_000_000)); time.sleep(5)"])
    try:
        time.sleep(0.5)
        assert lambda_runtime.runtime_pid(os.getpid()) == child.pid
        assert lambda_runtime.process_cpu(child.pid) > 0
        assert lambda_runtime.peak_rss(child.pid) > 1000
    finally:
        child.kill()
        child.wait()
    assert lambda_runtime.runtime_pid(None) is None and lambda_runtime.process_cpu(None) == 0.0
