"""The local AWS endpoint (devtools.moto_server) is safe for what a local run does: several functions
writing at once, and a table-stream reader whose iterator outlives a cancelled transaction."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from devtools.cfn import local_client
from devtools.moto_server import MotoServer


def stream_table(moto: MotoServer) -> tuple[Any, Any, str, str, str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    dynamodb = local_client("dynamodb", moto.endpoint_url)
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    arn = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    streams = local_client("dynamodbstreams", moto.endpoint_url)
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return dynamodb, streams, name, arn, shard


def put_all(dynamodb: Any, table: str, keys: list[str]) -> bool:
    try:
        condition = "attribute_not_exists(pk)"
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": k}}, "ConditionExpression": condition}} for k in keys
            ]
        )
    except dynamodb.exceptions.TransactionCanceledException:
        return False
    return True


def keys_of(page: dict[str, Any]) -> list[str]:
    return [record["dynamodb"]["Keys"]["pk"]["S"] for record in page["Records"]]


def test_a_stream_iterator_made_before_a_cancelled_transaction_sees_no_phantom_and_misses_nothing(
    moto: MotoServer,
) -> None:
    dynamodb, streams, table, arn, shard = stream_table(moto)
    assert put_all(dynamodb, table, ["a"])
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]

    assert not put_all(dynamodb, table, ["phantom", "a"])  # "a" exists: the whole transaction is cancelled
    page = streams.get_records(ShardIterator=iterator)
    assert keys_of(page) == []

    assert put_all(dynamodb, table, ["b"])
    assert keys_of(streams.get_records(ShardIterator=page["NextShardIterator"])) == ["b"]


def test_concurrent_transactions_from_several_writers_all_land(moto: MotoServer) -> None:
    dynamodb, _, table, _, _ = stream_table(moto)
    errors: list[str] = []

    def write(writer: int) -> None:
        client = local_client("dynamodb", moto.endpoint_url)
        for batch in range(3):
            try:
                put_all(client, table, [f"{writer}-{batch}-{n}" for n in range(50)])
            except Exception as error:  # what moto answered before requests were served one at a time
                errors.append(repr(error))

    writers = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    assert errors == []
    assert dynamodb.scan(TableName=table, Select="COUNT")["Count"] == 6 * 3 * 50


def test_a_cancelled_transaction_leaves_the_table_and_its_stream_as_they_were(moto: MotoServer) -> None:
    """The transaction's rollback is undone item by item (devtools.moto_server), not by copying the table."""
    dynamodb, streams, table, arn, shard = stream_table(moto)
    assert put_all(dynamodb, table, [f"old-{i}" for i in range(100)])
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "kept"}, "v": {"S": "1"}})
    changes_before = read_all(streams, arn, shard)

    # Two new items are written before the third's condition fails: all three are undone.
    assert not put_all(dynamodb, table, ["new-1", "new-2", "old-7", "new-3"])
    # A write that replaces an item, then a failing one: the item gets its old version back.
    replace = {"Put": {"TableName": table, "Item": {"pk": {"S": "kept"}, "v": {"S": "2"}}}}
    fail = {
        "Put": {"TableName": table, "Item": {"pk": {"S": "old-8"}}, "ConditionExpression": "attribute_not_exists(pk)"}
    }
    try:
        dynamodb.transact_write_items(TransactItems=[replace, fail])
    except dynamodb.exceptions.TransactionCanceledException as cancelled:
        codes = [reason["Code"] for reason in cancelled.response["CancellationReasons"]]
        assert codes == ["None", "ConditionalCheckFailed"]
    else:
        raise AssertionError("the transaction should have been cancelled")

    items = {item["pk"]["S"]: item for item in dynamodb.scan(TableName=table)["Items"]}
    assert len(items) == 101 and not any(key.startswith("new-") for key in items)
    assert items["kept"]["v"] == {"S": "1"}
    assert read_all(streams, arn, shard) == changes_before

    assert put_all(dynamodb, table, ["new-1", "new-2"])  # and the table takes writes as before
    assert len(read_all(streams, arn, shard)) == len(changes_before) + 2


def read_all(streams: Any, arn: str, shard: str) -> list[tuple[str, str]]:
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    page = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)
    return [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in page["Records"]]
