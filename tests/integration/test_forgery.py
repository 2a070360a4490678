"""Given the whole local stack (built functions under the emulator, behind the local gateway), when a
request forges or replays Twilio's signature, then it is refused with 403 and nothing of it reaches
the table (the refused body is only kept in the rejected-events bucket, for a human to look at)."""

from __future__ import annotations

import copy
import hashlib
import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from devtools.cfn import local_client
from devtools.lambda_events import LOCAL_AUTH_TOKEN, twilio_signature
from devtools.runner import LocalRunner
from devtools.traffic import seed
from voice_insights.domain.items import stored_event


@pytest.fixture(scope="module")
def runner() -> Iterator[LocalRunner]:
    with LocalRunner() as running:
        yield running


def participant_event(event_id: str) -> dict[str, Any]:
    event = copy.deepcopy(seed("conference-participant-summary-complete"))
    event["id"] = event_id
    event["data"]["participant_sid"] = "CP" + hashlib.sha1(event_id.encode()).hexdigest()[:32]
    return event


def route(runner: LocalRunner, function: str = "ParticipantSummaryCompleteFunction") -> str:
    assert runner.gateway is not None
    return runner.gateway.route_urls()[function]


def signed_url(url: str, body: bytes) -> str:
    return f"{url}?bodySHA256={hashlib.sha256(body).hexdigest()}"


def post(url: str, body: bytes, headers: list[tuple[str, str]]) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    connection.putrequest("POST", f"{parts.path}?{parts.query}" if parts.query else parts.path)
    for name, value in [("Content-Type", "application/json"), *headers, ("Content-Length", str(len(body)))]:
        connection.putheader(name, value)
    connection.endheaders(body)
    status = connection.getresponse().status
    connection.close()
    return status


def stored_event_ids(runner: LocalRunner) -> set[str]:
    items = local_client("dynamodb", runner.endpoint_url).scan(TableName=runner.ref("SummariesTable"))["Items"]
    return {stored_event(item).event_id for item in items}


def test_a_genuine_request_is_stored(runner: LocalRunner) -> None:
    body = json.dumps([participant_event("EZgenuine")]).encode()
    url = signed_url(route(runner), body)
    assert post(url, body, [("X-Twilio-Signature", twilio_signature(url, LOCAL_AUTH_TOKEN))]) == 200
    assert "EZgenuine" in stored_event_ids(runner)


@pytest.mark.parametrize("name", ["x-twilio-signature", "X-TWILIO-SIGNATURE"])
def test_header_names_are_case_insensitive_for_a_genuine_request(runner: LocalRunner, name: str) -> None:
    event_id = f"EZcase-{name}"
    body = json.dumps([participant_event(event_id)]).encode()
    url = signed_url(route(runner), body)
    assert post(url, body, [(name, twilio_signature(url, LOCAL_AUTH_TOKEN))]) == 200
    assert event_id in stored_event_ids(runner)


def forgeries(runner: LocalRunner, event_id: str) -> list[tuple[str, bytes, list[tuple[str, str]]]]:
    """(url, body, headers) of one forged or replayed request each."""
    original = json.dumps([participant_event("EZoriginal")]).encode()
    forged = json.dumps([participant_event(event_id)]).encode()
    url = route(runner)
    genuine_url = signed_url(url, original)
    genuine_signature = twilio_signature(genuine_url, LOCAL_AUTH_TOKEN)
    forged_url = signed_url(url, forged)
    other_host = forged_url.replace("127.0.0.1", "evil.example")
    other_path = signed_url(route(runner, "ConferenceSummaryPartialFunction"), forged)
    return [
        # wrong token
        (forged_url, forged, [("X-Twilio-Signature", twilio_signature(forged_url, "not-the-token"))]),
        # a captured signature replayed with another body (bodySHA256 of the original)
        (genuine_url, forged, [("X-Twilio-Signature", genuine_signature)]),
        # ... and with the URL's bodySHA256 changed to match the new body
        (forged_url, forged, [("X-Twilio-Signature", genuine_signature)]),
        # signed for another host, or another route of the same API
        (forged_url, forged, [("X-Twilio-Signature", twilio_signature(other_host, LOCAL_AUTH_TOKEN))]),
        (forged_url, forged, [("X-Twilio-Signature", twilio_signature(other_path, LOCAL_AUTH_TOKEN))]),
        # signed over https instead of the URL called (without the port is the same URL to Twilio's validator)
        (forged_url, forged,
         [("X-Twilio-Signature", twilio_signature(forged_url.replace("http:", "https:"), LOCAL_AUTH_TOKEN))]),
        # a query parameter added after signing
        (forged_url + "&extra=1", forged, [("X-Twilio-Signature", twilio_signature(forged_url, LOCAL_AUTH_TOKEN))]),
        # no signature, an empty one, a header-case variant of a wrong one
        (forged_url, forged, []),
        (forged_url, forged, [("X-Twilio-Signature", "")]),
        (forged_url, forged, [("x-twilio-signature", genuine_signature)]),
        # two signatures, a valid one among them: Twilio sends one, so two are refused whatever their order
        (forged_url, forged, [("X-Twilio-Signature", twilio_signature(forged_url, LOCAL_AUTH_TOKEN)),
                              ("X-Twilio-Signature", genuine_signature)]),
        (forged_url, forged, [("X-Twilio-Signature", genuine_signature),
                              ("X-Twilio-Signature", twilio_signature(forged_url, LOCAL_AUTH_TOKEN))]),
        (forged_url, forged, [("x-twilio-signature", genuine_signature),
                              ("X-Twilio-Signature", twilio_signature(forged_url, LOCAL_AUTH_TOKEN))]),
    ]  # fmt: skip


def test_forged_and_replayed_signatures_are_refused_and_leave_no_trace_in_the_table(runner: LocalRunner) -> None:
    cases = forgeries(runner, "EZforged-probe")
    answers = []
    for index in range(len(cases)):
        event_id = f"EZforged-{index}"
        url, body, headers = forgeries(runner, event_id)[index]
        answers.append((index, post(url, body, headers)))
    accepted = [(index, status) for index, status in answers if status != 403]
    assert accepted == [], str(accepted)
    stored = stored_event_ids(runner)
    assert {f"EZforged-{index}" for index in range(len(cases))} & stored == set()
    assert len(cases) == 13
