"""Faults between the functions and the local AWS endpoint: an HTTP proxy on 127.0.0.1 that forwards
each request to moto server and fails a chosen share of them the way AWS and networks fail:

- ``throttle``: DynamoDB's ``ProvisionedThroughputExceededException`` (400), SNS's ``Throttling`` (400);
- ``server_error``: 500 ``InternalServerError`` / ``InternalError``;
- ``unavailable``: 503 ``ServiceUnavailable`` (an outage);
- ``timeout``: the request *is* forwarded (the write happens) and the answer never comes: the connection
  is held past the client's read timeout, then closed, so the client cannot tell whether it worked;
- ``drop``: the connection is closed before anything is forwarded or answered;
- ``partial`` (Firehose's ``PutRecordBatch`` only; another operation gets a ``server_error``): some records are
  forwarded and taken, the others answered with an ``ErrorCode``, counted in ``FailedPutCount``, as Firehose does
  when it takes part of a batch (https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html).

The service comes from the SigV4 credential scope every boto3 request carries, the operation from
``X-Amz-Target`` (JSON protocols) or ``Action`` (query protocols). Decisions come from a seeded random
generator; what was injected is counted per service and kind.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devtools.loopback import BackgroundServer, free_port

FAULT_KINDS = ("throttle", "server_error", "timeout", "drop")
PARTIAL = "partial"
PARTIAL_OPERATIONS = frozenset({"PutRecordBatch"})
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class FaultPlan:
    rate: float = 0.0  # share of the matching requests that fail
    services: frozenset[str] = frozenset({"dynamodb"})
    kinds: tuple[str, ...] = FAULT_KINDS
    operations: frozenset[str] | None = None  # None: every operation of those services
    limit: int | None = None  # at most this many faults, then the service is back (a short outage)


NO_FAULTS = FaultPlan()


@dataclass
class FaultStats:
    requests: Counter[str] = field(default_factory=Counter)  # per service
    injected: Counter[str] = field(default_factory=Counter)  # per "service:kind"

    def as_dict(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "injected": dict(self.injected)}


class FaultProxy(BackgroundServer):
    def __init__(self, upstream_url: str, random_seed: int = 0, hold_s: float = 1.0) -> None:
        upstream = urlsplit(upstream_url)
        self.upstream = (upstream.hostname or "127.0.0.1", upstream.port or 80)
        self.hold_s = hold_s
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.stats = FaultStats()
        self._plan = NO_FAULTS
        self._injected_under_plan = 0
        self._random = random.Random(random_seed)  # noqa: S311 (reproducible faults, not cryptography)
        self._lock = threading.Lock()

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    @plan.setter
    def plan(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan
            self._injected_under_plan = 0

    def decide(self, service: str, operation: str) -> str | None:
        """The fault to inject into this request, or None to forward it untouched."""
        with self._lock:
            self.stats.requests[service] += 1
            plan = self._plan
            if service not in plan.services or (plan.operations is not None and operation not in plan.operations):
                return None
            if plan.limit is not None and self._injected_under_plan >= plan.limit:
                return None
            if self._random.random() >= plan.rate:
                return None
            kind = self._random.choice(plan.kinds)
            self._injected_under_plan += 1
            self.stats.injected[f"{service}:{kind}"] += 1
            return kind

    def failing_positions(self, count: int) -> set[int]:
        """Which of ``count`` records a partial answer refuses: each with even odds, at least one."""
        with self._lock:
            chosen = {position for position in range(count) if self._random.random() < 0.5}
            return (chosen or {self._random.randrange(count)}) if count else set()

    def start(self) -> FaultProxy:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self._serve(server, "fault-proxy")
        return self


def service_and_operation(headers: Any, body: bytes) -> tuple[str, str]:
    scope = _SCOPE.search(headers.get("Authorization", ""))
    service = scope.group(1) if scope else "unknown"
    target = headers.get("X-Amz-Target", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    if "x-www-form-urlencoded" in headers.get("Content-Type", ""):
        action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
        return service, action
    return service, ""


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def do_HEAD(self) -> None:
            self._serve()

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            service, operation = service_and_operation(self.headers, body)
            fault = proxy.decide(service, operation)
            if fault == PARTIAL and operation not in PARTIAL_OPERATIONS:
                fault = "server_error"
            if fault == PARTIAL:
                status, headers, payload = self._partial(body)
                self._answer(status, headers, payload)
                return
            if fault == "drop":
                self.close_connection = True
                return
            if fault in ("throttle", "server_error", "unavailable"):
                status, content_type, payload = _error(service, fault)
                self._answer(status, [("Content-Type", content_type)], payload)
                return
            status, headers, payload = self._forward(body)
            if fault == "timeout":
                threading.Event().wait(proxy.hold_s)  # the client gives up first; then the line drops
                self.close_connection = True
                return
            self._answer(status, headers, payload)

        def _partial(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            """Forward some of a PutRecordBatch's records; answer for all, the others refused."""
            request = json.loads(body)
            records = request.get("Records") or []
            failing = proxy.failing_positions(len(records))
            kept = [record for position, record in enumerate(records) if position not in failing]
            answers: list[dict[str, Any]] = []
            if kept:
                status, headers, payload = self._forward(json.dumps({**request, "Records": kept}).encode())
                if status != 200:
                    return status, headers, payload
                answers = json.loads(payload)["RequestResponses"]
            upstream = iter(answers)
            responses = [
                {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down (injected)"}
                if position in failing
                else next(upstream)
                for position in range(len(records))
            ]
            failed = sum(1 for response in responses if "ErrorCode" in response)
            answer = {"FailedPutCount": failed, "Encrypted": False, "RequestResponses": responses}
            return 200, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(answer).encode()

        def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
                return response.status, kept, payload
            finally:
                connection.close()

        def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

    return Handler


# DynamoDB's and Firehose's JSON error shapes and SNS's XML ones
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html,
# https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html#API_PutRecordBatch_Errors,
# https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html).
_JSON_ERRORS = {
    "throttle": (400, "ProvisionedThroughputExceededException", "Throughput exceeded (injected)"),
    "server_error": (500, "InternalServerError", "Internal server error (injected)"),
    "unavailable": (503, "ServiceUnavailable", "Service unavailable (injected)"),
}
_FIREHOSE_ERRORS = {
    "throttle": (400, "LimitExceededException", "Rate exceeded (injected)"),
    "server_error": (500, "ServiceUnavailableException", "Service unavailable (injected)"),
    "unavailable": (500, "ServiceUnavailableException", "Service unavailable (injected)"),
}
_QUERY_ERRORS = {
    "throttle": (400, "Throttling", "Rate exceeded (injected)"),
    "server_error": (500, "InternalError", "Internal error (injected)"),
    "unavailable": (503, "ServiceUnavailable", "Service unavailable (injected)"),
}


def _error(service: str, kind: str) -> tuple[int, str, bytes]:
    if service.startswith("dynamodb"):
        status, code, message = _JSON_ERRORS[kind]
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
        return status, "application/x-amz-json-1.0", body.encode()
    if service == "firehose":
        status, code, message = _FIREHOSE_ERRORS[kind]
        body = json.dumps({"__type": code, "message": message})
        return status, "application/x-amz-json-1.1", body.encode()
    status, code, message = _QUERY_ERRORS[kind]
    sender = "Sender" if status < 500 else "Receiver"
    xml = (
        f"<ErrorResponse><Error><Type>{sender}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return status, "text/xml", xml.encode()
