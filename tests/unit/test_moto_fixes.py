"""Given the local endpoint's fixes to moto (devtools.moto_server), when they are installed, then it is by an
explicit call that checks moto's version: a known one gets them (once), an unknown one fails loudly and gets none."""

from __future__ import annotations

import copy
import importlib.metadata
import inspect
from collections.abc import Iterator
from typing import Any

import boto3
import moto.dynamodb.models as dynamodb_models
import pytest
from botocore.config import Config
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodbstreams.models import ShardIterator

from devtools import moto_server


@pytest.fixture
def uninstalled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto as it ships, even when a moto server started earlier in this process; put back as it was after."""
    monkeypatch.setattr(ShardIterator, "get", inspect.unwrap(ShardIterator.get))
    monkeypatch.setattr(dynamodb_models, "copy", copy)
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", inspect.unwrap(DynamoDBBackend.transact_write_items))
    monkeypatch.setattr(moto_server, "_installed", False)
    assert not fixes_installed()
    yield


def fixes_installed() -> bool:
    wrapped = hasattr(ShardIterator.get, "__wrapped__") or hasattr(DynamoDBBackend.transact_write_items, "__wrapped__")
    return wrapped or dynamodb_models.copy is not copy


def stream_after_a_cancelled_transaction() -> list[tuple[str, str]]:
    """What a table-stream reader sees: a cancelled transaction, then one put (moto in-process)."""
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        # botocore would address streams by account id (<account>.streams-ddb…), which moto does not route
        by_region = Config(account_id_endpoint_mode="disabled")
        streams = boto3.client("dynamodbstreams", region_name="us-east-1", config=by_region)
        arn = ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        ddb.put_item(TableName="t", Item={"pk": {"S": "exists"}})
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
        cancelled: list[dict[str, Any]] = [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "cancelled"}}}},
            {
                "Put": {
                    "TableName": "t",
                    "Item": {"pk": {"S": "exists"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(TransactItems=cancelled)
        ddb.put_item(TableName="t", Item={"pk": {"S": "after"}})
        records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
        return [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records]


def test_moto_as_it_ships_shows_a_cancelled_write_on_the_stream_and_loses_the_next(uninstalled: None) -> None:
    """Why the fixes exist (docs/moto-upstream.md): when this fails, moto fixed it upstream; drop the fix."""
    assert stream_after_a_cancelled_transaction() == [("INSERT", "cancelled")]


def test_a_known_moto_version_gets_the_fixes_once(uninstalled: None) -> None:
    assert importlib.metadata.version("moto") in moto_server.MOTO_VERSIONS_FIXED
    moto_server.install_moto_fixes()
    installed = (ShardIterator.get, DynamoDBBackend.transact_write_items)
    moto_server.install_moto_fixes()

    assert (ShardIterator.get, DynamoDBBackend.transact_write_items) == installed  # not wrapped twice
    assert fixes_installed()
    assert stream_after_a_cancelled_transaction() == [("INSERT", "after")]  # as on DynamoDB


def test_an_unknown_moto_version_fails_loudly_and_installs_nothing(
    uninstalled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.9.9" if name == "moto" else "0")

    with pytest.raises(moto_server.UnknownMotoVersion) as raised:
        moto_server.install_moto_fixes()

    message = str(raised.value)
    assert "moto 9.9.9 is installed" in message
    assert "5.2.5" in message and "docs/moto-upstream.md" in message and "MOTO_VERSIONS_FIXED" in message
    assert not fixes_installed()


def test_the_local_endpoint_installs_them_when_it_starts(uninstalled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.9.9")

    with pytest.raises(moto_server.UnknownMotoVersion):
        moto_server.MotoServer().start()
