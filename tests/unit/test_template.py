"""Given template.yaml, then it says what the code assumes: filters, routes, keys, failure handling, outputs."""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from devtools.cfn import ACCOUNT, REGION, Resolver, load_template
from voice_insights.alerts.alerting import METRIC_NAMES, AlertOutcome
from voice_insights.domain.quality import Severity, Thresholds
from voice_insights.ingest import routes
from voice_insights.ingest.pipeline import METRIC_NAMES as PIPELINE_METRIC_NAMES
from voice_insights.ingest.webhook import route_path
from voice_insights.runtime.settings import DEFAULT_MAX_WEBHOOK_EVENTS, AlertRules

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


@pytest.mark.parametrize("logical_id", [*FUNCTIONS, "UnroutedEventsFunction"])
def test_the_parallelization_factor_is_a_parameter_of_every_stream_trigger(logical_id: str) -> None:
    assert stream_trigger(logical_id)["ParallelizationFactor"] == {"Ref": "StreamParallelizationFactor"}
    parameter = TEMPLATE["Parameters"]["StreamParallelizationFactor"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (1, 1, 10)  # Lambda's range


@pytest.mark.parametrize("call_sid_index", ["true", "false"])
def test_table_keys_and_indexes_match_the_items_the_code_writes(call_sid_index: str) -> None:
    resolver = Resolver(TEMPLATE, "local", {"CallSidIndex": call_sid_index})
    table = resolver.resolve(RESOURCES["SummariesTable"]["Properties"])
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert [k["AttributeName"] for k in indexes["ByAccountStartTime"]["KeySchema"]] == ["gsi1pk", "gsi1sk"]
    assert [k["AttributeName"] for k in indexes["ByIssueMonth"]["KeySchema"]] == ["gsi3pk", "gsi3sk"]
    # ByStartDay is gone (the report reads the lake); ByCallSid exists only with CallSidIndex=true.
    optional = {"ByCallSid"} if call_sid_index == "true" else set()
    assert set(indexes) == {"ByAccountStartTime", "ByIssueMonth"} | optional
    if call_sid_index == "true":
        assert [k["AttributeName"] for k in indexes["ByCallSid"]["KeySchema"]] == ["gsi2pk"]
    # DynamoDB refuses an attribute definition that no key uses: exactly the table's and the indexes' keys.
    keys = {k["AttributeName"] for k in table["KeySchema"]}
    keys |= {k["AttributeName"] for index in indexes.values() for k in index["KeySchema"]}
    assert sorted(a["AttributeName"] for a in table["AttributeDefinitions"]) == sorted(keys)
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert RESOURCES["SummariesTable"]["DeletionPolicy"] == "RetainExceptOnCreate"


def test_layer_is_built_by_sam_for_python_313() -> None:
    layer = RESOURCES["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"  # pip install + compileall (layers/voice_insights/Makefile)
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


def role_actions(role_id: str) -> set[str]:
    """Every action a role's inline policies allow (test_transformed_template.py pins them with their resources)."""
    policies = RESOURCES[role_id]["Properties"].get("Policies", [])
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


def role_of(function_id: str) -> str:
    role = RESOURCES[function_id]["Properties"]["Role"]
    assert set(role) == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn"
    role_id: str = role["Fn::GetAtt"][0]
    return role_id


def test_only_the_processors_may_write_the_table() -> None:
    functions = [k for k, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"]
    writers = {k for k in functions if "dynamodb:PutItem" in role_actions(role_of(k))}
    assert writers == set(FUNCTIONS)
    assert not {a for a in role_actions(role_of("UnroutedEventsFunction")) if a.startswith("dynamodb:")}


# --- alerts --------------------------------------------------------------------------------------

ALERTS = RESOURCES["QualityAlertsFunction"]["Properties"]
ALERT_TRIGGER = ALERTS["Events"]["TableStream"]["Properties"]


def test_alert_function_reads_the_summaries_table_stream_with_bounded_retries() -> None:
    assert ALERT_TRIGGER["Stream"] == {"Fn::GetAtt": ["SummariesTable", "StreamArn"]}
    assert RESOURCES["SummariesTable"]["Properties"]["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert ALERT_TRIGGER["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert ALERT_TRIGGER["BisectBatchOnFunctionError"] is True
    assert ALERT_TRIGGER["MaximumRetryAttempts"] == {"Ref": "StreamMaximumRetryAttempts"}
    assert ALERT_TRIGGER["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["AlertFailuresQueue", "Arn"]
    }
    assert ALERT_TRIGGER["StartingPosition"] == "TRIM_HORIZON"
    assert ALERTS["CodeUri"] == "functions/quality_alerts/"


@pytest.mark.parametrize(
    ("minimum", "passes"),
    [("low", ["low", "medium", "high"]), ("medium", ["medium", "high"]), ("high", ["high"])],
)
def test_alert_stream_filter_passes_the_severities_at_or_above_the_minimum(minimum: str, passes: list[str]) -> None:
    assert TEMPLATE["Parameters"]["AlertMinSeverity"]["AllowedValues"] == [s.label for s in Severity]
    (pattern,) = ALERT_TRIGGER["FilterCriteria"]["Filters"]
    resolved = json.loads(Resolver(TEMPLATE, "test", {"AlertMinSeverity": minimum}).resolve(pattern["Pattern"]))
    assert resolved == {"dynamodb": {"NewImage": {"issue_severity": {"S": passes}}}}
    assert passes == [s.label for s in Severity if s >= Severity.parse(minimum)]


def test_threshold_parameters_default_to_twilios_thresholds_and_reach_every_function() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    defaults = Thresholds()
    parameter_of = {
        "mos_below": "AlertMosBelow",
        "packet_loss_percent_above": "AlertPacketLossPercentAbove",
        "jitter_avg_ms_above": "AlertJitterAvgMsAbove",
        "jitter_max_ms_above": "AlertJitterMaxMsAbove",
        "latency_avg_ms_above": "AlertLatencyAvgMsAbove",
        "latency_max_ms_above": "AlertLatencyMaxMsAbove",
    }
    variable_of = {name: field.alias for name, field in AlertRules.model_fields.items()}
    assert set(parameter_of) == set(variable_of) - {"min_severity"}
    for field, parameter in parameter_of.items():
        assert float(TEMPLATE["Parameters"][parameter]["Default"]) == getattr(defaults, field)
        assert variables[variable_of[field]] == {"Ref": parameter}  # Globals: processors stamp, alerts read
    assert variables[variable_of["min_severity"]] == {"Ref": "AlertMinSeverity"}


def test_alert_topic_is_encrypted_and_the_email_subscription_optional() -> None:
    subscription = RESOURCES["AlertEmailSubscription"]
    assert subscription["Condition"] == "HasAlertEmail"
    assert TEMPLATE["Conditions"]["HasAlertEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}
    assert TEMPLATE["Parameters"]["AlertEmail"]["Default"] == ""
    assert subscription["Properties"]["Protocol"] == "email"
    assert ALERTS["Environment"]["Variables"]["ALERT_TOPIC_ARN"] == {"Ref": "AlertTopic"}


def test_alert_outputs() -> None:
    assert set(TEMPLATE["Outputs"]) >= {"AlertTopicArn", "AlertFailuresQueueUrl", "AlertLedgerTableName"}


# --- security --------------------------------------------------------------------------------------


def test_twilio_kinesis_role_is_optional_and_exactly_as_twilio_needs() -> None:
    role = RESOURCES["TwilioKinesisSinkRole"]
    assert role["Condition"] == "CreateKinesisRole"
    assert TEMPLATE["Parameters"]["CreateTwilioKinesisRole"]["Default"] == "false"
    assert TEMPLATE["Parameters"]["TwilioAwsAccountId"]["Default"] == "177261743968"
    external_id = TEMPLATE["Parameters"]["TwilioExternalId"]
    assert external_id["NoEcho"] is True and external_id["Default"] == ""
    assert TEMPLATE["Rules"]["ExternalIdWithRole"]["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "TwilioExternalId"}, ""]}]
    }  # no role without an external id
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${TwilioAwsAccountId}:root"}},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "TwilioExternalId"}}},
    }
    (policy,) = role["Properties"]["Policies"]
    grants = {(tuple(s["Action"]), json.dumps(s["Resource"])) for s in policy["PolicyDocument"]["Statement"]}
    assert grants == {
        (
            ("kinesis:PutRecord", "kinesis:PutRecords", "kinesis:ListShards"),
            json.dumps({"Fn::GetAtt": ["EventStream", "Arn"]}),
        ),
        (("kinesis:DescribeLimits",), json.dumps("*")),
    }
    assert TEMPLATE["Outputs"]["TwilioKinesisSinkRoleArn"]["Condition"] == "CreateKinesisRole"


# STS takes an external id of 2-1224 characters from [\w+=,.@:/-] (AssumeRole, API reference); Twilio's own setup
# makes one with `openssl rand -hex 40` (80 characters). Empty is valid only while no role is created (the rule).
@pytest.mark.parametrize(
    ("external_id", "accepted"),
    [
        ("", True),
        ("0123456789abcdef" * 5, True),  # openssl rand -hex 40
        ("a" * 32, True),
        ("Zm9vYmFy+/=,.@:-_" * 2, True),  # every character STS takes
        ("a" * 1224, True),
        ("a" * 31, False),  # guessable: at least 32 characters (128 bits as hex)
        ("a" * 1225, False),  # longer than STS takes
        ("0123456789abcdef" * 2 + " ", False),
        ("0123456789abcdef" * 2 + "\n", False),
    ],
)
def test_the_external_id_is_long_enough_or_empty_without_the_role(external_id: str, accepted: bool) -> None:
    parameter = TEMPLATE["Parameters"]["TwilioExternalId"]
    # CloudFormation matches AllowedPattern against the whole value; MinLength would also refuse the empty default.
    assert (re.fullmatch(parameter["AllowedPattern"], external_id) is not None) is accepted
    assert "MinLength" not in parameter and parameter["Default"] == ""
    assert "32" in parameter["ConstraintDescription"]


def test_summaries_expire_after_the_hot_window_by_default() -> None:
    # The table keeps Twilio's 30 days (which backfill reads again and must find stored) plus a margin; the lake keeps
    # the history (docs/storage.md). They hold phone numbers: a limit by default. 0 still keeps them forever.
    parameter = TEMPLATE["Parameters"]["RetentionDays"]
    assert (parameter["Default"], parameter["MinValue"]) == (45, 0)
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["RETENTION_DAYS"] == {"Ref": "RetentionDays"}


def test_only_the_processors_may_read_the_twilio_token() -> None:
    roles = [k for k, r in RESOURCES.items() if r["Type"] == "AWS::IAM::Role"]
    readers = {k for k in roles if "secretsmanager:GetSecretValue" in role_actions(k)}
    assert readers == {role_of(logical_id) for logical_id in FUNCTIONS}
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["WEBHOOK_SECRET_ARN"] == {
        "Ref": "TwilioWebhookSecret"
    }


def evaluate(value: Any, parameters: dict[str, list[str]], conditions: dict[str, bool]) -> Any:
    """The intrinsics of the secret's policy, as CloudFormation evaluates them (role ARNs as arn:...:role/<id>)."""
    if isinstance(value, list):
        return [evaluate(v, parameters, conditions) for v in value]
    if not isinstance(value, dict):
        return value
    ((function, arg),) = value.items()
    if function == "Fn::If":
        return evaluate(arg[1] if conditions[arg[0]] else arg[2], parameters, conditions)
    if function == "Fn::Join":
        return arg[0].join(evaluate(arg[1], parameters, conditions))
    if function == "Fn::Split":
        return evaluate(arg[1], parameters, conditions).split(arg[0])
    if function == "Fn::GetAtt":
        return f"arn:aws:iam::{ACCOUNT}:role/{arg[0]}"
    return parameters[arg]  # Ref


@pytest.mark.parametrize(
    "administrators",
    [[""], [f"arn:aws:iam::{ACCOUNT}:role/Admin", f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*"]],
)
def test_the_twilio_token_secret_denies_reading_to_all_but_the_processors_and_named_administrators(
    administrators: list[str],
) -> None:
    parameter = TEMPLATE["Parameters"]["TwilioSecretAdministratorArns"]
    assert (parameter["Type"], parameter["Default"]) == ("CommaDelimitedList", "")
    has_administrators = TEMPLATE["Conditions"]["HasTwilioSecretAdministrators"]
    assert has_administrators == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "TwilioSecretAdministratorArns"}]}, ""]}]
    }
    conditions = {"HasTwilioSecretAdministrators": administrators != [""]}
    policy = RESOURCES["TwilioWebhookSecretPolicy"]["Properties"]
    assert policy["SecretId"] == {"Ref": "TwilioWebhookSecret"} and policy["BlockPublicPolicy"] is True
    (deny,) = policy["ResourcePolicy"]["Statement"]
    # Reading only: CloudFormation creates and deletes the secret and puts or deletes this policy with other actions.
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "secretsmanager:GetSecretValue")
    ((operator, keys),) = deny["Condition"].items()
    assert operator == "ArnNotLike" and set(keys) == {"aws:PrincipalArn"}
    exempt = evaluate(keys["aws:PrincipalArn"], {"TwilioSecretAdministratorArns": administrators}, conditions)
    assert "" not in exempt

    def may_read(principal_arn: str) -> bool:  # ArnNotLike: denied unless the ARN matches one of them
        return any(fnmatch.fnmatchcase(principal_arn, pattern) for pattern in exempt)

    roles = [k for k, r in RESOURCES.items() if r["Type"] == "AWS::IAM::Role"]
    readers = {k for k in roles if may_read(evaluate({"Fn::GetAtt": [k, "Arn"]}, {}, {}))}
    assert readers == {role_of(logical_id) for logical_id in FUNCTIONS}
    sso_admin = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0a1b"
    assert (
        may_read(f"arn:aws:iam::{ACCOUNT}:role/Admin")
        is may_read(sso_admin)
        is conditions["HasTwilioSecretAdministrators"]
    )
    assert not may_read(f"arn:aws:iam::{ACCOUNT}:root")
    assert not may_read(f"arn:aws:iam::{ACCOUNT}:role/AdminOther")


