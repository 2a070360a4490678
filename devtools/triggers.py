"""The functions' triggers as CloudFormation receives them: SAM's transform of the template (devtools.sam_transform),
its event-source mappings and the integrations of its REST APIs, resolved the way Lambda and API Gateway resolve them.

Read from the transformed template (intrinsics resolved against the local resources), so a local run batches,
filters, retries, routes and invokes exactly what the deployed stack would:

- a function reference (a mapping's ``FunctionName``, the ARN in an integration URI) is resolved as Lambda resolves
  it: a function name or ARN -> that function, unqualified ($LATEST); with ``:alias`` -> the alias's function and
  version; with ``:N`` -> that version (https://docs.aws.amazon.com/lambda/latest/dg/configuration-aliases.html);
- API Gateway may invoke an integration only when an ``AWS::Lambda::Permission`` for ``apigateway.amazonaws.com``
  names exactly the function, alias or version the URI names (a permission on an alias does not cover the function,
  nor the other way round: https://docs.aws.amazon.com/lambda/latest/dg/using-aliases.html) with a ``SourceArn`` that
  covers the method's ARN; the route keeps those ``SourceArn``s and the gateway checks each request against them;
- a mapping whose ``FunctionName`` names no function or alias of the template cannot be created (CloudFormation fails
  the stack): ``TemplateRefused``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from devtools.cfn import ACCOUNT, REGION, Resolver
from devtools.sam_transform import transform

# What Lambda does when the template leaves a setting out
# (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
DEFAULT_BATCH_SIZE = 100
DEFAULT_RETRIES = -1  # infinite: until the record expires
API_GATEWAY = "apigateway.amazonaws.com"
ANY_SOURCE = ("*",)  # a permission without SourceArn: any source


class TemplateRefused(ValueError):
    """The transformed template asks for what AWS would refuse to create (its message says what and why)."""


@dataclass(frozen=True)
class Target:
    """What an ARN or name invokes once Lambda resolved it."""

    function: str  # the function's logical id (its name locally)
    qualifier: str | None  # the alias or version named; None: unqualified
    version: str  # the version that runs: the alias's, the one named, or $LATEST


@dataclass(frozen=True)
class StreamTrigger:
    """One Kinesis or DynamoDB-stream event-source mapping."""

    function: str
    event: str
    kind: Literal["kinesis", "dynamodb"]
    stream_arn: str
    batch_size: int
    batching_window_s: float
    max_retries: int  # -1: infinite
    bisect_on_error: bool
    reports_item_failures: bool
    filter_patterns: tuple[dict[str, Any], ...]
    on_failure_arn: str | None
    starting_position: str
    qualifier: str | None = None  # the alias or version the mapping's FunctionName names
    version: str = "$LATEST"


@dataclass(frozen=True)
class ApiRoute:
    function: str
    method: str  # upper case
    path: str  # without the stage
    stage: str
    qualifier: str | None = None  # the alias or version the integration URI names
    # SourceArn patterns of the permissions that let API Gateway invoke exactly that function/qualifier; empty: none
    # does, and API Gateway answers 500. A route made by hand defaults to a permission without SourceArn.
    grants: tuple[str, ...] = ANY_SOURCE
    api_id: str = "local"

    def method_arn(self, request_path: str) -> str:
        """The ARN API Gateway presents as SourceArn for a request on ``request_path`` (without the stage)."""
        return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{self.api_id}/{self.stage}/{self.method}{request_path}"

    def granted(self, request_path: str) -> bool:
        return any(arn_like(pattern, self.method_arn(request_path)) for pattern in self.grants)


def arn_like(pattern: str, arn: str) -> bool:
    """IAM's ArnLike: each of the six colon-separated parts matched on its own, ``*`` and ``?`` as wildcards
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN)."""
    if pattern == "*":
        return True
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return False
    return all(re.fullmatch(_wildcards(w), a, re.DOTALL) is not None for w, a in zip(wanted, actual, strict=True))


def _wildcards(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


WEBHOOK_API = "WebhookApi"
READ_API = "ReadApi"


def stream_triggers(
    template: dict[str, Any], created: dict[str, dict[str, Any]], parameters: dict[str, Any] | None = None
) -> list[StreamTrigger]:
    """The template's stream event-source mappings (``template``: the SAM template, or already transformed)."""
    template = transformed(template)
    resolver = _resolver(template, created, parameters)
    lambdas = LambdaResources(template, resolver)
    triggers = []
    for logical_id, resource in _resources(template, resolver, "AWS::Lambda::EventSourceMapping"):
        props = resolver.resolve(resource["Properties"])
        source = str(props["EventSourceArn"])
        if not source.startswith(("arn:aws:kinesis:", "arn:aws:dynamodb:")):
            continue  # only stream mappings are emulated
        target = lambdas.target(str(props["FunctionName"]))
        if target is None:
            raise TemplateRefused(
                f"{logical_id}: FunctionName {props['FunctionName']!r} names no function, alias or version of the "
                "template (CloudFormation would fail to create the mapping: Function not found)"
            )
        filters = props.get("FilterCriteria", {}).get("Filters", [])
        on_failure = props.get("DestinationConfig", {}).get("OnFailure", {})
        triggers.append(
            StreamTrigger(
                function=target.function,
                event=logical_id.removeprefix(target.function) or logical_id,
                kind="kinesis" if source.startswith("arn:aws:kinesis:") else "dynamodb",
                stream_arn=source,
                batch_size=int(props.get("BatchSize", DEFAULT_BATCH_SIZE)),
                batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                max_retries=int(props.get("MaximumRetryAttempts", DEFAULT_RETRIES)),
                bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
                reports_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                filter_patterns=tuple(json.loads(f["Pattern"]) for f in filters),
                on_failure_arn=on_failure.get("Destination"),
                starting_position=props.get("StartingPosition", "LATEST"),
                qualifier=target.qualifier,
                version=target.version,
            )
        )
    return triggers


