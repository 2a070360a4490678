"""Given the whole local stack (built functions under the emulator, behind the local gateway), when an attacker
(or a misconfigured sink) sends what the security review tried, then each request gets its documented answer,
what it makes the stack keep is bounded (64 KB for a request not proven Twilio's), and nothing it leaves can be
replayed. Prints the attack table docs/security.md gives (request, status, bytes kept, seconds).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from devtools.cfn import local_client
from devtools.lambda_events import LOCAL_AUTH_TOKEN, twilio_signature
from devtools.runner import LocalRunner
from devtools.traffic import seed

REFUSED_LIMIT = 64 * 1024
INVALID = {"specversion": "1.0", "type": "com.twilio.voice.insights.conference-participant-summary.complete"}


@pytest.fixture(scope="module")
def runner() -> Iterator[LocalRunner]:
    with LocalRunner() as running:
        yield running


def participants(count: int, prefix: str) -> list[dict[str, Any]]:
    events = []
    for n in range(count):
        event = json.loads(json.dumps(seed("conference-participant-summary-complete")))
        event["id"] = f"{prefix}{n}"
        event["data"]["participant_sid"] = f"CP{prefix}{n}"
        events.append(event)
    return events


class Target:
    def __init__(self, runner: LocalRunner) -> None:
        assert runner.gateway is not None
        self.url = runner.gateway.route_urls()["ParticipantSummaryCompleteFunction"]
        self.s3 = local_client("s3", runner.endpoint_url)
        self.bucket = runner.ref("RejectedEventsBucket")
        self.last_answer = b""  # the body of the last answer

    def kept(self) -> dict[str, int]:
        """Bytes and objects under each prefix of the rejected-events bucket."""
        totals = {"refused_bytes": 0, "refused_objects": 0, "rejected_bytes": 0, "rejected_objects": 0}
        for prefix in ("refused", "rejected"):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix + "/"):
                for entry in page.get("Contents", []):
                    totals[f"{prefix}_bytes"] += entry["Size"]
                    totals[f"{prefix}_objects"] += 1
        return totals

    def post(self, body: bytes, sign: str | None = LOCAL_AUTH_TOKEN, hashed: bool = True,
             headers: tuple[tuple[str, str], ...] = (), method: str = "POST") -> int:  # fmt: skip
        url = f"{self.url}?bodySHA256={hashlib.sha256(body).hexdigest()}" if hashed else self.url
        sent = [("Content-Type", "application/json"), *headers]
        if sign is not None:
            sent.append(("X-Twilio-Signature", twilio_signature(url, sign)))
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120)
        connection.putrequest(method, f"{parts.path}?{parts.query}" if parts.query else parts.path)
        for name, value in [*sent, ("Content-Length", str(len(body)))]:
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        status, self.last_answer = response.status, response.read()
        connection.close()
        return status


def attacks() -> list[tuple[str, Callable[[Target], int], int, str]]:
    """(request, how to send it, expected status, what may be kept: refused | whole | batch | nothing)."""
    small = json.dumps(participants(1, "EZatk")).encode()
    huge = b"[" + b" " * (5 * 1024 * 1024 + 512 * 1024) + b"]"
    many_invalid = json.dumps([{"id": f"EZbad{n}"} for n in range(100_000)]).encode()
    thousand_invalid = json.dumps([{**INVALID, "id": f"EZone{n}"} for n in range(1_000)]).encode()
    thousand_valid = json.dumps(participants(1_000, "EZok")).encode()
    return [
        ("unsigned 5.5 MB body", lambda t: t.post(huge, sign=None), 413, "refused"),
        ("unsigned small body", lambda t: t.post(small, sign=None), 403, "refused"),
        ("signed with another token", lambda t: t.post(small, sign="not-the-token"), 403, "refused"),
        ("signed, no bodySHA256 (was 502)", lambda t: t.post(small, hashed=False), 403, "refused"),
        (
            "unknown signature algorithm",
            lambda t: t.post(small, headers=(("X-Twilio-Webhooks-Signature-Settings", "algorithm=HMAC_MD5"),)),
            403,
            "refused",
        ),
        (
            "Content-Type text/plain",
            lambda t: t.post(small, headers=(("Content-Type", "text/plain"),)),
            415,
            "refused",
        ),
        ("unsigned body not UTF-8", lambda t: t.post(b"\xff" * 10_000, sign=None), 400, "refused"),
        (
            "18 headers of 500 B, unsigned (API Gateway takes 10 KB of headers)",
            lambda t: t.post(small, sign=None, headers=tuple((f"X-Junk-{n}", "\x01" * 500) for n in range(18))),
            403,
            "refused",
        ),
        (
            "signed, 100,000 invalid elements (was 502 after 3,031 objects)",
            lambda t: t.post(many_invalid),
            413,
            "whole",
        ),
        ("signed, 1,000 invalid elements", lambda t: t.post(thousand_invalid), 200, "batch"),
        ("signed, 1,000 valid participant summaries", lambda t: t.post(thousand_valid), 200, "nothing"),
    ]


def test_every_attack_gets_its_answer_and_keeps_what_it_may(runner: LocalRunner) -> None:
    target = Target(runner)
    rows = []
    for name, send, expected, kept_as in attacks():
        before = target.kept()
        started = time.perf_counter()
        status = send(target)
        seconds = time.perf_counter() - started
        after = target.kept()
        added = {key: after[key] - before[key] for key in after}
        rows.append((name, status, added, seconds))
        assert status == expected, (name, status)
        if kept_as == "refused":  # a bounded record, nothing replayable
            assert (added["refused_objects"], added["rejected_objects"]) == (1, 0), (name, added)
            assert added["refused_bytes"] <= REFUSED_LIMIT, (name, added)
        elif kept_as in ("whole", "batch"):  # Twilio's own body kept once; or its rejected events together
            assert (added["refused_objects"], added["rejected_objects"]) == (0, 1), (name, added)
        else:
            assert added["refused_objects"] + added["rejected_objects"] == 0, (name, added)
    print("\nfigures | attack | status | kept (bytes, objects) | seconds")
    for name, status, added, seconds in rows:
        kept = added["refused_bytes"] + added["rejected_bytes"]
        objects = added["refused_objects"] + added["rejected_objects"]
        print(f"figures | {name} | {status} | {kept:,} B in {objects} | {seconds:.2f}")


def test_a_replayed_signed_request_keeps_one_copy_and_a_refused_one_no_signature(runner: LocalRunner) -> None:
    """Twilio's signature has no timestamp: a captured request verifies whenever it is sent again. Given about
    4 MB that Twilio signed but the webhook refuses whole (over the event cap), sent once and replayed five
    times, then the bucket holds one copy of it; given a request refused before it was proven Twilio's, then its
    record holds no signature that would let a reader of the bucket send it again."""
    target = Target(runner)
    body = json.dumps([{**INVALID, "id": f"EZreplay{n}"} for n in range(40_000)]).encode()
    before = target.kept()
    started = time.perf_counter()
    statuses = [target.post(body) for _ in range(6)]
    seconds = time.perf_counter() - started
    added = {key: value - before[key] for key, value in target.kept().items()}
    print(f"\nfigures | signed {len(body):,} B over the event cap, sent 6 times | {statuses[0]} | "
          f"{added['rejected_bytes']:,} B in {added['rejected_objects']} | {seconds:.2f}")  # fmt: skip
    assert statuses == [413] * 6
    assert (added["rejected_objects"], added["refused_objects"]) == (1, 0), added
    assert len(body) < added["rejected_bytes"] < 2 * len(body)  # one copy (JSON-escaped), not six

    valid = json.dumps(participants(100, "EZvalid")).encode()  # a genuine batch, replayed: duplicates by event id
    before = target.kept()
    started = time.perf_counter()
    answers = [(target.post(valid), json.loads(target.last_answer)) for _ in range(3)]
    print(f"figures | signed valid batch of 100, sent 3 times | 200 | 0 B | {time.perf_counter() - started:.2f}")
    assert [(status, answer["stored"], answer["duplicates"]) for status, answer in answers] == [
        (200, 100, 0), (200, 0, 100), (200, 0, 100)
    ]  # fmt: skip
    assert target.kept() == before  # nothing kept, nothing changed

    keys = {e["Key"] for e in target.s3.list_objects_v2(Bucket=target.bucket, Prefix="refused/").get("Contents", [])}
    small = json.dumps(participants(1, "EZsig")).encode()
    assert target.post(small, sign="a-rotated-token") == 403
    listed = target.s3.list_objects_v2(Bucket=target.bucket, Prefix="refused/")["Contents"]
    (new_key,) = {entry["Key"] for entry in listed} - keys
    record = json.loads(target.s3.get_object(Bucket=target.bucket, Key=new_key)["Body"].read())
    assert "x-twilio-signature" not in {name.lower() for name in record["headers"]}
    assert record["body_head"] == small.decode() and len(record["signature_sha256"]) == 64
