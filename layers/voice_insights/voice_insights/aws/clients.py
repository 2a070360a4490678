"""Every AWS client of the functions, deployed or pointed at a local endpoint (the only module that imports boto3)."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from voice_insights.runtime.observability import logger
from voice_insights.runtime.settings import (
    LOCAL_CREDENTIALS,
    LOCAL_ENDPOINT_VARIABLE,
    LOCAL_REGION,
    ConfigurationError,
    local_endpoint_url,
)

# Two per write thread of SummaryStore (aws.summaries.WRITE_THREADS), which shares a client across threads.
MAX_POOL_CONNECTIONS = 32

# Throttles, 5xx and timeouts are retried by botocore itself with backoff ("standard" mode,
# https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html); what is left is
# reported to Lambda as a batch item failure, or to Twilio as a 5xx, so the event comes again.
# Client-side parameter validation is off: DynamoDB validates every request anyway, and botocore's walk
# over every attribute costs CPU on each write (docs/performance.md).
AWS_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=MAX_POOL_CONNECTIONS,
    parameter_validation=False,
)
# Local runs (LOCAL_AWS_ENDPOINT_URL set): an endpoint that is down fails an invoke in seconds, not in the
# function's 30 s timeout; S3 by path, as a host such as host.docker.internal takes no bucket subdomain.
LOCAL_CLIENT_CONFIG = AWS_CLIENT_CONFIG.merge(
    Config(
        connect_timeout=1,
        read_timeout=5,
        retries={"mode": "standard", "total_max_attempts": 2},
        s3={"addressing_style": "path"},
    )
)
LOCAL_CHECK_SECONDS = 1.0  # name lookup, then TCP connect, each
LOCAL_ENDPOINT_HINT = (
    "start it with `make local-aws` (docs/running-locally.md: Try one function with `sam local invoke`); "
    "on Linux, bind it where "
    'containers reach it (make local-aws ARGS="--host 0.0.0.0", or the docker0 address) and pass '
    "--add-host host.docker.internal:host-gateway to sam local invoke / start-api"
)
_reachable_endpoints: set[str] = set()


class LocalEndpointUnreachable(RuntimeError):
    """LOCAL_AWS_ENDPOINT_URL is set and nothing answers there: a local run's setup error, not the event's."""


def make_client(service: str) -> Any:
    """Every AWS client of the functions (Secrets Manager's too). Deployed: AWS, AWS_CLIENT_CONFIG. With
    LOCAL_AWS_ENDPOINT_URL (local runs only): that endpoint, checked first, with LOCAL_CLIENT_CONFIG."""
    endpoint = local_endpoint_url()
    if not endpoint:
        return boto3.client(service, config=AWS_CLIENT_CONFIG)  # type: ignore[call-overload]
    check_local_endpoint(endpoint)
    return boto3.client(  # type: ignore[call-overload]
        service, config=LOCAL_CLIENT_CONFIG, endpoint_url=endpoint, region_name=LOCAL_REGION, **LOCAL_CREDENTIALS
    )


def check_local_endpoint(endpoint: str) -> None:
    """Raise LocalEndpointUnreachable, after one log line saying what to do, unless ``endpoint`` takes a TCP
    connection within LOCAL_CHECK_SECONDS (its name looked up within as long). Checked once while it answers."""
    if endpoint in _reachable_endpoints:
        return
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise ConfigurationError(f"{LOCAL_ENDPOINT_VARIABLE} is not a URL: {error}") from None
    if not host or parts.scheme not in ("http", "https"):
        raise ConfigurationError(f"{LOCAL_ENDPOINT_VARIABLE} must be http(s)://host:port, not {endpoint!r}")
    try:
        address = _look_up(host, port)
        socket.create_connection(address, timeout=LOCAL_CHECK_SECONDS).close()
    except OSError as error:
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        what = f"the local AWS endpoint {LOCAL_ENDPOINT_VARIABLE}={endpoint}"
        logger.error(f"Cannot reach {what} ({reason}): {LOCAL_ENDPOINT_HINT}", local_endpoint=endpoint)
        raise LocalEndpointUnreachable(f"{LOCAL_ENDPOINT_VARIABLE}={endpoint} cannot be reached ({reason})") from None
    _reachable_endpoints.add(endpoint)


def _look_up(host: str, port: int) -> tuple[str, int]:
    """The first address of ``host``; a resolver that does not answer (no network) times out, not the function."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-endpoint-lookup")
    try:
        found = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(LOCAL_CHECK_SECONDS)
    except FutureTimeout:
        raise TimeoutError(f"no answer for the name {host!r} within {LOCAL_CHECK_SECONDS:g} s") from None
    finally:
        pool.shutdown(wait=False)
    address = found[0][4]
    return str(address[0]), int(address[1])


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"
