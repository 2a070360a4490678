"""IAM enforced on the local endpoint: each function's calls are allowed only by its own execution role's
statements in SAM's transformed template, and refused as AWS refuses them.

Each function gets an access key of its own (``access_key_id``); ``IamEnforcement``, in front of moto, reads the
key of each SigV4-signed request, finds the function's role, works out the action and the resource ARN the request
acts on (``authorizations``) and evaluates them against the role's statements with IAM's rules (``evaluate``). A
refused call gets the answer the service gives (its error code, HTTP status and "User: ... is not authorized to
perform" message). Requests signed with any other key (the test harness, the runner's set-up) pass unchecked.

Identity-based policies only: what is not evaluated here is listed in docs/security.md ("IAM on the local stack").
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from base64 import b32encode
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from devtools.cfn import ACCOUNT, REGION, Resolver

# --- Who calls: one principal per function -------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """A function's execution role as its code sees it: the assumed-role session Lambda gives it."""

    function: str
    role: str  # the role's name
    statements: tuple[dict[str, Any], ...]
    managed_policies: tuple[str, ...] = ()  # their documents are not in the template: not evaluated (fail closed)

    @property
    def arn(self) -> str:
        # Lambda names the session after the function (https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html)
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role}/{self.function}"

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT}:role/{self.role}"


def access_key_id(function: str) -> str:
    """The local access key id of ``function`` (20 characters, like a temporary key's ASIA...)."""
    return "ASIA" + b32encode(hashlib.sha256(function.encode()).digest()).decode()[:16]


def function_credentials(function: str) -> dict[str, str]:
    """The environment that makes a function's boto3 clients sign with its own key."""
    return {
        "AWS_ACCESS_KEY_ID": access_key_id(function),
        "AWS_SECRET_ACCESS_KEY": "local",  # moto checks no signature: the key id alone says who calls
        "AWS_SESSION_TOKEN": f"local-session-{function}",
    }


class _LocalResolver(Resolver):
    """cfn.Resolver, with an ARN for resources the local stack does not create (log groups, the alert topic's
    key): statements on them still resolve, and never match a call to something else."""

    def __init__(self, template: dict[str, Any], created: dict[str, dict[str, Any]], params: dict[str, Any]) -> None:
        super().__init__(template, "local", params)
        self.created = created
        self.types = {logical_id: r["Type"] for logical_id, r in template["Resources"].items()}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
            logical_id, attribute = value["Fn::GetAtt"]
            if logical_id not in self.created:
                return not_created_arn(logical_id, self.types.get(logical_id, ""), attribute)
        return super().resolve(value)


def not_created_arn(logical_id: str, resource_type: str, attribute: str = "Arn") -> str:
    if resource_type == "AWS::KMS::Key":  # its Ref is local-<id> (cfn.Resolver), so KmsMasterKeyId agrees
        return key_arn(f"local-{logical_id}")
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:not-created-locally/{logical_id}/{attribute}"


def key_arn(key_id: str, region: str = REGION) -> str:
    return key_id if key_id.startswith("arn:") else f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


def _present(resolver: Resolver, resource: dict[str, Any]) -> bool:
    return "Condition" not in resource or resolver.condition(resource["Condition"])


def role_statements(
    transformed: dict[str, Any], role: str, resolver: Resolver
) -> tuple[tuple[dict[str, Any], ...], list[str]]:
    """Every identity-based statement of ``role`` (its inline policies, and the template's AWS::IAM::Policy and
    customer managed policies attached to it), resolved; and the ARNs of the managed policies it names."""
    resources = transformed["Resources"]
    properties = resolver.resolve(resources[role].get("Properties", {}))
    documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
    for resource in resources.values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and _present(resolver, resource):
            attached = resource["Properties"].get("Roles", [])
            if {"Ref": role} in attached:
                documents.append(resolver.resolve(resource["Properties"]["PolicyDocument"]))
    statements = []
    for document in documents:
        found = document.get("Statement", [])
        statements += found if isinstance(found, list) else [found]
    for statement in statements:
        check_supported(statement)
    return tuple(statements), list(properties.get("ManagedPolicyArns", []))


class UnsupportedPolicy(ValueError):
    """A statement uses a condition operator the local evaluator does not know: say so rather than guess."""


