"""A real AWS endpoint on 127.0.0.1: moto in server mode, reached by boto3 over HTTP."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from moto.dynamodbstreams.models import ShardIterator
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    size during iteration" (measured: 68 of 80 transactions from 8 threads). Several functions write at
    once in a local run, so requests are served one at a time; the connections stay concurrent."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


def _read_the_live_shard(get: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """moto 5.2 cancels a TransactWriteItems by swapping in a copy of the table taken before it; a table
    stream iterator made earlier still holds the old table's shard, which kept the cancelled writes, so a
    reader saw records that never happened and missed the ones written after (measured: 4 of 48 alerts
    lost in one demo run in three). Here an iterator reads the shard of the table as it is now."""

    def get_from_live_shard(iterator: ShardIterator, limit: int = 1000) -> dict[str, Any]:
        table = iterator.streams_backend.dynamodb.get_table(iterator.stream_shard.table.name)
        if table.stream_shard is not None:
            iterator.stream_shard = table.stream_shard
        return get(iterator, limit)

    return get_from_live_shard


ShardIterator.get = _read_the_live_shard(ShardIterator.get)  # type: ignore[method-assign]


class MotoServer:
    """Start on a free loopback port; stop on exit. Never create Lambda functions in it (moto would
    try to run them in Docker and drain the DynamoDB stream)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MotoServer:
        app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", self.port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()
        return self

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310 (loopback)
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()  # frees the port at once
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
