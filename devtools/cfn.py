"""Create the template's data resources (tables, streams, buckets, queues, topics, secret, the lake's Glue tables and
Firehose streams) in a local endpoint, from template.yaml itself, so that local resources cannot drift from what
`sam deploy` creates.

Only data resources are created: functions, APIs and IAM are run or emulated elsewhere.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import boto3
import yaml

ACCOUNT = "123456789012"
REGION = "us-east-1"
_SHORT_TAGS = ["Ref", "GetAtt", "Sub", "If", "Equals", "Not", "And", "Or", "Select", "Join", "Split", "FindInMap",
               "Condition", "ImportValue", "Base64", "GetAZs", "Cidr"]  # fmt: skip


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag_constructor(tag: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        name = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _tag in _SHORT_TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _tag_constructor(_tag))


def load_template(path: Path | str) -> dict[str, Any]:
    with open(path) as handle:
        template: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)
    return template


_NO_VALUE = object()


class Resolver:
    """Resolves the intrinsic functions this template uses against parameters and created resources."""

    def __init__(self, template: dict[str, Any], stack_name: str, parameters: dict[str, Any] | None = None) -> None:
        self.stack_name = stack_name
        self.parameters = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
        self.parameters.update(parameters or {})
        self.mappings: dict[str, Any] = template.get("Mappings", {})
        self.conditions: dict[str, Any] = template.get("Conditions", {})
        self.created: dict[str, dict[str, Any]] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg
                if logical_id not in self.created:  # a key or role the local endpoint does without: a stand-in ARN
                    return f"arn:aws:local:{REGION}:{ACCOUNT}:{logical_id}/{attribute}"
                return self.created[logical_id]["attrs"][attribute]
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::FindInMap":
                mapping, top, second = (self.resolve(part) for part in arg)
                return self.mappings[mapping][top][second]
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::Split":
                delimiter, text = arg
                return str(self.resolve(text)).split(delimiter)
            if key == "Fn::If":
                condition, when_true, when_false = arg
                return self.resolve(when_true if self.condition(condition) else when_false)
        return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not _NO_VALUE}

    def condition(self, name: str) -> bool:
        """A named condition of the template (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition)."""
        return self._holds(self.conditions[name])

    def _holds(self, expression: Any) -> bool:
        ((key, arg),) = expression.items()
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = (self.resolve(part) for part in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self._holds(arg[0])
        if key == "Fn::And":
            return all(self._holds(part) for part in arg)
        if key == "Fn::Or":
            return any(self._holds(part) for part in arg)
        raise ValueError(f"no local evaluation of the condition function {key}")

    def _ref(self, name: str) -> Any:
        pseudo = {"AWS::StackName": self.stack_name, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": _NO_VALUE}  # fmt: skip
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.created:
            return self.created[name]["ref"]
        return f"local-{name}"  # a resource not created locally (function, API, role)

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        out, rest = [], text
        while "${" in rest:
            before, _, after = rest.partition("${")
            name, _, rest = after.partition("}")
            out.append(before)
            if name.startswith("!"):  # ${!Literal} is written as ${Literal}
                out.append("${" + name[1:] + "}")
            elif name in variables:
                out.append(str(self.resolve(variables[name])))
            elif "." in name:
                logical_id, attribute = name.split(".", 1)
                out.append(str(self.resolve({"Fn::GetAtt": [logical_id, attribute]})))
            else:
                out.append(str(self._ref(name)))
        return "".join(out) + rest


def create_data_resources(
    template_path: Path | str,
    endpoint_url: str,
    parameters: dict[str, Any] | None = None,
    stack_name: str = "local",
    names: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Create the template's tables, streams, buckets, queues and topics; return {logical id: ref and attributes}.

    Each resource is named ``<stack>-<logical id>-<random>``, unless ``names`` gives it a fixed name (`make
    local-aws`: the names events/env.json gives `sam local`)."""
    template = load_template(template_path)
    resolver = Resolver(template, stack_name, parameters)
    creators = {
        "AWS::DynamoDB::Table": _table,
        "AWS::Kinesis::Stream": _stream,
        "AWS::S3::Bucket": _bucket,
        "AWS::SQS::Queue": _queue,
        "AWS::SNS::Topic": _topic,
        "AWS::SecretsManager::Secret": _secret,
        "AWS::Glue::Database": _glue_database,
        "AWS::Glue::Table": _glue_table,
        "AWS::KinesisFirehose::DeliveryStream": _delivery_stream,
    }
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = local_client(service, endpoint_url)
        return clients[service]

    for logical_id, resource in template["Resources"].items():
        create = creators.get(resource["Type"])
        if create is None:
            continue
        properties = resolver.resolve(resource.get("Properties", {}))
        name = (names or {}).get(logical_id) or f"{stack_name}-{logical_id}-{secrets.token_hex(3)}".lower()
        if names and logical_id in names:
            properties = {key: value for key, value in properties.items() if key not in _NAME_PROPERTIES}
        resolver.created[logical_id] = {"type": resource["Type"], **create(client, name, properties)}
    return resolver.created


_NAME_PROPERTIES = ("BucketName", "QueueName", "TopicName", "Name", "TableName", "StreamName", "DeliveryStreamName")


def local_client(service: str, endpoint_url: str, credentials: dict[str, str] | None = None) -> Any:
    """A boto3 client for the local endpoint, with the dummy credentials it accepts (unchecked), or ``credentials``
    (AWS_* variable names: a function's own, devtools/local_iam.py, checked against its role)."""
    keys = credentials or {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=keys.get("AWS_SESSION_TOKEN"),
    )


