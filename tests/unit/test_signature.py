"""Given a webhook request, when its Twilio signature is checked, then only what Twilio signed passes.

Requests are signed with the twilio package's own computation (devtools.lambda_events.twilio_signature).
The secret is replaced by an in-memory source here; tests/integration checks it through Secrets Manager.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from devtools.lambda_events import api_gateway_event, twilio_signature
from voice_insights.ingest import signature
from voice_insights.ingest.signature import (
    CredentialsUnavailable,
    Refusal,
    WebhookCredentials,
    check_request,
    public_url,
)

PATH = "/events/conference-summary-complete"
BODY = json.dumps([{"specversion": "1.0", "id": "EZ1", "data": {"call_sid": "CA1"}}])
TOKEN = "primary-token"
HOST = "abc123.execute-api.us-east-1.amazonaws.com"
MAX_BODY = 10_000


class Secret:
    """Stands in for CredentialSource: what the secret holds now, and what a fresh read would return."""

    def __init__(self, *tokens: str, basic: tuple[str, str] | None = None) -> None:
        self.cached = WebhookCredentials(tuple(tokens), basic)
        self.stored = self.cached
        self.fresh_reads = 0
        self.allow_fresh = True

    def get(self, fresh: bool = False) -> WebhookCredentials:
        if fresh:
            self.fresh_reads += 1
            self.cached = self.stored
        return self.cached

    def may_read_fresh(self) -> bool:
        return self.allow_fresh


def request(body: str = BODY, **options: Any) -> APIGatewayProxyEvent:
    return APIGatewayProxyEvent(api_gateway_event(PATH, body, host=HOST, **options))


def check(event: APIGatewayProxyEvent, secret: Secret | None = None, base_url: str = "") -> Refusal | None:
    return check_request(event, event.decoded_body or "", secret or Secret(TOKEN), base_url, MAX_BODY)  # type: ignore[arg-type]


def test_a_request_signed_as_twilio_signs_passes() -> None:
    assert check(request(auth_token=TOKEN)) is None


def test_the_url_is_rebuilt_with_host_stage_and_body_hash() -> None:
    event = request(auth_token=TOKEN)
    digest = event.query_string_parameters["bodySHA256"]
    assert public_url(event) == f"https://{HOST}/v1{PATH}?bodySHA256={digest}"


def test_a_tampered_body_fails_on_its_hash() -> None:
    event = api_gateway_event(PATH, BODY, host=HOST, auth_token=TOKEN)
    event["body"] = BODY.replace("CA1", "CA2")
    assert check(APIGatewayProxyEvent(event)) is Refusal.BODY_HASH


def test_a_tampered_body_with_a_matching_hash_fails_on_the_signature() -> None:
    event = api_gateway_event(PATH, BODY, host=HOST, auth_token=TOKEN)
    forged = api_gateway_event(PATH, BODY.replace("CA1", "CA2"), host=HOST, auth_token=None)
    forged["headers"]["X-Twilio-Signature"] = event["headers"]["X-Twilio-Signature"]
    assert check(APIGatewayProxyEvent(forged)) is Refusal.BAD_SIGNATURE


def test_a_request_signed_for_another_url_fails() -> None:
    event = api_gateway_event(PATH, BODY, host=HOST, auth_token=TOKEN)
    event["requestContext"]["path"] = "/v1/events/participant-summary-complete"
    assert check(APIGatewayProxyEvent(event)) is Refusal.BAD_SIGNATURE


def test_a_missing_signature_fails() -> None:
    assert check(request(auth_token=None)) is Refusal.NO_SIGNATURE


@pytest.mark.parametrize("second_name", ["X-Twilio-Signature", "x-twilio-signature"])
def test_two_signature_headers_are_refused_even_when_one_is_valid(second_name: str) -> None:
    event = api_gateway_event(PATH, BODY, host=HOST, auth_token=TOKEN)
    valid = event["headers"]["X-Twilio-Signature"]
    event["multiValueHeaders"]["X-Twilio-Signature"] = ["forged"]
    event["multiValueHeaders"].setdefault(second_name, []).append(valid)
    assert check(APIGatewayProxyEvent(event)) is Refusal.SIGNATURES


def test_the_signature_header_name_is_case_insensitive() -> None:
    event = api_gateway_event(PATH, BODY, host=HOST, auth_token=TOKEN)
    value = event["headers"].pop("X-Twilio-Signature")
    del event["multiValueHeaders"]["X-Twilio-Signature"]
    event["headers"]["x-twilio-signature"] = value
    event["multiValueHeaders"]["x-twilio-signature"] = [value]
    assert check(APIGatewayProxyEvent(event)) is None


def test_a_wrong_token_fails() -> None:
    assert check(request(auth_token="someone-elses-token")) is Refusal.BAD_SIGNATURE


def test_the_secondary_token_signs_too() -> None:
    assert check(request(auth_token="new-token"), Secret(TOKEN, "new-token")) is None


def test_a_token_rotated_after_the_cache_was_filled_is_picked_up_by_a_fresh_read() -> None:
    secret = Secret("old-token")
    secret.stored = WebhookCredentials(("rotated-token",))
    assert check(request(auth_token="rotated-token"), secret) is None
    assert secret.fresh_reads == 1
    secret.allow_fresh = False  # forged requests do not get to force a read each time
    assert check(request(auth_token="forged"), secret) is Refusal.BAD_SIGNATURE
    assert secret.fresh_reads == 1


def test_a_custom_domain_is_checked_against_the_configured_base_url() -> None:
    base = "https://hooks.example.com/twilio"
    event = api_gateway_event(PATH, BODY, host="hooks.example.com", auth_token=None)
    digest = event["queryStringParameters"]["bodySHA256"]
    event["headers"]["X-Twilio-Signature"] = twilio_signature(f"{base}{PATH}?bodySHA256={digest}", TOKEN)
    assert check(APIGatewayProxyEvent(event), base_url=base) is None
    assert check(APIGatewayProxyEvent(event), base_url=base + "/") is None  # a trailing slash is tolerated
    assert check(APIGatewayProxyEvent(event)) is Refusal.BAD_SIGNATURE  # not what Twilio called


def test_the_stage_path_is_part_of_what_twilio_signed() -> None:
    event = api_gateway_event(PATH, BODY, host=HOST, auth_token=None)
    digest = event["queryStringParameters"]["bodySHA256"]
    event["headers"]["X-Twilio-Signature"] = twilio_signature(f"https://{HOST}{PATH}?bodySHA256={digest}", TOKEN)
    assert check(APIGatewayProxyEvent(event)) is Refusal.BAD_SIGNATURE
    assert check(request(auth_token=TOKEN, stage="prod")) is None


def test_an_extra_query_parameter_in_the_sink_url_is_signed_with_it() -> None:
    event = request(auth_token=TOKEN, query={"tenant": "acme & co"})
    assert public_url(event).startswith(f"https://{HOST}/v1{PATH}?tenant=acme%20%26%20co&bodySHA256=")
    assert check(event) is None
    unsigned_extra = api_gateway_event(PATH, BODY, host=HOST, auth_token=TOKEN)
    unsigned_extra["multiValueQueryStringParameters"] = {
        "injected": ["1"],
        **unsigned_extra["multiValueQueryStringParameters"],
    }
    assert check(APIGatewayProxyEvent(unsigned_extra)) is Refusal.BAD_SIGNATURE


def test_port_443_in_the_signed_url_is_accepted() -> None:
    event = api_gateway_event(PATH, BODY, host=HOST, auth_token=None)
    digest = event["queryStringParameters"]["bodySHA256"]
    signed = twilio_signature(f"https://{HOST}:443/v1{PATH}?bodySHA256={digest}", TOKEN)
    event["headers"]["X-Twilio-Signature"] = signed
    assert check(APIGatewayProxyEvent(event)) is None


def test_too_large_and_wrong_content_type_are_refused_before_any_signature_work() -> None:
    assert check(request("[" + "1," * MAX_BODY + "1]", auth_token=TOKEN)) is Refusal.TOO_LARGE
    assert check(request(auth_token=TOKEN, headers={"Content-Type": "text/plain"})) is Refusal.NOT_JSON
    assert check(request(auth_token=TOKEN, headers={"content-type": "application/json; charset=utf-8"})) is None
    assert (Refusal.TOO_LARGE.status, Refusal.NOT_JSON.status, Refusal.BAD_SIGNATURE.status) == (413, 415, 403)


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (None, Refusal.BASIC_AUTH),
        ("Basic " + base64.b64encode(b"twilio:wrong").decode(), Refusal.BASIC_AUTH),
        ("Basic not-base64!", Refusal.BASIC_AUTH),
        ("Bearer abc", Refusal.BASIC_AUTH),
        ("Basic " + base64.b64encode(b"twilio:s3cret").decode(), None),
    ],
)
def test_http_basic_credentials_when_configured(authorization: str | None, expected: Refusal | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    event = request(auth_token=TOKEN, headers=headers)
    assert check(event, Secret(TOKEN, basic=("twilio", "s3cret"))) is expected
    assert Refusal.BASIC_AUTH.status == 401


@pytest.mark.parametrize(
    "value",
    [{"primary_auth_token": "", "secondary_auth_token": ""}, {}, "a plain string", None],
)
def test_a_secret_without_a_token_is_unavailable_not_open(value: Any) -> None:
    with pytest.raises(CredentialsUnavailable):
        WebhookCredentials.from_secret(value)


def test_an_unreadable_secret_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("no route to Secrets Manager")

    monkeypatch.setattr(signature.CredentialSource, "_fetch", fail)
    with pytest.raises(CredentialsUnavailable, match="cannot be read: ConnectionError"):
        signature.CredentialSource("arn:secret").get()


def test_credentials_from_the_secret_keep_both_tokens_and_basic_auth() -> None:
    credentials = WebhookCredentials.from_secret(
        {"primary_auth_token": "a", "secondary_auth_token": "b", "basic_auth_username": "u", "basic_auth_password": "p"}
    )
    assert credentials == WebhookCredentials(("a", "b"), ("u", "p"))
    assert WebhookCredentials.from_secret({"secondary_auth_token": "b"}).auth_tokens == ("b",)


def without_body_hash(event: dict[str, Any]) -> dict[str, Any]:
    """The same request with the bodySHA256 query parameter taken out (what an attacker can send)."""
    event["queryStringParameters"] = None
    event["multiValueQueryStringParameters"] = None
    return event


def test_a_signed_request_without_a_body_hash_is_refused_not_raised() -> None:
    # twilio's validator reads a body without bodySHA256 as form parameters and raises TypeError.
    raw = api_gateway_event(PATH, BODY, host=HOST, auth_token=TOKEN)
    assert check(APIGatewayProxyEvent(without_body_hash(raw))) is Refusal.NO_BODY_HASH


def test_two_body_hashes_are_refused() -> None:
    raw = api_gateway_event(PATH, BODY, host=HOST)
    raw["multiValueQueryStringParameters"]["bodySHA256"] *= 2
    assert check(APIGatewayProxyEvent(raw)) is Refusal.NO_BODY_HASH


@pytest.mark.parametrize(
    "settings", ["algorithm=HMAC_MD5", "algorithm=\r\nforged log line", "key=a,algorithm=" + "x" * 500]
)
def test_an_unknown_signature_algorithm_is_refused_without_logging_what_was_sent(
    settings: str, caplog: pytest.LogCaptureFixture
) -> None:
    event = request(headers={"X-Twilio-Webhooks-Signature-Settings": settings})
    with caplog.at_level("DEBUG"):
        assert check(event) is Refusal.SIGNATURE_ALGORITHM
    assert "forged" not in caplog.text and "HMAC_MD5" not in caplog.text


@pytest.mark.parametrize("host", ["bad:port", "[::1", "a b", "é.example", "", "?", "#", "a?bodySHA256=x"])
def test_a_host_that_is_no_url_host_fails_the_signature_without_raising(host: str) -> None:
    raw = api_gateway_event(PATH, BODY, host=host)
    raw["requestContext"]["domainName"] = host
    assert check(APIGatewayProxyEvent(raw)) is Refusal.BAD_SIGNATURE


def test_a_body_hash_that_is_not_ascii_fails_on_the_hash_without_raising() -> None:
    raw = api_gateway_event(PATH, BODY, host=HOST)
    raw["multiValueQueryStringParameters"]["bodySHA256"] = ["é" * 64]
    raw["queryStringParameters"]["bodySHA256"] = "é" * 64
    assert check(APIGatewayProxyEvent(raw)) is Refusal.BODY_HASH


def test_basic_credentials_that_are_not_ascii_fail_without_raising() -> None:
    encoded = base64.b64encode("usér:pässword".encode()).decode()
    event = request(headers={"Authorization": f"Basic {encoded}"})
    assert check(event, Secret(TOKEN, basic=("user", "password"))) is Refusal.BASIC_AUTH
