"""A real AWS endpoint on 127.0.0.1: moto in server mode, reached by boto3 over HTTP."""

from __future__ import annotations

import copy
import functools
import importlib.metadata
import threading
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodbstreams.models import ShardIterator
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from devtools.local_iam import IamEnforcement, LocalIam
from devtools.loopback import BackgroundServer, free_port

REGION = "us-east-1"
# The moto releases the fixes below were written for and tested with: another may have moved what they patch.
MOTO_VERSIONS_FIXED = frozenset({"5.2.5"})


class UnknownMotoVersion(RuntimeError):
    pass


def aws_env(endpoint_url: str, region: str = REGION) -> dict[str, str]:
    """What a process needs to talk to the local endpoint: every boto3 client honours AWS_ENDPOINT_URL."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }


class _OneRequestAtATime:
    """moto's backends are not thread-safe: two TransactWriteItems at once fail with "dictionary changed
    size during iteration" (docs/moto-upstream.md, bug 3). Several functions write at once in a local run,
    so requests are served one at a time; the connections stay concurrent."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


def _read_the_live_shard(get: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """moto 5.2 cancels a TransactWriteItems by swapping in a copy of the table taken before it; a table
    stream iterator made earlier still holds the old table's shard, which kept the cancelled writes, so a
    reader saw records that never happened and missed the ones written after (docs/moto-upstream.md, bug 1).
    Here an iterator reads the shard of the table as it is now."""

    @functools.wraps(get)
    def get_from_live_shard(iterator: ShardIterator, limit: int = 1000) -> dict[str, Any]:
        table = iterator.streams_backend.dynamodb.get_table(iterator.stream_shard.table.name)
        if table.stream_shard is not None:
            iterator.stream_shard = table.stream_shard
        return get(iterator, limit)

    return get_from_live_shard


class _CopiesButNotTables:
    """moto's ``copy`` module as seen by its DynamoDB backend: a table is "copied" as itself (see below)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _roll_back_only_the_items_written(
    transact: Callable[[DynamoDBBackend, list[dict[str, Any]]], None],
) -> Callable[[DynamoDBBackend, list[dict[str, Any]]], None]:
    """moto 5.2 backs up a TransactWriteItems by deep-copying the whole table once per item of the
    transaction, so local writes slow down as the table grows (docs/moto-upstream.md, bug 2). Here moto's
    "backup" is the table itself, and a cancelled transaction is undone item by item: the items it touched
    get their old versions back and the stream records it added are dropped, as if it never happened (as on
    DynamoDB)."""

    @functools.wraps(transact)
    def transact_write_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        journal = []
        for action in transact_items:
            for op_type, op in action.items():
                table = backend.tables.get(op.get("TableName", ""))
                if table is None:
                    continue
                attrs = op["Item"] if op_type == "Put" else op.get("Key", {})
                if table.hash_key_attr not in attrs:
                    continue
                hash_value = DynamoType(attrs[table.hash_key_attr])
                range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr in attrs else None
                old = table.get_item(hash_value, range_value)
                stream_length = len(table.stream_shard.items) if table.stream_shard is not None else 0
                journal.append((table, hash_value, range_value, copy.deepcopy(old), stream_length))
        try:
            transact(backend, transact_items)
        except Exception:
            for table, hash_value, range_value, old, stream_length in reversed(journal):
                _put_back(table, hash_value, range_value, old)
                if table.stream_shard is not None:
                    del table.stream_shard.items[stream_length:]
            raise

    return transact_write_items


def _put_back(table: Table, hash_value: DynamoType, range_value: DynamoType | None, old: Any) -> None:
    if range_value is None:
        if old is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = old
    elif old is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = old


_installed = False


def install_moto_fixes() -> None:
    """Install the fixes above into moto, once; raises UnknownMotoVersion on a moto they were not written for."""
    global _installed
    version = importlib.metadata.version("moto")
    if version not in MOTO_VERSIONS_FIXED:
        raise UnknownMotoVersion(
            f"moto {version} is installed, and devtools/moto_server.py's fixes to moto were written for moto "
            f"{', '.join(sorted(MOTO_VERSIONS_FIXED))}. Pin that in requirements-dev.txt, or check each fix "
            f"(docs/moto-upstream.md) against moto {version}'s source, drop the ones it no longer needs, and add "
            f"{version} to MOTO_VERSIONS_FIXED."
        )
    if _installed:
        return
    ShardIterator.get = _read_the_live_shard(ShardIterator.get)  # type: ignore[method-assign]
    dynamodb_models.copy = _CopiesButNotTables()  # type: ignore[assignment]
    DynamoDBBackend.transact_write_items = _roll_back_only_the_items_written(  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items
    )
    _installed = True


class MotoServer(BackgroundServer):
    """Start on a free loopback port; stop on exit. Never create Lambda functions in it (moto would
    try to run them in Docker and drain the DynamoDB stream)."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host  # `make local-aws` on Linux: where containers reach it (0.0.0.0, the docker0 address)
        self.port = port or free_port()
        self.endpoint_url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"  # noqa: S104
        # Calls signed with a function's key are checked against its role once the runner says whose keys
        # they are (LocalIam.enforce); any other key (tests, set-up) is not checked.
        self.iam = LocalIam()

    def start(self) -> MotoServer:
        install_moto_fixes()
        app = IamEnforcement(_OneRequestAtATime(DomainDispatcherApplication(create_backend_app)), self.iam)
        server = make_server(self.host, self.port, app, threaded=True, request_handler=MotoRequestHandler)
        self._serve(server, "moto-server")
        return self

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310 (loopback)
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310