def api_routes(
    template: dict[str, Any], api: str = WEBHOOK_API, parameters: dict[str, Any] | None = None
) -> list[ApiRoute]:
    """The routes of one of the template's REST APIs (by logical id: the webhook's, or the read API's), each with
    what its integration invokes and the permissions that let API Gateway do so."""
    template = transformed(template)
    resolver = _resolver(template, {}, parameters)
    lambdas = LambdaResources(template, resolver)
    stages = [
        str(resolver.resolve(resource["Properties"]["StageName"]))
        for _, resource in _resources(template, resolver, "AWS::ApiGateway::Stage")
        if resource["Properties"].get("RestApiId") == {"Ref": api}
    ]
    body = resolver.resolve(template["Resources"][api]["Properties"]["Body"])
    routes = []
    for path, methods in body.get("paths", {}).items():
        for method, spec in methods.items():
            integration = spec.get("x-amazon-apigateway-integration") if isinstance(spec, dict) else None
            if integration is None:
                continue
            if integration.get("type") != "aws_proxy":
                raise TemplateRefused(f"{api} {method.upper()} {path}: only Lambda proxy integrations are emulated")
            target = lambdas.target(_function_in_uri(str(integration["uri"])))
            for stage in stages:
                if target is None:  # a function that does not exist: nothing can grant it
                    routes.append(ApiRoute("", method.upper(), path, stage, grants=(), api_id=api_id(api)))
                    continue
                routes.append(
                    ApiRoute(
                        target.function,
                        method.upper(),
                        path,
                        stage,
                        qualifier=target.qualifier,
                        grants=lambdas.api_gateway_grants(target),
                        api_id=api_id(api),
                    )
                )
    return routes


def api_id(api: str) -> str:
    """The local id of a REST API (deployed: 10 random characters), distinct per API so permissions stay apart."""
    return api.lower()


