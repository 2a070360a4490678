"""Given the whole local stack (built functions under the emulator, behind the local gateway), when an attacker
(or a misconfigured sink) sends what the security review tried, then each request gets its documented answer,
what it makes the stack keep is bounded (64 KB for a request not proven Twilio's), and nothing it leaves can be
replayed. Prints the attack table docs/security.md gives (request, status, bytes kept, seconds).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from devtools.accounting import kept_records
from devtools.cfn import local_client
from devtools.lambda_events import LOCAL_AUTH_TOKEN, proxy_event, twilio_signature
from devtools.runner import LocalRunner, read_cursor_key
from devtools.traffic import seed
from tests.integration.conftest import filtered_table_stream, run_kinesis
from voice_insights.domain.items import to_item
from voice_insights.domain.models import ParticipantSummaryCompleteEvent
from voice_insights.read import read_api
from voice_insights.runtime.observability import tracer

REFUSED_LIMIT = 64 * 1024
INVALID = {"specversion": "1.0", "type": "com.twilio.voice.insights.conference-participant-summary.complete"}


@pytest.fixture(scope="module")
def runner() -> Iterator[LocalRunner]:
    with LocalRunner(parameters={"CallSidIndex": "true"}) as running:  # GET /calls/{sid} is one of the paths
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


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the emulator, then the function's Python runtime)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            pending += [int(child) for child in children.read_text().split()]
    return found


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Memory:
    """How much more memory a function's processes took, at their peak, than before: each process's peak resident
    set is reset first (Linux: ``5`` into /proc/<pid>/clear_refs), then read after."""

    def __init__(self, runner: LocalRunner, function: str) -> None:
        self.function = runner.functions[function]
        self.log_offset = len(self.function.log_bytes())
        emulator = self.function.pid
        assert emulator is not None
        self.pids = process_tree(emulator)
        for pid in self.pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        self.before = {pid: _status_kb(pid, "VmRSS") for pid in self.pids}

    def added_mb(self) -> float:
        return max(_status_kb(pid, "VmHWM") - self.before[pid] for pid in self.pids) / 1024

    def invoked_s(self) -> float:
        """The function's own time since: the emulator's REPORT lines (``Duration: 12.3 ms``), summed."""
        return (
            sum(float(ms) for ms in re.findall(r"\tDuration: ([\d.]+) ms", self.function.logs(self.log_offset))) / 1000
        )


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


def with_unknown_field(shape: str, prefix: str) -> str:
    """A signed participant summary carrying ``shape`` (JSON text) in an unknown ``data`` field."""
    event = participants(1, prefix)[0]
    event["data"]["x"] = "@shape@"
    return json.dumps(event).replace('"@shape@"', shape)


def bounded_attacks() -> list[tuple[str, Callable[[Target], int], int, str]]:
    """Signed but hostile events (docs/security.md, Bounds): kept as rejected with the reason, whole."""
    lists = with_unknown_field("[" + ",".join(["[]"] * 1_700_000) + "]", "EZlists")
    deep = with_unknown_field("[" * 100_000 + "]" * 100_000, "EZdeep")
    tiny = with_unknown_field("[" + ",".join(["0"] * 2_500_000) + "]", "EZtiny")
    some = with_unknown_field("[" + ",".join(["0"] * 30_000) + "]", "EZsome")
    among = json.dumps(participants(999, "EZamong"))[:-1] + ", " + some + "]"
    return [
        ("signed, one event with 5 MB of [] in an unknown field", lambda t: t.post(f"[{lists}]".encode()), 400,
         "whole"),
        ("signed, one event nested 100,000 deep", lambda t: t.post(f"[{deep}]".encode()), 400, "whole"),
        ("signed, one event of 2.5 million tiny values (5 MB)", lambda t: t.post(f"[{tiny}]".encode()), 400, "whole"),
        ("signed, 999 valid events and one of 30,000 values", lambda t: t.post(among.encode()), 200, "batch"),
    ]  # fmt: skip


def test_every_attack_gets_its_answer_and_keeps_what_it_may(runner: LocalRunner) -> None:
    target = Target(runner)
    rows = []
    for name, send, expected, kept_as in attacks() + bounded_attacks():
        before = target.kept()
        memory = Memory(runner, "ParticipantSummaryCompleteFunction")
        started = time.perf_counter()
        status = send(target)
        seconds = time.perf_counter() - started
        after = target.kept()
        added = {key: after[key] - before[key] for key in after}
        rows.append((name, status, added, seconds, memory.added_mb()))
        assert status == expected, (name, status)
        if kept_as == "refused":  # a bounded record, nothing replayable
            assert (added["refused_objects"], added["rejected_objects"]) == (1, 0), (name, added)
            assert added["refused_bytes"] <= REFUSED_LIMIT, (name, added)
        elif kept_as in ("whole", "batch"):  # Twilio's own body kept once; or its rejected events together
            assert (added["refused_objects"], added["rejected_objects"]) == (0, 1), (name, added)
        else:
            assert added["refused_objects"] + added["rejected_objects"] == 0, (name, added)
    print("\nfigures | attack | status | kept (bytes, objects) | seconds | memory added (MB)")
    for name, status, added, seconds, memory_mb in rows:
        kept = added["refused_bytes"] + added["rejected_bytes"]
        objects = added["refused_objects"] + added["rejected_objects"]
        print(f"figures | {name} | {status} | {kept:,} B in {objects} | {seconds:.2f} | {memory_mb:.0f}")


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


# --- Bounds on every path: Kinesis, the alert function, the read API (docs/security.md, Bounds) ---------------------

SEED_MONTH = "from=2022-12-15T00:00:00Z&to=2023-01-15T00:00:00Z"


def read(runner: LocalRunner, path: str) -> tuple[int, dict[str, Any], int]:
    """Status, body and the body's size of a read API request through the local gateway."""
    try:
        with urllib.request.urlopen(runner.read_api_url + path, timeout=60) as answer:
            data = answer.read()
            return answer.status, json.loads(data), len(data)
    except urllib.error.HTTPError as error:
        data = error.read()
        return error.code, json.loads(data), len(data)


