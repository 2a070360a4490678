"""Given SummariesBillingMode, then the summaries table is on-demand, or provisioned with auto scaling on the table
and each of its indexes, writes and reads (docs/storage.md, "Billing mode")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devtools.cfn import Resolver, load_template

TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
MODES = [(mode, call_sid) for mode in ("PAY_PER_REQUEST", "PROVISIONED") for call_sid in ("true", "false")]


def stack(mode: str, call_sid_index: str) -> tuple[Resolver, dict[str, Any]]:
    resolver = Resolver(TEMPLATE, "s", {"SummariesBillingMode": mode, "CallSidIndex": call_sid_index})
    return resolver, resolver.resolve(RESOURCES["SummariesTable"]["Properties"])


def created(resolver: Resolver, kind: str) -> dict[str, dict[str, Any]]:
    """The resources of ``kind`` this stack creates (their Condition holds), resolved."""
    return {
        logical_id: resolver.resolve(resource["Properties"])
        for logical_id, resource in RESOURCES.items()
        if resource["Type"] == kind and ("Condition" not in resource or resolver.condition(resource["Condition"]))
    }


def test_on_demand_is_the_default_and_provisioned_the_alternative() -> None:
    parameters = TEMPLATE["Parameters"]
    assert parameters["SummariesBillingMode"]["Default"] == "PAY_PER_REQUEST"
    assert parameters["SummariesBillingMode"]["AllowedValues"] == ["PAY_PER_REQUEST", "PROVISIONED"]
    target = parameters["SummariesTargetUtilization"]
    assert (target["Default"], target["MinValue"], target["MaxValue"]) == (70, 20, 90)  # what AWS accepts
    for name in ("MinWrite", "MaxWrite", "MinRead", "MaxRead"):
        assert parameters[f"Summaries{name}Capacity"]["MinValue"] == 1
    assert parameters["SummariesMinWriteCapacity"]["Default"] < parameters["SummariesMaxWriteCapacity"]["Default"]
    assert parameters["SummariesMinReadCapacity"]["Default"] < parameters["SummariesMaxReadCapacity"]["Default"]


@pytest.mark.parametrize(("mode", "call_sid_index"), MODES)
def test_the_table_and_every_index_have_capacity_only_when_provisioned(mode: str, call_sid_index: str) -> None:
    _, table = stack(mode, call_sid_index)
    assert table["BillingMode"] == mode
    throughputs = [table.get("ProvisionedThroughput")]
    throughputs += [index.get("ProvisionedThroughput") for index in table["GlobalSecondaryIndexes"]]
    assert len(throughputs) == (4 if call_sid_index == "true" else 3)
    # CloudFormation requires it with PROVISIONED and refuses it with PAY_PER_REQUEST, on the table and each index.
    expected = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5} if mode == "PROVISIONED" else None
    assert throughputs == [expected] * len(throughputs)


@pytest.mark.parametrize(("mode", "call_sid_index"), MODES)
def test_auto_scaling_tracks_writes_and_reads_of_the_table_and_each_index(mode: str, call_sid_index: str) -> None:
    resolver, table = stack(mode, call_sid_index)
    targets = created(resolver, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = created(resolver, "AWS::ApplicationAutoScaling::ScalingPolicy")
    if mode == "PAY_PER_REQUEST":
        assert targets == {} and policies == {}
        return
    name = resolver.resolve({"Ref": "SummariesTable"})
    resources = [f"table/{name}"] + [f"table/{name}/index/{i['IndexName']}" for i in table["GlobalSecondaryIndexes"]]
    expected = {(r, f"dynamodb:{'index' if '/index/' in r else 'table'}:{io}CapacityUnits", io)
                for r in resources for io in ("Write", "Read")}  # fmt: skip
    seen = set()
    for target in targets.values():
        io = "Write" if target["ScalableDimension"].endswith("WriteCapacityUnits") else "Read"
        seen.add((target["ResourceId"], target["ScalableDimension"], io))
        assert target["ServiceNamespace"] == "dynamodb"
        assert (target["MinCapacity"], target["MaxCapacity"]) == (5, 10000 if io == "Write" else 1000)
        assert "RoleARN" not in target  # the service-linked role Application Auto Scaling creates
    assert seen == expected
    by_target = {policy["ScalingTargetId"]: policy for policy in policies.values()}
    assert len(by_target) == len(policies) == len(targets)  # one policy per target
    for logical_id, target in targets.items():
        policy = by_target[f"local-{logical_id}"]
        io = "Write" if target["ScalableDimension"].endswith("WriteCapacityUnits") else "Read"
        assert policy["PolicyType"] == "TargetTrackingScaling"
        tracking = policy["TargetTrackingScalingPolicyConfiguration"]
        assert tracking["TargetValue"] == 70
        assert tracking["PredefinedMetricSpecification"] == {"PredefinedMetricType": f"DynamoDB{io}CapacityUtilization"}
