"""Given template.yaml as CloudFormation receives it, after SAM's transform (aws-sam-translator, run offline), then
every IAM role grants exactly what its code uses, on this stack's resources, and no AWS managed policy widens it.

SAM attaches AWSLambdaKinesisExecutionRole / AWSLambdaDynamoDBExecutionRole (stream reads on every stream of the
account) and AWSLambdaBasicExecutionRole to a role it makes for a function with a stream trigger; only a function
given its own Role gets none of them, which the source template alone cannot show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.cfn import load_template
from devtools.sam_transform import TransformFailed, transform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    try:
        return transform(load_template(ROOT / "template.yaml"))
    except TransformFailed as failed:
        pytest.fail(str(failed))


def getatt(logical_id: str, attribute: str = "Arn") -> str:
    return json.dumps({"Fn::GetAtt": [logical_id, attribute]})


def sub(text: str) -> str:
    return json.dumps({"Fn::Sub": text})


def grants(actions: list[str], resource: str) -> set[tuple[str, str]]:
    return {(action, resource) for action in actions}


# Actions IAM authorises on no resource, so "*" is the only Resource they take (Service Authorization Reference).
ACTIONS_WITHOUT_RESOURCES = {
    # Lambda sends a traced function's segments (Tracing: Active) with its execution role; X-Ray has no resource
    # types for these: https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html
    "xray:PutTraceSegments": "the function's trace segments",
    "xray:PutTelemetryRecords": "the X-Ray telemetry sent with them",
    # Account-level (the shard limits): no resource type in
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonkinesisdatastreams.html
    "kinesis:DescribeLimits": "Twilio's Kinesis sink reads the account's shard limits",
}

# Managed policies a role may carry, each with why an inline policy naming this stack's resources cannot replace it.
ALLOWED_MANAGED_POLICIES = {
    # The region's API Gateway account role (set there when none is, or with SetApiGatewayAccountLoggingRole=true)
    # writes the logs of every REST API of the region, not only this stack's; AWS documents this policy for it:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html
    "ApiGatewayLoggingRole": {
        sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
    },
    # The chat channels' role carries the stack's own policy, which is also their guardrail (only with a channel).
    "ChatChannelRole": {json.dumps({"Ref": "ChatChannelPolicy"})},
}


def basics(log_group: str) -> set[tuple[str, str]]:
    """What every function's role needs: its own log group (Lambda writes the logs with the function's role) and
    X-Ray (Tracing: Active)."""
    return grants(["logs:CreateLogStream", "logs:PutLogEvents"], getatt(log_group)) | grants(
        ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], json.dumps("*")
    )


# Lambda's poller reads the stream with the function's role; SubscribeToShard (an enhanced fan-out consumer) is
# not used: https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-create.html
READ_EVENT_STREAM = grants(
    [
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:ListShards",
    ],
    getatt("EventStream"),
)
KEEP_REJECTED = grants(["s3:PutObject"], sub("${RejectedEventsBucket.Arn}/rejected/*"))


def processor(log_group: str) -> set[tuple[str, str]]:
    return (
        basics(log_group)
        | READ_EVENT_STREAM
        # TransactWriteItems is authorised per item as PutItem + ConditionCheckItem
        | grants(["dynamodb:PutItem", "dynamodb:ConditionCheckItem"], getatt("SummariesTable"))
        | KEEP_REJECTED
        # the bounded record of a webhook request refused before it proved to be Twilio's
        | grants(["s3:PutObject"], sub("${RejectedEventsBucket.Arn}/refused/*"))
        | grants(["sqs:SendMessage"], getatt("StreamFailuresQueue"))
        | grants(["secretsmanager:GetSecretValue"], json.dumps({"Ref": "TwilioWebhookSecret"}))
    )


EXPECTED_GRANTS = {
    "ConferenceSummaryCompleteRole": processor("ConferenceSummaryCompleteLogs"),
    "ConferenceSummaryPartialRole": processor("ConferenceSummaryPartialLogs"),
    "ParticipantSummaryCompleteRole": processor("ParticipantSummaryCompleteLogs"),
    "UnroutedEventsRole": (
        basics("UnroutedEventsLogs")
        | READ_EVENT_STREAM
        | KEEP_REJECTED
        | grants(["sqs:SendMessage"], getatt("StreamFailuresQueue"))
    ),
    "QualityAlertsRole": (
        basics("QualityAlertsLogs")
        # the table's streams only, as https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/iam-policy-example-lamda-process-dynamodb-streams.html
        | grants(
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
            sub("${SummariesTable.Arn}/stream/*"),
        )
        | grants(["sns:Publish"], json.dumps({"Ref": "AlertTopic"}))  # PublishBatch is authorised as sns:Publish
        # the chat variant (chat_message.py) to the chat topic; without one, the alert topic again
        | grants(
            ["sns:Publish"],
            json.dumps({"Fn::If": ["PublishesChatAlerts", {"Ref": "AlertChatTopic"}, {"Ref": "AlertTopic"}]}),
        )
        | grants(["kms:GenerateDataKey", "kms:Decrypt"], getatt("AlertTopicKey"))  # the topic's key
        | grants(["dynamodb:BatchGetItem"], getatt("SummariesTable"))  # conference names
        | grants(["dynamodb:BatchGetItem", "dynamodb:UpdateItem"], getatt("AlertLedgerTable"))
        | KEEP_REJECTED
        | grants(["sqs:SendMessage"], getatt("AlertFailuresQueue"))
    ),
    "TwilioKinesisSinkRole": (
        grants(["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:ListShards"], getatt("EventStream"))
        | grants(["kinesis:DescribeLimits"], json.dumps("*"))
    ),
    "ApiGatewayLoggingRole": set(),
    # the custom resource that sets it: the region's account settings, and handing API Gateway that role only
    "ApiGatewayAccountLoggingFunctionRole": (
        grants(["logs:CreateLogStream", "logs:PutLogEvents"], getatt("ApiGatewayAccountLoggingLogs"))
        | grants(
            ["apigateway:GET", "apigateway:PATCH"], sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/account")
        )
        | grants(["iam:PassRole"], getatt("ApiGatewayLoggingRole"))
    ),
    "ChatChannelRole": set(),  # no inline policy: ChatChannelPolicy (read CloudWatch alarms and metrics)
    # the read API (docs/read.md): Query on the table and its indexes, GetItem for a call's item, the cursor key
    "ReadApiRole": (
        basics("ReadApiLogs")
        | grants(["dynamodb:Query"], getatt("SummariesTable"))
        | grants(["dynamodb:Query"], sub("${SummariesTable.Arn}/index/*"))
        | grants(["dynamodb:GetItem"], getatt("SummariesTable"))
        | grants(["kms:GenerateMac"], getatt("ReadCursorKey"))
    ),
    # the scheduled reconcile (docs/backfill.md): a conference's items (Query), the pipeline's writes as a processor
    # makes them, its rejected events, and the Twilio API credentials
    "ReconcileRole": (
        basics("ReconcileLogs")
        | grants(["dynamodb:Query", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"], getatt("SummariesTable"))
        | KEEP_REJECTED
        | grants(["secretsmanager:GetSecretValue"], json.dumps({"Ref": "TwilioApiSecret"}))
    ),
    # EventBridge Scheduler invokes the reconcile's alias, nothing else
    "ReconcileSchedulerRole": grants(["lambda:InvokeFunction"], json.dumps({"Ref": "ReconcileFunctionAliaslive"})),
}

# The history lake (docs/history.md). Its delivery role: what Firehose needs for conversion and delivery
# (https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html), on this stack's lake only.
LAKE_TABLES = ["LakeConferenceTable", "LakeParticipantTable"]
GLUE = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
# Glue authorises a table call on the account's Data Catalog as well as on the database and the table
# (https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html): an ARN no stack resource names.
DATA_CATALOG = sub(f"{GLUE}:catalog")
READ_GLUE_TABLES = {"glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"}
EXPECTED_GRANTS["LakeDeliveryRole"] = (
    grants(
        ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
        DATA_CATALOG,
    )
    | grants(
        ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"], sub(f"{GLUE}:database/${{LakeDatabase}}")
    )
    | {
        (action, sub(f"{GLUE}:table/${{LakeDatabase}}/${{{table}}}"))
        for table in LAKE_TABLES
        for action in ("glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions")
    }
    | grants(["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], getatt("LakeBucket"))
    | {
        (action, sub(f"${{LakeBucket.Arn}}/{prefix}/*"))
        for prefix in ("conference_summaries", "participant_summaries", "errors")
        for action in ("s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload")
    }
    | grants(["kms:GenerateDataKey", "kms:Decrypt"], getatt("LakeKey"))
    | grants(["logs:PutLogEvents"], getatt("LakeDeliveryLogs"))
)
# The lake writer: the table's stream in, PutRecordBatch on its two delivery streams out.
EXPECTED_GRANTS["LakeWriterRole"] = (
    basics("LakeWriterLogs")
    | grants(
        ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
        sub("${SummariesTable.Arn}/stream/*"),
    )
    | grants(["firehose:PutRecordBatch"], getatt("LakeConferenceStream"))
    | grants(["firehose:PutRecordBatch"], getatt("LakeParticipantStream"))
    | KEEP_REJECTED
    | grants(["sqs:SendMessage"], getatt("LakeFailuresQueue"))
)
# The quality digest (docs/alerts.md, The digest): the lake's named queries in its workgroup, what Athena reads and
# writes as the caller (tables, rows, results, their keys), the alert and chat topics; Scheduler invokes its alias.
ATHENA_WORKGROUP = sub("arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}:workgroup/${AthenaWorkGroup}")
CHAT_OR_ALERT_TOPIC = json.dumps({"Fn::If": ["PublishesChatAlerts", {"Ref": "AlertChatTopic"}, {"Ref": "AlertTopic"}]})
EXPECTED_GRANTS["DigestRole"] = (
    basics("DigestLogs")
    | grants(
        [
            "athena:GetNamedQuery",
            "athena:StartQueryExecution",
            "athena:GetQueryExecution",
            "athena:GetQueryResults",
            "athena:StopQueryExecution",
        ],
        ATHENA_WORKGROUP,
    )
    | {
        (action, resource)
        for action in ("glue:GetDatabase", "glue:GetTable")
        for resource in (
            DATA_CATALOG,
            sub(f"{GLUE}:database/${{LakeDatabase}}"),
            *(sub(f"{GLUE}:table/${{LakeDatabase}}/${{{table}}}") for table in LAKE_TABLES),
        )
    }
    | grants(["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"], getatt("LakeBucket"))
    | grants(["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"], sub("${LakeBucket.Arn}/*"))
    | {
        (action, resource)
        for action in (
            "s3:GetObject",
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "s3:ListBucket",
            "s3:GetBucketLocation",
        )
        for resource in (getatt("AthenaResultsBucket"), sub("${AthenaResultsBucket.Arn}/results/*"))
    }
    | grants(["kms:Decrypt", "kms:GenerateDataKey"], getatt("LakeKey"))
    | grants(["kms:Decrypt", "kms:GenerateDataKey"], getatt("AthenaResultsKey"))
    | grants(["sns:Publish"], json.dumps({"Ref": "AlertTopic"}))
    | grants(["sns:Publish"], CHAT_OR_ALERT_TOPIC)
    | grants(["kms:GenerateDataKey", "kms:Decrypt"], getatt("AlertTopicKey"))
)
EXPECTED_GRANTS["DigestSchedulerRole"] = grants(
    ["lambda:InvokeFunction"], json.dumps({"Ref": "DigestFunctionAliaslive"})
)
FUNCTION_ROLES = {
    "DigestFunction": "DigestRole",
    "LakeWriterFunction": "LakeWriterRole",
    "ConferenceSummaryCompleteFunction": "ConferenceSummaryCompleteRole",
    "ConferenceSummaryPartialFunction": "ConferenceSummaryPartialRole",
    "ParticipantSummaryCompleteFunction": "ParticipantSummaryCompleteRole",
    "UnroutedEventsFunction": "UnroutedEventsRole",
    "QualityAlertsFunction": "QualityAlertsRole",
    "ReadApiFunction": "ReadApiRole",
    "ApiGatewayAccountLoggingFunction": "ApiGatewayAccountLoggingFunctionRole",
    "ReconcileFunction": "ReconcileRole",
}
# Resources that are the account's or the region's, not a resource of this stack: each with why.
ACCOUNT_RESOURCES = {
    # API Gateway's account settings (GetAccount, UpdateAccount): one per region, no resource of the stack names them
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonapigatewaymanagement.html
    sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/account"): "the region's API Gateway account settings",
}


def roles(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role["Properties"].get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted(role: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (action, json.dumps(resource))
        for statement in statements(role)
        for action in listed(statement["Action"])
        for resource in listed(statement["Resource"])
    }


def test_every_function_runs_with_the_role_declared_for_it_and_sam_makes_none(transformed: dict[str, Any]) -> None:
    functions = {k: r for k, r in transformed["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    assert {k: r["Properties"]["Role"] for k, r in functions.items()} == {
        function: {"Fn::GetAtt": [role, "Arn"]} for function, role in FUNCTION_ROLES.items()
    }
    assert set(roles(transformed)) == set(EXPECTED_GRANTS)


def test_no_role_carries_a_managed_policy_but_the_allowed_ones(transformed: dict[str, Any]) -> None:
    carried = {
        k: {json.dumps(arn) for arn in r["Properties"].get("ManagedPolicyArns", [])}
        for k, r in roles(transformed).items()
    }
    assert {k: arns for k, arns in carried.items() if arns} == ALLOWED_MANAGED_POLICIES


@pytest.mark.parametrize("role_id", EXPECTED_GRANTS)
def test_each_role_grants_exactly_what_its_code_uses(transformed: dict[str, Any], role_id: str) -> None:
    role = roles(transformed)[role_id]
    assert all(s["Effect"] == "Allow" and {"Action", "Resource"} <= set(s) for s in statements(role))
    assert not any({"NotAction", "NotResource"} & set(s) for s in statements(role))
    assert granted(role) == EXPECTED_GRANTS[role_id]


def referenced_ids(value: Any) -> set[str]:
    """The logical ids a Ref, GetAtt or Sub names (pseudo parameters and parameters included)."""
    if isinstance(value, list):
        return {i for v in value for i in referenced_ids(v)}
    if not isinstance(value, dict):
        return set()
    if "Ref" in value:
        return {value["Ref"]}
    if "Fn::GetAtt" in value:
        return {value["Fn::GetAtt"][0]}
    if "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        return {part.split("}", 1)[0].split(".", 1)[0] for part in text.split("${")[1:]}
    return {i for v in value.values() for i in referenced_ids(v)}


def test_every_grant_names_a_resource_of_this_stack_or_has_none_to_name(transformed: dict[str, Any]) -> None:
    resources = set(transformed["Resources"])
    for role_id, role in roles(transformed).items():
        for statement in statements(role):
            for resource in listed(statement["Resource"]):
                if resource == "*":
                    assert set(listed(statement["Action"])) <= set(ACTIONS_WITHOUT_RESOURCES), (role_id, statement)
                elif json.dumps(resource) == DATA_CATALOG:  # the digest's Athena reads the database too
                    assert set(listed(statement["Action"])) <= READ_GLUE_TABLES | {"glue:GetDatabase"}, (
                        role_id,
                        statement,
                    )
                elif json.dumps(resource) not in ACCOUNT_RESOURCES:
                    assert referenced_ids(resource) & resources, (role_id, resource)


def test_function_roles_can_be_assumed_by_lambda_only(transformed: dict[str, Any]) -> None:
    for role_id in FUNCTION_ROLES.values():
        (trust,) = roles(transformed)[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }


def test_only_firehose_of_this_account_assumes_the_lake_delivery_role(transformed: dict[str, Any]) -> None:
    (trust,) = roles(transformed)["LakeDeliveryRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"Service": "firehose.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}},  # the confused deputy
    }


def test_every_trigger_and_route_calls_the_published_alias(transformed: dict[str, Any]) -> None:
    """SnapStart restores published versions only: the streams' mappings and the APIs' permissions name the alias
    `live` that each deploy moves to its new version, never the unpublished function."""
    resources = transformed["Resources"]
    aliases = {logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::Lambda::Alias"}
    # but the custom resource's function, which CloudFormation alone invokes, once per stack update
    functions = [
        r
        for k, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function" and k != "ApiGatewayAccountLoggingFunction"
    ]
    assert len(aliases) == len(functions) and all(a.endswith("Aliaslive") for a in aliases)
    for function in functions:
        assert function["Properties"]["SnapStart"] == {
            "ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}
        }
    mappings = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert mappings and permissions
    for resource in mappings + permissions:
        assert resource["Properties"]["FunctionName"] == {"Ref": next(iter(_refs(resource) & aliases))}, resource


def test_the_reconcile_schedule_invokes_the_alias_with_a_role_only_scheduler_of_this_account_assumes(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    schedule = resources["ReconcileScheduler"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule" and schedule["Condition"] == "ReconcileOnSchedule"
    target = schedule["Properties"]["Target"]
    assert target["Arn"] == {"Ref": "ReconcileFunctionAliaslive"}
    assert resources["ReconcileFunctionAliaslive"]["Properties"]["Name"] == "live"
    assert target["RoleArn"] == {"Fn::GetAtt": ["ReconcileSchedulerRole", "Arn"]}
    (trust,) = resources["ReconcileSchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"Service": "scheduler.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }
    # No async retries of a failed run: the next run's overlapping window reads it again (and its alarm fired).
    (invoke_config,) = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert invoke_config["Properties"]["Qualifier"] == "live"
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 0
    # Scheduler's role, not a resource policy: no permission lets anything else invoke it.
    permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert not [p for p in permissions if "Reconcile" in json.dumps(p["Properties"]["FunctionName"])]


def _refs(resource: dict[str, Any]) -> set[str]:
    found = set()
    for value in resource["Properties"].values():
        if isinstance(value, dict) and set(value) == {"Ref"}:
            found.add(value["Ref"])
    return found
