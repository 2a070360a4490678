"""Given summaries stored as the processors store them (moto), when the read API's routes are called (Powertools'
resolver, in process), then they answer as docs/read.md says: the data JSON whatever the storage format, 404 for
unknown SIDs, 400 for malformed SIDs, ranges and cursors, pages that cannot be forged into another query; and the
checked-in OpenAPI document is the one the code generates."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from pydantic import TypeAdapter

from devtools.cfn import Resolver, load_template
from devtools.lambda_events import proxy_event
from devtools.read_traffic import ACCOUNT, ReadTraffic, generate
from tests.conftest import load_seed, variant
from voice_insights.domain.items import entity_of, stored_event, to_item
from voice_insights.ingest.decoding import Accepted, decode
from voice_insights.ingest.routes import SUMMARY_ROUTES
from voice_insights.read import read_api
from voice_insights.read.summary_queries import (
    BadRequest,
    Cursors,
    SummaryQueries,
    check_range,
    local_signer,
    months_newest_first,
)
from voice_insights.runtime.settings import ReadSettings

ROOT = Path(__file__).resolve().parents[2]
TABLE = "summaries"
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def accepted(raw: dict[str, Any]) -> Any:
    route = next(r for r in SUMMARY_ROUTES if raw["type"] in {t.value for t in r.event_types})
    decision = decode(raw, route)
    assert isinstance(decision, Accepted), decision
    return decision.event


def stored_before_the_bounds(raw: dict[str, Any]) -> Any:
    """The event as code before the bounds (json_limits) stored it: validated, never measured."""
    route = next(r for r in SUMMARY_ROUTES if raw["type"] in {t.value for t in r.event_types})
    return TypeAdapter(route.model).validate_python(raw)


PADDING = 310 * 1024


def store(client: Any, traffic: ReadTraffic, gzip_sid: str | None = None) -> None:
    """Store the traffic; ``gzip_sid``'s conference summary padded and in the format before (``data_gz``)."""
    for raw in traffic.events:
        old_format = raw["data"].get("conference_sid") == gzip_sid and "participant_sid" not in raw["data"]
        if old_format:
            raw = {**raw, "data": {**raw["data"], "properties": {"padding": "x" * PADDING}}}
        event = stored_before_the_bounds(raw) if old_format else accepted(raw)
        item = to_item(event, NOW).attributes
        client.put_item(TableName=TABLE, Item=format_before(item) if old_format else item)


def format_before(item: dict[str, Any]) -> dict[str, Any]:
    """The item as the format before this one stored it: the data gzipped, the entity and event named flat."""
    event = stored_event(item)
    old = {name: value for name, value in item.items() if name != "payload"}
    old.update(
        entity={"S": entity_of(item)},
        event_id={"S": event.event_id},
        event_type={"S": event.event_type},
        data_gz={"B": gzip.compress(json.dumps(event.data).encode())},
    )
    return old


@pytest.fixture(scope="module")
def traffic() -> ReadTraffic:
    return generate()


class Recording:
    """The client, with the index of every Query it was asked for: no route may ask for an index the table lacks."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.indexes: list[str | None] = []

    def query(self, **kwargs: Any) -> Any:
        self.indexes.append(kwargs.get("IndexName"))
        return self.client.query(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture(
    params=["true", "false"], ids=lambda value: "call_sid_index_on" if value == "true" else "call_sid_index_off"
)
def api(traffic: ReadTraffic, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The table as the template creates it with ``CallSidIndex`` true or false, and the read API told so."""
    template = load_template(ROOT / "template.yaml")
    props = Resolver(template, "local", {"CallSidIndex": request.param}).resolve(
        template["Resources"]["SummariesTable"]["Properties"]
    )
    environment = {"SUMMARIES_TABLE_NAME": TABLE, "READ_CURSOR_KEY_ARN": "arn:key", "CALL_SID_INDEX": request.param}
    settings = ReadSettings.from_env(environment)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            **{k: props[k] for k in ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")},
        )
        store(client, traffic, gzip_sid="CF" + "0" * 31 + "1")
        recording = Recording(client)
        queries = SummaryQueries(recording, TABLE, Cursors(local_signer(b"test key")), settings.call_sid_index)
        monkeypatch.setattr(read_api, "queries", lambda: queries)
        yield client


