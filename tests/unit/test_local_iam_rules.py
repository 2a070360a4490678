"""The local IAM check (devtools/local_iam.py): IAM's evaluation rules, the action and resource ARN of each request
the functions make, each function's statements from SAM's transformed template; and, pinned on the transformed
template, what the local check does not evaluate (docs/security.md, "IAM on the local stack")."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from devtools.cfn import ACCOUNT, REGION
from devtools.local_iam import (
    Authorization,
    LocalIam,
    Principal,
    Request,
    UnsupportedPolicy,
    access_key_id,
    check_supported,
    evaluate,
    function_principals,
    refusal,
    signed_by,
    wildcard_match,
)
from devtools.sam_transform import transformed_template

TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/summaries"


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


# --- IAM's rules -------------------------------------------------------------------------------------------------


def test_nothing_is_allowed_unless_a_statement_allows_it() -> None:
    assert evaluate([], "dynamodb:PutItem", TABLE) == "implicit"
    assert evaluate([allow("dynamodb:GetItem", TABLE)], "dynamodb:PutItem", TABLE) == "implicit"
    assert evaluate([allow("dynamodb:PutItem", TABLE + "2")], "dynamodb:PutItem", TABLE) == "implicit"
    assert evaluate([allow(["dynamodb:GetItem", "dynamodb:PutItem"], TABLE)], "dynamodb:PutItem", TABLE) == "allow"


def test_an_explicit_deny_wins_over_any_allow() -> None:
    statements = [allow("dynamodb:*", "*"), deny("dynamodb:PutItem", TABLE)]
    assert evaluate(statements, "dynamodb:PutItem", TABLE) == "explicit"
    assert evaluate(statements, "dynamodb:GetItem", TABLE) == "allow"
    assert evaluate([deny("dynamodb:PutItem", TABLE)], "dynamodb:PutItem", TABLE) == "explicit"


def test_actions_match_without_case_and_resources_with_it() -> None:
    assert evaluate([allow("DynamoDB:putitem", TABLE)], "dynamodb:PutItem", TABLE) == "allow"
    assert evaluate([allow("dynamodb:PutItem", TABLE.upper())], "dynamodb:PutItem", TABLE) == "implicit"


def test_star_and_question_mark_are_the_only_wildcards() -> None:
    assert wildcard_match("arn:aws:s3:::bucket/rejected/*", "arn:aws:s3:::bucket/rejected/2026/a.json")
    assert not wildcard_match("arn:aws:s3:::bucket/rejected/*", "arn:aws:s3:::bucket/refused/a.json")
    assert wildcard_match("dynamodb:Get?tem", "dynamodb:GetItem") and not wildcard_match(
        "dynamodb:Get?tem", "dynamodb:GetIItem"
    )
    assert not wildcard_match("arn:aws:s3:::bucket.name/[ab]", "arn:aws:s3:::bucketXname/a")  # . and [] are literal
    assert evaluate([allow("kms:Generate*", "*")], "kms:GenerateMac", "arn:aws:kms:x") == "allow"


def test_not_action_and_not_resource_allow_everything_else() -> None:
    assert (
        evaluate([{"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "*"}], "s3:PutObject", "a") == "allow"
    )
    assert (
        evaluate([{"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}], "s3:DeleteObject", "a")
        == "implicit"
    )
    statements = [{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/private/*"}]
    assert evaluate(statements, "s3:GetObject", "arn:aws:s3:::b/public/x") == "allow"
    assert evaluate(statements, "s3:GetObject", "arn:aws:s3:::b/private/x") == "implicit"


def test_conditions_hold_as_iam_evaluates_them() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/local-Role"
    context = {"aws:PrincipalArn": role, "aws:SecureTransport": "true"}

    def decided(condition: dict[str, Any], ctx: dict[str, str] = context) -> str:
        return evaluate([allow("sns:Publish", "*", Condition=condition)], "sns:Publish", "t", ctx)

    assert decided({"StringEquals": {"aws:PrincipalArn": role}}) == "allow"
    assert decided({"StringEquals": {"aws:principalarn": [role + "x", role]}}) == "allow"  # key names: any case
    assert decided({"StringEquals": {"aws:PrincipalArn": role.upper()}}) == "implicit"
    assert decided({"StringEqualsIgnoreCase": {"aws:PrincipalArn": role.upper()}}) == "allow"
    assert decided({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/local-*"}}) == "allow"
    assert decided({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/*"}}) == "allow"
    assert decided({"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/other*"}}) == "allow"
    assert decided({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:role/local-Role"}}) == "implicit"
    assert decided({"Bool": {"aws:SecureTransport": "false"}}) == "implicit"
    # A key the request does not carry: the condition fails, except ...IfExists, negated operators and Null.
    assert decided({"StringEquals": {"aws:SourceArn": "x"}}) == "implicit"
    assert decided({"StringEqualsIfExists": {"aws:SourceArn": "x"}}) == "allow"
    assert decided({"StringNotEquals": {"aws:SourceArn": "x"}}) == "allow"
    assert decided({"Null": {"aws:SourceArn": "true"}}) == "allow"
    assert decided({"Null": {"aws:PrincipalArn": "true"}}) == "implicit"
    # Every operator and key of a statement must hold.
    assert decided({"StringEquals": {"aws:PrincipalArn": role}, "Bool": {"aws:SecureTransport": "false"}}) == "implicit"


def test_a_condition_operator_not_evaluated_locally_is_refused_up_front() -> None:
    for operator in ("NumericLessThan", "DateGreaterThan", "ForAnyValue:StringEquals", "IpAddress"):
        with pytest.raises(UnsupportedPolicy, match=operator):
            check_supported(allow("s3:GetObject", "*", Condition={operator: {"k": "v"}}))
    check_supported(allow("s3:GetObject", "*", Condition={"ArnNotLikeIfExists": {"k": "v"}}))


# --- What each request needs -------------------------------------------------------------------------------------


def request(service: str, body: Any = b"", target: str = "", method: str = "POST", path: str = "/",
            query: dict[str, list[str]] | None = None, headers: dict[str, str] | None = None) -> Request:  # fmt: skip
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"x-amz-target": target, **(headers or {})} if target else dict(headers or {})
    return Request(service, REGION, method, path, query or {}, all_headers, raw)


def needs(iam: LocalIam, req: Request) -> list[tuple[str, str | None]]:
    return [(a.action, a.resource) for a in iam.authorizations(req)]


def test_dynamodb_requests_need_their_table_or_index_and_each_transaction_item_its_own_action() -> None:
    iam = LocalIam()
    put = request("dynamodb", {"TableName": "summaries", "Item": {}}, "DynamoDB_20120810.PutItem")
    assert needs(iam, put) == [("dynamodb:PutItem", TABLE)]
    query = request("dynamodb", {"TableName": "summaries", "IndexName": "by-time"}, "DynamoDB_20120810.Query")
    assert needs(iam, query) == [("dynamodb:Query", TABLE + "/index/by-time")]
    batch = request("dynamodb", {"RequestItems": {"summaries": {}, "ledger": {}}}, "DynamoDB_20120810.BatchGetItem")
    assert needs(iam, batch) == [("dynamodb:BatchGetItem", TABLE), ("dynamodb:BatchGetItem", TABLE[:-9] + "ledger")]
    items = [{"Put": {"TableName": "summaries"}}, {"ConditionCheck": {"TableName": "summaries"}},
             {"Update": {"TableName": "summaries"}}]  # fmt: skip
    transaction = request("dynamodb", {"TransactItems": items}, "DynamoDB_20120810.TransactWriteItems")
    assert [a for a, _ in needs(iam, transaction)] == ["dynamodb:PutItem", "dynamodb:ConditionCheckItem",
                                                       "dynamodb:UpdateItem"]  # fmt: skip
    by_arn = request("dynamodb", {"TableName": TABLE}, "DynamoDB_20120810.GetItem")
    assert needs(iam, by_arn) == [("dynamodb:GetItem", TABLE)]


def test_table_stream_reads_need_the_stream_and_list_streams_needs_star() -> None:
    iam = LocalIam()
    stream = TABLE + "/stream/2026-12-04T00:00:00.000"
    records = request("dynamodb", {"ShardIterator": f"{stream}|1|abc"}, "DynamoDBStreams_20120810.GetRecords")
    assert needs(iam, records) == [("dynamodb:GetRecords", stream)]
    describe = request("dynamodb", {"StreamArn": stream}, "DynamoDBStreams_20120810.DescribeStream")
    assert needs(iam, describe) == [("dynamodb:DescribeStream", stream)]
    assert needs(iam, request("dynamodb", {}, "DynamoDBStreams_20120810.ListStreams")) == [
        ("dynamodb:ListStreams", "*")
    ]


def test_s3_requests_need_the_object_named_by_their_path() -> None:
    iam = LocalIam()
    put = request("s3", method="PUT", path="/bucket/rejected/2026/a%20b.json", headers={"host": "127.0.0.1:5000"})
    assert needs(iam, put) == [("s3:PutObject", "arn:aws:s3:::bucket/rejected/2026/a b.json")]
    get = request("s3", method="GET", path="/bucket/k", query={"x-id": ["GetObject"]}, headers={"host": "127.0.0.1"})
    assert needs(iam, get) == [("s3:GetObject", "arn:aws:s3:::bucket/k")]
    head = request("s3", method="HEAD", path="/bucket/k", headers={"host": "localhost:5000"})
    assert needs(iam, head) == [("s3:GetObject", "arn:aws:s3:::bucket/k")]
    listing = request("s3", method="GET", path="/bucket", query={"list-type": ["2"]}, headers={"host": "127.0.0.1"})
    assert needs(iam, listing) == [("s3:ListBucket", "arn:aws:s3:::bucket")]
    copied = request("s3", method="PUT", path="/bucket/b", headers={"host": "127.0.0.1", "x-amz-copy-source": "/src/a"})
    assert needs(iam, copied) == [("s3:PutObject", "arn:aws:s3:::bucket/b"), ("s3:GetObject", "arn:aws:s3:::src/a")]
    tagging = request("s3", method="PUT", path="/bucket/b", query={"tagging": [""]}, headers={"host": "127.0.0.1"})
    assert needs(iam, tagging)[0][1] is None  # not worked out here: refused with a hint, never let through


def test_publishing_to_an_encrypted_topic_needs_its_key_too() -> None:
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/local-AlertTopicKey"
    iam = LocalIam(encrypted={topic: key})
    publish = request("sns", f"Action=Publish&TopicArn={topic}&Message=m".encode())
    assert [(a.action, a.resource, a.via) for a in iam.authorizations(publish)] == [
        ("sns:Publish", topic, ""), ("kms:GenerateDataKey", key, "kms"), ("kms:Decrypt", key, "kms")]  # fmt: skip
    batch = request("sns", f"Action=PublishBatch&TopicArn={topic}".encode())
    assert needs(LocalIam(), batch) == [("sns:Publish", topic)]


def test_sqs_secrets_kms_kinesis_and_firehose_requests_need_their_resource() -> None:
    iam = LocalIam(secrets={"token": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:token-AbCdEf"})
    send = request("sqs", {"QueueUrl": f"http://127.0.0.1:5000/{ACCOUNT}/failures"}, "AmazonSQS.SendMessageBatch")
    assert needs(iam, send) == [("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:failures")]
    secret = request("secretsmanager", {"SecretId": "token"}, "secretsmanager.GetSecretValue")
    assert needs(iam, secret) == [("secretsmanager:GetSecretValue", iam.secrets["token"])]
    mac = request("kms", {"KeyId": "1234abcd"}, "TrentService.GenerateMac")
    assert needs(iam, mac) == [("kms:GenerateMac", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd")]
    assert needs(iam, request("kms", {"KeyId": "alias/cursor"}, "TrentService.GenerateMac")) == [
        ("kms:GenerateMac", None)
    ]
    shards = request("kinesis", {"StreamName": "events"}, "Kinesis_20131202.ListShards")
    assert needs(iam, shards) == [("kinesis:ListShards", f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/events")]
    lake = request("firehose", {"DeliveryStreamName": "lake"}, "Firehose_20150804.PutRecordBatch")
    assert needs(iam, lake) == [("firehose:PutRecordBatch", f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/lake")]


def test_the_signer_is_read_from_the_authorization_header_or_a_presigned_url() -> None:
    header = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261204/us-east-1/dynamodb/aws4_request, SignedHeaders=host"
    assert signed_by({"HTTP_AUTHORIZATION": header}) == ("ASIAEXAMPLE", "us-east-1", "dynamodb")
    presigned = "X-Amz-Credential=ASIAEXAMPLE%2F20261204%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00"
    assert signed_by({"QUERY_STRING": presigned}) == ("ASIAEXAMPLE", "us-east-1", "s3")
    assert signed_by({}) is None


def test_each_function_has_a_key_of_its_own() -> None:
    keys = {access_key_id(name) for name in ("A", "B", "ReadApiFunction", "QualityAlertsFunction")}
    assert len(keys) == 4 and all(len(k) == 20 and k.startswith("ASIA") and k.isalnum() for k in keys)


# --- Each function's statements, from the transformed template -------------------------------------------------


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return transformed_template()


def created_locally(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What cfn.create_data_resources and the runner give for each data resource (names, as ARNs are built)."""
    created = {}
    for logical_id, resource in template["Resources"].items():
        kind, name = resource["Type"], f"local-{logical_id.lower()}"
        if kind == "AWS::DynamoDB::Table":
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
            created[logical_id] = {"ref": name, "attrs": {"Arn": arn, "StreamArn": arn + "/stream/2026"}}
        elif kind == "AWS::S3::Bucket":
            created[logical_id] = {"ref": name, "attrs": {"Arn": f"arn:aws:s3:::{name}"}}
        elif kind == "AWS::SQS::Queue":
            created[logical_id] = {
                "ref": f"http://q/{name}",
                "attrs": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"},
            }
        elif kind == "AWS::SNS::Topic":
            arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
            created[logical_id] = {"ref": arn, "attrs": {"TopicArn": arn}}
        elif kind == "AWS::Kinesis::Stream":
            created[logical_id] = {"ref": name, "attrs": {"Arn": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"}}
        elif kind == "AWS::SecretsManager::Secret":
            arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"
            created[logical_id] = {"ref": arn, "attrs": {"Id": arn}}
        else:
            continue
        created[logical_id]["type"] = kind
    created["ReadCursorKey"] = {
        "type": "AWS::KMS::Key",
        "ref": "k-1",
        "attrs": {"Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k-1"},
    }
    return created


def test_every_function_is_a_principal_with_its_roles_statements_resolved_to_local_arns(
    transformed: dict[str, Any],
) -> None:
    created = created_locally(transformed)
    principals = function_principals(transformed, created)
    functions = {  # those the defaults create: the scheduled reconcile and digest are off (their Condition)
        k for k, r in transformed["Resources"].items() if r["Type"] == "AWS::Lambda::Function" and "Condition" not in r
    }
    # ... and the account-logging custom resource is on (SetApiGatewayAccountLoggingRole=if-none)
    functions.add("ApiGatewayAccountLoggingFunction")
    assert set(principals) == functions and len(functions) == 8
    for name, principal in principals.items():
        role = transformed["Resources"][name]["Properties"]["Role"]["Fn::GetAtt"][0]
        assert principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/local-{role}/{name}"
        assert principal.managed_policies == ()
        text = json.dumps(principal.statements)
        assert "Fn::" not in text and '"Ref"' not in text  # every intrinsic resolved
    alerts = principals["QualityAlertsFunction"].statements
    topic = created["AlertTopic"]["ref"]
    assert evaluate(alerts, "sns:Publish", topic) == "allow"
    assert evaluate(principals["ReadApiFunction"].statements, "sns:Publish", topic) == "implicit"
    # The topic's key as the statements name it is the key a publish to the topic needs (LocalIam.enforce).
    iam = LocalIam()
    iam.enforce(principals, created, transformed)
    assert evaluate(alerts, "kms:GenerateDataKey", iam.encrypted[topic]) == "allow"
    reader = principals["ReadApiFunction"].statements
    assert evaluate(reader, "dynamodb:Query", created["SummariesTable"]["attrs"]["Arn"] + "/index/by-time") == "allow"
    assert evaluate(reader, "dynamodb:PutItem", created["SummariesTable"]["attrs"]["Arn"]) == "implicit"


def test_a_role_not_in_the_template_stops_the_local_start(transformed: dict[str, Any]) -> None:
    transformed = copy.deepcopy(transformed)
    transformed["Resources"]["ReadApiFunction"]["Properties"]["Role"] = "arn:aws:iam::123456789012:role/elsewhere"
    with pytest.raises(UnsupportedPolicy, match="ReadApiFunction's Role is not a role of the template"):
        function_principals(transformed, created_locally(transformed))


def test_a_refused_request_gets_the_services_error_and_is_recorded() -> None:
    iam = LocalIam()
    principal = Principal("Fn", "local-Role", (allow("dynamodb:GetItem", TABLE),))
    refused = iam.check(principal, request("dynamodb", {"TableName": "summaries"}, "DynamoDB_20120810.PutItem"))
    assert refused is not None and refused.status == 400
    assert json.loads(refused.body)["__type"].endswith("#AccessDeniedException")
    assert iam.refused == [
        f"User: {principal.arn} is not authorized to perform: dynamodb:PutItem on resource: {TABLE} because no "
        "identity-based policy allows the dynamodb:PutItem action"
    ]
    assert iam.check(principal, request("dynamodb", {"TableName": "summaries"}, "DynamoDB_20120810.GetItem")) is None


# --- What is not evaluated locally, pinned on the transformed template (docs/security.md) ------------------------


def statements_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def test_the_secrets_policy_lets_read_exactly_the_roles_that_grant_themselves_the_read(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    readers = {
        logical_id
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
        for policy in r["Properties"].get("Policies", [])
        for s in statements_of(policy["PolicyDocument"])
        if "secretsmanager:GetSecretValue" in json.dumps(s["Action"])
        and "TwilioWebhookSecret" in json.dumps(s["Resource"])
    }
    (deny_read,) = statements_of(resources["TwilioWebhookSecretPolicy"]["Properties"]["ResourcePolicy"])
    assert deny_read["Effect"] == "Deny" and deny_read["Action"] == "secretsmanager:GetSecretValue"
    listed = json.dumps(deny_read["Condition"]["ArnNotLike"]["aws:PrincipalArn"])
    named = {role for role in resources if f'["{role}", "Arn"]' in listed}
    assert named == readers == {"ConferenceSummaryCompleteRole", "ConferenceSummaryPartialRole",
                                "ParticipantSummaryCompleteRole"}  # fmt: skip


def test_every_customer_managed_key_lets_iam_policies_grant_its_use(transformed: dict[str, Any]) -> None:
    keys = {k: r for k, r in transformed["Resources"].items() if r["Type"] == "AWS::KMS::Key"}
    assert set(keys) == {"LogsKey", "AlertTopicKey", "ReadCursorKey", "LakeKey", "AthenaResultsKey"}
    for key in keys.values():
        statements = statements_of(key["Properties"]["KeyPolicy"])
        root = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
        assert any(
            s["Effect"] == "Allow" and s["Principal"] == root and s["Action"] == "kms:*" and "Condition" not in s
            for s in statements
        )
        assert all(s["Effect"] == "Allow" for s in statements)  # no key policy denies a function's role


def test_resource_policies_deny_only_calls_without_tls(transformed: dict[str, Any]) -> None:
    kinds = {"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"}
    denies = [
        s
        for r in transformed["Resources"].values()
        if r["Type"] in kinds
        for s in statements_of(r["Properties"]["PolicyDocument"])
        if s["Effect"] == "Deny"
    ]
    assert denies and all(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_no_function_role_has_a_permissions_boundary_or_a_managed_policy(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    for function in (r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"):
        role = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert "PermissionsBoundary" not in role and "ManagedPolicyArns" not in role


@pytest.mark.parametrize(("protocol", "headers"), [("query", {}), ("json", {"x-amz-target": "Granite.PutMetricData"})])
def test_cloudwatch_refuses_in_the_protocol_the_request_used(protocol: str, headers: dict[str, str]) -> None:
    from botocore.parsers import create_parser

    answer = refusal("monitoring", Authorization("cloudwatch:PutMetricData", "*"), "User: x is not authorized", headers)
    response = {"body": answer.body, "headers": dict(answer.headers), "status_code": answer.status}
    parsed = create_parser(protocol).parse(response, None)
    assert parsed["Error"]["Code"] == "AccessDenied" and parsed["Error"]["Message"] == "User: x is not authorized"
