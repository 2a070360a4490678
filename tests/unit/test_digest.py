"""Given a local lake with known answers, when the digest asks it its questions (the lake's named queries on DuckDB,
as make query runs them), then its text, digest/1 JSON and chat notification say those answers: volumes, the share
of each issue, p95 MOS by region, the worst conferences with their read API links; and the Athena reader binds
the named queries' parameters, waits within the time left and reports a failed query."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from devtools.digest import DuckDbLake
from devtools.digest import main as digest_main
from tests.lake_sample import write
from voice_insights.aws.lake_queries import AthenaLake, LakeError, parameter_order
from voice_insights.digest.digest import (
    DIGEST_SCHEMA,
    DigestPayload,
    build_digest,
    questions,
    render,
    render_chat,
    render_text,
    window_for,
)
from voice_insights.digest.digest_handler import Topics, handle
from voice_insights.domain.lake_schema import CONFERENCE_TABLE, PARTICIPANT_TABLE

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 4)  # a Friday: the daily digest is Thursday 3 December against Thursday 26 November
READ_API = "https://abc123.execute-api.us-east-1.amazonaws.com/v1"


def conference(sid: str, region: str, day: date) -> dict[str, Any]:
    started = datetime.combine(day, datetime.min.time()) + timedelta(hours=9)
    return {
        "conference_sid": sid, "event_id": f"EV{sid}", "version": "1", "arrived_via": "kinesis",
        "event_type": "com.twilio.voice.insights.conference-summary.complete", "status": "completed",
        "processing_state": "complete", "mixer_region": region, "start_time": started, "create_time": started,
        "event_time": started, "received_at": started, "unique_participants": 2, "tags": [], "issue_kinds": [],
        "dt": day.isoformat(),
    }  # fmt: skip


def participant(sid: str, conference_sid: str, region: str, day: date, mos: float, kinds: list[str]) -> dict:
    joined = datetime.combine(day, datetime.min.time()) + timedelta(hours=9, minutes=1)
    row: dict[str, Any] = {
        "participant_sid": sid, "conference_sid": conference_sid, "call_sid": f"CA{sid[2:]}", "event_id": f"EV{sid}",
        "version": "1", "event_type": "com.twilio.voice.insights.participant-summary.complete",
        "arrived_via": "kinesis", "participant_region": region, "country_code": "US", "call_type": "carrier",
        "call_direction": "inbound", "join_time": joined, "event_time": joined, "received_at": joined,
        "issue_kinds": kinds, "issue_severity": "medium" if kinds else None, "dt": day.isoformat(),
        "inbound_mos": mos, "outbound_mos": 4.5, "inbound_tags": [], "outbound_tags": [],
    }  # fmt: skip
    return row


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Thursday: two conferences, four participants, two with an issue; the Thursday before: one, two, none."""
    now, before = date(2026, 12, 3), date(2026, 11, 26)
    tables = {
        CONFERENCE_TABLE: [
            conference("CFA", "us1", now), conference("CFB", "de1", now), conference("CFC", "us1", before),
        ],
        PARTICIPANT_TABLE: [
            participant("PA1", "CFA", "us1", now, 4.4, []),
            participant("PA2", "CFA", "us1", now, 2.0, ["low_mos"]),
            participant("PA3", "CFA", "us1", now, 4.3, ["high_jitter"]),
            participant("PB1", "CFB", "de1", now, 4.2, []),
            participant("PC1", "CFC", "us1", before, 4.4, []),
            participant("PC2", "CFC", "us1", before, 4.0, []),
            participant("PX1", "CFX", "us1", date(2026, 12, 2), 1.0, ["low_mos"]),  # the day before: not counted
        ],
    }  # fmt: skip
    folder = tmp_path_factory.mktemp("lake")
    write(folder, tables)
    return folder


@pytest.fixture(scope="module")
def digest(lake: Path) -> DigestPayload:
    window = window_for("daily", TODAY)
    return build_digest(window, DuckDbLake(lake).ask(questions(window)), READ_API)


def test_the_daily_window_is_yesterday_against_the_same_weekday_a_week_before() -> None:
    window = window_for("daily", TODAY)
    assert (window.start, window.end) == (date(2026, 12, 3), TODAY)
    assert (window.previous_start, window.previous_end) == (date(2026, 11, 26), date(2026, 11, 27))
    weekly = window_for("weekly", TODAY)  # the last Monday-to-Sunday week
    assert (weekly.start, weekly.end, weekly.previous_start) == (
        date(2026, 11, 23),
        date(2026, 11, 30),
        date(2026, 11, 16),
    )