def function_principals(
    transformed: dict[str, Any], created: dict[str, dict[str, Any]], parameters: dict[str, Any] | None = None
) -> dict[str, Principal]:
    """{function logical id: its principal}, from the transformed template and the local resources' ARNs."""
    resolver = _LocalResolver(transformed, created, dict(parameters or {}))
    principals = {}
    for logical_id, resource in transformed["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function" or not _present(resolver, resource):
            continue
        role_value = resource["Properties"]["Role"]
        if not (isinstance(role_value, dict) and list(role_value) == ["Fn::GetAtt"]):
            raise UnsupportedPolicy(f"{logical_id}'s Role is not a role of the template: its grants are unknown")
        role = role_value["Fn::GetAtt"][0]
        statements, managed = role_statements(transformed, role, resolver)
        principals[logical_id] = Principal(logical_id, f"local-{role}", statements, tuple(managed))
    return principals


# --- Policy evaluation (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html)


def _pattern(text: str, case_insensitive: bool) -> re.Pattern[str]:
    # * is any run of characters, ? any one character; nothing else is special
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html#reference_policies_elements_resource_wildcards)
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if case_insensitive else re.DOTALL)


def wildcard_match(pattern: str, value: str, case_insensitive: bool = False) -> bool:
    return _pattern(pattern, case_insensitive).match(value) is not None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN)."""
    wanted, got = pattern.split(":", 5), value.split(":", 5)
    return len(wanted) == len(got) == 6 and all(wildcard_match(w, g) for w, g in zip(wanted, got, strict=True))


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda wanted, got: wanted == got,
    "StringEqualsIgnoreCase": lambda wanted, got: wanted.lower() == got.lower(),
    "StringLike": lambda wanted, got: wildcard_match(wanted, got),
    "ArnEquals": lambda wanted, got: wanted == got,
    "ArnLike": _arn_like,
    "Bool": lambda wanted, got: wanted.lower() == got.lower(),
}
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}  # fmt: skip


def _operator(name: str) -> tuple[str, bool, bool]:
    """(base operator, negated, IfExists) of a condition operator's name; raises UnsupportedPolicy if unknown."""
    if_exists = name.endswith("IfExists")
    base = name.removesuffix("IfExists")
    negated = base in _NEGATED
    base = _NEGATED.get(base, base)
    if base not in _OPERATORS and base != "Null":
        raise UnsupportedPolicy(f"the condition operator {name} is not evaluated locally (devtools/local_iam.py)")
    return base, negated, if_exists


def check_supported(statement: dict[str, Any]) -> None:
    for name in statement.get("Condition", {}):
        if ":" in name:  # ForAnyValue:/ForAllValues: set operators
            raise UnsupportedPolicy(f"the condition operator {name} is not evaluated locally (devtools/local_iam.py)")
        _operator(name)
    if "NotPrincipal" in statement or "Principal" in statement:
        raise UnsupportedPolicy("an identity-based statement names no Principal")


def _condition_holds(name: str, keys: dict[str, Any], context: dict[str, str]) -> bool:
    base, negated, if_exists = _operator(name)
    for key, wanted_values in keys.items():
        got = next((v for k, v in context.items() if k.lower() == key.lower()), None)  # keys are case-insensitive
        wanted = [str(v) for v in _listed(wanted_values)]
        if base == "Null":
            holds = (got is None) == (wanted[0].lower() == "true")
        elif got is None:
            holds = if_exists or negated  # a missing key: only ...IfExists and the negated operators hold
        else:
            matched = any(_OPERATORS[base](w, got) for w in wanted)
            holds = not matched if negated else matched
        if not holds:
            return False
    return True


def _statement_applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    if "Action" in statement:
        acts = any(wildcard_match(a, action, case_insensitive=True) for a in _listed(statement["Action"]))
    else:
        acts = not any(wildcard_match(a, action, case_insensitive=True) for a in _listed(statement["NotAction"]))
    if not acts:
        return False
    if "Resource" in statement:
        on = any(wildcard_match(r, resource) for r in _listed(statement["Resource"]))
    else:
        on = not any(wildcard_match(r, resource) for r in _listed(statement["NotResource"]))
    return on and all(_condition_holds(op, keys, context) for op, keys in statement.get("Condition", {}).items())


