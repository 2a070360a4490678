"""Given the local stack with a schedule (ReconcileSchedule) and the Twilio stub holding conferences the table lacks
(a hole: what the stream lost), when the built ReconcileFunction is invoked under the Lambda runtime emulator as
EventBridge Scheduler invokes it (the schedule target's Input, <aws.scheduler.scheduled-time> filled in), then it
fills the hole through the pipeline, counted in its EMF output (EventsFilledByReconcile, the metric its alarm reads)
and in the table; a second run fills nothing; before its secret holds credentials, a run fails in one line; a run
that would pass its Timeout (Twilio asking it to wait) stops in time, counted, and the next run fills the rest."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.cfn import load_template, local_client
from devtools.lambda_rie import BUILD_DIR, LambdaInvokeError
from devtools.runner import LocalRunner
from devtools.traffic import Delivery, put_on_stream
from devtools.twilio_stub import TwilioStub, rest_conference, rest_participant
from tests.conftest import healthy_conference, healthy_participant
from voice_insights.reconcile.handler import CUT_SHORT_METRIC, FILLED_METRIC

ACCOUNT = "AC" + "b" * 32
API_KEY, API_SECRET = "SK" + "c" * 32, "stub-api-secret-never-shown"
SCHEDULED_TIME = "2026-11-22T12:00:00Z"  # the window: 2026-11-21T11:00Z to 2026-11-22T11:00Z (lag 60, 24 hours)
CONFERENCES, PARTICIPANTS = 6, 2


def conference(n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    sid = f"CF{n:032x}"
    event = healthy_conference(
        "complete",
        id=f"EZrec{n:04d}",
        time=f"2026-11-22T0{n}:30:00Z",
        data__conference_sid=sid,
        data__account_sid=ACCOUNT,
        data__processing_state="complete",
        data__create_time=f"2026-11-22T0{n}:00:00Z",
        data__status="completed",
    )
    parts = [
        healthy_participant(
            id=f"EZrecpart{n:04d}{p:02d}",
            time=f"2026-11-22T0{n}:31:00Z",
            data__conference_sid=sid,
            data__participant_sid=f"CP{n:016x}{p:016x}",
            data__account_sid=ACCOUNT,
            data__processing_state="complete",
        )
        for p in range(PARTICIPANTS)
    ]
    return event, parts


def with_stub(template: dict[str, Any], base_url: str, timeout_s: int | None) -> dict[str, Any]:
    changed = copy.deepcopy(template)
    function = changed["Resources"]["ReconcileFunction"]["Properties"]
    function["Environment"]["Variables"]["TWILIO_API_BASE_URL"] = base_url  # what a local run sets; "" in template.yaml
    if timeout_s is not None:
        function["Timeout"] = timeout_s
    return changed


def scheduler_input() -> Any:
    """The schedule target's Input as Scheduler delivers it: its context attributes replaced."""
    target = load_template(BUILD_DIR / "template.yaml")["Resources"]["ReconcileScheduler"]["Properties"]["Target"]
    return json.loads(target["Input"].replace("<aws.scheduler.scheduled-time>", SCHEDULED_TIME))


def emf_total(logs: str, name: str) -> float:
    """``name``'s values summed over the EMF documents in a function's output (what CloudWatch would record)."""
    total = 0.0
    for line in logs.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line[line.index("{") :])
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if any(metric["Name"] == name for metric in directive["Metrics"]):
                value = document[name]
                total += sum(value) if isinstance(value, list) else value
    return total


@contextmanager
def scheduled(tmp_path: Path, timeout_s: int | None = None) -> Iterator[tuple[LocalRunner, TwilioStub]]:
    """The local stack with a schedule, the function pointed at the stub (which holds every conference), the stream
    having delivered half of them; the Twilio API secret as the stack creates it, empty."""
    if not (BUILD_DIR / "template.yaml").exists():
        pytest.fail("no .aws-sam/build: run `make build`")
    with TwilioStub(credentials={(API_KEY, API_SECRET)}) as stub:
        path = tmp_path / "template.yaml"
        template = with_stub(load_template(BUILD_DIR / "template.yaml"), stub.base_url, timeout_s)
        path.write_text(yaml.safe_dump(template, sort_keys=False))
        with LocalRunner(parameters={"ReconcileSchedule": "rate(6 hours)"}, template_path=path) as runner:
            for event, parts in CONFERENCE_EVENTS:
                stub.add(rest_conference(event["data"]), [rest_participant(p["data"]) for p in parts])
            put_on_stream(
                runner.endpoint_url,
                runner.ref("EventStream"),
                [Delivery("kinesis", json.dumps(e).encode(), "", e["id"]) for e in DELIVERED],
            )
            assert runner.wait_idle(timeout_s=120)
            yield runner, stub