def call(path: str, **query: Any) -> tuple[int, dict[str, Any]]:
    params = {k.rstrip("_"): [str(v)] for k, v in query.items() if v is not None}
    event = proxy_event("GET", path, path, "v1", {"Host": ["local"]}, params, b"")
    answer = read_api.app.resolve(event, None)
    return answer["statusCode"], json.loads(answer["body"])


def test_the_checked_in_openapi_document_is_the_one_the_code_generates() -> None:
    checked_in = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert checked_in == json.loads(read_api.openapi_document()), (
        "docs/openapi.json drifted from the code: regenerate it with "
        "PYTHONPATH=layers/voice_insights .venv/bin/python -m operate.report --openapi > docs/openapi.json"
    )


def test_a_conference_comes_back_with_all_its_participants_as_their_data(api: Any, traffic: ReadTraffic) -> None:
    sid = "CF" + "0" * 31 + "2"
    status, body = call(f"/conferences/{sid}")
    assert status == 200
    assert body["conference"] == traffic.conferences[sid]
    expected = [p for p in traffic.participants.values() if p["conference_sid"] == sid]
    assert sorted(body["participants"], key=lambda p: p["participant_sid"]) == expected
    assert all("from" in p and "to" in p for p in body["participants"])  # returned whole: docs/read.md


def test_a_summary_stored_in_the_format_before_comes_back_as_its_data(api: Any, traffic: ReadTraffic) -> None:
    sid = "CF" + "0" * 31 + "1"
    status, body = call(f"/conferences/{sid}")
    assert status == 200
    assert body["conference"]["conference_sid"] == sid
    assert len(body["conference"]["properties"]["padding"]) == PADDING


def test_unknown_sids_are_404_and_malformed_ones_400(api: Any) -> None:
    assert call("/conferences/CF" + "f" * 32) == (404, {"message": f"no summary is stored for conference CF{'f' * 32}"})
    assert call("/calls/CA" + "f" * 32)[0] == 404
    for path in ("/conferences/CF12g4", "/calls/XX" + "0" * 32, "/conferences/" + "CF" + "0" * 65, "/calls/CA"):
        status, body = call(path)
        assert status == 400 and body["message"], path


def test_a_call_gives_its_participant_summary_when_the_stack_has_its_index(api: Any, traffic: ReadTraffic) -> None:
    call_sid = sorted(traffic.participants)[5]
    status, body = call(f"/calls/{call_sid}")
    indexes = {index["IndexName"] for index in api.describe_table(TableName=TABLE)["Table"]["GlobalSecondaryIndexes"]}
    if read_api.queries().call_sid_index:
        assert "ByCallSid" in indexes
        assert (status, body) == (200, {"participant": traffic.participants[call_sid]})
    else:  # CallSidIndex=false: a 404 that says how to turn it on and where else to look; nothing queried
        assert "ByCallSid" not in indexes
        assert status == 404
        assert "CallSidIndex=true" in body["message"] and "make query" in body["message"]
        assert f"call_sid is {call_sid}" in body["message"]
        assert read_api.queries().client.indexes == []


def test_the_read_api_reads_the_call_sid_index_switch_from_its_environment() -> None:
    base = {"SUMMARIES_TABLE_NAME": TABLE, "READ_CURSOR_KEY_ARN": "arn:key"}
    assert ReadSettings.from_env(base).call_sid_index is False  # the template's default
    assert ReadSettings.from_env({**base, "CALL_SID_INDEX": "true"}).call_sid_index is True
    assert ReadSettings.from_env({**base, "CALL_SID_INDEX": "false"}).call_sid_index is False