def stored_before_the_bounds(event: dict[str, Any]) -> dict[str, Any]:
    """The item code before the bounds stored for ``event`` (5 MB of ``[]`` in 5 KB)."""
    model = ParticipantSummaryCompleteEvent.model_validate(event)
    return to_item(model, datetime(2026, 11, 30, tzinfo=UTC)).attributes


def test_hostile_events_and_items_are_bounded_on_every_path(runner: LocalRunner) -> None:
    target, dynamodb, table = (
        Target(runner),
        local_client("dynamodb", runner.endpoint_url),
        runner.ref("SummariesTable"),
    )
    assert runner.wait_idle(timeout_s=600)  # the alerts of the test before, first
    rows: list[tuple[str, str, str, float, float]] = []

    def measure(name: str, function: str, act: Callable[[], str]) -> None:
        before, memory, started = target.kept(), Memory(runner, function), time.perf_counter()
        answer = act()
        seconds, after = memory.invoked_s() or time.perf_counter() - started, target.kept()
        kept = f"{after['rejected_bytes'] - before['rejected_bytes']:,} B in " \
               f"{after['rejected_objects'] - before['rejected_objects']}"  # fmt: skip
        rows.append((name, answer, kept, seconds, memory.added_mb()))

    def on_the_stream() -> str:
        record = with_unknown_field("[" + ",".join(["[]"] * 300_000) + "]", "EZkinesis").encode()
        kinesis = local_client("kinesis", runner.endpoint_url)
        kinesis.put_record(StreamName=runner.ref("EventStream"), Data=record, PartitionKey="k")
        assert runner.wait_idle(timeout_s=300)
        return "rejected"

    def too_large() -> int:
        return sum("more than one event may hold" in r.get("reason", "") for r in kept_rejections(target))

    before = too_large()
    measure("Kinesis record, 900 KB of [] in an unknown field", "ParticipantSummaryCompleteFunction", on_the_stream)
    assert too_large() == before + 1  # kept once: the catch-all function skipped it

    hostile = participants(1, "EZold")[0]
    hostile["data"]["x"] = [[]] * 1_700_000
    item = stored_before_the_bounds(hostile)
    assert len(item["payload"]["B"]) < 10_000 and "issue_severity" in item

    def store_ten() -> str:
        for n in range(10):
            keys = {"pk": {"S": f"CONF#CFdead{n:028x}"}, "gsi2pk": {"S": f"CALL#CAdead{n:028x}"}}
            dynamodb.put_item(TableName=table, Item={**item, **keys, "gsi3sk": {"S": f"2023-01-01T12:00:00Z#{n}"}})
        assert runner.wait_idle(timeout_s=300)
        return "10 unreadable, kept"

    measure("alert function: 10 stream records of items stored before the bounds (5 MB of [] in 5 KB each)",
            "QualityAlertsFunction", store_ten)  # fmt: skip
    unread = [r for r in kept_rejections(target) if "inflates beyond" in r.get("reason", "")]
    # each item kept twice, once by each reader of the table's stream: the alert function and the lake writer
    by_function = Counter(r.get("function") for r in unread)
    assert by_function == {"quality_alerts": 10, "lake_writer": 10}, [r.get("reason") for r in unread]

    def answered(path: str, check: Callable[[dict[str, Any]], bool]) -> Callable[[], str]:
        def act() -> str:
            status, body, size = read(runner, path)
            assert status == 200 and check(body), (path, status, str(body)[:300])
            return f"{status}, {size:,} B"

        return act

    unreadable = "this stored summary cannot be answered"
    measure(
        "GET /calls/{sid} of such an item (was 200, 5.1 MB)",
        "ReadApiFunction",
        answered(f"/calls/CAdead{3:028x}", lambda b: b["participant"]["unreadable"].startswith(unreadable)),
    )
    measure("GET /issues?limit=10 over ten such items (was 18.8 s, 51 MB, 1.95 GB)", "ReadApiFunction",
            answered(f"/issues?{SEED_MONTH}&limit=10", lambda b: len(b["items"]) == 10))  # fmt: skip

    big = "CF" + "b" * 32
    label = "é" * 120_000  # one event's most, three times longer in the answer's ASCII JSON
    for n in range(250):
        event = participants(1, f"EZbig{n}-")[0]
        event["data"].update(conference_sid=big, participant_sid=f"CP{n:032x}", call_sid=f"CA{n:032x}")
        if n < 30:
            event["data"]["label"] = label
        quiet = {k: v for k, v in stored_before_the_bounds(event).items() if not k.startswith(("issue_", "gsi3"))}
        dynamodb.put_item(TableName=table, Item=quiet)  # no issues: no alert (the alert function's filter)
    assert runner.wait_idle(timeout_s=300)
    pages: list[int] = []

    def conference_pages() -> str:
        cursor, listed = "", 0
        while True:
            status, body, size = read(runner, f"/conferences/{big}{cursor}")
            assert status == 200, body
            pages.append(size)
            listed += len(body["participants"])
            if body["next"] is None:
                assert listed == 250
                return f"200 in {len(pages)} pages, at most {max(pages):,} B"
            cursor = f"?next={body['next']}"

    measure("GET /conferences/{sid}, 250 participants, 30 of 250 KB (was one answer, unbounded)", "ReadApiFunction",
            conference_pages)  # fmt: skip
    assert max(pages) < 6 * 1024 * 1024

    print("\nfigures | request | answer | kept | seconds (the function's, from its REPORT lines) | memory added (MB)")
    for name, answer, kept, seconds, memory_mb in rows:
        print(f"figures | {name} | {answer} | {kept} | {seconds:.2f} | {memory_mb:.0f}")


