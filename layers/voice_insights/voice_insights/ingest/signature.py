"""Is this webhook request really from Twilio? Checked before the body is read as events.

Twilio signs each webhook with ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the account's
Auth Token, over the full URL it called. For a JSON body the URL carries ``bodySHA256=<hex SHA-256
of the raw body>``, so the body hash is checked too. The ``twilio`` package's ``RequestValidator``
does both (Twilio's "Webhooks security" docs). Behind API Gateway the URL must be rebuilt exactly
as Twilio called it: ``public_url`` below.

The tokens live in a Secrets Manager secret (JSON), read through Powertools parameters with a cache:
``primary_auth_token`` and ``secondary_auth_token`` (either may sign, so a token can be rotated
without losing events), and optionally ``basic_auth_username``/``basic_auth_password`` for a sink
URL with ``user:pass@``.
"""

from __future__ import annotations

import base64
import hmac
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from twilio.request_validator import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from voice_insights.aws.clients import LocalEndpointUnreachable, make_client

SECRET_CACHE_SECONDS = 300
# A signature that fails with cached tokens is checked again with a fresh read of the secret (a token
# rotated in the last few minutes), at most this often, so forged requests cannot hammer the API.
MIN_SECONDS_BETWEEN_FORCED_READS = 30
SUPPORTED_ALGORITHMS = frozenset({HMAC_SHA1, HMAC_SHA256})


class Refusal(StrEnum):
    """Why a request is refused; the value is what the caller is told."""

    TOO_LARGE = "the body is larger than this webhook accepts"
    NOT_JSON = "the content type must be application/json"
    BASIC_AUTH = "missing or wrong HTTP Basic credentials"
    NO_SIGNATURE = "missing X-Twilio-Signature header"
    SIGNATURES = "more than one X-Twilio-Signature header"
    NO_BODY_HASH = "the URL must carry one bodySHA256 parameter (Twilio signs JSON bodies with it)"
    BODY_HASH = "the body does not match the bodySHA256 the request was signed with"
    SIGNATURE_ALGORITHM = "unsupported signature algorithm in X-Twilio-Webhooks-Signature-Settings"
    BAD_SIGNATURE = "invalid X-Twilio-Signature"

    @property
    def status(self) -> int:
        return {Refusal.TOO_LARGE: 413, Refusal.NOT_JSON: 415, Refusal.BASIC_AUTH: 401}.get(self, 403)


class CredentialsUnavailable(RuntimeError):
    """The tokens cannot be read (or are not set yet): nothing can be checked, nothing may be accepted."""


@dataclass(frozen=True)
class WebhookCredentials:
    auth_tokens: tuple[str, ...]
    basic_auth: tuple[str, str] | None = None

    @classmethod
    def from_secret(cls, value: Any) -> WebhookCredentials:
        if not isinstance(value, dict):
            raise CredentialsUnavailable("the webhook secret is not a JSON object")
        tokens = tuple(t for t in (value.get("primary_auth_token"), value.get("secondary_auth_token")) if t)
        if not tokens:
            raise CredentialsUnavailable("the webhook secret holds no auth token yet (README: Connect Twilio)")
        user, password = value.get("basic_auth_username"), value.get("basic_auth_password")
        return cls(auth_tokens=tokens, basic_auth=(user, password) if user and password else None)


class CredentialSource:
    """The webhook secret, read through Powertools parameters (cached for SECRET_CACHE_SECONDS)."""

    def __init__(self, secret_id: str) -> None:
        self.secret_id = secret_id
        self._last_forced_read = 0.0
        self._secrets: parameters.SecretsProvider | None = None

    def get(self, fresh: bool = False) -> WebhookCredentials:
        try:
            return WebhookCredentials.from_secret(self._read(fresh))
        except CredentialsUnavailable:
            # A token put in the secret after it was cached empty is picked up without waiting for the cache.
            if fresh or not self.may_read_fresh():
                raise
            return WebhookCredentials.from_secret(self._read(fresh=True))

    def _read(self, fresh: bool) -> Any:
        try:
            return self._fetch(fresh)
        except LocalEndpointUnreachable:
            raise  # a local run's setup error (logged once): the invoke fails, it is not the request's fault
        except Exception as error:  # any failure to read means: cannot check, answer 5xx
            raise CredentialsUnavailable(f"the webhook secret cannot be read: {type(error).__name__}") from error

    def _fetch(self, fresh: bool) -> Any:
        # The client every function uses (store.make_client): the local endpoint in local runs, as for DynamoDB.
        if self._secrets is None:
            self._secrets = parameters.SecretsProvider(boto3_client=make_client("secretsmanager"))
        return self._secrets.get(self.secret_id, transform="json", max_age=SECRET_CACHE_SECONDS, force_fetch=fresh)

    def may_read_fresh(self) -> bool:
        now = time.monotonic()
        if now - self._last_forced_read < MIN_SECONDS_BETWEEN_FORCED_READS:
            return False
        self._last_forced_read = now
        return True


