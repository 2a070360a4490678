"""AWS clients for the operator commands, and the one line each AWS set-up mistake gets instead of a traceback.

Pointed at the local runner (an endpoint on this machine, `make up`), a client needs no AWS configuration: the
region and credentials default to the local stack's (any value works there), so the commands run as documented.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOCAL_REGION = "us-east-1"
CONFIG = Config(retries={"mode": "standard", "max_attempts": 6}, s3={"addressing_style": "path"})
SETUP_ERRORS = (BotoCoreError, ClientError)


def is_local(endpoint_url: str | None) -> bool:
    return bool(endpoint_url) and urlsplit(str(endpoint_url)).hostname in LOOPBACK_HOSTS


def client(service: str, endpoint_url: str | None = None) -> Any:
    """A boto3 client; at an endpoint on this machine, with the local stack's region and credentials when none are
    configured (the deployed AWS is never reached that way: the endpoint is loopback)."""
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    session = boto3.Session()
    options: dict[str, Any] = {}
    if is_local(endpoint):
        if not session.region_name:
            options["region_name"] = LOCAL_REGION
        if session.get_credentials() is None:
            options |= {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    return session.client(service, endpoint_url=endpoint, config=CONFIG, **options)  # type: ignore[call-overload]


def explain(error: Exception) -> str:
    """One line saying what to do about ``error`` (an AWS set-up or service error)."""
    if isinstance(error, (NoRegionError, NoCredentialsError, ProfileNotFound)):
        return (
            f"{error}. Set AWS_DEFAULT_REGION (boto3 does not read AWS_REGION) and AWS credentials (AWS_PROFILE, or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or pass --endpoint-url for the local runner (make up prints it)"
        )
    if isinstance(error, EndpointConnectionError):
        return f"{error}: is the endpoint up? (the local runner: make up prints its --endpoint-url)"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "error")
        message = error.response.get("Error", {}).get("Message", "")
        return f"AWS answered {code}: {message}"
    return str(error)