class LambdaResources:
    """The transformed template's functions, versions, aliases and permissions, named as Lambda names them locally:
    function ``X`` is ``arn:aws:lambda:<region>:<account>:function:X``; its versions are numbered from 1."""

    def __init__(self, template: dict[str, Any], resolver: Resolver) -> None:
        self.functions = {k for k, _ in _resources(template, resolver, "AWS::Lambda::Function")}
        self.versions: dict[str, set[str]] = {name: set() for name in self.functions}
        self.aliases: dict[tuple[str, str], str] = {}
        for logical_id in self.functions:
            resolver.created[logical_id] = {"ref": logical_id, "attrs": {"Arn": function_arn(logical_id)}}
        for logical_id, resource in _resources(template, resolver, "AWS::Lambda::Version"):
            function = self._name(resolver.resolve(resource["Properties"]["FunctionName"]))
            number = str(len(self.versions.setdefault(function, set())) + 1)
            self.versions[function].add(number)
            resolver.created[logical_id] = {"ref": f"{function_arn(function)}:{number}", "attrs": {"Version": number}}
        for logical_id, resource in _resources(template, resolver, "AWS::Lambda::Alias"):
            props = resolver.resolve(resource["Properties"])
            function = self._name(props["FunctionName"])
            self.aliases[(function, str(props["Name"]))] = str(props["FunctionVersion"])
            resolver.created[logical_id] = {"ref": f"{function_arn(function)}:{props['Name']}", "attrs": {}}
        for logical_id, _ in _resources(template, resolver, "AWS::ApiGateway::RestApi"):
            resolver.created[logical_id] = {"ref": api_id(logical_id), "attrs": {"RootResourceId": "root"}}
        self.permissions = [
            resolver.resolve(resource["Properties"])
            for _, resource in _resources(template, resolver, "AWS::Lambda::Permission")
        ]

    def target(self, reference: str) -> Target | None:
        """What Lambda invokes for a function name or ARN, with or without a qualifier; None when nothing exists."""
        function, qualifier = _split(reference)
        if function not in self.functions:
            return None
        if qualifier is None or qualifier == "$LATEST":
            return Target(function, qualifier, "$LATEST")
        if qualifier in self.versions.get(function, set()):
            return Target(function, qualifier, qualifier)
        version = self.aliases.get((function, qualifier))
        return Target(function, qualifier, version) if version is not None else None

    def api_gateway_grants(self, target: Target) -> tuple[str, ...]:
        """The SourceArn patterns of the permissions for API Gateway on exactly ``target``'s function and qualifier."""
        grants: list[str] = []
        for permission in self.permissions:
            if permission.get("Principal") != API_GATEWAY:
                continue
            if permission.get("Action") not in ("lambda:InvokeFunction", "lambda:*"):
                continue
            if _split(str(permission["FunctionName"])) != (target.function, target.qualifier):
                continue
            grants += [str(permission["SourceArn"])] if "SourceArn" in permission else list(ANY_SOURCE)
        return tuple(grants)

    def _name(self, reference: Any) -> str:
        return _split(str(reference))[0]


def function_arn(function: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"


def _split(reference: str) -> tuple[str, str | None]:
    """``name``, ``name:qualifier``, ``account:function:name[:qualifier]`` or a full ARN -> (name, qualifier)."""
    parts = reference.split(":")
    if "function" in parts:
        parts = parts[parts.index("function") + 1 :]
    return parts[0], (parts[1] if len(parts) > 1 else None)


def _function_in_uri(uri: str) -> str:
    """The function ARN in an integration URI (``…:lambda:path/2015-03-31/functions/<arn>/invocations``)."""
    found = re.search(r":lambda:path/2015-03-31/functions/(.+)/invocations$", uri)
    if found is None:
        raise TemplateRefused(f"not a Lambda integration URI: {uri}")
    return found.group(1)


def _resources(template: dict[str, Any], resolver: Resolver, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """The resources of type ``kind`` that exist with these parameters (their Condition holds, if any)."""
    return [
        (logical_id, resource)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind and ("Condition" not in resource or resolver.condition(resource["Condition"]))
    ]


_TRANSFORMED: dict[str, dict[str, Any]] = {}


def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """``template`` after SAM's transform (computed once per content in a process); a transformed one as it is."""
    if "Transform" not in template:
        return template
    key = hashlib.sha256(json.dumps(template, sort_keys=True, default=str).encode()).hexdigest()
    if key not in _TRANSFORMED:
        _TRANSFORMED[key] = transform(template)
    return _TRANSFORMED[key]


def _resolver(
    template: dict[str, Any], created: dict[str, dict[str, Any]], parameters: dict[str, Any] | None
) -> Resolver:
    resolver = Resolver(template, "local", parameters)
    resolver.created = dict(created)
    return resolver
