"""Given the summaries' transactions, when their body is written straight from the items, then it is the JSON
document botocore's own serialiser writes (the stored items are the same), with the same URL and headers,
for the items this application builds and for any DynamoDB JSON value."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import jmespath
from botocore.config import Config
from botocore.serialize import JSONSerializer
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from tests.conftest import SEED_FILES, load_seed, variant
from voice_insights.dynamodb_wire import (
    RESOURCE_ARN_LIST_PATH,
    WireFormatSerializer,
    resource_arn_list,
    transaction_body,
    use_direct_endpoint_parameters,
    use_wire_format_bodies,
)
from voice_insights.items import to_item
from voice_insights.models import SummaryEvent
from voice_insights.store import AWS_CLIENT_CONFIG, SummaryStore, make_client

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def client(**config: Any) -> Any:
    return boto3.client(  # no request is sent: only the serialisers are used
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=Config(**config)
    )


OPERATION = client().meta.service_model.operation_model("TransactWriteItems")


def both(parameters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each serialiser's request, the body read back as JSON (botocore escapes non-ASCII, ours does not)."""
    requests = (
        WireFormatSerializer().serialize_to_request(parameters, OPERATION),
        JSONSerializer().serialize_to_request(parameters, OPERATION),
    )
    return tuple({**request, "body": json.loads(request["body"].decode("utf-8"))} for request in requests)  # type: ignore[return-value]


def transaction(events: list[dict[str, Any]]) -> dict[str, Any]:
    store = SummaryStore("summaries", client=client())
    items = [to_item(TypeAdapter(SummaryEvent).validate_python(event), NOW, retention_days=30) for event in events]
    return {"TransactItems": [store._put(item) for item in items]}


def test_the_body_of_a_transaction_of_summaries_is_botocores_body() -> None:
    events = [load_seed(name) for name in SEED_FILES]
    events.append(variant(load_seed("conference_summary_complete"), data__friendly_name="Zoë's stand-up ☎"))
    # Over 300 KB of data: stored gzip-compressed, a binary (B) attribute sent in base64.
    events.append(variant(load_seed("participant_summary_complete"), data__notes="x" * 400_000))
    parameters = transaction(events)
    assert any("data_gz" in put["Put"]["Item"] for put in parameters["TransactItems"])
    fast, botocore = both(parameters)
    assert fast == botocore
    assert fast["headers"]["X-Amz-Target"] == "DynamoDB_20120810.TransactWriteItems"


def test_summaries_without_binary_values_are_written_by_pydantic_core_in_utf8() -> None:
    events = [load_seed(name) for name in SEED_FILES]
    events.append(variant(load_seed("conference_summary_complete"), data__friendly_name="Zoë's stand-up ☎"))
    parameters = transaction(events)
    body = transaction_body(parameters)
    assert "Zoë's stand-up ☎".encode() in body  # UTF-8 as it is: not json.dumps' \\u escapes
    assert json.loads(body) == json.loads(JSONSerializer().serialize_to_request(parameters, OPERATION)["body"])


def test_a_lone_surrogate_is_escaped_as_botocore_escapes_it() -> None:
    # JSON may carry "\\ud800" (the webhook path reads it with json.loads); UTF-8 cannot hold it.
    parameters = {"TransactItems": [{"Put": {"TableName": "t", "Item": {"pk": {"S": "a\ud800b"}}}}]}
    fast, botocore = both(parameters)
    assert fast == botocore
    assert b"\\ud800" in transaction_body(parameters)


def attribute_values(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    scalars = st.one_of(
        st.builds(lambda s: {"S": s}, st.text()),
        st.builds(lambda n: {"N": str(n)}, st.integers() | st.floats(allow_nan=False, allow_infinity=False)),
        st.builds(lambda b: {"B": b}, st.binary()),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda s: {"SS": sorted(s)}, st.sets(st.text(), min_size=1, max_size=4)),
        st.builds(lambda s: {"BS": sorted(s)}, st.sets(st.binary(), min_size=1, max_size=4)),
    )
    if depth == 0:
        return scalars
    inner = attribute_values(depth - 1)
    return st.one_of(
        scalars,
        st.builds(lambda v: {"L": v}, st.lists(inner, max_size=4)),
        st.builds(lambda v: {"M": v}, st.dictionaries(st.text(), inner, max_size=4)),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.text(min_size=1), attribute_values(), min_size=1, max_size=6), max_size=5))
