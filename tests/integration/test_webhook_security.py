"""Given webhook requests on a processing function, with the Twilio auth token in (moto's) Secrets
Manager, when they are signed right, wrong or not at all, then only Twilio's are processed, every
refused body is kept with its reason, and an unreadable secret makes Twilio retry instead of
letting anything in."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from devtools.lambda_events import LOCAL_AUTH_TOKEN, api_gateway_event
from tests.conftest import load_seed
from tests.integration.conftest import Handler, LocalStack, MetricsCapture, load_handlers
from voice_insights.ingest.webhook import route_path

ROUTE = "conference_summary_complete"
BODY = json.dumps([load_seed(ROUTE)])


def post(handler: Handler, **options: Any) -> tuple[int, dict[str, Any]]:
    response = handler(api_gateway_event(route_path(ROUTE), options.pop("body", BODY), **options))
    return response["statusCode"], json.loads(response["body"])


def compact(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def test_only_signed_requests_are_stored_and_every_refused_request_is_recorded(
    stack: LocalStack, handlers: dict[str, Handler], metrics_capture: MetricsCapture
) -> None:
    handler = handlers[ROUTE]
    refused = [
        metrics_capture.run(lambda: post(handler, auth_token=None)),
        metrics_capture.run(lambda: post(handler, auth_token="not-the-token", headers={"Authorization": "Basic eDp5"})),
        metrics_capture.run(lambda: post(handler, headers={"Content-Type": "text/plain"})),
    ]
    assert [status for status, _ in refused] == [403, 403, 415]
    assert refused[0][1] == {"message": "missing X-Twilio-Signature header"}
    assert stack.items() == [] and stack.rejected() == []  # nothing replayable from an unproven request
    kept = stack.refused()
    assert sorted(k["reason"] for k in kept) == [
        "request refused (403): invalid X-Twilio-Signature",
        "request refused (403): missing X-Twilio-Signature header",
        "request refused (415): the content type must be application/json",
    ]
    body = BODY.encode()
    assert {(k["body_bytes"], k["body_sha256"], k["body_head"]) for k in kept} == {
        (len(body), hashlib.sha256(body).hexdigest(), BODY)  # a short body fits whole in its head
    }
    assert all("raw" not in k and "authorization" not in {h.lower() for h in k["headers"]} for k in kept)
    # No signature: with it, the query and a small body whole, whoever reads the bucket could send it again.
    assert all("x-twilio-signature" not in {h.lower() for h in k["headers"]} for k in kept)
    assert sorted(k["signature_sha256"] is not None for k in kept) == [False, True, True]
    assert all(k["source_ip"] == "127.0.0.1" and k["authenticated"] is False for k in kept)
    assert metrics_capture.totals["WebhookRequestsRefused"] == 3
    assert metrics_capture.totals["RefusedRequestBytesKept"] == sum(len(compact(k)) for k in kept)

    assert metrics_capture.run(lambda: post(handler)) == (
        200, {"stored": 1, "duplicates": 0, "stale": 0, "rejected": 0, "test_events": 0, "failed": 0}
    )  # fmt: skip
    assert len(stack.items()) == 1


@pytest.mark.parametrize("signed", [False, True])
def test_a_refused_request_leaves_at_most_64_kb_whatever_it_sends(
    stack: LocalStack, handlers: dict[str, Handler], signed: bool
) -> None:
    # 5.5 MB body (over WebhookMaxBodyBytes), 60 headers of 8 KB of control characters (escaped 6x in JSON).
    huge = b"[" + b" " * (5 * 1024 * 1024 + 512 * 1024) + b"]"
    headers = {f"X-Junk-{n}": "\x01" * 8192 for n in range(60)}
    status, _ = post(handlers[ROUTE], body=huge, headers=headers, auth_token=LOCAL_AUTH_TOKEN if signed else None)
    assert status == 413
    (kept,) = stack.refused()
    size = len(compact(kept))
    assert size <= 64 * 1024, size
    assert kept["body_bytes"] == len(huge) and kept["body_truncated"] is True
    assert stack.rejected() == []


def test_a_signed_body_over_the_event_cap_is_kept_whole_once_and_answered_413(
    stack: LocalStack, handlers: dict[str, Handler], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_MAX_EVENTS", "5")
    body = json.dumps([load_seed(ROUTE)] * 6)
    status, answer = post(load_handlers()[ROUTE], body=body)
    assert (status, answer["rejected"]) == (413, 1)
    assert answer["message"] == "the body holds 6 events, more than the 5 one request may carry"
    (kept,) = stack.rejected()
    assert kept["raw"] == body and stack.items() == []  # Twilio's own: whole, replayable


@pytest.mark.parametrize("cap", ["events", "not an array"])
def test_a_replayed_signed_body_that_is_refused_is_kept_once(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, cap: str
) -> None:
    """Twilio's signature has no timestamp: whoever captured one request can send it again, and it verifies.
    Refused whole (over the event cap, or not an array), it is kept once per body, not once per replay."""
    monkeypatch.setenv("WEBHOOK_MAX_EVENTS", "5")
    body = json.dumps([load_seed(ROUTE)] * 6) if cap == "events" else json.dumps({"not": "an array"})
    handler = load_handlers()[ROUTE]
    answers = [post(handler, body=body) for _ in range(6)]  # Twilio's delivery, then five replays
    assert len(set(json.dumps(answer) for answer in answers)) == 1 and answers[0][0] in (400, 413)
    versions = stack.s3.list_object_versions(Bucket=stack.bucket, Prefix="rejected/").get("Versions", [])
    assert [v["Key"] for v in versions] == [
        f"rejected/signed-bodies/{ROUTE}/{hashlib.sha256(body.encode()).hexdigest()}.jsonl"
    ]
    (kept,) = stack.rejected()
    assert kept["raw"] == body and stack.items() == []


def test_the_rejected_events_of_one_request_are_kept_together_in_one_object(
    stack: LocalStack, handlers: dict[str, Handler]
) -> None:
    invalid = [{"specversion": "1.0", "type": "com.twilio.voice.insights.conference-summary.complete", "id": f"E{n}"}
               for n in range(300)]  # fmt: skip
    status, answer = post(handlers[ROUTE], body=json.dumps([load_seed(ROUTE), *invalid]))
    assert (status, answer["stored"], answer["rejected"]) == (200, 1, 300)
    objects = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="rejected/")["Contents"]
    assert len(objects) == 1
    assert sorted(record["event_id"] for record in stack.rejected()) == sorted(f"E{n}" for n in range(300))


def test_the_secondary_token_is_accepted_for_rotation(stack: LocalStack) -> None:
    stack.set_webhook_secret({"primary_auth_token": "new-token", "secondary_auth_token": LOCAL_AUTH_TOKEN})
    handler = load_handlers()[ROUTE]  # a new execution environment: nothing cached
    assert post(handler)[0] == 200
    assert post(handler, auth_token="new-token")[0] == 200  # same event again: a duplicate, still 200


def test_an_empty_or_unreadable_secret_answers_503_and_keeps_nothing(
    stack: LocalStack, monkeypatch: Any, metrics_capture: MetricsCapture
) -> None:
    stack.set_webhook_secret({"primary_auth_token": "", "secondary_auth_token": ""})  # deployed, not set yet
    status, answer = metrics_capture.run(lambda: post(load_handlers()[ROUTE]))
    assert (status, answer["message"]) == (503, "the request cannot be verified right now; deliver it again")

    monkeypatch.setenv("WEBHOOK_SECRET_ARN", stack.webhook_secret + "-deleted")
    assert metrics_capture.run(lambda: post(load_handlers()[ROUTE]))[0] == 503
    assert metrics_capture.totals["SignatureCheckUnavailable"] == 2
    assert stack.items() == [] and stack.rejected() == []  # Twilio retries them: nothing to keep