def pages(path: str, cursor: str | None = None, **query: Any) -> list[dict[str, Any]]:
    bodies = []
    while True:
        status, body = call(path, **query, next=cursor)
        assert status == 200, body
        bodies.append(body)
        cursor = body["next"]
        if cursor is None:
            return bodies


RANGE = {"from_": "2026-10-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}


def test_an_accounts_conferences_come_newest_first_in_pages(api: Any, traffic: ReadTraffic) -> None:
    bodies = pages("/conferences", accountSid=ACCOUNT, limit=2, **RANGE)
    listed = [c["conference_sid"] for b in bodies for c in b["conferences"]]
    expected = sorted(
        (c for c in traffic.conferences.values() if c["account_sid"] == ACCOUNT), key=lambda c: c["start_time"]
    )
    assert listed == [c["conference_sid"] for c in reversed(expected)]
    assert max(len(b["conferences"]) for b in bodies) == 2


def test_conferences_filter_by_status_tag_and_time(api: Any, traffic: ReadTraffic) -> None:
    timed_out = [b for b in pages("/conferences", accountSid=ACCOUNT, status="summary_timeout", limit=1, **RANGE)]
    listed = {c["conference_sid"] for b in timed_out for c in b["conferences"]}
    assert listed == {
        s for s, c in traffic.conferences.items() if c["status"] == "summary_timeout" and c["account_sid"] == ACCOUNT
    }
    tagged = {
        c["conference_sid"]
        for b in pages("/conferences", accountSid=ACCOUNT, tag="silent", **RANGE)
        for c in b["conferences"]
    }
    assert tagged == {s for s in traffic.bad_conferences if traffic.conferences[s]["account_sid"] == ACCOUNT}
    status, body = call("/conferences", accountSid=ACCOUNT, from_="2026-10-31T03:00:00Z", to="2026-10-31T03:00:01Z")
    assert status == 200 and [c["start_time"] for c in body["conferences"]] == ["2026-10-31T03:00:00Z"]


@pytest.mark.parametrize(
    "query",
    [
        {},  # accountSid is required
        {"accountSid": "AC12z"},
        {"accountSid": ACCOUNT, "from_": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
        {"accountSid": ACCOUNT, "from_": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},  # over 366 days
        {"accountSid": ACCOUNT, "from_": "yesterday"},
        {"accountSid": ACCOUNT, "limit": 0},
        {"accountSid": ACCOUNT, "limit": 101},
    ],
)
def test_malformed_list_queries_are_400(api: Any, query: dict[str, Any]) -> None:
    status, body = call("/conferences", **query)
    assert status == 400 and body["message"]


def test_a_cursor_cannot_be_altered_or_moved_to_another_query(api: Any) -> None:
    status, body = call("/conferences", accountSid=ACCOUNT, limit=1, **RANGE)
    cursor = body["next"]
    payload, signature = cursor.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["k"]["gsi1sk"]["S"] = "2026-11-30T00:00:00"  # skip ahead, re-encoded but signed with nothing
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode().rstrip("=") + "." + signature
    for bad in (forged, cursor[:-2] + "AA", "garbage", cursor + "x"):
        assert call("/conferences", accountSid=ACCOUNT, limit=1, next=bad, **RANGE)[0] == 400, bad
    # the same cursor with other parameters (another account, status or range): another query, refused
    for changed in ({"status": "completed"}, {"limit": 2}, {"from_": "2026-10-02T00:00:00Z", "to": RANGE["to"]}):
        status, body = call("/conferences", accountSid=ACCOUNT, **{"limit": 1, **RANGE, **changed}, next=cursor)
        assert status == 400 and "another query" in body["message"], changed
    assert call("/issues", limit=1, next=cursor, **RANGE)[0] == 400
    assert call("/conferences", accountSid=ACCOUNT, limit=1, next=cursor, **RANGE)[0] == 200


def test_issues_in_a_range_cross_months_newest_first(api: Any, traffic: ReadTraffic) -> None:
    bodies = pages("/issues", limit=3, **RANGE)
    items = [i for b in bodies for i in b["items"]]
    calls = {i["summary"]["call_sid"] for i in items if i["entity"] == "participant"}
    conferences = {i["summary"]["conference_sid"] for i in items if i["entity"] == "conference"}
    assert calls == traffic.bad_participants
    assert traffic.bad_conferences <= conferences  # a summary_timeout status is an issue too
    months = {i["summary"].get("join_time", i["summary"].get("start_time"))[:7] for i in items}
    assert months == {"2026-10", "2026-11"}
    assert all(i["issues"] and i["severity"] in ("low", "medium", "high") for i in items)


def test_issues_filter_by_kind_and_severity(api: Any, traffic: ReadTraffic) -> None:
    low_mos = [i for b in pages("/issues", kind="low_mos", **RANGE) for i in b["items"]]
    assert {i["summary"]["call_sid"] for i in low_mos} == traffic.bad_participants
    assert all(any(x["kind"] == "low_mos" for x in i["issues"]) for i in low_mos)
    high = [i for b in pages("/issues", severity="high", **RANGE) for i in b["items"]]
    assert high and all(i["severity"] == "high" for i in high)
    assert call("/issues", severity="worst")[0] == 400


def test_no_route_is_404(api: Any) -> None:
    assert call("/nothing")[0] == 404


def test_urls_in_the_docs_are_well_formed() -> None:
    assert urlencode({"accountSid": ACCOUNT})  # the docs' examples use these parameter names


def test_unknown_parameters_are_400_and_a_cursor_survives_an_omitted_to(api: Any) -> None:
    assert call("/conferences", accountSid=ACCOUNT, stauts="completed")[0] == 400
    assert call("/conferences/CF" + "0" * 32, x="1")[0] == 400
    status, body = call("/issues", from_="2026-10-01T00:00:00Z", limit=1)
    assert status == 200 and body["next"]
    assert call("/issues", from_="2026-10-01T00:00:00Z", limit=1, next=body["next"])[0] == 200
    assert call("/issues", from_="2026-10-01T00:00:00", to="0.5")[0] == 400


@pytest.mark.parametrize("cursor", ["abc.é", "é.abc", "AAAA.ÄÄÄÄ", "abc.\ud800", "\x00.\x00"])
@pytest.mark.parametrize("route", ["/conferences", "/issues"])
def test_a_cursor_with_characters_no_cursor_has_is_400(api: Any, route: str, cursor: str) -> None:
    query = {"accountSid": ACCOUNT} if route == "/conferences" else {}
    status, body = call(route, **query, **RANGE, next=cursor)
    assert status == 400 and ("cursor" in body["message"] or body["message"].startswith("next:"))


@pytest.mark.parametrize(
    ("range_", "expected"),
    [
        ({"to": "0001-01-02T00:00Z"}, 400),  # the default `from`, 7 days before, is before year 1
        ({"to": "0001-01-01T00:00:00Z"}, 400),
        ({"from_": "0001-01-01T00:00+05:00", "to": "0001-01-02T00:00Z"}, 400),  # year 0 in UTC
        ({"from_": "0001-01-01T00:00Z", "to": "0001-01-01T03:00+05:00"}, 400),  # `to` is year 0 in UTC
        ({"from_": "9999-12-30T00:00Z", "to": "9999-12-31T23:00-05:00"}, 400),  # year 10000 in UTC
        ({"to": "9999-12-31T23:59:59.999999-23:59"}, 400),
        ({"from_": "0001-01-01T00:00Z", "to": "0001-01-02T00:00Z"}, 200),
        ({"from_": "0001-01-01T00:00+00:00", "to": "0001-01-09T00:00Z"}, 200),
        ({"to": "0001-01-08T00:00Z"}, 200),
        ({"from_": "9999-12-01T00:00Z", "to": "9999-12-31T23:59:59.999999Z"}, 200),
        ({"from_": "9999-12-31T00:00+14:00", "to": "9999-12-31T23:59:59.999999+00:00"}, 200),
    ],
)
@pytest.mark.parametrize("route", ["/conferences", "/issues"])
def test_times_at_the_ends_of_the_calendar_answer_and_never_raise(
    api: Any, route: str, range_: dict[str, str], expected: int
) -> None:
    query = {"accountSid": ACCOUNT} if route == "/conferences" else {}
    status, body = call(route, **query, **range_)
    assert status == expected, body
    if expected == 400:
        assert body["message"]


def test_a_range_down_to_the_first_day_lists_its_months() -> None:
    start, end = datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 2, 12, tzinfo=UTC)
    assert months_newest_first(start, end) == ["0001-01"]
    top = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    assert months_newest_first(datetime(9999, 11, 30, tzinfo=UTC), top) == ["9999-12", "9999-11"]
    with pytest.raises(BadRequest):
        check_range(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), datetime(1, 1, 2, tzinfo=UTC))


