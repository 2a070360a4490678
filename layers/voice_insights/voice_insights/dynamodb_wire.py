"""Request bodies for the summaries' transactions, written straight from items already in DynamoDB JSON.

botocore serialises a request by walking the API model for every value of every item. The items of
``items.to_item`` are already in DynamoDB's wire format (strings, numbers as strings, lists, maps,
booleans, bytes for ``B``), so the body is the parameters as JSON, with bytes in base64 as the JSON
protocol sends blobs. For 1,000 participant summaries (10 transactions of 100 items, 28 attributes
each) botocore's walk took 57 ms of CPU, ``json.dumps`` 18 ms and pydantic-core's ``to_json`` (Rust)
7 ms plus 4 ms to check that no value is binary (make bench). Only the body changes: signing, retries,
HTTP and reading the answer stay botocore's, and every other operation keeps botocore's serialiser.

Before that, botocore's endpoint resolution reads the table names of a transaction (the parameter
``ResourceArnList`` of DynamoDB's endpoint rules, for account-based endpoints) by evaluating a JMESPath
expression over every action: 0.7 ms of CPU per transaction of 100 actions, 7 ms per 1,000 participant
summaries. ``use_direct_endpoint_parameters`` selects the same names in Python (0.01 ms).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.serialize import JSONSerializer
from pydantic_core import PydanticSerializationError, to_json

WIRE_FORMAT_OPERATIONS = frozenset({"TransactWriteItems"})
# TransactWriteItems' operation context parameter in botocore's DynamoDB model, and the actions it reads.
RESOURCE_ARN_LIST_PATH = (
    "TransactItems[*].[ConditionCheck.TableName, Put.TableName, Delete.TableName, Update.TableName][]"
)
_ACTIONS = ("ConditionCheck", "Put", "Delete", "Update")
# Where a transaction's actions hold attribute values (Put, Update, Delete, ConditionCheck).
_VALUE_MAPS = ("Item", "Key", "ExpressionAttributeValues")


class WireFormatSerializer(JSONSerializer):
    """botocore's JSON serialiser, with the body of ``WIRE_FORMAT_OPERATIONS`` written from the parameters."""

    def serialize_to_request(self, parameters: Mapping[str, Any], operation_model: Any) -> dict[str, Any]:
        if operation_model.name not in WIRE_FORMAT_OPERATIONS:
            return super().serialize_to_request(parameters, operation_model)
        # botocore writes the method, URL and headers (an empty body costs it nothing); the body is ours.
        serialized = super().serialize_to_request({}, operation_model)
        serialized["body"] = transaction_body(parameters)
        return serialized


def transaction_body(parameters: Mapping[str, Any]) -> bytes:
    """The JSON body of a TransactWriteItems request: the same JSON document botocore writes."""
    if not _holds_binary(parameters.get("TransactItems") or []):
        try:
            # UTF-8 as it is, where botocore escapes non-ASCII as \\uXXXX: the same text once read.
            return to_json(parameters)
        except PydanticSerializationError:
            pass  # a lone surrogate, which UTF-8 cannot hold: json.dumps escapes it, as botocore does
    return json.dumps(parameters, default=_blob).encode(JSONSerializer.DEFAULT_ENCODING)


def use_wire_format_bodies(client: Any) -> Any:
    """Give a DynamoDB ``client`` (made with ``parameter_validation=False``) the faster bodies; returns it.

    botocore keeps the serialiser in a private attribute: if that ever changes shape, the client keeps
    its own serialiser (slower, never wrong), and tests/unit/test_dynamodb_wire.py fails to say so.
    """
    if type(getattr(client, "_serializer", None)) is JSONSerializer:
        client._serializer = WireFormatSerializer()
    return client


def use_direct_endpoint_parameters(client: Any) -> Any:
    """Let a DynamoDB ``client``'s endpoint resolution select a transaction's table names without JMESPath;
    returns it. Only while botocore's model reads them with ``RESOURCE_ARN_LIST_PATH``: any other expression
    (or parameter, or operation) is evaluated by botocore as before. Private attributes, as above: if they
    change shape the client keeps botocore's way, and tests/unit/test_dynamodb_wire.py fails to say so.
    """
    resolver = getattr(client, "_ruleset_resolver", None)
    botocore_resolve = getattr(resolver, "_resolve_param_as_operation_context_param", None)
    if botocore_resolve is None:
        return client

    def resolve(param_name: str, operation_model: Any, call_args: Mapping[str, Any]) -> Any:
        parameter = operation_model.operation_context_parameters.get(param_name) or {}
        if parameter.get("path") == RESOURCE_ARN_LIST_PATH:
            return resource_arn_list(call_args)
        return botocore_resolve(param_name, operation_model, call_args)

    resolver._resolve_param_as_operation_context_param = resolve  # type: ignore[union-attr]
    return client


def resource_arn_list(parameters: Mapping[str, Any]) -> list[Any] | None:
    """``RESOURCE_ARN_LIST_PATH`` evaluated in Python: each action's ``TableName`` in order, nulls dropped;
    None when ``TransactItems`` is not a list (what JMESPath gives for each input)."""
    actions = parameters.get("TransactItems")
    if not isinstance(actions, list):
        return None
    names = []
    for action in actions:
        for kind in _ACTIONS:
            request = action.get(kind) if isinstance(action, dict) else None
            name = request.get("TableName") if isinstance(request, dict) else None
            if name is not None:
                names.append(name)
    return names


def _holds_binary(actions: Iterable[Mapping[str, Any]]) -> bool:
    # DynamoDB reads blobs in standard base64; pydantic-core writes bytes as UTF-8 text, or in its base64
    # mode in the URL-safe alphabet: a transaction with binary values goes through json.dumps.
    for action in actions:
        for request in action.values():
            for name in _VALUE_MAPS:
                values = request.get(name)
                if values and _values_hold_binary(values.values()):
                    return True
    return False


def _values_hold_binary(values: Iterable[Mapping[str, Any]]) -> bool:
    # Membership tests rather than a loop over each value's one entry: 30,000 values per 1,000 items.
    for value in values:
        if "S" in value or "N" in value:
            continue
        if "B" in value or "BS" in value:
            return True
        if "L" in value and _values_hold_binary(value["L"]):
            return True
        if "M" in value and _values_hold_binary(value["M"].values()):
            return True
    return False


def _blob(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not a DynamoDB JSON value")
