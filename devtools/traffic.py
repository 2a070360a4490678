"""Realistic Voice Insights traffic for a local run, built from Twilio's documented samples, and the
two ways Twilio delivers it: PutRecords on the Kinesis stream, signed POSTs to the webhook routes.

``generate`` makes N conferences, each a partial then a complete summary and its participants' summaries;
a share of conferences and participants with quality issues (Twilio's sample values), the rest healthy;
redeliveries (duplicates, on either path), every path's deliveries shuffled (out of order, so partial
summaries also arrive after their complete one), and a few malformed events. It knows what must come
out: the items, and the alerts (one per bad conference and per bad participant: partial summaries are
kept healthy, so an alert's count does not depend on the delivery order).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from devtools.cfn import local_client
from devtools.lambda_events import LOCAL_AUTH_TOKEN, twilio_signature

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "tests" / "fixtures" / "seeds"
EVENTS = ROOT / "events"
HEALTHY_METRICS = {
    "total_packets_lost": 0,
    "total_packets_received": 50_000,
    "packet_loss_percentage": 0.1,
    "jitter": {"avg": 1.2, "max": 9.0},
    "latency": {"avg": 40.0, "max": 80.0},
    "mos": 4.3,
    "tags": [],
}
ROUTE_OF_TYPE = {
    "com.twilio.voice.insights.conference-summary.complete": "ConferenceSummaryCompleteFunction",
    "com.twilio.voice.insights.conference-summary.partial": "ConferenceSummaryPartialFunction",
    "com.twilio.voice.insights.conference-participant-summary.complete": "ParticipantSummaryCompleteFunction",
}
KINESIS_MAX_RECORDS = (
    500  # per PutRecords call (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html)
)
WEBHOOK_BATCH = 25  # events per POST; Twilio documents no maximum (1..N)
WEBHOOK_ATTEMPTS = 6  # Twilio retries 5xx and connection failures with backoff (for up to 4 hours)

Path_ = Literal["kinesis", "webhook"]


@dataclass(frozen=True)
class Delivery:
    """One event as Twilio delivers it once: ``payload`` is a Kinesis record's bytes, or one element of a
    webhook body posted to ``function``'s route."""

    path: Path_
    payload: bytes | Any
    function: str  # whose route a webhook element is posted to; the stream's routing is the filters' job
    key: str  # the event id, or raw:<sha256> when no id can be read from it


@dataclass
class Traffic:
    deliveries: list[Delivery] = field(default_factory=list)
    conferences: set[str] = field(default_factory=set)
    participants: set[tuple[str, str]] = field(default_factory=set)  # (conference sid, participant sid)
    bad_conferences: set[str] = field(default_factory=set)
    bad_participants: set[tuple[str, str]] = field(default_factory=set)
    malformed: int = 0
    duplicates: int = 0

    @property
    def expected_alerts(self) -> int:
        return len(self.bad_conferences) + len(self.bad_participants)

    def on(self, path: Path_) -> list[Delivery]:
        return [d for d in self.deliveries if d.path == path]


def key_of(payload: bytes | Any) -> str:
    """How an outcome is matched to what was sent: the CloudEvent id when there is one, else the raw bytes."""
    value = payload
    if isinstance(payload, bytes):
        try:
            value = json.loads(payload)
        except ValueError:
            value = None
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    text = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    return "raw:" + hashlib.sha256(text).hexdigest()


def raw_key(raw_text: str) -> str:
    return "raw:" + hashlib.sha256(raw_text.encode()).hexdigest()