def test_an_unreadable_token_alarms_on_the_operations_topic() -> None:
    alarm = RESOURCES["WebhookSignatureUncheckableAlarm"]["Properties"]
    assert "SignatureCheckUnavailable" in alarm["Metrics"][0]["Expression"]
    assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}]
    # CloudWatch can publish only to a topic whose key lets it: a customer managed key, not aws/sns.
    assert RESOURCES["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertTopicKey"}
    key_statements = RESOURCES["AlertTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in key_statements)


@pytest.mark.parametrize(
    ("alarm_id", "metric"),
    [
        ("InternalErrorsAlarm", "InternalErrors"),  # written by pipeline.py
        ("UnreadableChangesAlarm", METRIC_NAMES[AlertOutcome.UNREADABLE]),
    ],
)
def test_an_event_the_code_cannot_handle_alarms_on_the_operations_topic(alarm_id: str, metric: str) -> None:
    alarm = RESOURCES[alarm_id]["Properties"]
    (query,) = alarm["Metrics"]
    namespace = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert query["Expression"] == f"SELECT SUM({metric}) FROM {namespace}"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}]


def test_webhook_api_is_throttled_and_access_logged() -> None:
    api = RESOURCES["WebhookApi"]["Properties"]
    (settings,) = api["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "WebhookThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "WebhookThrottlingBurstLimit"}
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["WebhookAccessLogs", "Arn"]}
    assert "$context.requestBody" not in api["AccessLogSetting"]["Format"]