def strict_start_keys(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB refuses an ExclusiveStartKey from another partition than the one queried; moto answers with
    nothing. Make moto refuse it as DynamoDB does."""
    query = client.query

    def checked(**kwargs: Any) -> Any:
        start, values = kwargs.get("ExclusiveStartKey"), kwargs.get("ExpressionAttributeValues", {})
        if start is not None and kwargs.get("IndexName") == "ByIssueMonth" and start["gsi3pk"] != values[":a"]:
            error = {"Error": {"Code": "ValidationException", "Message": "The provided starting key is invalid"}}
            raise ClientError(error, "Query")
        return query(**kwargs)

    monkeypatch.setattr(client, "query", checked)


def test_issue_pages_without_to_survive_the_month_changing_between_requests(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    strict_start_keys(api, monkeypatch)
    """An omitted `to` is "now": the first page is read on Nov 30 (months Nov, Oct), the next ones after
    midnight (months Dec, Nov, Oct). The cursor names the month it stopped in, so the pages go on where they
    were, neither skipping nor repeating nor querying December with a key from November."""
    start = "2026-10-01T00:00:00Z"
    everything = [i for b in pages("/issues", from_=start, to="2026-12-01T00:00:00Z") for i in b["items"]]
    assert len(everything) > 4
    monkeypatch.setattr(read_api, "now", lambda: datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    status, first = call("/issues", from_=start, limit=2)
    assert status == 200 and first["next"]
    monkeypatch.setattr(read_api, "now", lambda: datetime(2026, 12, 1, 0, 1, tzinfo=UTC))
    rest = pages("/issues", first["next"], from_=start, limit=2)
    listed = first["items"] + [i for b in rest for i in b["items"]]
    assert listed == everything


def test_a_cursor_whose_month_left_the_range_ends_the_list(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `from` omitted too the range slides: a cursor left in a month that is now before it has nothing
    more to give (an empty last page), and is not a 500."""
    strict_start_keys(api, monkeypatch)
    monkeypatch.setattr(read_api, "now", lambda: datetime(2026, 10, 31, 23, 0, tzinfo=UTC))
    status, first = call("/issues", limit=1)
    summary = first["items"][0]["summary"]
    assert status == 200 and first["next"] and summary.get("join_time", summary.get("start_time")) < "2026-11"
    monkeypatch.setattr(read_api, "now", lambda: datetime(2026, 12, 20, tzinfo=UTC))
    assert call("/issues", limit=1, next=first["next"]) == (200, {"items": [], "next": None})


PARAMETERS = {
    "/conferences": ("accountSid", "from", "to", "tag", "status", "limit", "next"),
    "/issues": ("from", "to", "kind", "severity", "limit", "next"),
    "/conferences/CF" + "0" * 31 + "2": (),
    "/calls/CA" + "0" * 32: (),
}
TEXT = st.text(st.characters(exclude_categories=()), max_size=40)  # surrogates too
OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
MOMENTS = st.datetimes() | st.datetimes(max_value=datetime(1, 1, 20)) | st.datetimes(min_value=datetime(9999, 12, 10))
TIMES = st.builds(lambda t, zone: t.replace(tzinfo=zone).isoformat(), MOMENTS, st.none() | st.just(UTC) | OFFSETS)
# Mostly well-formed values, so that most requests get past validation to the code behind it.
VALID = {
    "accountSid": st.just(ACCOUNT) | st.from_regex(read_api.ACCOUNT_SID, fullmatch=True),
    "from": TIMES | st.from_regex(read_api.TIME, fullmatch=True),
    "to": TIMES | st.from_regex(read_api.TIME, fullmatch=True),
    "kind": st.sampled_from(["low_mos", "high_jitter", "start_failure"]),
    "tag": st.sampled_from(["silent", "high_jitter"]),
    "status": st.sampled_from(["completed", "summary_timeout"]),
    "severity": st.sampled_from(["low", "medium", "high"]),
    "limit": st.integers(1, 100).map(str),
    "next": st.from_regex(r"[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,50}", fullmatch=True)
    | st.tuples(TEXT, TEXT).map(".".join),
}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, list[str]]]:
    path = draw(st.sampled_from(sorted(PARAMETERS)))
    params: dict[str, list[str]] = {}
    for name in PARAMETERS[path]:
        if name == "accountSid" or draw(st.booleans()):
            mangled = draw(st.integers(0, 5)) == 0
            params[name] = [draw(TEXT if mangled else VALID[name])]
    if draw(st.integers(0, 5)) == 0:
        params[draw(TEXT)] = [draw(TEXT)]
    return path, params


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
@example(request=("/issues", {"to": ["0001-01-02T00:00Z"]}))  # found by review: 500s before the fix
@example(request=("/conferences", {"accountSid": [ACCOUNT], "next": ["abc.é"]}))
def test_any_query_string_answers_200_400_or_404_with_a_message(api: Any, request: Any) -> None:
    path, params = request
    event = proxy_event("GET", path, path, "v1", {"Host": ["local"]}, params, b"")
    answer = read_api.app.resolve(event, None)
    body = json.loads(answer["body"])
    assert answer["statusCode"] in (200, 400, 404), body
    assert answer["statusCode"] == 200 or body["message"]
    existing = {index["IndexName"] for index in api.describe_table(TableName=TABLE)["Table"]["GlobalSecondaryIndexes"]}
    assert set(read_api.queries().client.indexes) - {None} <= existing


