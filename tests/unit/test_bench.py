"""Given the benchmark's workload and stand-in, then they are what bench/RESULTS.md says they are
(the benchmark itself runs with `make bench`, outside the test run)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from pydantic import TypeAdapter

from bench import fake_aws, indexes, workload
from bench.invoke import billed_bytes
from bench.run import ROOT, init_environment, init_steps, median_run, parallelization_factor, smallest_memory, verify
from devtools.cfn import load_template
from tests.conftest import load_seed
from voice_insights.items import item_size, to_item
from voice_insights.models import SummaryEvent


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
        status, _ = fake_aws._dynamodb(state, "TransactWriteItems", {"TransactItems": [{"Put": request}]})
        return status

    assert [put("2#b"), put("2#b"), put("1#a"), put("2#c")] == [200, 400, 400, 200]
    assert [change["eventName"] for change in state.changes] == ["INSERT", "MODIFY"]


def test_the_cost_counts_the_bytes_dynamodb_bills_for_each_stored_item() -> None:
    event = TypeAdapter(SummaryEvent).validate_python(load_seed("participant_summary_complete"))
    item = to_item(event, datetime(2026, 11, 21, tzinfo=UTC))
    state = fake_aws.State()
    request = {"TableName": "t", "Item": item.attributes, "ConditionExpression": fake_aws.CONDITION,
               "ExpressionAttributeValues": {":version": {"S": item.version}}}  # fmt: skip
    fake_aws._dynamodb(state, "TransactWriteItems", {"TransactItems": [{"Put": request}]})
    assert billed_bytes(state.changes[0]) == item.size  # the JSON text of the image is 10-20 % longer


def test_verify_catches_a_partial_over_a_complete_summary() -> None:
    run = {"final_items": {"CONF#x|SUMMARY": "EZp1"}, "writes": 700, "functions": {}}
    problems = verify({"handlers_0": run, "handlers_10": run})
    assert any("partial summary over its complete one" in problem for problem in problems)


def test_the_memory_that_keeps_up_follows_lambdas_cpu_share() -> None:
    # 0.3 CPU-s per 1,000 events on a full vCPU: at 531 MB 1,769/531 x 0.3 = 0.9994 s, at 530 MB 1.0013 s.
    assert smallest_memory(0.3, io_s=0.0) == 531
    assert smallest_memory(0.3, io_s=0.5) == 1062  # waiting counts too: 0.3 x 1,769/1,062 + 0.5 = 0.9997 s
    assert smallest_memory(0.01, io_s=0.0) == 128  # Lambda's smallest size
    assert smallest_memory(0.9, io_s=0.2) is None  # one vCPU is the most a single invocation can use


def test_a_parallelization_factor_shares_a_saturated_shard_between_batches() -> None:
    # At 256 MB, 0.3 CPU-s per 1,000 events take 2.07 s of wall: three batches at once keep up.
    assert parallelization_factor(256, 0.3, io_s=0.0) == 3
    assert parallelization_factor(1024, 0.3, io_s=0.0) == 1
    assert parallelization_factor(128, 1.0, io_s=0.0) is None  # 13.8 s: over Lambda's 10


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
    table = indexes.table_from_template(ROOT / "template.yaml")
    assert {index.name: (index.keys, index.projection) for index in table.indexes} == {
        "ByAccountStartTime": (("gsi1pk", "gsi1sk"), "ALL"),
        "ByCallSid": (("gsi2pk",), "KEYS_ONLY"),
        "ByIssueMonth": (("gsi3pk", "gsi3sk"), "ALL"),
        "ByStartDay": (("gsi4pk", "gsi4sk"), "KEYS_ONLY"),
    }
    data = {"data": {"S": "x" * 1500}}  # the item over 1 KB, its keys well under
    conference = {"pk": {"S": "CONF#CF1"}, "sk": {"S": "SUMMARY"}, **data,
                  "gsi1pk": {"S": "ACCT#AC1"}, "gsi1sk": {"S": "2026-11-21T10:00:00Z#CF1"},
                  "gsi4pk": {"S": "DAY#2026-11-21"}, "gsi4sk": {"S": "2026-11-21T10:00:00Z#CF1"}}  # fmt: skip
    with_issues = {**conference, "gsi3pk": {"S": "ISSUES#2026-11"}, "gsi3sk": {"S": "2026-11-21T10:00:00Z#CF1#SUMMARY"}}
    assert item_size(conference) > 1024 and item_size(with_issues) < 2048

    healthy = indexes.write_units(conference, None, table)
    assert healthy["kind"] == "conference" and healthy["table"] == 4  # 2 per KB, transactional
    assert healthy["in"] == {"ByAccountStartTime": True, "ByCallSid": False, "ByIssueMonth": False, "ByStartDay": True}
    # ALL: the whole item, 2 KB; KEYS_ONLY: pk, sk, gsi4pk, gsi4sk, under 1 KB; not in the sparse index: nothing.
    assert healthy["indexes"] == {"ByAccountStartTime": 2, "ByCallSid": 0, "ByIssueMonth": 0, "ByStartDay": 1}
    flagged = indexes.write_units(with_issues, None, table)
    assert flagged["in"]["ByIssueMonth"] and flagged["indexes"]["ByIssueMonth"] == 2
    keys_only = indexes.projected(with_issues, table, table.indexes[3])
    assert keys_only is not None and set(keys_only) == {"pk", "sk", "gsi4pk", "gsi4sk"}

    # A newer version: issues found (put), then gone (delete); a moved start time is a delete and a put.
    assert indexes.write_units(with_issues, conference, table)["indexes"]["ByIssueMonth"] == 2
    assert indexes.write_units(conference, with_issues, table)["indexes"]["ByIssueMonth"] == 2
    moved = {**conference, "gsi4sk": {"S": "2026-11-21T10:05:00Z#CF1"}}
    assert indexes.write_units(moved, conference, table)["indexes"]["ByStartDay"] == 2
    assert indexes.write_units(conference, conference, table)["indexes"]["ByStartDay"] == 0  # nothing it holds changed

    participant = {"pk": {"S": "CONF#CF1"}, "sk": {"S": "PART#CP1"}, "gsi2pk": {"S": "CALL#CA1"}, **data}
    summary = indexes.summarise([healthy, flagged, indexes.write_units(participant, None, table)])
    assert summary["conference"]["items"] == 2 and summary["conference"]["table"] == 4
    assert summary["conference"]["indexes"]["ByIssueMonth"] == {"units": 1.0, "share": 0.5, "units_in": 2.0}
    assert summary["participant"]["indexes"]["ByCallSid"] == {"units": 1.0, "share": 1.0, "units_in": 1.0}
    assert summary["all"]["index_total"] == (3 + 5 + 1) / 3
