"""A local stand-in for the webhook API (API Gateway REST, Lambda proxy integration) on 127.0.0.1.

Each request on one of the template's routes (``/<stage><path>``) becomes the proxy event API Gateway
would send, with the request's own headers (``X-Twilio-Signature`` forwarded as received: nothing is
signed here), query string and body; the function's answer becomes the HTTP response. A route's path may
hold parameters (``/conferences/{conferenceSid}``): they become ``pathParameters``, as API Gateway's.

It invokes what the route's integration names (devtools.triggers: the function, alias or version of the URI) and only
when a permission of the template lets API Gateway invoke exactly that for the request's method ARN. It answers as
API Gateway answers (each line of ``on_request`` says what API Gateway's execution log would):

- an unknown route or method: 403 ``Missing Authentication Token``;
- a body over 10 MB: 413 ``Request Too Long`` (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html);
- no permission for the invocation: 500 ``Internal server error``, "Invalid permissions on Lambda function";
- an event over Lambda's 6 MB request payload: 413, Lambda's RequestEntityTooLargeException
  (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html);
- no answer within the 29 s integration timeout: 504 ``Endpoint request timed out`` (API Gateway's quota page above);
- a function error (raised, timed out, out of memory, an answer over 6 MB, not a proxy response): 502.

Authorisation (IAM, API keys) is not checked here: with ``auth_note`` every answer carries it in an
``X-Local-Gateway-Auth`` header, so that nobody takes a local 200 for a signed request's.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devtools.lambda_events import proxy_event
from devtools.lambda_rie import RequestTooLarge
from devtools.loopback import BackgroundServer, free_port
from devtools.triggers import ApiRoute

# API Gateway's REST API quotas (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # payload size: 10 MB
INTEGRATION_TIMEOUT_S = 29.0  # integration timeout: 50 ms - 29 seconds (the default and the most without a raise)
INVALID_PERMISSIONS = "Execution failed due to configuration error: Invalid permissions on Lambda function"

Invoke = Callable[[dict[str, Any]], Any]


class IntegrationTimeout(Exception):
    """The function did not answer within the integration timeout."""


class LocalGateway(BackgroundServer):
    def __init__(
        self,
        routes: list[ApiRoute],
        invokers: dict[str, Invoke],
        port: int | None = None,
        on_request: Callable[[str], None] = lambda _: None,
        auth_note: str | None = None,
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
    ) -> None:
        self.routes = {(route.method, f"/{route.stage}{route.path}"): route for route in routes}
        self.templates = [
            (route.method, _path_pattern(f"/{route.stage}{route.path}"), route) for route in routes if "{" in route.path
        ]
        self.auth_note = auth_note
        self.integration_timeout_s = integration_timeout_s
        self.invokers = invokers
        self.port = port or free_port()
        self.on_request = on_request
        self.in_flight = 0
        self.requests = 0
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stage_url(self, stage: str) -> str:
        return f"{self.base_url}/{stage}"

    def route_urls(self) -> dict[str, str]:
        return {route.function: f"{self.base_url}{path}" for (_, path), route in self.routes.items()}

    def start(self) -> LocalGateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                gateway.handle(self)

            def __getattr__(self, name: str) -> Any:  # every method (GET, TRACE, QUERY…): routed or 403
                if name.startswith("do_"):
                    return self.do_POST
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the runner reports requests itself

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._serve(server, "local-gateway")
        return self

    def idle(self) -> bool:
        return self.in_flight == 0

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.in_flight += 1
            self.requests += 1
        try:
            status, headers, body = self._answer(request)
        finally:
            with self._lock:
                self.in_flight -= 1
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _answer(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            request.close_connection = True
            _discard(request, length)  # read, so that the client gets the answer rather than a broken pipe
            return _message(413, "Request Too Long")
        body = request.rfile.read(length) if length else b""
        route, parameters = self._route(request.command, url.path)
        if route is None:
            return _message(403, "Missing Authentication Token")
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():  # duplicate headers kept, as multiValueHeaders does
            headers.setdefault(name, []).append(value)
        event = proxy_event(
            request.command,
            url.path.removeprefix(f"/{route.stage}"),
            route.path,
            route.stage,
            headers,
            parse_qs(url.query, keep_blank_values=True),
            body,  # base64-encoded when it is not UTF-8
            source_ip=request.client_address[0],
        )
        event["pathParameters"] = parameters
        event["requestContext"]["apiId"] = route.api_id
        request_path = event["path"]
        if not route.granted(request_path):  # no AWS::Lambda::Permission lets API Gateway invoke this
            self.on_request(f"{request.command} {url.path} -> 500 ({INVALID_PERMISSIONS}: {self._target(route)} for "
                            f"{route.method_arn(request_path)})")  # fmt: skip
            return _message(500, "Internal server error")
        try:
            answer = self._invoke(route, event)
        except RequestTooLarge as error:  # Lambda refused the call: API Gateway passes its 413 on
            self.on_request(f"{request.command} {url.path} -> 413 ({error})")
            return _message(413, "Request Too Long")
        except IntegrationTimeout:
            self.on_request(f"{request.command} {url.path} -> 504 (Execution failed due to a timeout error after "
                            f"{self.integration_timeout_s:g} s)")  # fmt: skip
            return _message(504, "Endpoint request timed out")
        except Exception as error:  # a function error: API Gateway answers 502
            self.on_request(f"{request.command} {url.path} -> 502 ({error})")
            return _message(502, "Internal server error")
        if not isinstance(answer, dict) or "statusCode" not in answer:
            self.on_request(f"{request.command} {url.path} -> 502 (malformed Lambda proxy response)")
            return _message(502, "Internal server error")
        payload = answer.get("body") or ""
        data = base64.b64decode(payload) if answer.get("isBase64Encoded") else str(payload).encode()
        response_headers = {name: str(value) for name, value in (answer.get("headers") or {}).items()}
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            response_headers[name] = ", ".join(str(v) for v in values)
        if self.auth_note:
            response_headers["X-Local-Gateway-Auth"] = self.auth_note
        self.on_request(f"{request.command} {url.path} -> {answer['statusCode']} {data[:160].decode(errors='replace')}")
        return int(answer["statusCode"]), response_headers, data

    def _invoke(self, route: ApiRoute, event: dict[str, Any]) -> Any:
        """The function's answer; IntegrationTimeout past the integration timeout (the function runs on, as on AWS)."""
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["answer"] = self.invokers[route.function](event)
            except BaseException as error:  # handed to the request's thread
                outcome["error"] = error

        worker = threading.Thread(target=call, name=f"invoke-{route.function}", daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(self.integration_timeout_s)
        if worker.is_alive():
            raise IntegrationTimeout(f"no answer within {time.monotonic() - started:.1f} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["answer"]

    @staticmethod
    def _target(route: ApiRoute) -> str:
        return f"{route.function}:{route.qualifier}" if route.qualifier else route.function or "(no such function)"

    def _route(self, method: str, path: str) -> tuple[ApiRoute | None, dict[str, str] | None]:
        route = self.routes.get((method, path))
        if route is not None:
            return route, None
        for route_method, pattern, template_route in self.templates:
            found = pattern.match(path)
            if found and route_method == method:
                return template_route, found.groupdict()
        return None, None


def _discard(request: BaseHTTPRequestHandler, length: int, chunk: int = 1 << 16) -> None:
    while length > 0 and (read := request.rfile.read(min(chunk, length))):
        length -= len(read)


def _path_pattern(path: str) -> re.Pattern[str]:
    """``/v1/calls/{callSid}`` -> a pattern whose groups are the path parameters (one segment each)."""
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


def _message(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps({"message": message}).encode()