# --- Bounds: every answer under Lambda's 6 MB, whatever is stored (docs/security.md, Bounds) -----------------------

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024  # https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
BIG_CONFERENCE = "CF" + "b" * 32
SEED_MONTH = {"from_": "2022-12-15T00:00:00Z", "to": "2023-01-15T00:00:00Z"}


def participant(n: int, **data: Any) -> dict[str, Any]:
    """The documented participant sample (with its quality issues) as participant ``n`` of BIG_CONFERENCE."""
    sids = {"participant_sid": f"CP{n:032x}", "call_sid": f"CA{n:032x}", "conference_sid": BIG_CONFERENCE}
    return variant(load_seed("participant_summary_complete"), id=f"EZbig{n}", **{f"data__{k}": v for k, v in
                   {**sids, **data}.items()})  # fmt: skip


def lambda_payload(path: str, **query: Any) -> tuple[int, dict[str, Any], int]:
    """Status, body and the size of the response as the Lambda runtime sends it (its JSON, body a string)."""
    params = {k.rstrip("_"): [str(v)] for k, v in query.items() if v is not None}
    answer = read_api.handle(proxy_event("GET", path, path, "v1", {"Host": ["local"]}, params, b""), None)
    return answer["statusCode"], json.loads(answer["body"]), len(json.dumps(answer).encode())


