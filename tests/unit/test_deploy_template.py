"""Given template.yaml after SAM's transform (run offline, as CloudFormation runs it), then the first deploy and every
deploy after it work as AWS documents: every route invokes what a permission allows, every release reaches alias
`live`, nothing is left behind by a failed first create, and no half-filled setting is silently ignored.

Transforming twice (a changed layer, a changed parameter) shows what CloudFormation would replace: a new logical id,
or a resolved property whose update requires replacement.
"""

from __future__ import annotations

import copy
import fnmatch
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools import sam_transform
from devtools.cfn import ACCOUNT, REGION, Resolver, load_template
from devtools.sam_transform import TransformFailed, transform

ROOT = Path(__file__).resolve().parents[2]
SOURCE = load_template(ROOT / "template.yaml")


def transformed_with(
    parameters: dict[str, Any] | None = None, layer_key: str = "SharedLayer.zip", source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """SAM's transform of the template as `sam deploy` would hand it over with ``parameters``; the layer uploaded
    under ``layer_key`` (`sam package` names each upload after its content's MD5, so new content, new key)."""
    package = sam_transform.packaged

    def with_layer_key(template: dict[str, Any]) -> dict[str, Any]:
        out = package(template)
        out["Resources"]["SharedLayer"]["Properties"]["ContentUri"] = f"s3://deployment-bucket/{layer_key}"
        return out

    sam_transform.packaged = with_layer_key  # what `sam package` writes is the only input that changes here
    try:
        return transform(copy.deepcopy(source or SOURCE), parameters)
    except TransformFailed as failed:
        pytest.fail(str(failed))
    finally:
        sam_transform.packaged = package


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return transformed_with()


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def target(reference: Any) -> str:
    """The logical id a Ref or GetAtt names."""
    if isinstance(reference, dict) and "Ref" in reference:
        return str(reference["Ref"])
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        return str(reference["Fn::GetAtt"][0])
    raise AssertionError(f"not a reference to a resource: {reference}")


# --- 1. Every route invokes what a permission allows ---------------------------------------------------------------

INVOCATIONS = re.compile(r"functions/\$\{(?P<id>[A-Za-z0-9]+)(?P<arn>\.Arn)?\}/invocations$")


def integrations(template: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(API logical id, METHOD, path, invoked logical id) of every Lambda integration of every REST API."""
    for api_id, api in of_type(template, "AWS::ApiGateway::RestApi").items():
        for path, methods in api["Properties"]["Body"]["paths"].items():
            for method, operation in methods.items():
                uri = operation["x-amazon-apigateway-integration"]["uri"]
                text = uri["Fn::Sub"] if isinstance(uri["Fn::Sub"], str) else uri["Fn::Sub"][0]
                found = INVOCATIONS.search(text)
                assert found, (api_id, path, method, text)
                invoked = found["id"]
                kind = template["Resources"][invoked]["Type"]
                # ${Function.Arn} is the unqualified function; ${Alias} and ${Version} are their (qualified) ARNs;
                # ${Function} alone would be its name, not an ARN API Gateway can invoke.
                assert (kind == "AWS::Lambda::Function") is bool(found["arn"]), (api_id, path, invoked, kind)
                yield api_id, method.upper(), path, invoked


def stages(template: dict[str, Any], api_id: str) -> set[str]:
    """Every stage an API serves: its Stage resources' and any a Deployment creates itself (StageName)."""
    named = {
        r["Properties"]["StageName"]
        for kind in ("AWS::ApiGateway::Stage", "AWS::ApiGateway::Deployment")
        for r in of_type(template, kind).values()
        if r["Properties"]["RestApiId"] == {"Ref": api_id} and "StageName" in r["Properties"]
    }
    return named


def execute_api_arn(api_id: str, stage: str, method: str, path: str) -> str:
    """The ARN API Gateway presents as a request's source (a path parameter filled with one value)."""
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/{method}{re.sub(r'{[^}]+}', 'CA0', path)}"


def source_arn_pattern(permission: dict[str, Any]) -> str:
    """A permission's SourceArn with the API as its logical id (SAM writes a Fn::Sub with __ApiId__, __Stage__)."""
    source = permission["Properties"]["SourceArn"]["Fn::Sub"]
    text: str
    text, variables = (source, {}) if isinstance(source, str) else source
    for name, value in variables.items():
        text = text.replace("${" + name + "}", target(value) if isinstance(value, dict) else value)
    return (
        text.replace("${AWS::Region}", REGION).replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Partition}", "aws")
    )


def test_every_api_route_invokes_exactly_what_a_permission_for_api_gateway_allows(transformed: dict[str, Any]) -> None:
    """API Gateway invokes the integration's ARN with its own identity: without a permission on that very function,
    alias or version (a permission on alias `live` does not cover the unqualified function) it answers 500
    "Invalid permissions on Lambda function" (https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway.html)."""
    permissions = [
        p
        for p in of_type(transformed, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    routes = list(integrations(transformed))
    assert routes and permissions
    for api_id, method, path, invoked in routes:
        assert stages(transformed, api_id), api_id
        for stage in stages(transformed, api_id):
            request = execute_api_arn(api_id, stage, method, path)
            allowing = [
                p
                for p in permissions
                if p["Properties"]["Action"] == "lambda:InvokeFunction"
                and target(p["Properties"]["FunctionName"]) == invoked
                and fnmatch.fnmatchcase(request, source_arn_pattern(p))
            ]
            assert allowing, f"{method} {path} on {api_id}/{stage} invokes {invoked}: no permission allows it"


def test_every_mapping_subscription_and_alias_points_at_a_resource_that_exists(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    functions_and_aliases = set(of_type(transformed, "AWS::Lambda::Function")) | set(
        of_type(transformed, "AWS::Lambda::Alias")
    )
    mappings = of_type(transformed, "AWS::Lambda::EventSourceMapping")
    assert mappings
    for mapping in mappings.values():
        assert target(mapping["Properties"]["FunctionName"]) in functions_and_aliases
        assert target(mapping["Properties"]["EventSourceArn"]) in resources
    for subscription in of_type(transformed, "AWS::SNS::Subscription").values():
        assert of_type(transformed, "AWS::SNS::Topic").get(target(subscription["Properties"]["TopicArn"])), subscription
    aliases = of_type(transformed, "AWS::Lambda::Alias")
    assert aliases
    for alias_id, alias in aliases.items():
        function = target(alias["Properties"]["FunctionName"])
        version = resources[target(alias["Properties"]["FunctionVersion"])]
        assert resources[function]["Type"] == "AWS::Lambda::Function", alias_id
        assert version["Type"] == "AWS::Lambda::Version" and target(version["Properties"]["FunctionName"]) == function


# --- 7c. One stage per API, the one with the access log, the throttle and tracing ---------------------------------


def test_each_api_serves_only_its_own_logged_throttled_and_traced_stage(transformed: dict[str, Any]) -> None:
    """Without OpenApiVersion SAM's deployment also creates a stage named `Stage` (its StageName), with none of the
    declared stage's settings: /Stage/events/... would reach the processors around the throttle and the access log
    (SAM issue 1202, https://github.com/aws/serverless-application-model/issues/1202)."""
    apis = of_type(transformed, "AWS::ApiGateway::RestApi")
    assert set(apis) == {"WebhookApi", "ReadApi"}
    for api_id in apis:
        assert stages(transformed, api_id) == {"v1"}, api_id
        (stage,) = (
            s["Properties"]
            for s in of_type(transformed, "AWS::ApiGateway::Stage").values()
            if s["Properties"]["RestApiId"] == {"Ref": api_id}
        )
        assert stage["AccessLogSetting"]["DestinationArn"], api_id
        assert stage["TracingEnabled"] is True, api_id
        (throttle,) = stage["MethodSettings"]
        assert (throttle["ResourcePath"], throttle["HttpMethod"]) == ("/*", "*")
        assert {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(throttle), api_id


# --- 7a. Every release reaches alias `live` ------------------------------------------------------------------------

CUSTOM_RESOURCE_FUNCTION = "ApiGatewayAccountLoggingFunction"


def releases(template: dict[str, Any], parameters: dict[str, Any] | None = None) -> dict[str, tuple[str, Any]]:
    """Per function: the version its alias `live` points at (logical id) and that version's properties as
    CloudFormation resolves them. Either changing means a new version: every property of AWS::Lambda::Version
    requires replacement (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-version.html)."""
    resolver = Resolver(template, "voice-insights-events", parameters)
    out = {}
    for alias in of_type(template, "AWS::Lambda::Alias").values():
        version_id = target(alias["Properties"]["FunctionVersion"])
        version = template["Resources"][version_id]
        out[target(alias["Properties"]["FunctionName"])] = (version_id, resolver.resolve(version["Properties"]))
    return out


def test_a_new_layer_publishes_a_new_version_of_every_function(transformed: dict[str, Any]) -> None:
    """All the logic is in SharedLayer: a layer-only change must move `live` too (SAM issue 3802,
    https://github.com/aws/serverless-application-model/issues/3802). `PublishLambdaVersion` on the layer and
    `AutoPublishAliasAllProperties` put the layer's uploaded content in each version's logical id."""
    after = transformed_with(layer_key="0cc175b9c0f1b6a831c399e269772661.zip")
    before_versions, after_versions = releases(transformed), releases(after)
    # every function but the custom resource's (CloudFormation invokes it, unpublished, once per stack update)
    assert set(before_versions) == set(of_type(transformed, "AWS::Lambda::Function")) - {CUSTOM_RESOURCE_FUNCTION}
    for function, (version_id, _) in before_versions.items():
        assert after_versions[function][0] != version_id, function
    (old_layer,), (new_layer,) = (of_type(t, "AWS::Lambda::LayerVersion") for t in (transformed, after))
    assert old_layer != new_layer
    for function in after_versions:
        assert after["Resources"][function]["Properties"]["Layers"] == [{"Ref": new_layer}]


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("LogLevel", "DEBUG"), ("FunctionMemorySize", 2048), ("SnapStart", "true"), ("AlertMosBelow", 3.1)],
)
def test_a_parameter_change_publishes_a_new_version_of_every_function(
    transformed: dict[str, Any], parameter: str, value: Any
) -> None:
    """SAM hashes the function's properties unresolved, so a parameter-only change publishes nothing by itself
    (SAM issues 1640 and 3820); each version's Description carries the values, and a new Description is a new
    version."""
    before = releases(transformed)
    after = releases(transformed_with({parameter: value}), {parameter: value})
    assert set(before) == set(after)
    for function, release in before.items():
        assert after[function] != release, function


def test_the_same_release_deployed_again_publishes_nothing(transformed: dict[str, Any]) -> None:
    """A new version per deploy would cost a SnapStart snapshot each time and move `live` for nothing: only the
    read API redeploys every time (AlwaysDeploy, below)."""
    again = transformed_with()
    assert releases(again) == releases(transformed)
    assert deployment_of(again, "WebhookApi") == deployment_of(transformed, "WebhookApi")


# Reserved concurrency applies to the function as a whole, all versions and aliases included
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html): no new version needed for it.
NOT_VERSIONED = {"ReservedConcurrentExecutions"}


def parameters_in(value: Any, template: dict[str, Any]) -> set[str]:
    """The parameters a value depends on: its Refs and Subs of parameters, and those of the conditions it names."""
    names = set(template.get("Parameters", {}))
    found: set[str] = set()
    if isinstance(value, list):
        return {p for v in value for p in parameters_in(v, template)}
    if isinstance(value, str):
        return {n for n in re.findall(r"\$\{([A-Za-z0-9]+)\}", value) if n in names}
    if not isinstance(value, dict):
        return found
    for key, arg in value.items():
        if key == "Ref" and arg in names:
            found.add(arg)
        elif key in ("Fn::If", "Condition"):
            condition = arg[0] if key == "Fn::If" else arg
            found |= parameters_in(template["Conditions"][condition], template)
            found |= parameters_in(arg[1:] if key == "Fn::If" else [], template)
        else:
            found |= parameters_in(arg, template)
    return found


def test_every_parameter_a_function_is_configured_with_is_in_what_its_version_publishes(
    transformed: dict[str, Any],
) -> None:
    versions = releases(transformed)
    for function_id, function in of_type(transformed, "AWS::Lambda::Function").items():
        if function_id == CUSTOM_RESOURCE_FUNCTION:
            continue
        configured = parameters_in(
            {k: v for k, v in function["Properties"].items() if k not in NOT_VERSIONED}, transformed
        )
        assert configured, function_id
        version = transformed["Resources"][versions[function_id][0]]
        published = parameters_in(version["Properties"].get("Description", ""), transformed)
        assert configured - UNVERSIONED_PARAMETERS <= published, function_id


# The quality metrics' bounds (docs/operations.md, Quality rates): Lambda's 256 characters of version description
# have no room left for three lists, so a change of them alone reaches the functions with the next new version.
UNVERSIONED_PARAMETERS = {"QualityMetricRegions", "QualityMetricCallTypes", "QualityMetricCountries"}


def test_what_a_version_publishes_fits_its_description(transformed: dict[str, Any]) -> None:
    """Lambda takes a version description of at most 256 characters (the page above): the longest values the
    parameters allow must fit."""
    parameters = transformed["Parameters"]
    longest = {  # a free string without MaxLength could be any length
        name: "x" * spec.get("MaxLength", 10_000)
        if "AllowedValues" not in spec
        else max(spec["AllowedValues"], key=len)
        for name, spec in parameters.items()
        if spec["Type"] == "String"
    }
    for name, spec in parameters.items():
        if spec["Type"] == "Number":  # a value as written: the longest bound, or a generous 12 digits unbounded
            longest[name] = str(spec["MaxValue"]) if "MaxValue" in spec else "123456.123456"
    for function, (_, properties) in releases(transformed, longest).items():
        assert len(properties["Description"]) <= 256, (function, properties["Description"])


# --- 7d. A change of the read API's authorisation reaches its stage -----------------------------------------------


def deployment_of(template: dict[str, Any], api_id: str) -> str:
    (stage,) = (
        s
        for s in of_type(template, "AWS::ApiGateway::Stage").values()
        if s["Properties"]["RestApiId"] == {"Ref": api_id}
    )
    return target(stage["Properties"]["DeploymentId"])


def test_a_change_of_read_api_auth_deploys_the_read_api_again() -> None:
    """A stage serves the snapshot its deployment took: the same Deployment logical id keeps the old
    authorisation. SAM hashes the definition unresolved, so the !If on ReadApiAuth never changes it; AlwaysDeploy
    makes a new deployment at every stack update (its id is the transform's time, in seconds)."""
    with_iam = transformed_with({"ReadApiAuth": "iam"})
    time.sleep(1.1)
    with_key = transformed_with({"ReadApiAuth": "api-key"})
    assert deployment_of(with_key, "ReadApi") != deployment_of(with_iam, "ReadApi")


# --- 7d. Nothing left behind by a failed first create --------------------------------------------------------------


def test_nothing_but_old_function_versions_is_kept_after_a_failed_first_create(transformed: dict[str, Any]) -> None:
    """Retain keeps a table or bucket after the rollback of the create that made it, and the next create fails on
    its name or leaves a second one; RetainExceptOnCreate deletes what the failed create made and retains it
    ever after (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html).
    SAM's function versions stay Retain: they go with their function."""
    resources = transformed["Resources"]
    policies = {k: r.get("DeletionPolicy") for k, r in resources.items()}
    assert {k for k, p in policies.items() if p == "Retain"} == set(of_type(transformed, "AWS::Lambda::Version"))
    kept = {k for k, p in policies.items() if p == "RetainExceptOnCreate"}
    assert {"SummariesTable", "RejectedEventsBucket", "RejectedEventsAccessLogsBucket"} <= kept
    for logical_id in kept:
        assert resources[logical_id]["UpdateReplacePolicy"] == "Retain", logical_id


# --- 7d. Half-filled settings are refused before anything is created ---------------------------------------------


def refusals(parameters: dict[str, str]) -> list[str]:
    """The AssertDescriptions of the template's Rules that ``parameters`` fail, as CloudFormation checks them."""
    resolver = Resolver(SOURCE, "voice-insights-events", parameters)
    refused = []
    for rule in SOURCE["Rules"].values():
        resolver.conditions = {"applies": rule.get("RuleCondition", {"Fn::Equals": ["", ""]})}
        if not resolver.condition("applies"):
            continue
        for assertion in rule["Assertions"]:
            resolver.conditions = {"holds": assertion["Assert"]}
            if not resolver.condition("holds"):
                refused.append(assertion["AssertDescription"])
    return refused


SLACK = {"ChatSlackWorkspaceId": "T0123ABCD", "ChatSlackChannelId": "C0123ABCD"}
TEAMS = {"ChatTeamsTenantId": "tenant", "ChatTeamsTeamId": "team", "ChatTeamsChannelId": "19:abc@thread.tacv2"}


@pytest.mark.parametrize(
    ("parameters", "refused"),
    [
        ({}, None),
        (SLACK, None),
        (TEAMS, None),
        (SLACK | TEAMS, None),
        ({"ChatSlackWorkspaceId": "T0123ABCD"}, "Slack"),
        ({"ChatSlackChannelId": "C0123ABCD"}, "Slack"),
        ({"ChatTeamsTenantId": "tenant"}, "Teams"),
        ({"ChatTeamsTeamId": "team", "ChatTeamsChannelId": "19:abc@thread.tacv2"}, "Teams"),
        (SLACK | {"ChatTeamsChannelId": "19:abc@thread.tacv2"}, "Teams"),
        ({"CreateTwilioKinesisRole": "true"}, "TwilioExternalId"),
    ],
)
def test_a_half_filled_chat_channel_is_refused_before_anything_is_created(
    parameters: dict[str, str], refused: str | None
) -> None:
    found = refusals(parameters)
    if refused is None:
        assert found == []
    else:
        assert len(found) == 1 and refused in found[0], found


# --- 7d. Names built from the stack name fit AWS's limits ----------------------------------------------------------

# Stack names take up to 128 characters (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html).
LONGEST_STACK_NAME = "s" * 128
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{LONGEST_STACK_NAME}/51af3dc0-da77-11e4-872e-1234567db123"
# (resource type, property): the longest name AWS takes there.
NAME_LIMITS = {
    # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutQueryDefinition.html
    ("AWS::Logs::QueryDefinition", "Name"): 255,
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
    # https://docs.aws.amazon.com/chatbot/latest/APIReference/API_CreateSlackChannelConfiguration.html
    ("AWS::Chatbot::SlackChannelConfiguration", "ConfigurationName"): 128,
    # https://docs.aws.amazon.com/chatbot/latest/APIReference/API_CreateMicrosoftTeamsChannelConfiguration.html
    ("AWS::Chatbot::MicrosoftTeamsChannelConfiguration", "ConfigurationName"): 128,
    # https://docs.aws.amazon.com/athena/latest/APIReference/API_CreateWorkGroup.html
    ("AWS::Athena::WorkGroup", "Name"): 128,
    # https://docs.aws.amazon.com/glue/latest/webapi/API_DatabaseInput.html
    ("AWS::Glue::Database", "DatabaseInput.Name"): 255,
}


def name(value: Any) -> str:
    """A name as CloudFormation builds it with the longest stack name (Ref, Sub, Join, Select, Split)."""
    if isinstance(value, str):
        return value
    ((function, arg),) = value.items()
    if function == "Ref":
        return {"AWS::StackName": LONGEST_STACK_NAME, "AWS::StackId": STACK_ID}[arg]
    if function == "Fn::Sub":
        return re.sub(r"\$\{([^}]+)\}", lambda m: name({"Ref": m[1]}), arg)
    if function == "Fn::Join":  # of a list, or of what a function (Split) makes one
        parts = arg[1] if isinstance(arg[1], list) else name(arg[1]).split("\0")
        return str(arg[0]).join(name(part) for part in parts)
    if function == "Fn::Select":
        return name(arg[1]).split("\0")[int(arg[0])]
    if function == "Fn::Split":
        return "\0".join(name(arg[1]).split(arg[0]))
    raise AssertionError(f"no evaluation of {function} in a name")


def named_properties(properties: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every property, and those of a nested structure as its path (Glue's DatabaseInput.Name)."""
    for prop, value in properties.items():
        yield prefix + prop, value
        if isinstance(value, dict) and not any(key == "Ref" or key.startswith("Fn::") for key in value):
            yield from named_properties(value, f"{prefix}{prop}.")


def test_names_built_from_the_stack_name_fit_aws_limits_with_the_longest_stack_name(
    transformed: dict[str, Any],
) -> None:
    checked = 0
    for logical_id, resource in transformed["Resources"].items():
        for prop, value in named_properties(resource.get("Properties", {})):
            if not (prop.endswith("Name") and isinstance(value, dict) and "AWS::Stack" in str(value)):
                continue
            limit = NAME_LIMITS.get((resource["Type"], prop))
            assert limit, f"{logical_id}.{prop} is built from the stack: add AWS's limit for it to NAME_LIMITS"
            assert len(name(value)) <= limit, (logical_id, prop, len(name(value)), limit)
            checked += 1
    assert checked >= len(NAME_LIMITS)


# --- 6d. A topic lets a service publish only where this stack makes it publish ------------------------------------

# The resources of a service that publish to a topic, and the properties that name the topic.
PUBLISHERS = {
    "cloudwatch.amazonaws.com": ("AWS::CloudWatch::Alarm", ("AlarmActions", "OKActions", "InsufficientDataActions"))
}


def test_a_topic_lets_a_service_publish_only_where_a_resource_of_this_stack_publishes(
    transformed: dict[str, Any],
) -> None:
    """A grant to cloudwatch.amazonaws.com lets any alarm of the account publish: on the quality-alert topic, whose
    subscribers and alert/1 consumers trust its messages, it would let anyone who may create an alarm forge one."""
    granted = 0
    for policy in of_type(transformed, "AWS::SNS::TopicPolicy").values():
        for topic in policy["Properties"]["Topics"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                service = statement.get("Principal", {}).get("Service") if statement["Effect"] == "Allow" else None
                if not service:
                    continue
                kind, actions = PUBLISHERS[service]
                publishers = [
                    k
                    for k, r in of_type(transformed, kind).items()
                    if any(topic in r["Properties"].get(a, []) for a in actions)
                ]
                assert publishers, f"{target(topic)} lets {service} publish, and nothing of this stack publishes there"
                granted += 1
    assert granted  # the operations topic takes the alarms


# --- 7b. The default deploys in an account whose API Gateway has no CloudWatch role yet ---------------------------


def depends_on(template: dict[str, Any], logical_id: str, seen: set[str] | None = None) -> set[str]:
    """Everything CloudFormation creates before ``logical_id``: its DependsOn and what it refers to, transitively."""
    seen = set() if seen is None else seen
    resource = template["Resources"][logical_id]
    direct = resource.get("DependsOn", [])
    direct = {direct} if isinstance(direct, str) else set(direct)
    text = str([resource.get("Properties", {}), resource.get("Metadata", {})])  # a Ref in Metadata is one too
    direct |= {k for k in template["Resources"] if f"'{k}'" in text or "${" + k + "}" in text or "${" + k + "." in text}
    for found in direct - seen:
        seen.add(found)
        depends_on(template, found, seen)
    return seen


def test_the_default_sets_the_accounts_logging_role_only_where_none_is_set_and_never_unsets_it(
    transformed: dict[str, Any],
) -> None:
    """A stage with access logging fails to create while the region's API Gateway account settings name no
    CloudWatch role ("CloudWatch Logs role ARN must be set in account settings to enable logging",
    https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html). AWS::ApiGateway::Account
    would replace whatever role other APIs log through; the stack's custom resource sets it only when none is set."""
    assert not of_type(transformed, "AWS::ApiGateway::Account")
    (setting_id,) = of_type(transformed, "Custom::ApiGatewayAccountLogging")
    setting = transformed["Resources"][setting_id]
    assert SOURCE["Parameters"]["SetApiGatewayAccountLoggingRole"]["Default"] == "if-none"
    resolver = Resolver(transformed, "voice-insights-events")
    assert resolver.condition(setting["Condition"])
    assert resolver.resolve(setting["Properties"]["Replace"]) == "false"
    assert not Resolver(transformed, "s", {"SetApiGatewayAccountLoggingRole": "false"}).condition(setting["Condition"])
    assert (
        Resolver(transformed, "s", {"SetApiGatewayAccountLoggingRole": "true"}).resolve(
            setting["Properties"]["Replace"]
        )
        == "true"
    )
    # The role may become the region's: it outlives the stack, as the setting naming it does.
    role = transformed["Resources"][target(setting["Properties"]["RoleArn"])]
    assert (role["DeletionPolicy"], role["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
    for stage_id, stage in of_type(transformed, "AWS::ApiGateway::Stage").items():
        assert "AccessLogSetting" in stage["Properties"]
        assert setting_id in depends_on(transformed, stage_id), stage_id


class ApiGatewayStub:
    """API Gateway's GetAccount/UpdateAccount as the custom resource's code calls them; UpdateAccount refuses a role
    IAM has not propagated yet ``refusals`` times, as API Gateway does (BadRequestException)."""

    class exceptions:
        class BadRequestException(Exception):
            pass

    def __init__(self, role_arn: str = "", refusals: int = 0) -> None:
        self.role_arn, self.refusals, self.updates = role_arn, refusals, 0

    def get_account(self) -> dict[str, str]:
        return {"cloudwatchRoleArn": self.role_arn} if self.role_arn else {}

    def update_account(self, patchOperations: list[dict[str, str]]) -> None:
        self.updates += 1
        if self.refusals:
            self.refusals -= 1
            raise self.exceptions.BadRequestException(
                "The role ARN does not have required permissions set to API Gateway"
            )
        ((operation),) = patchOperations
        assert (operation["op"], operation["path"]) == ("replace", "/cloudwatchRoleArn")
        self.role_arn = operation["value"]


class Context:
    """Lambda's context: the time left of the function's 300 s, which the patched time.sleep spends."""

    def __init__(self) -> None:
        self.remaining_ms = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


STACK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/voice-insights-events-ApiGatewayLoggingRole-ABC"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/another-stacks-api-gateway-role"


def run_setting(
    monkeypatch: pytest.MonkeyPatch, apigateway: ApiGatewayStub, request_type: str = "Create", replace: str = "false"
) -> dict[str, Any]:
    """Runs the custom resource's inline code (what CloudFormation runs, with its cfnresponse module) on one
    request; returns what it answered CloudFormation."""
    import sys
    import types

    answers: list[dict[str, Any]] = []
    cfnresponse = types.ModuleType("cfnresponse")
    cfnresponse.SUCCESS, cfnresponse.FAILED = "SUCCESS", "FAILED"  # type: ignore[attr-defined]

    def send(event: Any, context: Any, status: str, data: Any, physical_id: Any = None, **kw: Any) -> None:
        answers.append({"status": status, "data": data, "physical_id": physical_id, **kw})

    cfnresponse.send = send  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cfnresponse", cfnresponse)
    context = Context()
    monkeypatch.setattr(
        time, "sleep", lambda seconds: setattr(context, "remaining_ms", context.remaining_ms - seconds * 1000)
    )
    (function,) = (
        r
        for r in SOURCE["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "ZipFile" in r["Properties"]["Code"]
    )
    namespace: dict[str, Any] = {}
    exec(compile(function["Properties"]["Code"]["ZipFile"], "index.py", "exec"), namespace)
    namespace["boto3"] = types.SimpleNamespace(client=lambda service: apigateway)
    event = {"RequestType": request_type, "ResourceProperties": {"RoleArn": STACK_ROLE, "Replace": replace}}
    if request_type != "Create":
        event["PhysicalResourceId"] = "api-gateway-account-logging"
    namespace[function["Properties"]["Handler"].split(".")[1]](event, context)
    (answer,) = answers
    return answer


def test_an_account_without_a_logging_role_gets_the_stacks_even_while_iam_propagates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    apigateway = ApiGatewayStub(refusals=3)
    answer = run_setting(monkeypatch, apigateway)
    assert answer["status"] == "SUCCESS" and apigateway.role_arn == STACK_ROLE and apigateway.updates == 4


def test_an_account_whose_apis_log_through_another_role_keeps_it_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    apigateway = ApiGatewayStub(OTHER_ROLE)
    assert run_setting(monkeypatch, apigateway)["status"] == "SUCCESS"
    assert (apigateway.role_arn, apigateway.updates) == (OTHER_ROLE, 0)
    assert run_setting(monkeypatch, apigateway, "Update", replace="true")["status"] == "SUCCESS"
    assert apigateway.role_arn == STACK_ROLE


def test_deleting_the_stack_never_unsets_the_accounts_logging_role(monkeypatch: pytest.MonkeyPatch) -> None:
    apigateway = ApiGatewayStub(STACK_ROLE)
    answer = run_setting(monkeypatch, apigateway, "Delete")
    assert answer["status"] == "SUCCESS" and answer["physical_id"] == "api-gateway-account-logging"
    assert (apigateway.role_arn, apigateway.updates) == (STACK_ROLE, 0)


def test_a_role_that_never_propagates_fails_the_setting_with_api_gateways_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CloudFormation waits an hour for an answer that never comes: the code answers FAILED, with the reason."""
    answer = run_setting(monkeypatch, ApiGatewayStub(refusals=10_000))
    assert answer["status"] == "FAILED" and "required permissions" in answer["reason"]