def evaluate(
    statements: Iterable[dict[str, Any]], action: str, resource: str, context: dict[str, str] | None = None
) -> str:
    """ "allow", "implicit" (no statement allows) or "explicit" (a Deny applies, whatever allows)."""
    applying = [s for s in statements if _statement_applies(s, action, resource, context or {})]
    if any(s["Effect"] == "Deny" for s in applying):
        return "explicit"
    return "allow" if any(s["Effect"] == "Allow" for s in applying) else "implicit"


# --- What a request asks for -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Authorization:
    """One action on one resource that a request needs; ``resource`` None: not computed locally."""

    action: str
    resource: str | None
    via: str = ""  # "kms": the service calls KMS with the caller's credentials (an encrypted topic or queue)


@dataclass
class Request:
    service: str  # the SigV4 signing name
    region: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def target(self) -> str:
        """The JSON protocols' operation name (X-Amz-Target: Prefix.Operation)."""
        return self.headers.get("x-amz-target", "").rpartition(".")[2]

    def json(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def form(self) -> dict[str, str]:
        fields = parse_qs(self.body.decode(errors="replace")) if self.body else {}
        return {name: values[0] for name, values in {**self.query, **fields}.items()}


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def _table_arn(request: Request, name: str) -> str:
    return name if name.startswith("arn:") else _arn("dynamodb", request.region, f"table/{name}")


def _dynamodb(request: Request) -> list[Authorization]:
    operation, params = request.target, request.json()
    if request.headers.get("x-amz-target", "").startswith("DynamoDBStreams"):
        # GetRecords names only an iterator; moto's iterators begin with the stream's ARN
        stream = params.get("StreamArn") or str(params.get("ShardIterator", "")).partition("|")[0] or None
        if operation == "ListStreams":
            stream = "*"
        return [Authorization(f"dynamodb:{operation}", stream)]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Authorization(f"dynamodb:{operation}", _table_arn(request, t)) for t in params.get("RequestItems", {})]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        # each item is authorised as its own action (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html)
        actions = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                   "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}  # fmt: skip
        return [
            Authorization(f"dynamodb:{actions[kind]}", _table_arn(request, op.get("TableName", "")))
            for item in params.get("TransactItems", [])
            for kind, op in item.items()
        ]
    if "TableName" in params:
        arn = _table_arn(request, params["TableName"])
        if params.get("IndexName"):
            arn += f"/index/{params['IndexName']}"
        return [Authorization(f"dynamodb:{operation}", arn)]
    return [Authorization(f"dynamodb:{operation}", "*" if operation in ("ListTables", "DescribeLimits") else None)]


def _s3(request: Request) -> list[Authorization]:
    # Path-style (the local endpoint is an IP address): /bucket/key
    bucket, _, key = unquote(request.path).lstrip("/").partition("/")
    host = request.headers.get("host", "").split(":")[0]
    if host.count(".") and not re.fullmatch(r"[\d.]+", host) and not host.startswith("s3."):
        bucket, key = host.split(".")[0], unquote(request.path).lstrip("/")  # virtual-hosted style
    if not bucket:
        return [Authorization("s3:ListAllMyBuckets", "*")]
    if not key:
        action = {"GET": "s3:ListBucket", "HEAD": "s3:ListBucket", "PUT": "s3:CreateBucket",
                  "DELETE": "s3:DeleteBucket"}.get(request.method)  # fmt: skip
        if request.method == "POST" and "delete" in request.query:
            return [Authorization("s3:DeleteObject", None)]
        return [Authorization(action or f"s3:{request.method}", f"arn:aws:s3:::{bucket}" if action else None)]
    if set(request.query) - {"x-id", "partNumber", "uploadId", "uploads", "versionId"}:
        return [Authorization(f"s3:{request.method} ?{','.join(sorted(request.query))}", None)]
    action = {"GET": "s3:GetObject", "HEAD": "s3:GetObject", "PUT": "s3:PutObject", "POST": "s3:PutObject",
              "DELETE": "s3:DeleteObject"}[request.method]  # fmt: skip
    needs = [Authorization(action, f"arn:aws:s3:::{bucket}/{key}")]
    if request.method == "PUT" and "x-amz-copy-source" in request.headers:
        source = unquote(request.headers["x-amz-copy-source"]).lstrip("/").split("?")[0]
        needs.append(Authorization("s3:GetObject", f"arn:aws:s3:::{source}"))
    return needs