def lambda_pages(path: str, **query: Any) -> list[tuple[dict[str, Any], int]]:
    cursor, answers = None, []
    while True:
        status, body, size = lambda_payload(path, **query, next=cursor)
        assert status == 200, body
        answers.append((body, size))
        cursor = body["next"]
        if cursor is None:
            return answers


def test_a_conference_of_many_participants_comes_in_pages(api: Any) -> None:
    for n in range(250):
        api.put_item(TableName=TABLE, Item=to_item(accepted(participant(n)), NOW).attributes)
    answers = lambda_pages(f"/conferences/{BIG_CONFERENCE}")
    assert [len(body["participants"]) for body, _ in answers] == [100, 100, 50]
    listed = [p["participant_sid"] for body, _ in answers for p in body["participants"]]
    assert listed == [f"CP{n:032x}" for n in range(250)]  # each once, by participant SID
    assert all(body["conference"] is None for body, _ in answers)  # only participants stored
    assert [len(b["participants"]) for b, _ in lambda_pages(f"/conferences/{BIG_CONFERENCE}", limit=7)][-1] == 5
    status, body = call(f"/conferences/{BIG_CONFERENCE}", next=answers[0][0]["next"], limit=3)
    assert (status, body["message"]) == (400, "the cursor belongs to another query: repeat the parameters it was "
                                         "handed out with")  # fmt: skip


