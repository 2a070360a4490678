"""Given a stack whose outputs name its Athena workgroup (on the moto server over HTTP, whose Athena does not execute
SQL: its answers are queued through /moto-api/static/athena/query-results), when `make query --stack-name` runs a
named query, then it starts it in that workgroup and the lake's database with the SQL as written for Athena and the
validated parameters as ExecutionParameters, polls it, and prints every page of the results typed by their columns;
and a mistake (bad date, unknown stack) is one line with exit 2."""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Iterator

import boto3
import pytest

from devtools.cfn import ACCOUNT, REGION
from devtools.moto_server import MotoServer, aws_env
from operate import query

STACK = "voice-insights-test"
WORKGROUP = f"{STACK}-lake"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def stack(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    moto.reset()
    for name, value in aws_env(moto.endpoint_url).items():
        monkeypatch.setenv(name, value)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"AthenaWorkGroupName": {"Value": WORKGROUP}},
    }
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    boto3.client("athena").create_work_group(Name=WORKGROUP)
    return moto.endpoint_url


def queue_results(endpoint_url: str, columns: list[tuple[str, str]], rows: list[list[str | None]]) -> None:
    header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
    body = {
        "account_id": ACCOUNT,
        "region": REGION,
        "results": [
            {
                "rows": [header, *({"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows)],
                "column_info": [{"Name": n, "Type": t, "Label": n} for n, t in columns],
            }
        ],
    }
    request = urllib.request.Request(
        f"{endpoint_url}/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


def last_execution() -> dict[str, object]:
    athena = boto3.client("athena")
    [query_id] = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    return athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]


def test_a_named_query_runs_in_the_stacks_workgroup_with_its_parameters_bound_by_athena(stack: str) -> None:
    columns = [("period_start", "date"), ("breakdown", "varchar"), ("participants", "bigint"), ("mos_p50", "double")]
    queue_results(
        stack, columns, [["2026-11-02", "us1", "44", "3.008"], ["2026-11-02", "=cmd|' /C calc'!A0", "3", None]]
    )
    out, err = io.StringIO(), io.StringIO()

    code = query.main(
        ["--name", "weekly_kpis", "--from", "2026-11-02", "--to", "2026-11-30", "--by", "region", "--stack-name", STACK,
         "--format", "json"],
        out,
        err,
    )  # fmt: skip

    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue()) == [
        {"period_start": "2026-11-02", "breakdown": "us1", "participants": 44, "mos_p50": 3.008},
        {"period_start": "2026-11-02", "breakdown": "=cmd|' /C calc'!A0", "participants": 3, "mos_p50": None},
    ]
    execution = last_execution()
    weekly = query.catalog()["weekly_kpis"]
    bound = query.bind(weekly.sql, {"from": "2026-11-02", "to": "2026-11-30", "by": "region"}, weekly.preset)
    assert execution["Query"] == bound.sql and ":from" not in bound.sql and "?" in bound.sql
    assert execution["QueryExecutionContext"] == {"Database": "voice_insights_test_lake"}
    assert execution["WorkGroup"] == WORKGROUP
    assert execution["ExecutionParameters"] == ["'week'", "'region'", "'2026-11-02'", "'2026-11-30'", "'2026-11-02'",
                                                "'2026-11-30'"]  # fmt: skip
    assert execution["ExecutionParameters"] == bound.athena_parameters()


def test_csv_from_athena_neutralises_formulas(stack: str) -> None:
    queue_results(stack, [("kind", "varchar"), ("share", "double")], [["=HYPERLINK(1)", "-0.5"], ["@x", "0.25"]])
    out = io.StringIO()

    assert query.main(["--name", "issue_shares", "--stack-name", STACK, "--format", "csv"], out, io.StringIO()) == 0
    assert out.getvalue().splitlines() == ["kind,share", "'=HYPERLINK(1),-0.5", "'@x,0.25"]


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--name", "weekly_kpis", "--from", "2026-11-02'; DROP TABLE x; --"], "--from takes a date as yyyy-MM-dd"),
        (["--name", "weekly_kpis", "--from", "2026-02-30"], "is not a day of the calendar"),
        (["--name", "weekly_kpis", "--by", "region'--"], "--by takes one of all, region"),
        (["--name", "worst_participants", "--top", "1; --"], "--top takes a whole number"),
        (["--name", "weekly_kpis", "--from", "2026-12-01", "--to", "2026-11-01"], "must come before --to"),
        (["--name", "no_such_query"], "no query named 'no_such_query'"),
        (["--sql", "DROP TABLE participant_summaries"], "--sql takes one SELECT statement"),
        (["--name", "weekly_kpis", "--stack-name", "no-such-stack"], "AWS refused"),
    ],
)
def test_a_mistake_is_one_line_with_exit_2_and_nothing_is_started(stack: str, arguments: list[str], says: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    with_stack = arguments if "--stack-name" in arguments else [*arguments, "--stack-name", STACK]

    assert query.main(with_stack, out, err) == 2
    assert out.getvalue() == "" and len(err.getvalue().splitlines()) == 1 and says in err.getvalue()
    assert boto3.client("athena").list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"] == []


class FakeAthena:
    """Athena as far as run_athena sees it, in states moto's never reaches (failed, still running)."""

    def __init__(self, states: list[dict[str, str]]) -> None:
        self.states, self.stopped = states, False

    def start_query_execution(self, **_: object) -> dict[str, str]:
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, object]:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"QueryExecution": {"Status": state}}

    def stop_query_execution(self, QueryExecutionId: str) -> None:
        self.stopped = True


def test_a_failed_athena_query_is_one_line_saying_why() -> None:
    athena = FakeAthena(
        [{"State": "RUNNING"}, {"State": "FAILED", "StateChangeReason": "Query exhausted resources\nat"}]
    )
    bound = query.bind("SELECT 1 AS n FROM participant_summaries WHERE dt >= :from", {"from": "2026-11-01"})

    with pytest.raises(query.Mistake, match=r"^Athena query q-1 failed: Query exhausted resources$"):
        query.run_athena(bound, athena, WORKGROUP, "db")


def test_a_query_running_past_the_timeout_is_stopped() -> None:
    athena = FakeAthena([{"State": "RUNNING"}])
    bound = query.bind("SELECT 1 AS n", {})

    with pytest.raises(query.Mistake, match="was stopped: narrow the window"):
        query.run_athena(bound, athena, WORKGROUP, "db", timeout=0.5)
    assert athena.stopped