def test_the_body_of_any_dynamodb_json_item_is_botocores_body(items: list[dict[str, Any]]) -> None:
    parameters = {"TransactItems": [{"Put": {"TableName": "t", "Item": item}} for item in items]}
    fast, botocore = both(parameters)
    assert fast == botocore


def test_other_operations_keep_botocores_serialiser() -> None:
    # A blob given as text: botocore sends it base64-encoded, json.dumps would send the text as it is.
    operation = client().meta.service_model.operation_model("GetItem")
    parameters = {"TableName": "t", "Key": {"pk": {"B": "not base64"}}}
    assert WireFormatSerializer().serialize_to_request(parameters, operation) == JSONSerializer().serialize_to_request(
        parameters, operation
    )


def test_the_summaries_client_writes_wire_format_bodies(monkeypatch: Any) -> None:
    # Fails if botocore moves or wraps its serialiser: the store would silently fall back to the slow walk.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert AWS_CLIENT_CONFIG.parameter_validation is False
    assert type(SummaryStore("summaries").client._serializer) is WireFormatSerializer
    assert type(make_client("dynamodb")._serializer) is JSONSerializer  # other clients: botocore's own


def test_a_client_that_validates_parameters_keeps_its_serialiser() -> None:
    validating = client(parameter_validation=True)
    serializer = validating._serializer
    assert use_wire_format_bodies(validating)._serializer is serializer


# --- endpoint parameters ---------------------------------------------------------------------------


def test_botocore_reads_a_transactions_table_names_with_the_expression_evaluated_in_python() -> None:
    # Fails if botocore's DynamoDB model changes the expression: the shortcut would then never apply.
    assert OPERATION.operation_context_parameters["ResourceArnList"]["path"] == RESOURCE_ARN_LIST_PATH


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
ACTIONS = st.dictionaries(
    st.sampled_from(["ConditionCheck", "Put", "Delete", "Update", "Other"]),
    st.dictionaries(st.sampled_from(["TableName", "Key"]), JSON_VALUES, max_size=2) | JSON_VALUES,
    max_size=3,
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.lists(ACTIONS | JSON_VALUES, max_size=5), JSON_VALUES))
def test_the_table_names_are_what_jmespath_selects_for_any_input(actions: Any) -> None:
    parameters = {"TransactItems": actions}
    assert resource_arn_list(parameters) == jmespath.search(RESOURCE_ARN_LIST_PATH, parameters)
    assert resource_arn_list({}) == jmespath.search(RESOURCE_ARN_LIST_PATH, {})


def test_the_summaries_client_resolves_the_same_endpoint_parameters_without_jmespath(monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    parameters = transaction([load_seed(name) for name in SEED_FILES])
    parameters["TransactItems"].append({"ConditionCheck": {"TableName": "arn:aws:dynamodb:us-east-1:1:table/t"}})
    fast = SummaryStore("summaries", client=use_direct_endpoint_parameters(client())).client._ruleset_resolver
    botocore = client()._ruleset_resolver

    def searches_during(resolver: Any) -> tuple[dict[str, Any], int]:
        calls = []
        real_search = jmespath.search
        monkeypatch.setattr(jmespath, "search", lambda *args: calls.append(args) or real_search(*args))
        params = resolver._get_provider_params(OPERATION, parameters, {})
        monkeypatch.setattr(jmespath, "search", real_search)
        return params, len(calls)

    fast_params, fast_searches = searches_during(fast)
    botocore_params, botocore_searches = searches_during(botocore)
    assert fast_params == botocore_params
    assert fast_params["ResourceArnList"][-1] == "arn:aws:dynamodb:us-east-1:1:table/t"
    assert (fast_searches, botocore_searches) == (0, 1)


def test_other_operation_context_parameters_stay_botocores(monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    resolver = use_direct_endpoint_parameters(client())._ruleset_resolver
    batch = client().meta.service_model.operation_model("BatchGetItem")
    arguments = {"RequestItems": {"a": {}, "b": {}}}
    assert resolver._resolve_param_as_operation_context_param("ResourceArnList", batch, arguments) == ["a", "b"]


def test_the_summaries_client_resolves_endpoint_parameters_directly(monkeypatch: Any) -> None:
    # Fails if botocore renames what is wrapped: the store would silently go back to JMESPath.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    resolve = SummaryStore("summaries").client._ruleset_resolver._resolve_param_as_operation_context_param
    assert resolve.__qualname__ == "use_direct_endpoint_parameters.<locals>.resolve"
    untouched = make_client("dynamodb")._ruleset_resolver._resolve_param_as_operation_context_param
    assert untouched.__qualname__.startswith("EndpointRulesetResolver.")