def test_every_answer_stays_under_lambdas_6_mb_whatever_the_summaries_hold(api: Any) -> None:
    # As much as one event may hold, in text that JSON's ASCII escapes make three times longer.
    label = "é" * 120_000
    for n in range(30):
        api.put_item(TableName=TABLE, Item=to_item(accepted(participant(n, label=label)), NOW).attributes)
    for path, query, key in (
        (f"/conferences/{BIG_CONFERENCE}", {}, "participants"),
        ("/issues", {**SEED_MONTH, "limit": 100}, "items"),
    ):
        answers = lambda_pages(path, **query)
        sizes = [size for _, size in answers]
        print(f"figures | {path}: {len(answers)} pages of {sizes} bytes")
        assert len(answers) > 1 and max(sizes) < LAMBDA_RESPONSE_LIMIT
        assert sum(len(body[key]) for body, _ in answers) == 30  # nothing left out, nothing twice


def hostile_participant(n: int) -> dict[str, Any]:
    """Participant ``n`` with 5 MB of ``[]`` in an unknown field, as code before the bounds stored it (5 KB)."""
    raw = participant(n)
    raw["data"]["x"] = [[]] * 1_700_000
    return to_item(stored_before_the_bounds(raw), NOW).attributes


def call_lookups_on(request: pytest.FixtureRequest) -> bool:
    """Whether this run of a test has the table with ByCallSid (the ``api`` fixture's CallSidIndex)."""
    return bool(request.node.callspec.params["api"] == "true")


