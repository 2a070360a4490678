"""Given the whole local stack (LocalRunner: the built functions, the pollers, both gateways) fed with generated
summaries through the Kinesis stream, when the read API is called over HTTP, then its routes answer as
docs/read.md says, and schemathesis (property-based, from the checked-in docs/openapi.json) finds no answer that
breaks the document: no 5xx, no undocumented status or body."""

from __future__ import annotations

import csv
import io
import json
import struct
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from devtools import read_traffic
from devtools.runner import LocalRunner
from devtools.traffic import Delivery, kinesis_bytes, put_on_stream
from operate import report

ROOT = Path(__file__).resolve().parents[2]
RANGE = "from=2026-10-01T00:00:00Z&to=2026-12-01T00:00:00Z"
TRAFFIC = read_traffic.generate()

schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json")


@pytest.fixture(
    scope="module",
    params=["true", "false"],
    ids=lambda value: "call_sid_index_on" if value == "true" else "call_sid_index_off",
)
def runner(request: pytest.FixtureRequest) -> Iterator[LocalRunner]:
    """The local stack deployed with CallSidIndex true or false (the template's default)."""
    with LocalRunner(parameters={"CallSidIndex": request.param}) as runner:
        deliveries = [Delivery("kinesis", kinesis_bytes(e), "", e["id"]) for e in TRAFFIC.events]
        put_on_stream(runner.endpoint_url, runner.ref("EventStream"), deliveries)
        assert runner.wait_idle(timeout_s=180)
        yield runner