def put_credentials(runner: LocalRunner) -> None:
    credentials = {"account_sid": ACCOUNT, "api_key": API_KEY, "api_secret": API_SECRET}
    local_client("secretsmanager", runner.endpoint_url).put_secret_value(
        SecretId=runner.resources["TwilioApiSecret"]["ref"], SecretString=json.dumps(credentials)
    )


def items(runner: LocalRunner) -> list[dict[str, Any]]:
    table: list[dict[str, Any]] = local_client("dynamodb", runner.endpoint_url).scan(
        TableName=runner.ref("SummariesTable")
    )["Items"]
    return table


CONFERENCE_EVENTS = [conference(n) for n in range(CONFERENCES)]
DELIVERED = [e for event, parts in CONFERENCE_EVENTS[: CONFERENCES // 2] for e in (event, *parts)]
HOLE = CONFERENCES // 2 * (1 + PARTICIPANTS)  # what the stream never delivered


def test_without_a_schedule_the_local_stack_has_no_reconcile_function() -> None:
    template = load_template(BUILD_DIR / "template.yaml")
    with LocalRunner() as runner:
        assert "ReconcileFunction" not in runner.functions
        assert set(runner.functions) == {
            k
            for k, r in template["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function" and "Condition" not in r
        }


def test_the_scheduled_reconcile_fills_the_hole_the_stream_left_and_a_second_run_fills_nothing(
    tmp_path: Path,
) -> None:
    with scheduled(tmp_path) as (runner, stub):
        function = runner.functions["ReconcileFunction"]
        # As the stack creates it, the secret is empty: the run fails (ReconcileErrorsAlarm) in one line, nothing asked.
        with pytest.raises(
            LambdaInvokeError, match="TwilioCredentialsUnavailable: the Twilio API secret has no account"
        ):
            function.invoke(scheduler_input())
        assert stub.state.requests == []
        put_credentials(runner)
        assert len(items(runner)) == len(DELIVERED)  # the stream delivered half: the rest is the hole

        offset = len(function.logs())
        first = function.invoke(scheduler_input())
        assert (first["since"], first["until"]) == ("2026-11-21T11:00:00Z", "2026-11-22T11:00:00Z")
        assert (first["filled"], first["differing"], first["complete"]) == (HOLE, {"missing": HOLE}, True), first
        assert first["conferences_checked"] == CONFERENCES
        assert emf_total(function.logs(offset), FILLED_METRIC) == HOLE, function.logs(offset)
        stored = items(runner)
        assert len(stored) == len(DELIVERED) + HOLE
        filled = [i for i in stored if i.get("ingested_by", {}).get("S") == "backfill"]
        assert len(filled) == HOLE and Counter(i["alerts"]["S"] for i in filled) == {"off": HOLE}
        assert API_SECRET not in function.logs() and stub.count("/v1/Conferences") == 1 + CONFERENCES

        offset = len(function.logs())
        second = function.invoke(scheduler_input())
        assert (second["filled"], second["differing"], second["complete"]) == (0, {}, True), second
        assert emf_total(function.logs(offset), FILLED_METRIC) == 0
        assert len(items(runner)) == len(stored)
        assert runner.wait_idle(timeout_s=60)  # the fills' table-stream changes settle (alerts off: none sent)


def test_a_run_that_would_pass_its_timeout_stops_in_time_and_the_next_run_fills_the_rest(tmp_path: Path) -> None:
    # Timeout 75 s: the run stops reading at 15 s; Twilio asks it to wait 30 s, which would pass that.
    with scheduled(tmp_path, timeout_s=75) as (runner, stub):
        put_credentials(runner)
        function = runner.functions["ReconcileFunction"]
        stub.throttle(1, retry_after="30")
        offset = len(function.logs())
        cut_short = function.invoke(scheduler_input())  # answered, not Sandbox.Timedout
        assert (cut_short["complete"], cut_short["filled"]) == (False, 0), cut_short
        assert "Twilio asked to wait 30 s, past the run's time budget" in cut_short["stopped"]
        assert emf_total(function.logs(offset), CUT_SHORT_METRIC) == 1
        assert len(items(runner)) == len(DELIVERED)

        offset = len(function.logs())
        next_run = function.invoke(scheduler_input())
        assert (next_run["complete"], next_run["filled"]) == (True, HOLE), next_run
        assert emf_total(function.logs(offset), CUT_SHORT_METRIC) == 0
        assert len(items(runner)) == len(DELIVERED) + HOLE