def test_the_account_wide_api_gateway_logging_role_is_set_only_where_none_is_or_when_asked() -> None:
    # The API Gateway account settings are one per account and region: AWS::ApiGateway::Account would replace
    # whatever role other APIs log through; the stack's custom resource sets its role only when none is set (if-none,
    # the default), always (true) or never (false). What the custom resource does: tests/unit/test_deploy_template.py.
    parameter = TEMPLATE["Parameters"]["SetApiGatewayAccountLoggingRole"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("if-none", ["if-none", "true", "false"])
    assert TEMPLATE["Conditions"]["ManagesApiGatewayAccount"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SetApiGatewayAccountLoggingRole"}, "false"]}]
    }
    assert not [k for k, r in RESOURCES.items() if r["Type"] == "AWS::ApiGateway::Account"]
    setting = {k for k, r in RESOURCES.items() if r["Type"] == "Custom::ApiGatewayAccountLogging"}
    assert setting == {"ApiGatewayAccountLogging"}
    for logical_id in ("ApiGatewayAccountLogging", "ApiGatewayLoggingRole", "ApiGatewayAccountLoggingFunction"):
        assert RESOURCES[logical_id]["Condition"] == "ManagesApiGatewayAccount"
    # The stages wait for the setting when the stack manages it: DependsOn cannot name a resource that may not
    # exist, so the APIs name an unconditional handle that refers to the setting only when it is created.
    for api_id in ("WebhookApi", "ReadApi"):
        api = RESOURCES[api_id]
        ready = RESOURCES[api["DependsOn"]]
        assert ready["Type"] == "AWS::CloudFormation::WaitConditionHandle" and "Condition" not in ready
        assert ready["Metadata"]["ApiGatewayAccountLogging"] == {
            "Fn::If": ["ManagesApiGatewayAccount", {"Ref": "ApiGatewayAccountLogging"}, ""]
        }
    assert RESOURCES["WebhookApi"]["Properties"]["AccessLogSetting"]["DestinationArn"] == {
        "Fn::GetAtt": ["WebhookAccessLogs", "Arn"]
    }


# --- logs --------------------------------------------------------------------------------------------

# CloudWatch Logs takes these retention periods only (PutRetentionPolicy).
LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653]  # fmt: skip
FUNCTION_IDS = [k for k, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"]
# with the one function written in CloudFormation's own terms (the API Gateway account setting's custom resource)
ALL_FUNCTION_IDS = FUNCTION_IDS + [k for k, r in RESOURCES.items() if r["Type"] == "AWS::Lambda::Function"]


def log_group_of(function_id: str) -> str:
    reference = RESOURCES[function_id]["Properties"]["LoggingConfig"]["LogGroup"]
    assert set(reference) == {"Ref"}
    group_id: str = reference["Ref"]
    return group_id


def test_every_function_has_its_own_declared_log_group() -> None:
    groups = [log_group_of(function_id) for function_id in ALL_FUNCTION_IDS]
    # the five processors, the read API, the lake writer, the account setting
    assert len(set(groups)) == len(ALL_FUNCTION_IDS) == 8
    declared = {k for k, r in RESOURCES.items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert declared == {*groups, "WebhookAccessLogs", "ReadApiAccessLogs", "LakeDeliveryLogs"}
    assert RESOURCES["WebhookApi"]["Properties"]["AccessLogSetting"]["DestinationArn"] == {
        "Fn::GetAtt": ["WebhookAccessLogs", "Arn"]
    }


def test_every_log_group_expires_and_is_encrypted_with_a_key_that_lets_only_this_stacks_groups_in() -> None:
    parameter = TEMPLATE["Parameters"]["LogRetentionDays"]
    assert parameter["AllowedValues"] == LOG_RETENTION_DAYS and parameter["Default"] == 90
    key = RESOURCES["LogsKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html: the regional service
    # principal, conditioned on the log group the data belongs to.
    (logs_use,) = [s for s in key["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert logs_use["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
    assert logs_use["Action"] == [
        "kms:Encrypt*",
        "kms:Decrypt*",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:Describe*",
    ]
    (condition,) = logs_use["Condition"].items()
    assert condition[0] == "ArnLike" and set(condition[1]) == {"kms:EncryptionContext:aws:logs:arn"}
    resolver = Resolver(TEMPLATE, "voice-insights")
    patterns = resolver.resolve(condition[1]["kms:EncryptionContext:aws:logs:arn"])
    other_stack = Resolver(TEMPLATE, "voice-insights-2")
    for group_id in [log_group_of(function_id) for function_id in ALL_FUNCTION_IDS] + ["WebhookAccessLogs"]:
        group = RESOURCES[group_id]["Properties"]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert group["KmsKeyId"] == {"Fn::GetAtt": ["LogsKey", "Arn"]}
        arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{resolver.resolve(group['LogGroupName'])}"
        assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in patterns), arn
        other_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{other_stack.resolve(group['LogGroupName'])}"
        assert not any(fnmatch.fnmatchcase(other_arn, pattern) for pattern in patterns), other_arn


def checkov_reasons(logical_id: str) -> dict[str, str]:
    skips = RESOURCES[logical_id].get("Metadata", {}).get("checkov", {}).get("skip", [])
    return {skip["id"]: skip["comment"] for skip in skips}


@pytest.mark.parametrize("table_id", ["SummariesTable", "AlertLedgerTable"])
def test_the_table_encryption_suppression_names_the_key_sse_enabled_selects(table_id: str) -> None:
    # SSEEnabled true: KMS with the AWS managed key aws/dynamodb; false or absent: an AWS owned key
    # (AWS::DynamoDB::Table SSESpecification, CloudFormation reference).
    assert RESOURCES[table_id]["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    reason = checkov_reasons(table_id)["CKV_AWS_119"]
    assert "AWS managed key aws/dynamodb" in reason and "with the AWS owned key" not in reason


def test_who_reads_the_rejected_events_is_logged_in_a_bucket_of_its_own() -> None:
    # The bucket holds internet-supplied bodies and phone numbers: S3 server access logs record every request to it.
    assert "CKV_AWS_18" not in checkov_reasons("RejectedEventsBucket")
    assert RESOURCES["RejectedEventsBucket"]["Properties"]["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": "RejectedEventsAccessLogsBucket"},
        "LogFilePrefix": "rejected-events/",
    }
    logs = RESOURCES["RejectedEventsAccessLogsBucket"]
    assert logs["DeletionPolicy"] == "RetainExceptOnCreate"
    properties = logs["Properties"]
    assert "LoggingConfiguration" not in properties and "CKV_AWS_18" in checkov_reasons(
        "RejectedEventsAccessLogsBucket"
    )
    # Server access logs go only to a bucket whose default encryption is SSE-S3 (not SSE-KMS).
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (expire,) = properties["LifecycleConfiguration"]["Rules"]
    assert expire["ExpirationInDays"] == {"Ref": "LogRetentionDays"}
    # With ACLs disabled, log delivery is allowed by the bucket policy, for this source bucket and account only.
    policy = RESOURCES["RejectedEventsAccessLogsBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "RejectedEventsAccessLogsBucket"}
    statements = {statement["Sid"]: statement for statement in policy["PolicyDocument"]["Statement"]}
    assert statements["S3ServerAccessLogs"] == {
        "Sid": "S3ServerAccessLogs",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": {"Fn::Sub": "${RejectedEventsAccessLogsBucket.Arn}/rejected-events/*"},
        "Condition": {
            "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": ["RejectedEventsBucket", "Arn"]}},
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        },
    }
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_processors_concurrency_can_be_reserved_and_is_not_by_default() -> None:
    # API Gateway throttling bounds the request rate, not how many requests run at once: a reservation caps the
    # processors (webhook and Kinesis together). None by default: it is taken from the rest of the account, and an
    # account must keep 100 unreserved.
    parameter = TEMPLATE["Parameters"]["ProcessorReservedConcurrency"]
    assert (parameter["Default"], parameter["MinValue"]) == (0, 0)
    assert TEMPLATE["Conditions"]["HasProcessorReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ProcessorReservedConcurrency"}, "0"]}]
    }
    for logical_id in FUNCTION_IDS:
        reserved = RESOURCES[logical_id]["Properties"].get("ReservedConcurrentExecutions")
        if logical_id in FUNCTIONS:  # 0 would stop the function: without a reservation the property is left out
            assert reserved == {
                "Fn::If": [
                    "HasProcessorReservedConcurrency",
                    {"Ref": "ProcessorReservedConcurrency"},
                    {"Ref": "AWS::NoValue"},
                ]
            }
        else:  # invoked by their stream trigger only: one batch per shard (and parallelization factor) at a time
            assert reserved is None and "shard" in checkov_reasons(logical_id)["CKV_AWS_115"]


def test_every_checkov_suppression_says_why() -> None:
    skips = [
        skip
        for resource in RESOURCES.values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips and all(len(skip.get("comment", "")) > 20 for skip in skips)


@pytest.mark.parametrize(
    ("alarm_id", "expression", "threshold"),
    [
        # written by webhook.py (test_webhook_security reads it back); threshold a parameter: scanners exist
        ("WebhookRequestsRefusedAlarm", "SELECT SUM(WebhookRequestsRefused) FROM VoiceInsightsEvents",
         {"Ref": "WebhookRefusedRequestsAlarmThreshold"}),
        # written by pipeline.py in total and by field (test_schema_drift_paths): the alarm reads the total only
        ("SchemaViolationsAlarm", "SELECT SUM(SchemaViolations) FROM SCHEMA(VoiceInsightsEvents, function, service)",
         0),
    ],
)  # fmt: skip
def test_refused_requests_and_schema_drift_alarm_on_the_operations_topic(
    alarm_id: str, expression: str, threshold: Any
) -> None:
    alarm = RESOURCES[alarm_id]["Properties"]
    (query,) = alarm["Metrics"]
    assert query["Expression"] == expression
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", threshold)
    assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}]


def test_the_webhook_event_cap_is_a_parameter_with_the_codes_default() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["WEBHOOK_MAX_EVENTS"] == {"Ref": "WebhookMaxEvents"}
    assert TEMPLATE["Parameters"]["WebhookMaxEvents"]["Default"] == DEFAULT_MAX_WEBHOOK_EVENTS


def test_refused_requests_are_kept_for_a_shorter_while_than_rejected_events() -> None:
    rules = {
        rule["Prefix"]: rule
        for rule in RESOURCES["RejectedEventsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    assert rules["rejected/"]["ExpirationInDays"] == {"Ref": "RejectedEventsRetentionDays"}
    assert rules["refused/"]["ExpirationInDays"] == {"Ref": "RefusedRequestsRetentionDays"}
    parameters = TEMPLATE["Parameters"]
    assert parameters["RefusedRequestsRetentionDays"]["Default"] < parameters["RejectedEventsRetentionDays"]["Default"]


# --- Watch it (#22): the dashboard, the operations alarms, the saved queries and the chat channels -----------------

LAYER = Path(__file__).resolve().parents[2] / "layers" / "voice_insights" / "voice_insights"
NAMESPACE = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
SERVICE = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
WATCHED_FUNCTIONS = [*FUNCTIONS, "UnroutedEventsFunction", "QualityAlertsFunction"]


def _code_calls(function_names: set[str]) -> list[ast.Call]:
    calls = []
    for module in LAYER.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if called in function_names:
                    calls.append(node)
    return calls


def emitted_metric_names() -> set[str]:
    """Every metric name the layer's code emits: literal names given to add_metric/single_metric, the values of its
    METRIC_NAMES tables, and its *_METRIC constants (read from the source, so a renamed metric fails here)."""
    names = set()
    for call in _code_calls({"add_metric", "single_metric"}):
        for keyword in call.keywords:
            if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                names.add(keyword.value.value)
    for module in LAYER.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                target = node.targets[0].id
                if target == "METRIC_NAMES" and isinstance(node.value, ast.Dict):
                    names |= {v.value for v in node.value.values if isinstance(v, ast.Constant)}
                if target.endswith("_METRIC") and isinstance(node.value, ast.Constant):
                    names.add(node.value.value)
    return names


def logged_messages() -> set[str]:
    """The literal messages the layer's code logs."""
    calls = _code_calls({"info", "warning", "error", "exception"})
    return {c.args[0].value for c in calls if c.args and isinstance(c.args[0], ast.Constant)}


def dashboard() -> dict[str, Any]:
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def dashboard_metrics() -> list[list[Any]]:
    """Every metric row of every widget, with CloudWatch's "." (same as the row above) filled in."""
    rows = []
    for widget in dashboard()["widgets"]:
        previous: list[Any] = []
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):
                rows.append(row)
                continue
            plain = [p for p in row if not isinstance(p, dict)]
            filled = [prev if part == "." else part for part, prev in zip(plain, [*previous, *plain], strict=False)]
            rows.append(filled)
            previous = filled
    return rows


def search_metric_names(expression: str) -> list[tuple[str, str]]:
    return re.findall(r"SEARCH\('\{(\w+),[\w,]+\} MetricName=\"(\w+)\"", expression)


def alarms() -> dict[str, dict[str, Any]]:
    return {k: r for k, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def alarm_metric_names(alarm: dict[str, Any]) -> list[tuple[str, str]]:
    props = alarm["Properties"]
    found = [(props["Namespace"], props["MetricName"])] if "MetricName" in props else []
    for metric in props.get("Metrics", []):
        if "MetricStat" in metric:
            found.append((metric["MetricStat"]["Metric"]["Namespace"], metric["MetricStat"]["Metric"]["MetricName"]))
        expression = metric.get("Expression")
        if isinstance(expression, str) and expression.startswith("SELECT"):
            name, source = re.match(r"SELECT \w+\((\w+)\) FROM (?:SCHEMA\()?(\w+)", expression).groups()  # type: ignore[union-attr]
            found.append((source, name))
    return found


METRIC_NAMES_BY_OUTCOME = {outcome.value: name for outcome, name in PIPELINE_METRIC_NAMES.items()}


def test_the_code_emits_the_metrics_the_watching_needs() -> None:
    emitted = emitted_metric_names()
    assert {"EventsStored", "EventsRejected", "InternalErrors", "SchemaViolations", "WebhookRequestsRefused"} <= emitted
    assert set(METRIC_NAMES.values()) <= emitted and {"ChatAlertsPublished", "ChatAlertsFailed"} <= emitted


def test_every_dashboard_widget_shows_metrics_the_code_emits_or_this_stacks_resources_report() -> None:
    emitted, own_metrics, aws_rows = emitted_metric_names(), set(), []
    for row in dashboard_metrics():
        if isinstance(row[0], dict):
            expression = row[0]["expression"]
            for namespace, name in search_metric_names(expression):
                assert namespace == NAMESPACE
                own_metrics.add(name)
            assert "SEARCH" in expression or re.fullmatch(r"[a-z0-9 +\-]+", expression), expression
        else:
            aws_rows.append(row)
    assert own_metrics <= emitted, own_metrics - emitted
    assert own_metrics >= {"EventsStored", "DuplicatesIgnored", "StaleIgnored", "EventsRejected", "InternalErrors",
                           "SchemaViolations", "AlertsPublished", "AlertsFailed", "WebhookRequestsRefused"}  # fmt: skip
    # AWS's metrics, each named by one of this stack's resources (${LogicalId} or ${LogicalId.Attribute}).
    types = {row[0]: set() for row in aws_rows}
    for namespace, _name, *dimensions in aws_rows:
        for dimension, value in zip(dimensions[::2], dimensions[1::2], strict=True):
            if dimension == "Stage":
                assert value == RESOURCES["WebhookApi"]["Properties"]["StageName"]
                continue
            logical_id = re.fullmatch(r"\$\{([\w:]+?)(?:\.\w+)?\}", value)
            assert logical_id, (namespace, dimension, value)
            types[namespace].add(RESOURCES.get(logical_id[1], {}).get("Type", logical_id[1]))
    assert types == {
        "AWS/ApiGateway": {"AWS::StackName"},  # SAM titles the REST API (ApiName) after the stack
        "AWS/Kinesis": {"AWS::Kinesis::Stream"},
        "AWS/Lambda": {"AWS::Serverless::Function"},
        "AWS/DynamoDB": {"AWS::DynamoDB::Table"},
        "AWS/SQS": {"AWS::SQS::Queue"},
    }
    shown = {(row[1], row[3]) for row in aws_rows if row[0] == "AWS/Lambda"}
    for metric in ("Errors", "Throttles", "Duration", "ConcurrentExecutions", "IteratorAge"):
        assert {(metric, f"${{{function}}}") for function in WATCHED_FUNCTIONS} <= shown


def test_the_dashboard_lays_out_on_cloudwatchs_24_column_grid_without_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for widget in dashboard()["widgets"]:
        assert widget["x"] + widget["width"] <= 24
        cells = {(widget["x"] + i, widget["y"] + j) for i in range(widget["width"]) for j in range(widget["height"])}
        assert not cells & taken
        taken |= cells


def test_every_alarm_watches_metrics_the_code_emits_or_aws_reports_and_goes_to_the_operations_topic() -> None:
    emitted = emitted_metric_names()
    for logical_id, alarm in alarms().items():
        for namespace, name in alarm_metric_names(alarm):
            assert namespace.startswith("AWS/") or (namespace == NAMESPACE and name in emitted), (logical_id, name)
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "OperationsTopic"}], logical_id
        assert "docs/operations.md" in alarm["Properties"]["AlarmDescription"] or logical_id in {
            "WebhookSignatureUncheckableAlarm", "InternalErrorsAlarm", "UnreadableChangesAlarm",
            "WebhookRequestsRefusedAlarm", "SchemaViolationsAlarm",
        }  # fmt: skip
    runbook = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    per_function = re.compile(r"^(ConferenceSummaryComplete|ConferenceSummaryPartial|ParticipantSummaryComplete|"
                              r"UnroutedEvents|QualityAlerts)(?=[A-Z])")  # fmt: skip
    for logical_id in alarms():
        assert f"| `{per_function.sub('<Function>', logical_id)}`" in runbook, logical_id


@pytest.mark.parametrize(
    ("suffix", "namespace", "metric", "threshold"),
    [
        ("IteratorAgeAlarm", "AWS/Lambda", "IteratorAge", "IteratorAgeAlarmSeconds"),
        ("ErrorsAlarm", "AWS/Lambda", "Errors", "FunctionErrorsAlarmThreshold"),
        ("ThrottlesAlarm", "AWS/Lambda", "Throttles", "FunctionThrottlesAlarmThreshold"),
    ],
)
def test_each_function_has_its_stream_age_errors_and_throttles_alarmed(
    suffix: str, namespace: str, metric: str, threshold: str
) -> None:
    for function in WATCHED_FUNCTIONS:
        alarm = alarms()[function.removesuffix("Function") + suffix]["Properties"]
        assert (namespace, metric) in alarm_metric_names({"Properties": alarm})
        assert {"Name": "FunctionName", "Value": {"Ref": function}} in json_dimensions(alarm)
        assert alarm["Threshold"] == {"Ref": threshold} and threshold in TEMPLATE["Parameters"]


def json_dimensions(alarm: dict[str, Any]) -> list[Any]:
    found = list(alarm.get("Dimensions", []))
    for metric in alarm.get("Metrics", []):
        found += metric.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    return found


@pytest.mark.parametrize("logical_id", ["StreamFailuresQueue", "AlertFailuresQueue"])
def test_a_message_in_either_on_failure_queue_alarms(logical_id: str) -> None:
    alarm = alarms()[f"{logical_id}Alarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [logical_id, "QueueName"]}}]
    assert alarm["Threshold"] == {"Ref": "FailureQueueAlarmThreshold"}
    assert TEMPLATE["Parameters"]["FailureQueueAlarmThreshold"]["Default"] == 0  # one message is one too many


@pytest.mark.parametrize(("logical_id", "route"), [*FUNCTIONS.items(), ("UnroutedEventsFunction", routes.UNROUTED)])
def test_each_function_alarms_on_its_rejected_share_of_received_events(logical_id: str, route: routes.Route) -> None:
    alarm = alarms()[logical_id.removesuffix("Function") + "RejectionRateAlarm"]["Properties"]
    stats = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert {metric["MetricName"] for metric in stats.values()} == {
        METRIC_NAMES_BY_OUTCOME[o] for o in ("stored", "duplicates", "stale", "rejected")
    }
    for metric in stats.values():
        assert metric["Namespace"] == NAMESPACE
        assert metric["Dimensions"] == [
            {"Name": "function", "Value": route.name},
            {"Name": "service", "Value": SERVICE},
        ]
    (share,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert "100 * FILL(rejected, 0) / received" in share["Expression"]["Fn::Sub"]
    assert "${RejectionRateAlarmMinEvents}" in share["Expression"]["Fn::Sub"]
    assert alarm["Threshold"] == {"Ref": "RejectionRateAlarmPercent"}


def test_dynamodb_throttles_on_both_tables_alarm() -> None:
    alarm = alarms()["DynamoDbThrottlesAlarm"]["Properties"]
    assert {d["Value"]["Ref"] for d in json_dimensions(alarm)} == {"SummariesTable", "AlertLedgerTable"}
    assert {name for _, name in alarm_metric_names({"Properties": alarm})} == {
        "ReadThrottleEvents", "WriteThrottleEvents"
    }  # fmt: skip
    assert alarm["Threshold"] == {"Ref": "DynamoDbThrottlesAlarmThreshold"}


def test_silence_alarms_after_n_hours_with_missing_data_breaching_and_can_be_turned_off() -> None:
    resource = alarms()["NoEventsAlarm"]
    alarm = resource["Properties"]
    assert resource["Condition"] == "NoEventsAlarmOn"
    assert TEMPLATE["Conditions"]["NoEventsAlarmOn"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "NoEventsAlarmHours"}, "0"]}]
    }
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == {"Ref": "NoEventsAlarmHours"}
    assert all(m["MetricStat"]["Period"] == 3600 for m in alarm["Metrics"] if "MetricStat" in m)
    assert TEMPLATE["Parameters"]["NoEventsAlarmHours"]["MaxValue"] == 24  # CloudWatch evaluates at most a day
    assert ("AWS/Kinesis", "IncomingRecords") in alarm_metric_names(resource)
    assert ("AWS/ApiGateway", "Count") in alarm_metric_names(resource)


def test_the_operations_topic_takes_alarms_and_the_alert_emails_reader_keeps_getting_them() -> None:
    statements = RESOURCES["OperationsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {s["Sid"] for s in statements} == {"DenyInsecureTransport", "CloudWatchAlarmsPublish"}
    assert RESOURCES["OperationsTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertTopicKey"}
    subscription = RESOURCES["OperationsEmailSubscription"]
    assert subscription["Properties"]["Endpoint"] == {
        "Fn::If": ["HasOwnOperationsEmail", {"Ref": "OperationsEmail"}, {"Ref": "AlertEmail"}]
    }
    assert TEMPLATE["Conditions"]["HasOperationsEmail"] == {
        "Fn::Or": [{"Condition": "HasOwnOperationsEmail"}, {"Condition": "HasAlertEmail"}]
    }


def test_saved_queries_read_what_the_code_logs_in_this_stacks_log_groups() -> None:
    queries = {r["Properties"]["Name"]["Fn::Sub"]: r["Properties"] for r in RESOURCES.values()
               if r["Type"] == "AWS::Logs::QueryDefinition"}  # fmt: skip
    assert set(queries) == {f"${{AWS::StackName}}/{name}" for name in (
        "event-path-by-event-id", "rejections-by-reason", "refused-webhook-requests-by-reason",
        "slowest-webhook-requests")}  # fmt: skip
    logged = logged_messages()
    for query in queries.values():
        for group in query["LogGroupNames"]:
            assert RESOURCES[group["Ref"]]["Type"] == "AWS::Logs::LogGroup"
        for message in re.findall(r'message = "([^"]+)"', query["QueryString"]):
            assert message in logged, message
    access_format = RESOURCES["WebhookApi"]["Properties"]["AccessLogSetting"]["Format"]
    for field in ("requestId", "path", "status", "latencyMs"):
        assert (
            f'"{field}":' in access_format
            and field in queries["${AWS::StackName}/slowest-webhook-requests"]["QueryString"]
        )


def test_chat_channels_are_optional_least_privilege_and_get_alarms_and_chat_alerts() -> None:
    from voice_insights.runtime.settings import AlertSettings

    chat_topic_variable = AlertSettings.model_fields["chat_topic_arn"].alias

    for logical_id, condition in (("SlackChannel", "HasSlackChannel"), ("TeamsChannel", "HasTeamsChannel")):
        channel = RESOURCES[logical_id]
        assert channel["Condition"] == condition
        props = channel["Properties"]
        assert props["SnsTopicArns"] == [{"Ref": "OperationsTopic"}, {"Ref": "AlertChatTopic"}]
        assert props["GuardrailPolicies"] == [{"Ref": "ChatChannelPolicy"}]  # not AdministratorAccess, the default
        assert props["IamRoleArn"] == {"Fn::GetAtt": ["ChatChannelRole", "Arn"]}
    role = RESOURCES["ChatChannelRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "chatbot.amazonaws.com"}
    assert "Policies" not in role and role["ManagedPolicyArns"] == [{"Ref": "ChatChannelPolicy"}]
    (read,) = RESOURCES["ChatChannelPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert all(
        action.startswith(("cloudwatch:Describe", "cloudwatch:Get", "cloudwatch:List")) for action in read["Action"]
    )
    environment = RESOURCES["QualityAlertsFunction"]["Properties"]["Environment"]["Variables"]
    assert environment[chat_topic_variable] == {"Fn::If": ["PublishesChatAlerts", {"Ref": "AlertChatTopic"}, ""]}
    assert RESOURCES["AlertChatTopic"]["Condition"] == "PublishesChatAlerts"
    assert TEMPLATE["Conditions"]["PublishesChatAlerts"] == {
        "Fn::Or": [{"Condition": "HasChatChannel"}, {"Fn::Equals": [{"Ref": "PublishChatAlerts"}, "true"]}]
    }


def test_the_dashboards_console_url_is_an_output() -> None:
    assert TEMPLATE["Outputs"]["DashboardUrl"]["Value"] == {
        "Fn::Sub": "https://console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}#dashboards:name=${Dashboard}"
    }
    assert RESOURCES["Dashboard"]["Properties"]["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-voice-insights"}


def emitted_dimension_sets() -> set[tuple[str, ...]]:
    """The dimension sets of the EMF documents the code writes: a pipeline batch with a schema violation (its
    metrics and the by-field series), as a processing function writes them."""
    from aws_lambda_powertools.metrics import single_metric

    from voice_insights.runtime.observability import metrics

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        metrics.set_default_dimensions(function="conference_summary_complete")
        try:
            metrics.add_metric(name="EventsStored", unit="Count", value=1)
            metrics.flush_metrics()
        finally:
            metrics.clear_default_dimensions()
        with single_metric(name="SchemaViolations", unit="Count", value=1) as metric:  # as pipeline.py writes it
            metric.add_dimension(name="function", value="conference_summary_complete")
            metric.add_dimension(name="field", value="data.status")
    documents = [json.loads(line) for line in out.getvalue().splitlines() if '"_aws"' in line]
    return {
        tuple(sorted(dims)) for doc in documents for d in doc["_aws"]["CloudWatchMetrics"] for dims in d["Dimensions"]
    }


def test_every_dashboard_search_names_a_dimension_set_the_code_writes() -> None:
    # SEARCH('{Namespace,dims}') matches metrics with exactly those dimensions: others show nothing.
    emitted = emitted_dimension_sets()
    searched = {
        tuple(sorted(dims.split(",")))
        for widget in dashboard()["widgets"]
        for row in widget["properties"].get("metrics", [])
        if isinstance(row[0], dict)
        for dims in re.findall(r"SEARCH\('\{VoiceInsightsEvents,([\w,]+)\}", row[0]["expression"])
    }
    assert searched and searched <= emitted, (searched, emitted)


def test_the_events_by_path_table_reads_the_line_each_batch_logs() -> None:
    (widget,) = [w for w in dashboard()["widgets"] if w["type"] == "log"]
    query = widget["properties"]["query"]
    logged = batch_settled_line()
    assert "filter message = 'Batch settled'" in query and logged["message"] == "Batch settled"
    for field in ("received", "stored", "duplicates", "stale", "rejected", "failed"):
        assert f"sum({field}) as {field}" in query and field in logged
    assert logged["source"] == "kinesis"
    assert query.endswith("by function_name, source")
    processors = [
        "ConferenceSummaryComplete",
        "ConferenceSummaryPartial",
        "ParticipantSummaryComplete",
        "UnroutedEvents",
    ]
    assert all(f"SOURCE '${{{name}Logs}}'" in query for name in processors)


def test_an_on_demand_stream_has_no_shard_count() -> None:
    # Kinesis refuses a ShardCount on an ON_DEMAND stream
    # (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-kinesis-stream.html).
    template = TEMPLATE
    stream = template["Resources"]["EventStream"]["Properties"]
    assert stream["StreamModeDetails"] == {"StreamMode": {"Ref": "StreamCapacityMode"}}
    assert stream["ShardCount"] == {"Fn::If": ["StreamOnDemand", {"Ref": "AWS::NoValue"}, {"Ref": "StreamShardCount"}]}
    assert template["Conditions"]["StreamOnDemand"] == {"Fn::Equals": [{"Ref": "StreamCapacityMode"}, "ON_DEMAND"]}
    assert template["Parameters"]["StreamCapacityMode"]["AllowedValues"] == ["PROVISIONED", "ON_DEMAND"]


@pytest.mark.parametrize(("mode", "shards"), [("PROVISIONED", 3), ("ON_DEMAND", None)])
def test_the_local_stack_resolves_the_streams_capacity_mode(mode: str, shards: int | None) -> None:
    # devtools' resolver evaluates the template's conditions as CloudFormation does, for Fn::If.
    resolver = Resolver(TEMPLATE, "local", {"StreamCapacityMode": mode, "StreamShardCount": 3})
    stream = resolver.resolve(TEMPLATE["Resources"]["EventStream"]["Properties"])
    assert stream["StreamModeDetails"] == {"StreamMode": mode}
    assert stream.get("ShardCount") == shards
    assert resolver.condition("StreamOnDemand") is (mode == "ON_DEMAND")
    snap = Resolver(TEMPLATE, "local", {"SnapStart": "true"}).resolve(TEMPLATE["Globals"]["Function"]["SnapStart"])
    assert snap == {"ApplyOn": "PublishedVersions"}


def test_the_call_sid_index_is_a_parameter_the_read_api_is_told_of() -> None:
    parameter = TEMPLATE["Parameters"]["CallSidIndex"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("false", ["true", "false"])
    variables = RESOURCES["ReadApiFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["CALL_SID_INDEX"] == {"Ref": "CallSidIndex"}
    for value, exists in (("true", True), ("false", False)):
        assert Resolver(TEMPLATE, "local", {"CallSidIndex": value}).condition("HasCallSidIndex") is exists


def test_the_summaries_table_class_is_a_parameter() -> None:
    table = TEMPLATE["Resources"]["SummariesTable"]["Properties"]
    assert table["TableClass"] == {"Ref": "SummariesTableClass"}
    parameter = TEMPLATE["Parameters"]["SummariesTableClass"]
    assert parameter["Default"] == "STANDARD"
    assert parameter["AllowedValues"] == ["STANDARD", "STANDARD_INFREQUENT_ACCESS"]


def batch_settled_line() -> dict[str, Any]:
    """The line the ingest pipeline logs for a settled batch (here an empty one), as the query reads it."""
    import io

    from voice_insights.ingest.pipeline import Pipeline
    from voice_insights.ingest.routes import PARTICIPANT_SUMMARY_COMPLETE
    from voice_insights.runtime.observability import logger

    class NoWrites:
        def write(self, items: list[Any]) -> list[Any]:
            return []

    captured = io.StringIO()
    previous = logger.registered_handler.setStream(captured)
    try:
        Pipeline(PARTICIPANT_SUMMARY_COMPLETE, NoWrites(), NoWrites()).process([], source="kinesis")  # type: ignore[arg-type]
    finally:
        logger.registered_handler.setStream(previous)
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    (line,) = [line for line in lines if line.get("message") == "Batch settled"]
    return line