def seed(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((SEEDS / f"{name}.json").read_text())
    return event


def kinesis_bytes(event: dict[str, Any]) -> bytes:
    """As Twilio's Kinesis sink writes a record: ``data`` as a JSON-encoded string (twilio-facts)."""
    return json.dumps({**event, "data": json.dumps(event["data"])}).encode()


def generate(
    conferences: int = 40,
    participants_each: int = 4,
    bad_share: float = 0.2,
    duplicate_share: float = 0.1,
    webhook_share: float = 0.5,
    random_seed: int = 7,
) -> Traffic:
    rng = random.Random(random_seed)  # noqa: S311 (a reproducible workload, not cryptography)
    partial, complete, participant = (
        seed("conference-summary-partial"),
        seed("conference-summary-complete"),
        seed("conference-participant-summary-complete"),
    )
    traffic = Traffic()
    events: list[dict[str, Any]] = []
    for c in range(conferences):
        conference_sid = f"CF{c:032x}"
        traffic.conferences.add(conference_sid)
        bad_conference = rng.random() < bad_share
        for kind, template, minute in (("p", partial, 5), ("c", complete, 50)):
            event = copy.deepcopy(template)
            event["id"] = f"EZ{kind}{c:030x}"
            event["time"] = f"2026-11-21T10:{minute:02d}:00Z"
            event["data"].update(conference_sid=conference_sid, friendly_name=f"Support bridge {c}")
            if kind == "p" or not bad_conference:
                event["data"].update(tags=[], tag_info=None, detected_issues={"call_quality": 0})
            events.append(event)
        if bad_conference:
            traffic.bad_conferences.add(conference_sid)
        for p in range(participants_each):
            number = c * participants_each + p
            event = copy.deepcopy(participant)
            event["id"] = f"EZa{number:030x}"
            participant_sid = f"CP{number:032x}"
            event["data"].update(
                participant_sid=participant_sid,
                call_sid=f"CA{number:032x}",
                conference_sid=conference_sid,
                label=f"agent-{number}",
            )
            traffic.participants.add((conference_sid, participant_sid))
            if rng.random() < bad_share:
                traffic.bad_participants.add((conference_sid, participant_sid))
            else:
                event["data"]["quality_issues"] = 0
                event["data"]["metrics"] = {"inbound": HEALTHY_METRICS, "outbound": HEALTHY_METRICS}
            events.append(event)

    def deliver(event: dict[str, Any]) -> Delivery:
        path: Path_ = "webhook" if rng.random() < webhook_share else "kinesis"
        payload = kinesis_bytes(event) if path == "kinesis" else event
        return Delivery(path, payload, ROUTE_OF_TYPE[event["type"]], event["id"])

    traffic.deliveries = [deliver(event) for event in events]
    redelivered = rng.sample(events, round(len(events) * duplicate_share))
    traffic.deliveries += [deliver(event) for event in redelivered]
    traffic.duplicates = len(redelivered)
    malformed = malformed_deliveries(participant, complete)
    traffic.deliveries += malformed
    traffic.malformed = len(malformed)
    rng.shuffle(traffic.deliveries)
    return traffic


def malformed_deliveries(participant: dict[str, Any], complete: dict[str, Any]) -> list[Delivery]:
    """A few events every application meets sooner or later, one of each kind, on both paths."""
    cut = kinesis_bytes(participant)[:-40]  # a truncated record
    no_conference = copy.deepcopy(complete)
    no_conference["id"] = "EZbad00000000000000000000000001"
    del no_conference["data"]["conference_sid"]
    unknown_type = {**copy.deepcopy(complete), "id": "EZbad00000000000000000000000002"}
    unknown_type["type"] = "com.twilio.voice.insights.call-summary.complete"
    wrong_types = copy.deepcopy(participant)
    wrong_types["id"] = "EZbad00000000000000000000000003"
    wrong_types["data"].update(participant_sid=["not", "a", "sid"], duration_seconds="long")
    participant_route = ROUTE_OF_TYPE[participant["type"]]
    return [
        Delivery("kinesis", cut, "", key_of(cut)),
        Delivery("kinesis", b"\xff\xfe not UTF-8", "", key_of(b"\xff\xfe not UTF-8")),
        Delivery("kinesis", kinesis_bytes(no_conference), "", no_conference["id"]),
        Delivery("kinesis", kinesis_bytes(unknown_type), "", unknown_type["id"]),
        Delivery("webhook", wrong_types, participant_route, wrong_types["id"]),
        Delivery("webhook", 42, participant_route, key_of(42)),
    ]


def sample_deliveries(function_of_path: dict[str, str]) -> list[Delivery]:
    """The events of events/: the Kinesis samples' records and the webhook samples' bodies (posted to the
    route of the sample's path; ``function_of_path`` maps a route path to its function)."""
    deliveries = []
    for path in sorted(EVENTS.glob("*/kinesis*.json")):
        for record in json.loads(path.read_text())["Records"]:
            payload = base64.b64decode(record["kinesis"]["data"])
            deliveries.append(Delivery("kinesis", payload, "", key_of(payload)))
    for path in sorted(EVENTS.glob("*/webhook*.json")):
        event = json.loads(path.read_text())
        function = function_of_path[event["path"]]
        deliveries += [Delivery("webhook", e, function, key_of(e)) for e in json.loads(event["body"])]
    return deliveries


def put_on_stream(endpoint_url: str, stream: str, deliveries: Iterable[Delivery]) -> int:
    """PutRecords, as Twilio's Kinesis sink writes; failed entries are written again."""
    kinesis = local_client("kinesis", endpoint_url)
    records = [{"Data": d.payload, "PartitionKey": d.key[:256]} for d in deliveries]
    for start in range(0, len(records), KINESIS_MAX_RECORDS):
        chunk = records[start : start + KINESIS_MAX_RECORDS]
        while chunk:
            answer = kinesis.put_records(StreamName=stream, Records=chunk)
            chunk = [r for r, result in zip(chunk, answer["Records"], strict=True) if "ErrorCode" in result]
    return len(records)


@dataclass
class WebhookResult:
    posts: int = 0
    retried: int = 0
    error: BaseException | None = None  # what stopped the sender, if anything
    statuses: dict[int, int] = field(default_factory=dict)


def post_webhooks(
    route_urls: dict[str, str],
    deliveries: Iterable[Delivery],
    batch: int = WEBHOOK_BATCH,
    auth_token: str = LOCAL_AUTH_TOKEN,
    result: WebhookResult | None = None,
) -> WebhookResult:
    """POST the elements to their routes in batches, signed as Twilio signs, retried on 5xx as Twilio does."""
    by_function: dict[str, list[Any]] = {}
    for delivery in deliveries:
        by_function.setdefault(delivery.function, []).append(delivery.payload)
    result = result or WebhookResult()
    try:
        for function, elements in by_function.items():
            for start in range(0, len(elements), batch):
                chunk = elements[start : start + batch]
                status = signed_post(route_urls[function], json.dumps(chunk).encode(), auth_token, result)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                result.posts += 1
    except Exception as error:  # on a thread: the caller reports it
        result.error = error
    return result


def signed_post(url: str, body: bytes, auth_token: str, result: WebhookResult | None = None) -> int:
    """One webhook request as Twilio sends it: bodySHA256 in the URL, X-Twilio-Signature over that URL."""
    signed_url = f"{url}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Signature": twilio_signature(signed_url, auth_token),
        "I-Twilio-Idempotency-Token": hashlib.sha1(body).hexdigest(),  # noqa: S324 (an id, not security)
        "User-Agent": "TwilioProxy/1.1",
    }
    status = 0
    for attempt in range(WEBHOOK_ATTEMPTS):
        request = urllib.request.Request(signed_url, data=body, headers=headers, method="POST")  # noqa: S310 (loopback)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (loopback)
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = 0  # connection failure: retried
        if status and status < 500:
            return status
        if result is not None:
            result.retried += 1
        time.sleep(0.2 * 2**attempt)
    return status
