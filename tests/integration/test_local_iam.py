"""IAM on the local stack (devtools/local_iam.py).

Given the moto server with a principal enforced, when boto3 calls each service this project uses with that
principal's key, then what its statements allow reaches moto and the rest is refused with the ClientError AWS gives
(code and message as each service words them); calls with any other key are not checked.

Given the whole local stack (LocalRunner) started on a copy of template.yaml without one of a function's essential
statements, when traffic that needs it runs, then the call is refused as on AWS and the user sees it fail (the
webhook answers 5xx, nothing is stored, no alert goes out, the read API answers 500, a poller stops), while the
unchanged template runs the same traffic with nothing refused.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from devtools import read_traffic
from devtools.accounting import kept_records
from devtools.cfn import ACCOUNT, load_template, local_client
from devtools.lambda_events import LOCAL_AUTH_TOKEN, twilio_signature
from devtools.local_iam import Principal, function_credentials
from devtools.moto_server import MotoServer
from devtools.queues import drain, subscribe_queue
from devtools.runner import FunctionCrashed, LocalRunner
from devtools.traffic import Delivery, kinesis_bytes, put_on_stream, seed

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"

# --- Each service's answer ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with MotoServer() as moto:
        yield moto


def client(server: MotoServer, service: str, function: str | None = "Fn") -> Any:
    return local_client(service, server.endpoint_url, function_credentials(function) if function else None)


def enforce(
    server: MotoServer, statements: list[dict[str, Any]], encrypted: dict[str, str] | None = None, secret: str = ""
) -> str:
    """Enforce one principal, Fn, with ``statements``; ``secret``: the ARN of a secret it may name by name."""
    principal = Principal("Fn", "local-FnRole", tuple(statements))
    created = {"S": {"type": "AWS::SecretsManager::Secret", "ref": secret, "attrs": {"Id": secret}}} if secret else {}
    server.iam.principals.clear()
    server.iam.enforce({"Fn": principal}, created, {"Resources": {"S": {"Type": "AWS::SecretsManager::Secret"}}})
    server.iam.encrypted.update(encrypted or {})
    return principal.arn


def allow(actions: list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


def refused(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


def implicit(who: str, action: str, resource: str) -> str:
    return f"User: {who} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"  # noqa: E501


def test_dynamodb_is_allowed_per_table_and_index_and_refused_as_dynamodb_refuses(server: MotoServer) -> None:
    ddb = client(server, "dynamodb", None)
    ddb.create_table(
        TableName="t1",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "g")],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t1"
    who = enforce(
        server, [allow(["dynamodb:PutItem", "dynamodb:getitem"], table), allow(["dynamodb:Query"], f"{table}/index/*")]
    )
    fn = client(server, "dynamodb")
    fn.put_item(TableName="t1", Item={"pk": {"S": "a"}, "g": {"S": "x"}})
    assert fn.get_item(TableName="t1", Key={"pk": {"S": "a"}})["Item"]["g"] == {"S": "x"}  # action names: any case
    assert fn.query(TableName="t1", IndexName="by-g", KeyConditionExpression="g = :g",
                    ExpressionAttributeValues={":g": {"S": "x"}})["Count"] == 1  # fmt: skip
    # The table itself is not granted Query: only its indexes are.
    query = refused(lambda: fn.query(TableName="t1", KeyConditionExpression="pk = :p",
                                     ExpressionAttributeValues={":p": {"S": "a"}}))  # fmt: skip
    assert query == ("AccessDeniedException", implicit(who, "dynamodb:Query", table), 400)
    update = refused(lambda: fn.update_item(TableName="t1", Key={"pk": {"S": "a"}}, UpdateExpression="SET n = :n",
                                            ExpressionAttributeValues={":n": {"N": "1"}}))  # fmt: skip
    assert update[0] == "AccessDeniedException" and "dynamodb:UpdateItem on resource: " + table in update[1]
    batch = refused(lambda: fn.batch_get_item(RequestItems={"t1": {"Keys": [{"pk": {"S": "a"}}]}}))
    assert batch[1] == implicit(who, "dynamodb:BatchGetItem", table)
    # A transaction is authorised item by item: PutItem is granted, ConditionCheckItem is not.
    transaction = refused(lambda: fn.transact_write_items(TransactItems=[
        {"Put": {"TableName": "t1", "Item": {"pk": {"S": "b"}}}},
        {"ConditionCheck": {"TableName": "t1", "Key": {"pk": {"S": "a"}},
                            "ConditionExpression": "attribute_exists(g)"}},
    ]))  # fmt: skip
    assert transaction[1] == implicit(who, "dynamodb:ConditionCheckItem", table)
    assert "Item" not in ddb.get_item(TableName="t1", Key={"pk": {"S": "b"}})  # refused before moto: nothing written
    ddb.update_item(
        TableName="t1",
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "1"}},
    )  # fmt: skip  (the harness's key is not checked)
    explicit = enforce(
        server, [allow(["dynamodb:*"], "*"), {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": table}]
    )
    denied = refused(lambda: fn.put_item(TableName="t1", Item={"pk": {"S": "c"}}))
    assert denied[1] == (f"User: {explicit} is not authorized to perform: dynamodb:PutItem on resource: {table} "
                         "with an explicit deny in an identity-based policy")  # fmt: skip


def test_s3_is_allowed_per_key_prefix_and_refused_403_access_denied(server: MotoServer) -> None:
    client(server, "s3", None).create_bucket(Bucket="bucket-one")
    prefixes = ["arn:aws:s3:::bucket-one/rejected/*", "arn:aws:s3:::bucket-one/refused/*"]
    who = enforce(server, [allow(["s3:PutObject"], prefixes)])
    fn = client(server, "s3")
    fn.put_object(Bucket="bucket-one", Key="rejected/2026/a b.json", Body=b"{}")
    code, message, status = refused(lambda: fn.put_object(Bucket="bucket-one", Key="other/a.json", Body=b"{}"))
    assert (code, status) == ("AccessDenied", 403)
    assert message == implicit(who, "s3:PutObject", '"arn:aws:s3:::bucket-one/other/a.json"')
    assert refused(lambda: fn.get_object(Bucket="bucket-one", Key="rejected/2026/a b.json"))[:1] == ("AccessDenied",)


def test_sns_publish_needs_the_topic_and_its_customer_managed_key(server: MotoServer) -> None:
    topic = client(server, "sns", None).create_topic(Name="alerts")["TopicArn"]
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/local-AlertTopicKey"
    who = enforce(server, [allow(["sns:Publish"], topic)], encrypted={topic: key})
    fn = client(server, "sns")
    code, message, status = refused(lambda: fn.publish(TopicArn=topic, Message="m"))
    assert (code, status) == ("KMSAccessDenied", 400)
    assert message == implicit(who, "kms:GenerateDataKey", key)
    enforce(server, [allow(["sns:Publish"], topic), allow(["kms:GenerateDataKey", "kms:Decrypt"], key)], {topic: key})
    assert fn.publish(TopicArn=topic, Message="m")["MessageId"]
    entries = [{"Id": "1", "Message": "m"}]
    assert fn.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)["Successful"]  # as sns:Publish
    who = enforce(server, [allow(["kms:*"], key)], {topic: key})
    code, message, status = refused(lambda: fn.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries))
    assert (code, status) == ("AuthorizationError", 403)
    assert message == implicit(who, "SNS:Publish", topic)


def test_sqs_secrets_kms_kinesis_firehose_and_cloudwatch_refuse_as_they_do(server: MotoServer) -> None:
    harness = {service: client(server, service, None) for service in ("sqs", "secretsmanager", "kms", "kinesis")}
    queue_url = harness["sqs"].create_queue(QueueName="q1")["QueueUrl"]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q1"
    secret = harness["secretsmanager"].create_secret(Name="s1", SecretString="x")["ARN"]
    mac_key = harness["kms"].create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    harness["kinesis"].create_stream(StreamName="k1", ShardCount=1)
    stream = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/k1"
    grants = [allow(["sqs:SendMessage"], queue), allow(["secretsmanager:GetSecretValue"], secret),
              allow(["kms:GenerateMac"], mac_key["Arn"]), allow(["kinesis:ListShards"], stream)]  # fmt: skip
    who = enforce(server, grants, secret=secret)
    fn = {service: client(server, service) for service in ("sqs", "secretsmanager", "kms", "kinesis", "firehose")}
    fn["sqs"].send_message(QueueUrl=queue_url, MessageBody="m")
    assert fn["secretsmanager"].get_secret_value(SecretId=secret)["SecretString"] == "x"
    assert fn["secretsmanager"].get_secret_value(SecretId="s1")["SecretString"] == "x"  # by name: the same secret
    assert fn["kms"].generate_mac(KeyId=mac_key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert fn["kinesis"].list_shards(StreamARN=stream)["Shards"]

    code, message, status = refused(lambda: fn["sqs"].receive_message(QueueUrl=queue_url))
    assert (code, status, message) == ("AccessDenied", 403, implicit(who, "sqs:receivemessage", queue))
    refusal = refused(lambda: fn["secretsmanager"].put_secret_value(SecretId=secret, SecretString="y"))
    assert refusal == ("AccessDeniedException", implicit(who, "secretsmanager:PutSecretValue", secret), 400)
    verify = refused(lambda: fn["kms"].verify_mac(KeyId=mac_key["KeyId"], Message=b"m", Mac=b"0" * 32,
                                                  MacAlgorithm="HMAC_SHA_256"))  # fmt: skip
    assert verify == ("AccessDeniedException", implicit(who, "kms:VerifyMac", mac_key["Arn"]), 400)
    describe = refused(lambda: fn["kinesis"].describe_stream_summary(StreamName="k1"))
    assert describe[:2] == ("AccessDeniedException", implicit(who, "kinesis:DescribeStreamSummary", stream))
    firehose = refused(lambda: fn["firehose"].put_record_batch(DeliveryStreamName="lake", Records=[{"Data": b"x"}]))
    lake = f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/lake"
    assert firehose[:2] == ("AccessDeniedException", implicit(who, "firehose:PutRecordBatch", lake))
    cloudwatch = local_client("cloudwatch", server.endpoint_url, function_credentials("Fn"))
    metric = refused(lambda: cloudwatch.put_metric_data(Namespace="N", MetricData=[{"MetricName": "m", "Value": 1}]))
    assert metric[:2] == ("AccessDenied", implicit(who, "cloudwatch:PutMetricData", "*"))


def test_a_key_that_is_no_functions_is_not_checked_and_an_unknown_request_is_refused_with_a_hint(
    server: MotoServer,
) -> None:
    enforce(server, [])
    boto3.client("sqs", endpoint_url=server.endpoint_url, region_name=REGION, aws_access_key_id="anything",
                 aws_secret_access_key="x").list_queues()  # fmt: skip
    fn = client(server, "sqs")
    code, message, _ = refused(lambda: fn.list_queues())
    assert code == "AccessDenied" and "cannot work out the resource of this request" in message


# --- The whole local stack without one grant ------------------------------------------------------------------

PROCESSORS = {
    "ConferenceSummaryCompleteFunction": ("conference-summary-complete", "ConferenceSummaryCompleteRole"),
    "ConferenceSummaryPartialFunction": ("conference-summary-partial", "ConferenceSummaryPartialRole"),
    "ParticipantSummaryCompleteFunction": ("conference-participant-summary-complete", "ParticipantSummaryCompleteRole"),
}
TRAFFIC = read_traffic.generate(conferences=2, participants_each=2, bad_share=0.9)
RANGE = "from=2026-10-01T00:00:00Z&to=2026-12-01T00:00:00Z"
# A batch that fails goes to its on-failure queue at once, not after 10 retries: the runs stay short.
PARAMETERS = {"StreamMaximumRetryAttempts": 0, "CallSidIndex": "true"}  # the read role queries ByCallSid too


@dataclass
class Outcome:
    """What a user sees of one run of the workload."""

    webhook: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # function -> (valid, unsigned, invalid)
    stored: int = 0
    kept_rejected: int = 0
    kept_refused: int = 0
    alerts: int = 0
    read: tuple[int, int, bool] = (0, 0, False)  # GET /calls/{sid}, GET /issues, a next cursor
    crashed: str = ""
    refused: list[str] = field(default_factory=list)
    logs: str = ""


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def signed(url: str, events: list[dict[str, Any]]) -> int:
    """One webhook request signed as Twilio signs it, sent once (Twilio's retries of a 5xx would only add time)."""
    body = json.dumps(events).encode()
    url = f"{url}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    return post(url, body, {"X-Twilio-Signature": twilio_signature(url, LOCAL_AUTH_TOKEN)})


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


def run_workload(runner: LocalRunner) -> Outcome:
    outcome = Outcome()
    assert runner.gateway is not None
    alerts = subscribe_queue(runner.endpoint_url, runner.ref("AlertTopic"), "iam-alerts", raw=True)
    try:
        for number, (function, url) in enumerate(sorted(runner.gateway.route_urls().items())):
            event = {**seed(PROCESSORS[function][0]), "id": f"EZw{number:030x}"}
            event["data"] = {**event["data"], "conference_sid": f"CF{0xE0 + number:032x}"}  # an item of its own
            invalid = {"id": f"EZi{number:030x}", "type": event["type"], "data": {}}
            outcome.webhook[function] = (
                signed(url, [event]),
                post(url, b"[]", {}),  # unsigned: refused, and a bounded record kept under refused/
                signed(url, [invalid]),  # kept under rejected/
            )
        deliveries = [Delivery("kinesis", kinesis_bytes(e), "", e["id"]) for e in TRAFFIC.events]
        deliveries.append(Delivery("kinesis", b"no processor takes this record", "", "unrouted"))
        put_on_stream(runner.endpoint_url, runner.ref("EventStream"), deliveries)
        # An item the alert function's filter takes but cannot read: kept under rejected/ with the reason.
        unreadable = {"pk": {"S": "CONF#CFunreadable"}, "sk": {"S": "X"}, "issue_severity": {"S": "high"}}
        local_client("dynamodb", runner.endpoint_url).put_item(TableName=runner.ref("SummariesTable"), Item=unreadable)
        runner.wait_idle(timeout_s=60)
        call_sid = sorted(TRAFFIC.participants)[0]
        calls = get(f"{runner.read_api_url}/calls/{call_sid}")[0]
        issues, body = get(f"{runner.read_api_url}/issues?{RANGE}&limit=1")
        outcome.read = (calls, issues, bool(body.get("next")))
    except FunctionCrashed as crash:
        outcome.crashed = str(crash)
    s3 = local_client("s3", runner.endpoint_url)
    outcome.kept_rejected = len(kept_records(s3, runner.ref("RejectedEventsBucket"), "rejected/"))
    outcome.kept_refused = len(kept_records(s3, runner.ref("RejectedEventsBucket"), "refused/"))
    table = local_client("dynamodb", runner.endpoint_url).scan(TableName=runner.ref("SummariesTable"))
    outcome.stored = table["Count"]
    time.sleep(0.5)
    outcome.alerts = len(drain(runner.endpoint_url, alerts))
    assert runner.moto is not None
    outcome.refused = list(runner.moto.iam.refused)
    outcome.logs = "\n".join(f.logs() for f in runner.functions.values())
    return outcome


def without(role: str, sids: str, directory: Path) -> Path:
    """A copy of template.yaml without statements of a role's inline policy (``sids``: Sids joined by "+")."""
    template = load_template(ROOT / "template.yaml")
    document = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]
    removed = set(sids.split("+"))
    kept = [s for s in document["Statement"] if s.get("Sid") not in removed]
    assert len(kept) == len(document["Statement"]) - len(removed), f"{role} lacks one of {sids}"
    document["Statement"] = kept
    path = directory / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def baseline() -> Outcome:
    with LocalRunner(parameters=PARAMETERS) as runner:
        return run_workload(runner)