def test_the_digest_says_the_lakes_known_answers(digest: DigestPayload) -> None:
    assert digest.volume.model_dump() == {
        "participants": 4, "conferences": 2, "participants_with_issues": 2,
        "previous_participants": 2, "previous_conferences": 1,
    }  # fmt: skip
    shares = {issue.kind: (issue.share, issue.previous_share) for issue in digest.issues}
    assert shares == {
        "any_issue": (0.5, 0.0), "low_mos": (0.25, 0.0), "high_jitter": (0.25, 0.0),
        "high_packet_loss": (0.0, 0.0), "high_latency": (0.0, 0.0),
    }  # fmt: skip
    regions = {r.region: (r.participants, r.mos_p95, r.previous_mos_p95) for r in digest.regions}
    # p95 of the worst direction's MOS, exact on DuckDB (linear interpolation): us1 [2.0, 4.3, 4.4] -> 4.39
    assert regions == {"de1": (1, pytest.approx(4.2), None), "us1": (3, pytest.approx(4.39), pytest.approx(4.38))}
    (worst,) = digest.worst_conferences
    assert (worst.rank, worst.conference_sid, worst.participants, worst.participants_with_issues) == (1, "CFA", 3, 2)
    assert worst.worst_mos == 2.0 and worst.issue_kinds == []  # the conference's own issues (none here)
    assert worst.url == f"{READ_API}/conferences/CFA"
    assert digest.digest_id == "daily-2026-12-03"
    assert digest.subject == (
        "Voice Insights daily digest 2026-12-03: 50.0 % of 4 participants with an issue (was 0.0 %)"
    )


def test_the_text_the_json_and_the_chat_card(digest: DigestPayload) -> None:
    text = render_text(digest)
    assert "2026-12-03 (Thursday) against 2026-11-26 (Thursday)" in text
    assert "Participants: 4 (+100.0 % on 2); conferences: 2 (+100.0 % on 1)." in text
    assert re.search(r"^  low_mos +25\.0 %  \(0\.0 %\)$", text, re.MULTILINE)
    assert "  us1       4.39  (4.38), 3 participant(s)" in text
    assert f"  1. CFA (us1): 2 of 3 participants with an issue, worst MOS 2.00\n     {READ_API}/conferences/CFA" in text
    message = render(digest)
    bodies = json.loads(message.message)
    assert bodies["email"] == bodies["default"] == text
    machine = json.loads(bodies["sqs"])
    assert machine == json.loads(bodies["lambda"]) == json.loads(bodies["https"])
    schema = json.loads((ROOT / "docs" / "digest.schema.json").read_text())
    jsonschema.validate(machine, schema)
    assert machine["digest_schema"] == DIGEST_SCHEMA and "severity" not in message.attributes  # alert filters skip it
    card = json.loads(render_chat(digest).message)
    assert card["version"] == "1.0" and card["source"] == "custom"
    assert f"`CFA` worst MOS 2.00 {READ_API}/conferences/CFA" in card["content"]["description"]


def test_the_schema_in_docs_is_the_payloads() -> None:
    assert json.loads((ROOT / "docs" / "digest.schema.json").read_text()) == DigestPayload.model_json_schema(), (
        "docs/digest.schema.json is stale: run .venv/bin/python scripts/digest_schema.py"
    )


