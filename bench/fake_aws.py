"""A benchmark-only stand-in for DynamoDB and SNS over HTTP on 127.0.0.1, with a fixed delay per request.

Why not moto: moto spends milliseconds of its own per request, and no delay per request can be set, so a
throughput figure against it measures moto. This server answers in (almost) no time plus the simulated round
trip, and does just what the functions ask:

- DynamoDB (JSON protocol): PutItem with the store's one condition (``attribute_not_exists(pk) OR
  #version < :version``, ALL_OLD on failure), BatchGetItem, UpdateItem (the ledger's ADD to a string set and
  SET), Scan; every accepted write is logged as a table-stream change (old and new image) for the alert
  function, and every write attempt (old item, new item or None when its condition failed) for the billing.
- SNS (query protocol): Publish and PublishBatch.

It runs in its own process so that its CPU never counts as the handler's. Each request is served on
its own thread and sleeps the round trip first: concurrent requests overlap as they would on AWS.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

CONDITION = "attribute_not_exists(pk) OR #version < :version"
SNS_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tables: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.changes: list[dict[str, Any]] = []
        self.writes: list[dict[str, Any]] = []
        self.requests: dict[str, int] = {}
        self.published = 0

    def count(self, name: str) -> None:
        with self.lock:
            self.requests[name] = self.requests.get(name, 0) + 1


def make_handler(state: State, delay_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: Nagle's algorithm and delayed ACKs would delay each response.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # the benchmark reads its figures and the stream here
            with state.lock:
                body = {"requests": dict(state.requests), "changes": state.changes, "writes": state.writes,
                        "published": state.published}  # fmt: skip
                if self.path == "/_stats":
                    body = {"requests": dict(state.requests), "published": state.published}
            self._send(200, json.dumps(body).encode(), "application/json")

        def do_DELETE(self) -> None:  # reset between scenarios
            with state.lock:
                state.tables.clear()
                state.changes.clear()
                state.writes.clear()
                state.requests.clear()
                state.published = 0
            self._send(200, b"{}", "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if delay_s:
                time.sleep(delay_s)
            target = self.headers.get("X-Amz-Target", "")
            if target.startswith("DynamoDB_20120810."):
                operation = target.split(".", 1)[1]
                state.count(f"dynamodb:{operation}")
                status, body = _dynamodb(state, operation, json.loads(raw or b"{}"))
                self._send(status, json.dumps(body).encode(), "application/x-amz-json-1.0")
                return
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            state.count(f"sns:{form.get('Action')}")
            self._send(200, _sns(state, form).encode(), "text/xml")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return (item["pk"]["S"], item.get("sk", {}).get("S", ""))


def _condition_holds(old: dict[str, Any] | None, put: dict[str, Any]) -> bool:
    expression = put.get("ConditionExpression")
    if expression is None:
        return True
    if expression != CONDITION:
        raise ValueError(f"the benchmark stand-in only knows the store's condition, not {expression!r}")
    return old is None or old["version"]["S"] < put["ExpressionAttributeValues"][":version"]["S"]


def _dynamodb(state: State, operation: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    with state.lock:
        if operation == "PutItem":
            table = state.tables.get(request["TableName"], {})
            old = table.get(_key(request["Item"]))
            if not _condition_holds(old, request):
                state.writes.append({"table": request["TableName"], "old": old, "new": None})
                return 400, {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                             "message": "The conditional request failed", "Item": old}  # fmt: skip
            _write(state, request["TableName"], request["Item"], old)
            return 200, {}
        if operation == "BatchGetItem":
            responses = {}
            for table, spec in request["RequestItems"].items():
                stored = state.tables.get(table, {})
                responses[table] = [stored[_key(k)] for k in spec["Keys"] if _key(k) in stored]
            return 200, {"Responses": responses, "UnprocessedKeys": {}}
        if operation == "UpdateItem":
            table = state.tables.setdefault(request["TableName"], {})
            old = table.get(_key(request["Key"]))
            item = _ledger_update(dict(old or request["Key"]), request)
            table[_key(item)] = item
            state.writes.append({"table": request["TableName"], "old": old, "new": item})
            return 200, {}
        if operation == "Scan":
            return 200, {"Items": list(state.tables.get(request["TableName"], {}).values())}
    return 400, {"__type": "com.amazonaws.dynamodb.v20120810#UnknownOperationException", "message": operation}


def _ledger_update(item: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The alert ledger's one update: ``ADD alerted :new SET last_alerted_at = :at[, expires_at = :expires]``."""
    values = request["ExpressionAttributeValues"]
    if not request["UpdateExpression"].startswith("ADD alerted :new SET last_alerted_at = :at"):
        raise ValueError(f"the benchmark stand-in only knows the ledger's update, not {request['UpdateExpression']!r}")
    item["alerted"] = {"SS": sorted(set(item.get("alerted", {}).get("SS", [])) | set(values[":new"]["SS"]))}
    item["last_alerted_at"] = values[":at"]
    if ":expires" in values:
        item["expires_at"] = values[":expires"]
    return item


def _write(state: State, table: str, item: dict[str, Any], old: dict[str, Any] | None) -> None:
    state.writes.append({"table": table, "old": old, "new": item})
    state.tables.setdefault(table, {})[_key(item)] = item
    change: dict[str, Any] = {"eventName": "MODIFY" if old else "INSERT", "Keys": {"pk": item["pk"], "sk": item["sk"]},
                              "NewImage": item}  # fmt: skip
    if old:
        change["OldImage"] = old
    state.changes.append(change)


def _sns(state: State, form: dict[str, str]) -> str:
    action = form.get("Action", "")
    if action == "PublishBatch":
        ids = [v for k, v in form.items() if k.startswith("PublishBatchRequestEntries.member.") and k.endswith(".Id")]
        with state.lock:
            state.published += len(ids)
        members = "".join(f"<member><Id>{i}</Id><MessageId>{uuid.uuid4()}</MessageId></member>" for i in ids)
        result = f"<PublishBatchResult><Successful>{members}</Successful><Failed/></PublishBatchResult>"
    else:
        with state.lock:
            state.published += 1
        result = f"<PublishResult><MessageId>{uuid.uuid4()}</MessageId></PublishResult>"
    metadata = f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
    return f'<{action}Response xmlns="{SNS_XMLNS}">{result}{metadata}</{action}Response>'


def serve(port: int, delay_s: float, ready: Any) -> None:
    """Run until killed (the benchmark starts it with multiprocessing)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(State(), delay_s))
    server.daemon_threads = True
    ready.set()
    server.serve_forever()