def _sns(request: Request, encrypted: dict[str, str]) -> list[Authorization]:
    form = request.form()
    operation = form.get("Action", "")
    topic = form.get("TopicArn") or form.get("TargetArn")
    # PublishBatch is authorised as sns:Publish (https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html)
    action = "sns:Publish" if operation in ("Publish", "PublishBatch") else f"sns:{operation}"
    needs = [Authorization(action, topic or ("*" if operation.startswith("List") else None))]
    if action == "sns:Publish" and topic in encrypted:
        # SSE: SNS uses the publisher's permissions on the key
        # (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#sns-what-permissions-for-sse)
        needs += [Authorization(f"kms:{a}", encrypted[topic], via="kms") for a in ("GenerateDataKey", "Decrypt")]
    return needs


def _queue_arn(request: Request, url: str) -> str:
    name = urlsplit(url).path.rstrip("/").rpartition("/")[2]
    return _arn("sqs", request.region, name)


def _sqs(request: Request, encrypted: dict[str, str]) -> list[Authorization]:
    params = request.json() if request.target else request.form()
    operation = request.target or str(params.get("Action", ""))
    action = "sqs:SendMessage" if operation == "SendMessageBatch" else f"sqs:{operation}"
    queue = _queue_arn(request, str(params["QueueUrl"])) if params.get("QueueUrl") else None
    needs = [Authorization(action, queue)]
    if action == "sqs:SendMessage" and queue in encrypted:
        needs += [Authorization(f"kms:{a}", encrypted[queue], via="kms") for a in ("GenerateDataKey", "Decrypt")]
    return needs


def _secretsmanager(request: Request, secrets: dict[str, str]) -> list[Authorization]:
    secret_id = str(request.json().get("SecretId", ""))
    arn = secret_id if secret_id.startswith("arn:") else secrets.get(secret_id)
    return [Authorization(f"secretsmanager:{request.target}", arn)]


def _kms(request: Request) -> list[Authorization]:
    key_id = str(request.json().get("KeyId", ""))
    if key_id.startswith("alias/"):  # IAM authorises on the key an alias names, which is not looked up here
        return [Authorization(f"kms:{request.target}", None)]
    return [Authorization(f"kms:{request.target}", key_arn(key_id, request.region) if key_id else None)]


def _kinesis(request: Request) -> list[Authorization]:
    params = request.json()
    stream = params.get("StreamARN") or (
        _arn("kinesis", request.region, f"stream/{params['StreamName']}") if params.get("StreamName") else None
    )
    return [Authorization(f"kinesis:{request.target}", stream)]


def _firehose(request: Request) -> list[Authorization]:
    name = request.json().get("DeliveryStreamName")
    arn = _arn("firehose", request.region, f"deliverystream/{name}") if name else None
    action = {"PutRecordBatch": "firehose:PutRecordBatch"}.get(request.target, f"firehose:{request.target}")
    return [Authorization(action, arn)]


def _cloudwatch(request: Request) -> list[Authorization]:
    # CloudWatch's metric and alarm reads and PutMetricData take no resource ARN (resource "*")
    path_operation = request.path.rpartition("/operation/")[2] if "/operation/" in request.path else ""
    operation = path_operation or request.target or request.form().get("Action", "")
    return [Authorization(f"cloudwatch:{operation}", "*")]