def kept_rejections(target: Target) -> list[dict[str, Any]]:
    return kept_records(target.s3, target.bucket, "rejected/")


# --- What each handler hands X-Ray: never event text, never a whole phone number ------------------------------------

CALLER = "+14155550123"
LABEL = "Attacker label 7f3a"


class RecordingProvider:
    """Stands in for the tracer's X-Ray provider: records every subsegment's metadata, annotations and exceptions."""

    def __init__(self) -> None:
        self.handed: list[tuple[str, str, Any]] = []

    @contextmanager
    def in_subsegment(self, name: str, **_: Any) -> Iterator[RecordingProvider]:
        yield self

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.handed.append(("metadata", key, value))

    def put_annotation(self, key: str, value: Any) -> None:
        self.handed.append(("annotation", key, value))

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        self.handed.append(("exception", type(exception).__name__, exception))


def marked(name: str) -> dict[str, Any]:
    event = json.loads(json.dumps(seed(name)))
    event["id"] = f"EZtrace-{name}"
    text = {"from": CALLER, "to": CALLER, "label": LABEL} if "participant" in name else {"friendly_name": LABEL}
    event["data"].update(text)
    return event


# Last in this file: the in-process stack resets the moto backends, which the module's runner shares.
def test_no_handler_hands_the_tracer_event_text_or_a_phone_number(
    stack: Any, handlers: dict[str, Any], metrics_capture: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = RecordingProvider()
    monkeypatch.setattr(tracer, "provider", recording)
    names = ("conference-summary-complete", "conference-summary-partial", "conference-participant-summary-complete")
    unknown = {**marked("conference-participant-summary-complete"), "type": "com.example.unknown", "id": "EZtrace-u"}
    records = [json.dumps(marked(name)).encode() for name in names] + [json.dumps(unknown).encode()]
    stack.kinesis.put_records(StreamName=stack.stream_name, Records=[{"Data": r, "PartitionKey": "k"} for r in records])
    responses = run_kinesis(stack, handlers, metrics_capture)
    assert len(responses) == 4 and all(r == {"batchItemFailures": []} for r in responses.values()), responses
    assert handlers["quality_alerts"]({"Records": filtered_table_stream(stack)}) == {"batchItemFailures": []}

    monkeypatch.setenv("READ_CURSOR_KEY_ARN", read_cursor_key(stack.endpoint_url)["attrs"]["Arn"])
    # The digest's and the reconcile's settings (the template sets them): each handler gets a shape, not a query.
    for name in ("ATHENA_WORKGROUP", "LAKE_DATABASE", "LAKE_QUERY_KPIS", "LAKE_QUERY_WORST_CONFERENCES"):
        monkeypatch.setenv(name, "local")
    monkeypatch.setenv("TWILIO_API_SECRET_ARN", stack.webhook_secret)
    read_api.queries.cache_clear()
    conference_sid = marked("conference-participant-summary-complete")["data"]["conference_sid"]
    path = f"/conferences/{conference_sid}"  # with its participants (CallSidIndex is off here: no /calls)
    answer = handlers["read_api"](proxy_event("GET", path, path, "v1", {"Host": ["local"]}, {}, b""))
    assert answer["statusCode"] == 200 and CALLER in answer["body"]  # the answer itself has the number whole
    for handler in handlers.values():  # a shape a function was not built for, carrying the same text
        # the processing functions refuse a trigger they do not serve (ingest/handler.py); the reconcile, run by any
        # invocation, finds no Twilio credentials here: either way only what they hand the tracer is checked
        with suppress(Exception):
            handler({"Records": [{"eventSource": "aws:sqs", "body": CALLER + LABEL}]})
    read_api.queries.cache_clear()

    handed = json.dumps(recording.handed, default=repr)
    kinds = {kind for kind, _, _ in recording.handed}
    assert "annotation" in kinds  # the recording sees what the handlers hand over
    assert CALLER not in handed and CALLER[1:] not in handed and LABEL not in handed, handed[:2000]