def get(runner: LocalRunner, path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    try:
        with urllib.request.urlopen(runner.read_api_url + path, timeout=30) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def test_the_routes_answer_through_the_local_gateway(runner: LocalRunner) -> None:
    sid = sorted(TRAFFIC.conferences)[3]
    status, body, headers = get(runner, f"/conferences/{sid}")
    assert status == 200 and body["conference"] == TRAFFIC.conferences[sid]
    assert len(body["participants"]) == 3
    assert "not checked locally" in headers["X-Local-Gateway-Auth"]
    call_sid = sorted(TRAFFIC.participants)[4]
    if runner.parameters["CallSidIndex"] == "true":
        assert get(runner, f"/calls/{call_sid}")[:2] == (200, {"participant": TRAFFIC.participants[call_sid]})
    else:  # no ByCallSid: a 404 that says how to turn it on, never an error from querying a missing index
        status, body, _ = get(runner, f"/calls/{call_sid}")
        assert status == 404 and "CallSidIndex=true" in body["message"] and "make query" in body["message"]
    assert get(runner, "/calls/CA" + "e" * 32)[0] == 404
    assert get(runner, "/conferences/nope")[0] == 400


def test_pages_and_issues_through_the_local_gateway(runner: LocalRunner) -> None:
    listed, cursor = [], ""
    while True:
        status, body, _ = get(runner, f"/conferences?accountSid={read_traffic.ACCOUNT}&{RANGE}&limit=4{cursor}")
        assert status == 200, body
        listed += [c["conference_sid"] for c in body["conferences"]]
        if body["next"] is None:
            break
        cursor = f"&next={body['next']}"
    expected = [s for s, c in TRAFFIC.conferences.items() if c["account_sid"] == read_traffic.ACCOUNT]
    assert listed == sorted(expected, reverse=True)  # the generator's SIDs rise with the start time
    status, body, _ = get(runner, f"/issues?kind=low_mos&{RANGE}&limit=100")
    assert status == 200 and {i["summary"]["call_sid"] for i in body["items"]} == TRAFFIC.bad_participants
    forged = body["next"] or "eyJxIjoiIn0.AAAA"
    assert get(runner, f"/issues?kind=high_jitter&{RANGE}&next={forged}")[0] == 400


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_openapi_document(case: Any, runner: LocalRunner) -> None:
    # Excluded: API Gateway answers a method without a route 403 "Missing Authentication Token", not the 405
    # schemathesis expects (the local gateway does the same); and a schema-valid request may still be refused with
    # 400 for what a schema cannot say: a cursor this API did not sign, a range over 366 days or reversed.
    case.call_and_validate(base_url=runner.read_api_url, excluded_checks=[unsupported_method, positive_data_acceptance])


def png_facts(path: Path) -> tuple[int, int, list[str]]:
    """Width, height and the series a report PNG says it draws (its Description text chunk)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    at = data.index(b"tEXtDescription\x00") + len(b"tEXtDescription\x00")
    length = struct.unpack(">I", data[at - len(b"tEXtDescription\x00") - 4 : at - len(b"tEXtDescription\x00")])[0]
    text = data[at : at - len("Description\x00") + length]
    return width, height, json.loads(text)


def test_the_report_reads_the_local_table_into_json_csv_a_table_and_a_png(runner: LocalRunner, tmp_path: Path) -> None:
    where = ["--endpoint-url", runner.endpoint_url, "--table", runner.ref("SummariesTable"), "--no-progress"]
    span = ["--from", "2026-10-01", "--to", "2026-12-01"]
    # The table mode reads one account's conferences (ByAccountStartTime; every account's is the lake's report)
    both = []
    for account in (read_traffic.ACCOUNT, read_traffic.OTHER_ACCOUNT):
        out = io.StringIO()
        args = [*where, *span, "--account", account, "--format", "json", "--top", "50"]
        assert report.main([*args, "--png", str(tmp_path / f"{account}.png")], out) == 0
        both.append(json.loads(out.getvalue()))
    assert sum(f["conferences"] for f in both) == 12 and sum(f["participants"] for f in both) == 36
    assert {p["call_sid"] for f in both for p in f["worst_participants"]} == TRAFFIC.bad_participants
    figures = both[0]
    mos = [p["mos"] for p in figures["worst_participants"]]
    assert mos == sorted(mos) and max(mos) < 3.5 and len(figures["mos"]) == figures["participants"]
    assert sum(f["issues_by_kind"].get("low_mos", 0) for f in both) == len(TRAFFIC.bad_participants)
    assert sum(sum(k.values()) for k in figures["issues_by_hour"].values()) == sum(figures["issues_by_kind"].values())
    assert sum(figures["issues_by_region"].values()) == sum(figures["issues_by_kind"].values())
    assert {c["conference_sid"] for f in both for c in f["worst_conferences"]} >= TRAFFIC.bad_conferences
    width, height, series = png_facts(tmp_path / f"{read_traffic.ACCOUNT}.png")
    assert (width, height) == report.PNG_SIZE
    assert series == [f"issues_by_hour:{k}" for k in sorted(figures["issues_by_kind"])] + ["mos_histogram"]
    assert "issues_by_hour:low_mos" in series

    out = io.StringIO()
    report.main([*where, *span, "--account", read_traffic.OTHER_ACCOUNT, "--format", "csv"], out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["section", "key", "value"]
    others = {s for s, c in TRAFFIC.conferences.items() if c["account_sid"] == read_traffic.OTHER_ACCOUNT}
    assert {r[1] for r in rows if r[0] == "worst_conference"} <= others

    out = io.StringIO()
    assert report.main([*where, *span, "--account", read_traffic.ACCOUNT], out) == 0
    assert "Worst participants:" in out.getvalue() and "Issues by hour (UTC):" in out.getvalue()


def test_the_report_and_the_named_queries_read_the_lake_the_local_stack_wrote(
    runner: LocalRunner, tmp_path: Path
) -> None:
    assert runner.lake is not None
    runner.lake.flush()  # Firehose's buffer: every row the lake writer sent is in .lake/ now
    out = io.StringIO()
    where = ["--lake-dir", str(runner.lake_dir), "--from", "2026-10-01", "--to", "2026-12-01", "--no-progress"]

    assert report.main([*where, "--format", "json", "--top", "50", "--png", str(tmp_path / "lake.png")], out) == 0
    figures = json.loads(out.getvalue())
    assert sum(r["participants"] for r in figures["kpis"]) == len(TRAFFIC.participants) == 36
    assert {r["call_sid"] for r in figures["worst_participants"]} == TRAFFIC.bad_participants
    assert {r["conference_sid"] for r in figures["worst_conferences"]} >= TRAFFIC.bad_conferences
    assert {r["breakdown"] for r in figures["kpis_by_region"]} == {
        p["participant_region"] for p in TRAFFIC.participants.values()
    }
    assert (tmp_path / "lake.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