def public_url(request: APIGatewayProxyEvent, base_url: str = "") -> str:
    """The URL Twilio called, as it signed it.

    With ``base_url`` (a custom domain, e.g. ``https://hooks.example.com/twilio``): that base plus
    the route. Without: the API Gateway host and the stage path (``https://<id>.execute-api…/v1/events/…``).
    API Gateway REST events carry no raw query string: it is rebuilt from the multi-value parameters,
    in the order API Gateway lists them.
    """
    if base_url:
        url = base_url.rstrip("/") + request.resource
    else:
        context = request.request_context
        host = context.domain_name or request.headers.get("Host") or request.headers.get("host", "")
        url = f"https://{host}{context.path}"
    query = request.multi_value_query_string_parameters or {}
    pairs = [(name, value) for name, values in query.items() for value in (values or [])]
    return f"{url}?{urlencode(pairs, quote_via=quote, safe='')}" if pairs else url


def check_request(
    request: APIGatewayProxyEvent, body: str, source: CredentialSource, base_url: str, max_body_bytes: int
) -> Refusal | None:
    """None when the request (``body``: its body as text) is Twilio's; else why not. Raises CredentialsUnavailable."""
    if len(body.encode()) > max_body_bytes:
        return Refusal.TOO_LARGE
    content_type = (_header(request, "Content-Type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        return Refusal.NOT_JSON
    credentials = source.get()
    if credentials.basic_auth is not None and not _basic_auth_matches(request, credentials.basic_auth):
        return Refusal.BASIC_AUTH
    signatures = _header_values(request, SIGNATURE_HEADER)
    if len(signatures) > 1:
        return Refusal.SIGNATURES  # Twilio sends one; with several, which one was checked would be a guess
    signature = signatures[0] if signatures else ""
    if not signature:
        return Refusal.NO_SIGNATURE
    # Twilio always signs a JSON body's hash; without one, twilio's validator reads the body as form fields.
    sent_hashes = (request.multi_value_query_string_parameters or {}).get("bodySHA256") or []
    if len(sent_hashes) != 1:
        return Refusal.NO_BODY_HASH
    if not _same_text(RequestValidator("").compute_hash(body), sent_hashes[0]):
        return Refusal.BODY_HASH
    # Checked here, not by twilio's validator, which logs the unsupported value as sent.
    algorithm = get_signature_algorithm(_header(request, SIGNATURE_SETTINGS_HEADER)).upper()
    if algorithm not in SUPPORTED_ALGORITHMS:
        return Refusal.SIGNATURE_ALGORITHM
    url = public_url(request, base_url)
    if _signed_by_any(credentials.auth_tokens, url, signature, algorithm):
        return None
    if source.may_read_fresh() and _signed_by_any(source.get(fresh=True).auth_tokens, url, signature, algorithm):
        return None
    return Refusal.BAD_SIGNATURE


def _signed_by_any(tokens: tuple[str, ...], url: str, signature: str, algorithm: str) -> bool:
    # The body's hash is checked above; the signature covers the URL (bodySHA256 included) and no form
    # fields, so the validator gets none: given the body, it reads it as form fields when its own parse of
    # the URL misses bodySHA256 (a Host of "?" or "#"), and raises.
    try:
        return any(RequestValidator(token).validate(url, {}, signature, algorithm) for token in tokens)
    except ValueError:  # a Host that makes no URL (``bad:port``): nothing Twilio could have signed
        return False


def _header(request: APIGatewayProxyEvent, name: str) -> str | None:
    # API Gateway keeps the client's header case; HTTP header names are case-insensitive.
    headers = request.headers or {}
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _header_values(request: APIGatewayProxyEvent, name: str) -> list[str]:
    """Every value sent for a header, whatever the case of its name (API Gateway's multiValueHeaders, read raw:
    Powertools' case-insensitive view would fold ``X-Twilio-Signature`` and ``x-twilio-signature`` into one)."""
    wanted = name.lower()
    multi: dict[str, list[str] | None] = request.raw_event.get("multiValueHeaders") or {}
    values = [value for key, values in multi.items() if key.lower() == wanted for value in values or []]
    # An event built by hand may carry only the single-value map.
    single: dict[str, str] = request.raw_event.get("headers") or {}
    return values or [value for key, value in single.items() if key.lower() == wanted]


def _basic_auth_matches(request: APIGatewayProxyEvent, expected: tuple[str, str]) -> bool:
    header = _header(request, "Authorization") or ""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except ValueError:
        return False
    return _same_text(user, expected[0]) & _same_text(password, expected[1])


def _same_text(sent: str, expected: str) -> bool:
    # Compared as bytes: compare_digest raises TypeError on str with non-ASCII characters, which anyone can send.
    return hmac.compare_digest(sent.encode(errors="surrogatepass"), expected.encode(errors="surrogatepass"))