def _table(client: Any, name: str, props: dict[str, Any]) -> dict[str, Any]:
    dynamodb = client("dynamodb")
    kwargs = {key: props[key] for key in ("AttributeDefinitions", "KeySchema", "BillingMode") if key in props}
    if "GlobalSecondaryIndexes" in props:
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    table = dynamodb.create_table(TableName=name, **kwargs)["TableDescription"]
    if props.get("TimeToLiveSpecification"):
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    attrs = {"Arn": table["TableArn"]}
    if "LatestStreamArn" in table:
        attrs["StreamArn"] = table["LatestStreamArn"]
    return {"ref": name, "attrs": attrs}


def _stream(client: Any, name: str, props: dict[str, Any]) -> dict[str, Any]:
    kinesis = client("kinesis")
    mode = props.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
    if mode == "ON_DEMAND":
        kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": mode})
    else:
        kinesis.create_stream(StreamName=name, ShardCount=int(props.get("ShardCount", 1)))
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return {"ref": name, "attrs": {"Arn": arn}}


def _bucket(client: Any, name: str, props: dict[str, Any]) -> dict[str, Any]:
    name = props.get("BucketName", name)
    client("s3").create_bucket(Bucket=name)
    return {"ref": name, "attrs": {"Arn": f"arn:aws:s3:::{name}"}}


def _queue(client: Any, name: str, props: dict[str, Any]) -> dict[str, Any]:
    sqs = client("sqs")
    name = props.get("QueueName", name)
    attributes = {key: str(props[key]) for key in ("MessageRetentionPeriod", "VisibilityTimeout") if key in props}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"ref": url, "attrs": {"Arn": arn, "QueueName": name, "QueueUrl": url}}


def _topic(client: Any, name: str, props: dict[str, Any]) -> dict[str, Any]:
    attributes = {key: str(props[key]) for key in ("DisplayName", "KmsMasterKeyId") if key in props}
    arn = client("sns").create_topic(Name=props.get("TopicName", name), Attributes=attributes)["TopicArn"]
    return {"ref": arn, "attrs": {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[-1]}}


def _secret(client: Any, name: str, props: dict[str, Any]) -> dict[str, Any]:
    value = props.get("SecretString") or secrets.token_hex(16)
    arn = client("secretsmanager").create_secret(Name=props.get("Name", name), SecretString=value)["ARN"]
    return {"ref": arn, "attrs": {"Id": arn}}


def _glue_database(client: Any, name: str, props: dict[str, Any]) -> dict[str, Any]:
    # The template names it from the stack name, the same for every local stack: a suffix of its own, as the local
    # tables and buckets get, so that two local stacks in one process (moto's backends are per process) do not clash.
    database = {**props["DatabaseInput"], "Name": f"{props['DatabaseInput']['Name']}_{secrets.token_hex(3)}"}
    client("glue").create_database(DatabaseInput=database)
    return {"ref": database["Name"], "attrs": {}}


def _glue_table(client: Any, name: str, props: dict[str, Any]) -> dict[str, Any]:
    table = props["TableInput"]
    client("glue").create_table(DatabaseName=props["DatabaseName"], TableInput=table)
    return {"ref": table["Name"], "attrs": {}}


def _delivery_stream(client: Any, name: str, props: dict[str, Any]) -> dict[str, Any]:
    """A Firehose stream as configured. moto keeps the configuration but neither converts nor partitions: the local
    runner's devtools.lake does what Firehose does with what moto writes."""
    name = props.get("DeliveryStreamName", name)
    kwargs = {key: props[key] for key in ("DeliveryStreamType", "ExtendedS3DestinationConfiguration") if key in props}
    arn = client("firehose").create_delivery_stream(DeliveryStreamName=name, **kwargs)["DeliveryStreamARN"]
    return {"ref": name, "attrs": {"Arn": arn}}


def function_environment(
    template: dict[str, Any],
    logical_id: str,
    created: dict[str, dict[str, Any]],
    parameters: dict[str, Any] | None = None,
    stack_name: str = "local",
) -> dict[str, str]:
    """A function's environment variables (Globals merged with its own), resolved to the local resources."""
    resolver = Resolver(template, stack_name, parameters)
    resolver.created = created
    variables = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    function = template["Resources"][logical_id]["Properties"]
    variables.update(function.get("Environment", {}).get("Variables", {}))
    return {name: str(resolver.resolve(value)) for name, value in variables.items()}


def filter_patterns(
    template: dict[str, Any], logical_id: str, event: str, parameters: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The FilterCriteria patterns of one function trigger, intrinsics resolved as CloudFormation would."""
    trigger = template["Resources"][logical_id]["Properties"]["Events"][event]["Properties"]
    resolver = Resolver(template, "local", parameters)
    patterns: list[dict[str, Any]] = [
        json.loads(resolver.resolve(f["Pattern"])) for f in trigger.get("FilterCriteria", {}).get("Filters", [])
    ]
    return patterns


def function_for_code(template: dict[str, Any], folder: str) -> str:
    """The logical id of the function whose code is functions/<folder>/ (in template.yaml, not the built copy)."""
    for logical_id, resource in template["Resources"].items():
        if (
            resource["Type"] == "AWS::Serverless::Function"
            and resource["Properties"]["CodeUri"] == f"functions/{folder}/"
        ):
            return logical_id
    raise KeyError(f"no function has its code in functions/{folder}/")
