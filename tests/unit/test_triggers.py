"""Given a transformed template's Lambda resources, when a function reference or a permission is resolved, then it is
resolved as Lambda and IAM resolve it: an alias to its function and version, a version to itself, a name or ARN
without qualifier to $LATEST, nothing that does not exist; ArnLike wildcards within each part of an ARN."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.cfn import Resolver
from devtools.triggers import ApiRoute, LambdaResources, Target, arn_like

ARN = "arn:aws:lambda:us-east-1:123456789012:function:Fn"
API = "arn:aws:execute-api:us-east-1:1:api"


def lambdas(permissions: list[dict[str, Any]] | None = None) -> LambdaResources:
    template: dict[str, Any] = {
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {}},
            "FnVersion1": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
            "FnAliaslive": {
                "Type": "AWS::Lambda::Alias",
                "Properties": {
                    "Name": "live",
                    "FunctionName": {"Ref": "Fn"},
                    "FunctionVersion": {"Fn::GetAtt": ["FnVersion1", "Version"]},
                },
            },
            **{
                f"Permission{n}": {"Type": "AWS::Lambda::Permission", "Properties": p}
                for n, p in enumerate(permissions or [])
            },
        }
    }
    return LambdaResources(template, Resolver(template, "local"))


@pytest.mark.parametrize(
    ("reference", "target"),
    [
        ("Fn", Target("Fn", None, "$LATEST")),
        (ARN, Target("Fn", None, "$LATEST")),
        ("123456789012:function:Fn", Target("Fn", None, "$LATEST")),
        (f"{ARN}:$LATEST", Target("Fn", "$LATEST", "$LATEST")),
        (f"{ARN}:live", Target("Fn", "live", "1")),
        ("Fn:1", Target("Fn", "1", "1")),
        (f"{ARN}:2", None),
        (f"{ARN}:other", None),
        ("Other", None),
    ],
)
def test_a_reference_resolves_as_lambda_resolves_it(reference: str, target: Target | None) -> None:
    assert lambdas().target(reference) == target


def test_a_permission_grants_exactly_its_own_function_alias_or_version() -> None:
    on_alias = {"Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
                "FunctionName": {"Ref": "FnAliaslive"}, "SourceArn": f"{API}/*/GET/x"}  # fmt: skip
    other_principal = {**on_alias, "Principal": "s3.amazonaws.com"}
    resources = lambdas([on_alias, other_principal])
    assert resources.api_gateway_grants(Target("Fn", "live", "1")) == (f"{API}/*/GET/x",)
    assert resources.api_gateway_grants(Target("Fn", None, "$LATEST")) == ()
    assert resources.api_gateway_grants(Target("Fn", "1", "1")) == ()
    without_source = {key: value for key, value in on_alias.items() if key != "SourceArn"}
    assert lambdas([without_source]).api_gateway_grants(Target("Fn", "live", "1")) == ("*",)


@pytest.mark.parametrize(
    ("pattern", "arn", "matches"),
    [
        (f"{API}/*/GET/calls/*", f"{API}/v1/GET/calls/CA1", True),
        (f"{API}/*/GET/calls/*", f"{API}/v1/GET/calls", False),
        (f"{API}/*/GET/conferences", f"{API}/v1/GET/conferences/CF1", False),
        (f"{API}/*/GET/issues", "arn:aws:execute-api:us-east-1:1:other/v1/GET/issues", False),
        ("arn:aws:execute-api:*:1:api/v?/GET/issues", "arn:aws:execute-api:eu-west-1:1:api/v1/GET/issues", True),
        (f"{API}/*", "arn:aws:execute-api:us-east-1:2:api/v1/GET/issues", False),
        ("*", f"{API}/v1/GET/issues", True),
    ],
)  # fmt: skip
def test_arn_like_matches_each_part_on_its_own(pattern: str, arn: str, matches: bool) -> None:
    assert arn_like(pattern, arn) is matches


def test_a_route_checks_the_method_arn_of_the_request() -> None:
    route = ApiRoute("Fn", "GET", "/calls/{callSid}", "v1", "live", ("arn:aws:execute-api:*:*:readapi/*/GET/calls/*",),
                     "readapi")  # fmt: skip
    assert route.method_arn("/calls/CA1") == "arn:aws:execute-api:us-east-1:123456789012:readapi/v1/GET/calls/CA1"
    assert route.granted("/calls/CA1") and not route.granted("/issues")
