"""Given webhook requests refused before they were proven Twilio's, when their record is made, then it says enough
to diagnose (which token could have signed it: the signature's SHA-256) and holds nothing that lets whoever
reads the bucket send the request again: no signature, no credential."""

from __future__ import annotations

import hashlib
import json

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from twilio.request_validator import RequestValidator

from devtools.lambda_events import LOCAL_AUTH_TOKEN, api_gateway_event
from voice_insights.ingest.refused_requests import refused_request_record

BODY = json.dumps([{"id": "EZ1", "type": "com.twilio.voice.insights.conference-summary.complete"}])


def record_of(**options: object) -> dict[str, object]:
    event = api_gateway_event("/events/conference-summary-complete", BODY, **options)  # type: ignore[arg-type]
    return refused_request_record(APIGatewayProxyEvent(event), BODY.encode(), 403, "invalid X-Twilio-Signature")


def test_a_refused_request_keeps_no_signature_whatever_its_case() -> None:
    for name in ("X-Twilio-Signature", "x-twilio-signature", "X-TWILIO-SIGNATURE"):
        event = api_gateway_event("/events/conference-summary-complete", BODY, auth_token=LOCAL_AUTH_TOKEN)
        signature = event["headers"].pop("X-Twilio-Signature")
        del event["multiValueHeaders"]["X-Twilio-Signature"]
        event["headers"][name] = signature
        event["multiValueHeaders"][name] = [signature]
        record = refused_request_record(APIGatewayProxyEvent(event), BODY.encode(), 403, "invalid X-Twilio-Signature")
        kept = json.dumps(record)
        assert signature not in kept, name
        assert name.lower() not in {header.lower() for header in record["headers"]}  # type: ignore[union-attr]
        assert record["signature_sha256"] == hashlib.sha256(signature.encode()).hexdigest()


def test_the_kept_digest_tells_which_token_signed_it() -> None:
    """An operator who rotated the token can tell whether the old one signed it, from the record alone."""
    record = record_of(auth_token="the-old-token")
    headers = record["headers"]
    assert isinstance(headers, dict)
    url = f"https://{headers['Host'][0]}/v1{record['path']}?{record['query']}"
    for token, signed in (("the-old-token", True), (LOCAL_AUTH_TOKEN, False)):
        candidate = RequestValidator(token).compute_signature(url, {})  # as docs/operations.md says
        assert (hashlib.sha256(candidate.encode()).hexdigest() == record["signature_sha256"]) is signed


def test_an_unsigned_request_says_so() -> None:
    record = record_of(auth_token=None)
    assert record["signature_sha256"] is None