def test_items_stored_before_the_bounds_are_answered_fast_as_unreadable(
    api: Any, request: pytest.FixtureRequest
) -> None:
    item = hostile_participant(0)
    assert len(item["payload"]["B"]) < 10_000
    for n in range(10):
        copy = {**item, "pk": {"S": f"CONF#CFdead{n:028x}"}, "gsi3sk": {"S": f"2023-01-01T12:00:00Z#{n}"}}
        api.put_item(TableName=TABLE, Item={**copy, "gsi2pk": {"S": f"CALL#CAdead{n:028x}"}})
    started = time.perf_counter()
    status, body, size = lambda_payload("/issues", **SEED_MONTH, limit=10)
    seconds = time.perf_counter() - started
    print(f"figures | GET /issues?limit=10 over 10 items of 5 MB of []: {status}, {size:,} B, {seconds:.2f} s")
    assert status == 200 and len(body["items"]) == 10 and size < 10_000 and seconds < 2
    assert all(i["summary"]["unreadable"].startswith("this stored summary cannot be answered") for i in body["items"])
    status, body, size = lambda_payload(f"/calls/CAdead{3:028x}")
    if call_lookups_on(request):
        assert status == 200 and size < 1_000 and "inflates beyond" in body["participant"]["unreadable"]
    else:
        assert status == 404 and "CallSidIndex" in body["message"]
    status, body, size = lambda_payload(f"/conferences/CFdead{3:028x}")
    assert status == 200 and size < 1_000 and body["participants"][0]["participant_sid"] == f"CP{0:032x}"


def test_a_sid_off_twilios_rule_is_stored_flagged_and_the_read_api_says_why(
    api: Any, request: pytest.FixtureRequest
) -> None:
    odd = "CF../../x"
    decision = decode(participant(1, conference_sid=odd), SUMMARY_ROUTES[2])
    assert isinstance(decision, Accepted) and decision.violations == ("data.conference_sid",)
    item = to_item(decision.event, NOW, violations=decision.violations).attributes
    api.put_item(TableName=TABLE, Item=item)
    assert item["schema_violations"] == {"SS": ["data.conference_sid"]}
    status, body = call(f"/conferences/{odd}")
    assert status in (400, 404)  # the gateway's path ends at the slash; a SID without one is refused by the rule
    status, body = call("/conferences/CFzz")
    assert status == 400 and "should match pattern '^CF[0-9a-fA-F]{1,64}$'" in body["message"]
    if call_lookups_on(request):
        status, body = call(f"/calls/CA{1:032x}")  # still found by its call, as the violation does not touch it
        assert status == 200 and body["participant"]["conference_sid"] == odd


def sam_event(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(ROOT / ".venv-sam" / "bin" / "sam"), "local", "generate-event", *args], capture_output=True, check=True
    )
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


@pytest.fixture(scope="module")
def other_shapes() -> dict[str, Any]:
    """Invocations the read API was not built for: SAM CLI's own generated events, and a few more."""
    return {
        "apigateway http-api-proxy (payload 2.0)": sam_event("apigateway", "http-api-proxy"),
        "kinesis get-records": sam_event("kinesis", "get-records"),
        "sqs receive-message": sam_event("sqs", "receive-message"),
        "dynamodb update": sam_event("dynamodb", "update"),
        "{}": {},
        "a list": [{"httpMethod": "GET"}],
        "null": None,
        "a REST request without a path": {"httpMethod": "GET", "requestContext": {}},
    }


def test_any_invocation_shape_is_answered_never_raised(api: Any, other_shapes: dict[str, Any]) -> None:
    for name, event in other_shapes.items():
        answer = read_api.handle(event, None)
        assert answer["statusCode"] == 400, (name, answer)
        assert json.loads(answer["body"])["message"].startswith("this function answers API Gateway REST API"), name
    http_api = read_api.handle(other_shapes["apigateway http-api-proxy (payload 2.0)"], None)
    assert json.loads(http_api["body"])["message"].endswith("not payload format 2.0")
    rest = read_api.handle(sam_event("apigateway", "aws-proxy"), None)  # SAM's REST sample: a POST /{proxy+}
    assert rest["statusCode"] == 404 and json.loads(rest["body"]) == {"message": "no such route"}


def test_a_failure_inside_is_answered_500(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable() -> Any:
        raise ConnectionError("DynamoDB unreachable")

    monkeypatch.setattr(read_api, "queries", unreachable)
    status, body, _ = lambda_payload(f"/calls/CA{1:032x}")
    assert (status, body) == (500, {"message": "the read API could not answer; try again later"})