def test_the_local_command_prints_the_digest_alone_on_stdout(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert digest_main(["--today", "2026-12-04", "--lake-dir", str(lake), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["volume"]["participants"] == 4
    assert digest_main(["--today", "04/12/2026", "--lake-dir", str(lake)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert digest_main(["--today", "2026-12-04", "--lake-dir", str(lake / "none")]) == 2


class FakeAthena:
    """Athena as the digest's reader calls it: named queries, executions that run for a few polls, results."""

    def __init__(self, fail: str = "", polls: int = 2) -> None:
        self.started: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.fail, self.polls, self.seen = fail, polls, 0

    def get_named_query(self, NamedQueryId: str) -> dict[str, Any]:
        return {
            "NamedQuery": {
                "QueryString": f"-- parameters, in order: period, by, from, to, from, to\nSELECT 1 -- {NamedQueryId}"
            }
        }

    def start_query_execution(self, **request: Any) -> dict[str, str]:
        self.started.append(request)
        return {"QueryExecutionId": f"q{len(self.started)}"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        self.seen += 1
        if QueryExecutionId == self.fail:
            return {
                "QueryExecution": {
                    "Status": {"State": "FAILED", "StateChangeReason": "Bytes scanned limit was exceeded"}
                }
            }
        state = "SUCCEEDED" if self.seen > self.polls else "RUNNING"
        return {"QueryExecution": {"Status": {"State": state}}}

    def stop_query_execution(self, QueryExecutionId: str) -> None:
        self.stopped.append(QueryExecutionId)

    def get_paginator(self, _: str) -> Any:
        info = [{"Name": "participants", "Type": "bigint"}, {"Name": "breakdown", "Type": "varchar"}]
        page = {"ResultSet": {"ResultSetMetadata": {"ColumnInfo": info},
                              "Rows": [{"Data": [{"VarCharValue": "participants"}, {"VarCharValue": "breakdown"}]},
                                       {"Data": [{"VarCharValue": "7"}, {"VarCharValue": "all"}]}]}}  # fmt: skip

        class Pages:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                return [page]

        return Pages()


def test_athena_binds_the_named_querys_parameters_in_its_order_and_reads_typed_rows() -> None:
    athena = FakeAthena()
    lake = AthenaLake(athena, "stack-lake", "stack_lake", {"kpis": "id-kpis"}, lambda: 60, sleep=lambda _: None)
    question = questions(window_for("daily", TODAY))[0]
    answers = lake.ask([question])
    assert answers == {"current_all": [{"participants": 7, "breakdown": "all"}]}
    (request,) = athena.started
    assert request["WorkGroup"] == "stack-lake" and request["QueryExecutionContext"] == {"Database": "stack_lake"}
    assert request["ExecutionParameters"] == [
        "'day'",
        "'all'",
        "'2026-12-03'",
        "'2026-12-04'",
        "'2026-12-03'",
        "'2026-12-04'",
    ]
    assert parameter_order("-- parameters, in order: from, to, top\nSELECT") == ["from", "to", "top"]


def test_a_query_over_the_scan_limit_or_the_time_left_fails_the_digest_and_is_stopped() -> None:
    athena = FakeAthena(fail="q1")
    lake = AthenaLake(athena, "wg", "db", {"kpis": "k"}, lambda: 60, sleep=lambda _: None)
    with pytest.raises(LakeError, match="Bytes scanned limit"):
        lake.ask(questions(window_for("daily", TODAY))[:2])
    assert athena.stopped == ["q2"]
    slow = FakeAthena(polls=1000)
    with pytest.raises(LakeError, match="did not end in the function's time"):
        AthenaLake(slow, "wg", "db", {"kpis": "k"}, lambda: 0.1, sleep=lambda _: None).ask(
            questions(window_for("daily", TODAY))[:1]
        )
    assert slow.stopped == ["q1"]


class RecordingSns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **request: Any) -> None:
        self.published.append(request)


def test_the_handler_publishes_to_the_alert_topic_and_chat_and_answers_bad_input(lake: Path) -> None:
    sns = RecordingSns()
    topics = Topics(sns, "arn:alerts", "arn:chat")
    answer = handle({"kind": "daily"}, lambda: 60, DuckDbLake(lake), topics, READ_API, TODAY)
    assert answer == {"sent": True, "digest_id": "daily-2026-12-03"}
    assert [p["TopicArn"] for p in sns.published] == ["arn:alerts", "arn:chat"]
    assert sns.published[0]["MessageStructure"] == "json" and "MessageStructure" not in sns.published[1]
    assert handle({"kind": "hourly"}, lambda: 60, DuckDbLake(lake), topics, READ_API, TODAY)["sent"] is False
    assert handle("nonsense", lambda: 60, DuckDbLake(lake), topics, READ_API, TODAY)["sent"] is False
    broken = handle({"kind": "daily"}, lambda: 60, DuckDbLake(lake / "missing"), topics, READ_API, TODAY)
    assert broken["sent"] is False and len(sns.published) == 2  # nothing more published


def test_docs_show_this_digest(digest: DigestPayload) -> None:
    shown = (ROOT / "docs" / "alerts.md").read_text()
    assert f"```\n{render_text(digest)}\n```" in shown
    assert f"```json\n{digest.model_dump_json(indent=2)}\n```" in shown