@dataclass
class LocalIam:
    """The principals of a local run, by access key id, and what the local resources need to resolve a request."""

    principals: dict[str, Principal] = field(default_factory=dict)
    encrypted: dict[str, str] = field(default_factory=dict)  # topic/queue ARN -> the customer managed key's ARN
    secrets: dict[str, str] = field(default_factory=dict)  # secret name -> ARN
    refused: list[str] = field(default_factory=list)  # every message of a refused call, in order

    def enforce(self, principals: dict[str, Principal], created: dict[str, dict[str, Any]],
                template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:  # fmt: skip
        """Check every call signed with a function's key from now on."""
        resolver = _LocalResolver(template, created, dict(parameters or {}))
        for logical_id, resource in created.items():
            properties = template["Resources"].get(logical_id, {}).get("Properties", {})
            key = resolver.resolve(properties.get("KmsMasterKeyId", ""))
            if key and not str(key).startswith("alias/aws/"):  # AWS managed keys' policies let the account in
                self.encrypted[resource["attrs"].get("Arn") or resource["ref"]] = key_arn(str(key))
            if resource["type"] == "AWS::SecretsManager::Secret":
                arn = resource["ref"]
                self.secrets[arn.rsplit(":", 1)[1].rsplit("-", 1)[0]] = arn
        self.principals.update({access_key_id(fn): p for fn, p in principals.items()})

    def authorizations(self, request: Request) -> list[Authorization]:
        service = request.service
        if service == "dynamodb":
            return _dynamodb(request)
        if service == "s3":
            return _s3(request)
        if service == "sns":
            return _sns(request, self.encrypted)
        if service == "sqs":
            return _sqs(request, self.encrypted)
        if service == "secretsmanager":
            return _secretsmanager(request, self.secrets)
        if service == "kms":
            return _kms(request)
        if service == "kinesis":
            return _kinesis(request)
        if service == "firehose":
            return _firehose(request)
        if service == "monitoring":
            return _cloudwatch(request)
        if service == "sts" and request.form().get("Action") == "GetCallerIdentity":
            return []  # needs no permission (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)
        return [Authorization(f"{service}:{request.target or request.method}", None)]

    def check(self, principal: Principal, request: Request) -> Refusal | None:
        """None when every action the request needs is allowed; else how the service refuses it."""
        context = {
            "aws:PrincipalArn": principal.role_arn,
            "aws:PrincipalAccount": ACCOUNT,
            "aws:RequestedRegion": request.region,
            "aws:SecureTransport": "true",  # deployed, the SDK calls AWS over TLS; locally it is plain HTTP
        }
        for need in self.authorizations(request):
            if need.resource is None:
                message = (
                    f"User: {principal.arn} is not authorized to perform: {need.action}: the local IAM check cannot "
                    "work out the resource of this request (add it to devtools/local_iam.py's authorizations)"
                )
                return self._refuse(request, need, message)
            decision = evaluate(principal.statements, need.action, need.resource, context)
            if decision != "allow":
                return self._refuse(request, need, denied_message(request.service, principal, need, decision))
        return None

    def _refuse(self, request: Request, need: Authorization, message: str) -> Refusal:
        self.refused.append(message)
        return refusal(request.service, need, message, request.headers)


def denied_message(service: str, principal: Principal, need: Authorization, decision: str) -> str:
    """IAM's message for a refused call, as each service words it
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html)."""
    action, resource = need.action, str(need.resource)
    if service == "sns" and not need.via:
        action = "SNS:" + action.split(":", 1)[1]  # SNS spells its own service prefix in capitals
    elif service == "sqs" and not need.via:
        action = action.lower()  # SQS lower-cases its actions in its messages
    if service == "s3":
        resource = f'"{resource}"'  # S3 quotes the resource (https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html)
    why = (
        "with an explicit deny in an identity-based policy"
        if decision == "explicit"
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {why}"


# --- How each service refuses ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


_JSON_TYPES = {
    "dynamodb": "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
    "kinesis": "AccessDeniedException",
    "kms": "AccessDeniedException",
    "secretsmanager": "AccessDeniedException",
    "firehose": "AccessDeniedException",
    "logs": "AccessDeniedException",
}
REQUEST_ID = "00000000-0000-4000-8000-000000000000"


def refusal(service: str, need: Authorization, message: str, headers: dict[str, str] | None = None) -> Refusal:
    """The HTTP answer of ``service`` refusing a call: the error code botocore raises as a ClientError, in the
    protocol of the request (``headers``, lower-case names): JSON, query XML or S3's REST XML."""
    headers = headers or {}
    request_id = [("x-amzn-RequestId", REQUEST_ID)]
    if service == "s3":
        body = (f"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>AccessDenied</Code><Message>{escape(message)}"
                f"</Message><RequestId>{REQUEST_ID}</RequestId><HostId>local</HostId></Error>")  # fmt: skip
        return Refusal(403, [("Content-Type", "application/xml"), ("x-amz-request-id", REQUEST_ID)], body.encode())
    if service == "sns":
        # AuthorizationError (403); KMSAccessDenied (400) when the topic's key refuses
        # (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors)
        code, status = ("KMSAccessDenied", 400) if need.via else ("AuthorizationError", 403)
        return _query_error("http://sns.amazonaws.com/doc/2010-03-31/", code, message, status)
    if service == "sqs":
        # JSON protocol, query-compatible: botocore takes the code from x-amzn-query-error
        code = "KMS.AccessDeniedException" if need.via else "AccessDenied"
        payload = {"__type": f"com.amazonaws.sqs#{code}", "message": message}
        sqs_headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-query-error", f"{code};Sender")]
        return Refusal(400 if need.via else 403, [*sqs_headers, *request_id], json.dumps(payload).encode())
    if service == "monitoring" and "x-amz-target" not in headers:  # CloudWatch's query protocol (older SDKs)
        return _query_error("http://monitoring.amazonaws.com/doc/2010-08-01/", "AccessDenied", message, 403)
    if service == "monitoring":
        payload = {"__type": "com.amazonaws.cloudwatch#AccessDenied", "message": message}
        json_headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-query-error", "AccessDenied;Sender")]
        return Refusal(403, [*json_headers, *request_id], json.dumps(payload).encode())
    error_type = _JSON_TYPES.get(service, "AccessDeniedException")
    content_type = "application/x-amz-json-1.0" if service == "dynamodb" else "application/x-amz-json-1.1"
    key = "Message" if service in ("dynamodb", "secretsmanager") else "message"
    body_json = json.dumps({"__type": error_type, key: message}).encode()
    return Refusal(400, [("Content-Type", content_type), *request_id], body_json)


def _query_error(namespace: str, code: str, message: str, status: int) -> Refusal:
    """An error in the query protocol's XML."""
    error = f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    body = f'<ErrorResponse xmlns="{namespace}">{error}<RequestId>{REQUEST_ID}</RequestId></ErrorResponse>'
    return Refusal(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", REQUEST_ID)], body.encode())


# --- The check in front of moto ------------------------------------------------------------------------------

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


def signed_by(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    """(access key id, region, service) of a SigV4-signed request (header or presigned URL), or None."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    found = _CREDENTIAL.search(authorization)
    if found:
        return found.group(1), found.group(2), found.group(3)
    credential = parse_qs(str(environ.get("QUERY_STRING", ""))).get("X-Amz-Credential", [""])[0]
    parts = credential.split("/")
    return (parts[0], parts[2], parts[3]) if len(parts) == 5 else None


class IamEnforcement:
    """WSGI middleware: a request signed with a function's key reaches ``app`` only if its role allows it."""

    def __init__(self, app: Callable[..., Iterable[bytes]], iam: LocalIam) -> None:
        self.app = app
        self.iam = iam

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        signer = signed_by(environ) if self.iam.principals else None
        principal = self.iam.principals.get(signer[0]) if signer else None
        if principal is None or signer is None:
            return self.app(environ, start_response)
        key_id, region, service = signer
        del key_id
        body = b""
        if service != "s3" and environ.get("CONTENT_LENGTH"):  # S3's resource is in its path, its bodies large
            body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
            environ["wsgi.input"] = io.BytesIO(body)
        headers = {name[5:].replace("_", "-").lower(): str(value) for name, value in environ.items()
                   if name.startswith("HTTP_")}  # fmt: skip
        headers["content-type"] = str(environ.get("CONTENT_TYPE", ""))
        request = Request(
            service, region, str(environ.get("REQUEST_METHOD", "GET")), str(environ.get("PATH_INFO", "/")),
            parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True), headers, body,
        )  # fmt: skip
        refused = self.iam.check(principal, request)
        if refused is None:
            return self.app(environ, start_response)
        reason = {400: "Bad Request", 403: "Forbidden"}[refused.status]
        start_response(f"{refused.status} {reason}", [*refused.headers, ("Content-Length", str(len(refused.body)))])
        return [refused.body]