def test_the_template_as_it_is_runs_the_workload_with_nothing_refused(baseline: Outcome) -> None:
    assert baseline.refused == [] and baseline.crashed == ""
    assert baseline.webhook == {function: (200, 403, 200) for function in PROCESSORS}
    assert baseline.stored == len(TRAFFIC.events) + len(PROCESSORS) + 1  # and the unreadable item
    # Kept: each processor's invalid event, the unrouted record, the unreadable item (by the alert function and by
    # the lake writer, each its own record); each unsigned request.
    assert baseline.kept_rejected == len(PROCESSORS) + 3 and baseline.kept_refused == len(PROCESSORS)
    assert baseline.alerts >= len(TRAFFIC.bad_participants) + len(TRAFFIC.bad_conferences) > 0, baseline.alerts
    assert baseline.read == (200, 200, True)


# (role, statement Sid, the function, the action refused, what the user sees differ from the baseline)
CASES: list[tuple[str, str, str, str, Callable[[Outcome, Outcome], bool]]] = []
for _function, (_kind, _role) in PROCESSORS.items():
    CASES += [
        (_role, "WriteSummaries", _function, "dynamodb:PutItem",
         lambda o, b, f=_function: o.webhook[f][0] >= 500 and o.stored < b.stored),
        (_role, "ReadTwilioAuthToken", _function, "secretsmanager:GetSecretValue",
         lambda o, b, f=_function: o.webhook[f][0] >= 500 and o.webhook[f][1] >= 500),
        (_role, "KeepRejectedEventsAndRefusedRequests", _function, "s3:PutObject",
         lambda o, b, f=_function: o.webhook[f][1] >= 500 and o.kept_refused < b.kept_refused),
        (_role, "ReadEventStream", _function, "kinesis:ListShards", lambda o, b: "AccessDenied" in o.crashed),
    ]  # fmt: skip
