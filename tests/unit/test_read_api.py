"""Given summaries stored as the processors store them (moto), when the read API's routes are called (Powertools'
resolver, in process), then they answer as docs/read.md says: the data JSON whatever the storage format, 404 for
unknown SIDs, 400 for malformed SIDs, ranges and cursors, pages that cannot be forged into another query; and the
checked-in OpenAPI document is the one the code generates."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from moto import mock_aws

from devtools.cfn import load_template
from devtools.lambda_events import proxy_event
from devtools.read_traffic import ACCOUNT, ReadTraffic, generate
from voice_insights import read_api
from voice_insights.decoding import Accepted, decode
from voice_insights.items import INLINE_DATA_LIMIT, to_item
from voice_insights.routes import SUMMARY_ROUTES
from voice_insights.summary_queries import Cursors, SummaryQueries, local_signer

ROOT = Path(__file__).resolve().parents[2]
TABLE = "summaries"
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def accepted(raw: dict[str, Any]) -> Any:
    route = next(r for r in SUMMARY_ROUTES if raw["type"] in {t.value for t in r.event_types})
    decision = decode(raw, route)
    assert isinstance(decision, Accepted), decision
    return decision.event


def store(client: Any, traffic: ReadTraffic, gzip_sid: str | None = None) -> None:
    for raw in traffic.events:
        if raw["data"].get("conference_sid") == gzip_sid and "participant_sid" not in raw["data"]:
            raw = {**raw, "data": {**raw["data"], "properties": {"padding": "x" * (INLINE_DATA_LIMIT + 10)}}}
        item = to_item(accepted(raw), NOW)
        assert ("data_gz" in item.attributes) == (raw["data"].get("properties", {}).get("padding") is not None)
        client.put_item(TableName=TABLE, Item=item.attributes)


@pytest.fixture(scope="module")
def traffic() -> ReadTraffic:
    return generate()


@pytest.fixture
def api(traffic: ReadTraffic, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    props = load_template(ROOT / "template.yaml")["Resources"]["SummariesTable"]["Properties"]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            **{k: props[k] for k in ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")},
        )
        store(client, traffic, gzip_sid="CF" + "0" * 31 + "1")
        queries = SummaryQueries(client, TABLE, Cursors(local_signer(b"test key")))
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
        "PYTHONPATH=layers/voice_insights .venv/bin/python -m devtools.report --openapi > docs/openapi.json"
    )


def test_a_conference_comes_back_with_all_its_participants_as_their_data(api: Any, traffic: ReadTraffic) -> None:
    sid = "CF" + "0" * 31 + "2"
    status, body = call(f"/conferences/{sid}")
    assert status == 200
    assert body["conference"] == traffic.conferences[sid]
    expected = [p for p in traffic.participants.values() if p["conference_sid"] == sid]
    assert sorted(body["participants"], key=lambda p: p["participant_sid"]) == expected
    assert all("from" in p and "to" in p for p in body["participants"])  # returned whole: docs/read.md


def test_a_gzip_stored_summary_comes_back_as_its_data(api: Any, traffic: ReadTraffic) -> None:
    sid = "CF" + "0" * 31 + "1"
    status, body = call(f"/conferences/{sid}")
    assert status == 200
    assert body["conference"]["conference_sid"] == sid
    assert len(body["conference"]["properties"]["padding"]) > INLINE_DATA_LIMIT


def test_unknown_sids_are_404_and_malformed_ones_400(api: Any) -> None:
    assert call("/conferences/CF" + "f" * 32) == (404, {"message": f"no summary is stored for conference CF{'f' * 32}"})
    assert call("/calls/CA" + "f" * 32)[0] == 404
    for path in ("/conferences/CF12g4", "/calls/XX" + "0" * 32, "/conferences/" + "CF" + "0" * 65, "/calls/CA"):
        status, body = call(path)
        assert status == 400 and body["message"], path


def test_a_call_gives_its_participant_summary(api: Any, traffic: ReadTraffic) -> None:
    call_sid = sorted(traffic.participants)[5]
    assert call(f"/calls/{call_sid}") == (200, {"participant": traffic.participants[call_sid]})


def pages(path: str, **query: Any) -> list[dict[str, Any]]:
    bodies, cursor = [], None
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
