"""Given template.yaml, then it says what the code assumes: filters, routes, keys, failure handling, outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.cfn import load_template
from voice_insights import routes
from voice_insights.webhook import route_path

TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {
    "ConferenceSummaryCompleteFunction": routes.CONFERENCE_SUMMARY_COMPLETE,
    "ConferenceSummaryPartialFunction": routes.CONFERENCE_SUMMARY_PARTIAL,
    "ParticipantSummaryCompleteFunction": routes.PARTICIPANT_SUMMARY_COMPLETE,
}


def stream_trigger(logical_id: str) -> dict[str, Any]:
    trigger: dict[str, Any] = RESOURCES[logical_id]["Properties"]["Events"]["Stream"]["Properties"]
    return trigger


@pytest.mark.parametrize(("logical_id", "route"), FUNCTIONS.items())
def test_kinesis_filter_lists_exactly_the_types_the_code_accepts(logical_id: str, route: routes.Route) -> None:
    (pattern,) = [json.loads(f["Pattern"]) for f in stream_trigger(logical_id)["FilterCriteria"]["Filters"]]
    assert set(pattern["data"]["type"]) == {t.value for t in route.event_types}


@pytest.mark.parametrize(("logical_id", "route"), FUNCTIONS.items())
def test_webhook_route_is_the_path_the_resolver_serves(logical_id: str, route: routes.Route) -> None:
    webhook = RESOURCES[logical_id]["Properties"]["Events"]["Webhook"]["Properties"]
    assert (webhook["Path"], webhook["Method"]) == (route_path(route.name), "post")
    assert f"/v1{route_path(route.name)}" in json.dumps(TEMPLATE["Outputs"])
    assert RESOURCES[logical_id]["Properties"]["CodeUri"] == f"functions/{route.name}/"


def test_unrouted_function_reads_the_stream_unfiltered() -> None:
    assert "FilterCriteria" not in stream_trigger("UnroutedEventsFunction")
    assert RESOURCES["UnroutedEventsFunction"]["Properties"]["CodeUri"] == f"functions/{routes.UNROUTED.name}/"


@pytest.mark.parametrize("logical_id", [*FUNCTIONS, "UnroutedEventsFunction"])
def test_a_failing_batch_never_blocks_the_shard(logical_id: str) -> None:
    trigger = stream_trigger(logical_id)
    assert trigger["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert trigger["BisectBatchOnFunctionError"] is True
    assert trigger["MaximumRetryAttempts"] == {"Ref": "StreamMaximumRetryAttempts"}
    assert trigger["MaximumRecordAgeInSeconds"] == {"Ref": "StreamMaximumRecordAgeSeconds"}
    assert trigger["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["StreamFailuresQueue", "Arn"]}
    assert trigger["StartingPosition"] == "TRIM_HORIZON"  # nothing written before the first poll is skipped


def test_table_keys_and_indexes_match_the_items_the_code_writes() -> None:
    table = RESOURCES["SummariesTable"]["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert [k["AttributeName"] for k in indexes["ByAccountStartTime"]["KeySchema"]] == ["gsi1pk", "gsi1sk"]
    assert [k["AttributeName"] for k in indexes["ByCallSid"]["KeySchema"]] == ["gsi2pk"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert RESOURCES["SummariesTable"]["DeletionPolicy"] == "Retain"


def test_layer_is_built_by_sam_for_python_313() -> None:
    layer = RESOURCES["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert TEMPLATE["Globals"]["Function"]["Runtime"] == "python3.13"
    assert TEMPLATE["Globals"]["Function"]["Layers"] == [{"Ref": "SharedLayer"}]


def test_outputs_a_user_needs() -> None:
    assert set(TEMPLATE["Outputs"]) >= {
        "ConferenceSummaryCompleteWebhookUrl",
        "ConferenceSummaryPartialWebhookUrl",
        "ParticipantSummaryCompleteWebhookUrl",
        "EventStreamName",
        "EventStreamArn",
        "SummariesTableName",
        "RejectedEventsBucketName",
        "StreamFailuresQueueUrl",
    }


def test_only_the_processors_may_write_the_table() -> None:
    def actions(logical_id: str) -> set[str]:
        statements = RESOURCES[logical_id]["Properties"]["Policies"][0]["Statement"]
        return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}

    for logical_id in FUNCTIONS:
        assert actions(logical_id) == {
            "dynamodb:PutItem",
            "dynamodb:ConditionCheckItem",
            "s3:PutObject",
            "sqs:SendMessage",
        }
    assert actions("UnroutedEventsFunction") == {"s3:PutObject", "sqs:SendMessage"}