CASES += [
    ("UnroutedEventsRole", "KeepRejectedEvents", "UnroutedEventsFunction", "s3:PutObject",
     lambda o, b: o.kept_rejected < b.kept_rejected),
    ("UnroutedEventsRole", "ReadEventStream", "UnroutedEventsFunction", "kinesis:ListShards",
     lambda o, b: "AccessDenied" in o.crashed),
    # Without chat alerts, PublishChatAlerts grants the alert topic too (its Fn::If): both go, or neither matters.
    ("QualityAlertsRole", "PublishAlerts+PublishChatAlerts", "QualityAlertsFunction", "SNS:Publish",
     lambda o, b: o.alerts == 0),
    ("QualityAlertsRole", "EncryptAlerts", "QualityAlertsFunction", "kms:GenerateDataKey", lambda o, b: o.alerts == 0),
    ("QualityAlertsRole", "ReadConferenceNames", "QualityAlertsFunction", "dynamodb:BatchGetItem",
     lambda o, b: o.alerts < b.alerts),
    ("QualityAlertsRole", "RememberAlerts", "QualityAlertsFunction", "dynamodb:BatchGetItem",
     lambda o, b: o.alerts < b.alerts),
    ("QualityAlertsRole", "KeepUnreadableRecords", "QualityAlertsFunction", "s3:PutObject",
     lambda o, b: o.kept_rejected < b.kept_rejected),
    ("QualityAlertsRole", "ReadTableStream", "QualityAlertsFunction", "dynamodb:DescribeStream",
     lambda o, b: "AccessDenied" in o.crashed),
    # The on-failure queue takes a batch that failed: without the grant that keeps a batch, the failed one is lost.
    ("ParticipantSummaryCompleteRole", "WriteSummaries+StreamFailureDestination", "ParticipantSummaryCompleteFunction",
     "sqs:sendmessage", lambda o, b: "AccessDenied" in o.crashed),
    ("UnroutedEventsRole", "KeepRejectedEvents+StreamFailureDestination", "UnroutedEventsFunction",
     "sqs:sendmessage", lambda o, b: "AccessDenied" in o.crashed),
    ("QualityAlertsRole", "RememberAlerts+StreamFailureDestination", "QualityAlertsFunction", "sqs:sendmessage",
     lambda o, b: "AccessDenied" in o.crashed),
    ("ReadApiRole", "GetSummary", "ReadApiFunction", "dynamodb:GetItem", lambda o, b: o.read[0] >= 500),
    ("ReadApiRole", "QuerySummaries", "ReadApiFunction", "dynamodb:Query", lambda o, b: o.read[1] >= 500),
    ("ReadApiRole", "SignCursors", "ReadApiFunction", "kms:GenerateMac", lambda o, b: o.read[1] >= 500),
]  # fmt: skip


