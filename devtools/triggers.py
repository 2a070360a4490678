"""The functions' triggers as template.yaml declares them: stream event-source mappings and API routes.

Read from the template (intrinsics resolved against the local resources), so a local run batches,
filters, retries and routes exactly as the deployed stack is configured to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from devtools.cfn import Resolver

# What Lambda does when the template leaves a setting out
# (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
DEFAULT_BATCH_SIZE = 100
DEFAULT_RETRIES = -1  # infinite: until the record expires


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


@dataclass(frozen=True)
class ApiRoute:
    function: str
    method: str  # upper case
    path: str  # without the stage
    stage: str


def stream_triggers(
    template: dict[str, Any], created: dict[str, dict[str, Any]], parameters: dict[str, Any] | None = None
) -> list[StreamTrigger]:
    resolver = _resolver(template, created, parameters)
    triggers = []
    for function, event, spec in _events(template):
        if spec["Type"] not in ("Kinesis", "DynamoDB"):
            continue
        props = resolver.resolve(spec.get("Properties", {}))
        filters = props.get("FilterCriteria", {}).get("Filters", [])
        on_failure = props.get("DestinationConfig", {}).get("OnFailure", {})
        triggers.append(
            StreamTrigger(
                function=function,
                event=event,
                kind="kinesis" if spec["Type"] == "Kinesis" else "dynamodb",
                stream_arn=props["Stream"],
                batch_size=int(props.get("BatchSize", DEFAULT_BATCH_SIZE)),
                batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                max_retries=int(props.get("MaximumRetryAttempts", DEFAULT_RETRIES)),
                bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
                reports_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                filter_patterns=tuple(json.loads(f["Pattern"]) for f in filters),
                on_failure_arn=on_failure.get("Destination"),
                starting_position=props.get("StartingPosition", "LATEST"),
            )
        )
    return triggers


WEBHOOK_API = "WebhookApi"
READ_API = "ReadApi"


def api_routes(template: dict[str, Any], api: str = WEBHOOK_API) -> list[ApiRoute]:
    """The routes of one of the template's REST APIs (by logical id): the webhook's, or the read API's."""
    routes = []
    for function, _, spec in _events(template):
        if spec["Type"] != "Api" or spec["Properties"]["RestApiId"] != {"Ref": api}:
            continue
        props = spec["Properties"]
        stage = template["Resources"][api]["Properties"]["StageName"]
        routes.append(ApiRoute(function, props["Method"].upper(), props["Path"], stage))
    return routes


def _events(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (logical_id, event, spec)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event, spec in resource["Properties"].get("Events", {}).items()
    ]


def _resolver(
    template: dict[str, Any], created: dict[str, dict[str, Any]], parameters: dict[str, Any] | None
) -> Resolver:
    resolver = Resolver(template, "local", parameters)
    resolver.created = created
    return resolver