@pytest.mark.parametrize(
    ("role", "sid", "function", "action", "user_sees"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_a_function_without_one_of_its_grants_fails_locally_as_on_aws(
    role: str, sid: str, function: str, action: str, user_sees: Callable[[Outcome, Outcome], bool],
    baseline: Outcome, tmp_path: Path,
) -> None:  # fmt: skip
    runner = LocalRunner(parameters=PARAMETERS, template_path=without(role, sid, tmp_path))
    try:
        with runner:
            outcome = run_workload(runner)
    except FunctionCrashed as error:  # Lambda reads the stream with the role: no grant, no trigger (a deploy fails)
        assert runner.moto is not None
        outcome = Outcome(crashed=str(error), refused=list(runner.moto.iam.refused))
    who = f"arn:aws:sts::{ACCOUNT}:assumed-role/local-{role}/{function}"
    mine = [m for m in outcome.refused if m.startswith(f"User: {who} is not authorized to perform: {action} on ")]
    assert mine, outcome.refused
    assert mine[0].endswith(f"because no identity-based policy allows the {action} action")
    assert all(m.startswith(f"User: {who} ") for m in outcome.refused)  # only the function that lost the grant
    # What the user reads: the function's log line (or the stopped poller's error) names the refused call; the
    # processors say only that the secret cannot be read (GetParameterError, Powertools' wrapper of the refusal).
    said = f"is not authorized to perform: {action} on resource"
    if action == "secretsmanager:GetSecretValue":
        said = "the webhook secret cannot be read: GetParameterError"
    assert said in outcome.logs + outcome.crashed
    seen = {k: v for k, v in vars(outcome).items() if k != "logs"}
    assert user_sees(outcome, baseline), seen
