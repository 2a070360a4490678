"""`make backfill` / `make reconcile` (operate/backfill.py) against the Twilio REST stub on 127.0.0.1 and moto:
the twilio client reaches the stub through --twilio-base-url, pages are followed, 429s are retried, events go through
the same pipeline as streamed ones, and stream delivery and backfill in any order end in the same table."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.moto_server import MotoServer
from devtools.twilio_stub import TwilioStub, rest_conference, rest_participant
from operate import backfill
from tests.conftest import healthy_conference, healthy_participant
from tests.integration.conftest import Handler, LocalStack
from tests.integration.driver import InProcessPipeline, comparable, fresh_stack
from voice_insights.aws.rejected import RejectedEventStore
from voice_insights.aws.summaries import SummaryStore
from voice_insights.domain.items import stored_event
from voice_insights.ingest.pipeline import Inbound, Outcome, Pipeline

ACCOUNT = "AC" + "a" * 32
TOKEN = "stub-auth-token-never-shown"
ENV = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN}
SINCE = "2026-11-01T00:00:00Z"


def conference(n: int, state: str = "complete", bad: bool = False) -> dict[str, Any]:
    kind = "complete" if state == "complete" else "partial"
    event = healthy_conference(
        kind,
        id=f"EZconf{n:04d}{state}",
        time=f"2026-11-21T10:{n % 60:02d}:00Z",
        data__conference_sid=f"CF{n:032x}",
        data__account_sid=ACCOUNT,
        data__processing_state=state,
        data__create_time=f"2026-11-21T09:{n % 60:02d}:00Z",
        data__status="completed" if state == "complete" else "in_progress",
    )
    if bad:
        event["data"]["tags"] = ["high_jitter"]
    return event


def participant(n: int, p: int) -> dict[str, Any]:
    return healthy_participant(
        id=f"EZpart{n:04d}{p:02d}",
        time=f"2026-11-21T10:{n % 60:02d}:30Z",
        data__conference_sid=f"CF{n:032x}",
        data__participant_sid=f"CP{n:016x}{p:016x}",
        data__account_sid=ACCOUNT,
        data__processing_state="complete",
    )


def publish(stub: TwilioStub, conf: dict[str, Any], parts: list[dict[str, Any]]) -> None:
    stub.add(rest_conference(conf["data"]), [rest_participant(p["data"]) for p in parts])


@pytest.fixture
def stub() -> Any:
    with TwilioStub(credentials={(ACCOUNT, TOKEN)}) as running:
        yield running


def run(stack: LocalStack, stub: TwilioStub, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = backfill.main(
        [*args, "--twilio-base-url", stub.base_url, "--endpoint-url", stack.endpoint_url, "--no-progress"],
        environ=ENV,
        out=out,
    )
    return code, out.getvalue()


def summary(output: str) -> dict[str, int]:
    line: dict[str, int] = json.loads(output.strip().splitlines()[-1])
    return line


def stream(stack: LocalStack, events: list[dict[str, Any]]) -> list[Outcome]:
    """Events as the functions store them (the same Pipeline, source kinesis)."""
    summaries = SummaryStore(stack.table_name, client=stack.dynamodb)
    rejected = RejectedEventStore(stack.bucket, client=stack.s3)
    outcomes = []
    for event in events:
        route = backfill.ROUTE_OF_TYPE[event["type"]]
        outcomes += Pipeline(route, summaries, rejected).process([Inbound(raw=event)], source="kinesis").outcomes
    return outcomes


def state(item: dict[str, Any]) -> Any:
    """A ``comparable`` item's processing state."""
    return item["event"]["data"].get("processing_state")


def table(stack: LocalStack) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["pk"]["S"], i["sk"]["S"]): i for i in stack.items()}


def test_backfill_pages_through_conferences_and_participants_into_an_empty_table(
    stack: LocalStack, stub: TwilioStub, tmp_path: Any
) -> None:
    for n in range(5):
        publish(stub, conference(n), [participant(n, p) for p in range(3)])
    broken = rest_participant(participant(9, 0)["data"])
    broken.pop("participant_sid")  # required: the pipeline rejects it, as it would a streamed one
    stub.add(rest_conference(conference(9)["data"]), [broken])

    code, output = run(stack, stub, "backfill", "--since", SINCE, "--page-size", "2", "--json",
                       "--checkpoint", str(tmp_path / "cp.json"))  # fmt: skip
    assert code == 0, output
    counts = summary(output)
    assert counts | {"twilio_requests": 0} == {
        "read": 6 + 16, "stored": 21, "already_there": 0, "stale": 0, "rejected": 1, "failed": 0,
        "retried_429": 0, "twilio_requests": 0,
    }  # fmt: skip
    # 3 pages of conferences (2 per page), one participants page per conference (≤ 2 each here: 2 pages for 3).
    assert stub.count("/v1/Conferences?") == 3 and counts["twilio_requests"] == 3 + 5 * 2 + 1
    items = table(stack)
    assert len(items) == 21 and all(i["ingested_by"]["S"] == "backfill" for i in items.values())
    assert all(i["alerts"]["S"] == "off" for i in items.values())
    (rejection,) = stack.rejected()
    assert rejection["source"] == "backfill" and "participant_sid" in rejection["reason"]
    assert TOKEN not in output
    assert json.loads((tmp_path / "cp.json").read_text())["done"] is True


def test_stdout_is_the_json_summary_alone_and_the_pipeline_logs_go_to_stderr(
    stack: LocalStack, stub: TwilioStub, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given conferences read twice (the second run's events are duplicates: the pipeline logs each one)
    publish(stub, conference(1), [participant(1, 0)])
    for _ in range(2):
        code, output = run(stack, stub, "backfill", "--since", SINCE, "--json", "--checkpoint", str(tmp_path / "c"))
        assert code == 0
    # Then what the command printed is one JSON document, and nothing of the layer's logs reached stdout
    assert summary(output)["already_there"] == 2 and len(output.strip().splitlines()) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert '"message":"Batch settled"' in printed.err


def test_the_state_the_stream_stored_is_already_there_and_newer_states_are_never_replaced(
    stack: LocalStack, stub: TwilioStub, tmp_path: Any
) -> None:
    streamed = [conference(1), participant(1, 0), conference(2, "complete")]
    stream(stack, streamed)
    before = table(stack)
    publish(stub, conference(1), [participant(1, 0)])  # the same states
    publish(stub, conference(2, "in_progress"), [])  # an older state than the stream's
    publish(stub, conference(3, "in_progress"), [])  # a hole

    code, output = run(stack, stub, "backfill", "--since", SINCE, "--json", "--checkpoint", str(tmp_path / "c"))
    assert code == 0
    assert summary(output) | {"twilio_requests": 0} == {
        "read": 4, "stored": 1, "already_there": 2, "stale": 1, "rejected": 0, "failed": 0,
        "retried_429": 0, "twilio_requests": 0,
    }  # fmt: skip
    after = table(stack)
    assert {k: after[k] for k in before} == before
    assert stored_event(after[(f"CONF#CF{3:032x}", "SUMMARY")]).data["processing_state"] == "in_progress"


def test_429_is_retried_with_retry_after(stack: LocalStack, stub: TwilioStub, tmp_path: Any) -> None:
    publish(stub, conference(1), [participant(1, 0)])
    stub.throttle(2, retry_after="0")
    code, output = run(stack, stub, "backfill", "--since", SINCE, "--json", "--checkpoint", str(tmp_path / "c"))
    assert code == 0 and stub.state.throttled == 2
    assert summary(output)["retried_429"] == 2 and summary(output)["stored"] == 2


def test_backoff_honours_retry_after_and_otherwise_grows() -> None:
    assert backfill.backoff_seconds(0, {"Retry-After": "7"}) == 7
    assert backfill.backoff_seconds(9, {"Retry-After": "100000"}) == backfill.BACKOFF_CAP_S
    assert all(0 <= backfill.backoff_seconds(3, {}) <= 8 for _ in range(20))


def test_the_endpoint_override_sends_no_secret_over_plain_http_beyond_this_machine() -> None:
    with pytest.raises(backfill.ConnectError):
        backfill.check_base_url("http://example.com")
    assert backfill.check_base_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"


def test_an_interrupted_backfill_resumes_from_its_checkpoint(
    stack: LocalStack, stub: TwilioStub, tmp_path: Any
) -> None:
    for n in range(4):
        publish(stub, conference(n), [])
    checkpoint = tmp_path / "cp.json"
    window = ["--since", SINCE, "--until", "2026-11-22T00:00:00Z", "--page-size", "2", "--checkpoint", str(checkpoint)]
    # As a run killed after its first page leaves it (that page's two conferences stored).
    stream(stack, [conference(3), conference(2)])  # the newest first, as Twilio lists them
    checkpoint.write_text(json.dumps({
        "window": {"since": SINCE, "until": "2026-11-22T00:00:00Z", "account": None},
        "next_page_url": stub_page_url(stub, 1), "done": False, "pages": 1,
        "counts": {"read": 2, "stored": 2, "already_there": 0, "stale": 0, "rejected": 0, "failed": 0},
    }))  # fmt: skip
    code, output = run(stack, stub, "backfill", *window, "--resume", "--json")
    assert code == 0
    assert stub.count("/v1/Conferences?") == 1  # page two only
    assert summary(output)["read"] == 4 and summary(output)["stored"] == 4
    assert len(table(stack)) == 4
    code, output = run(stack, stub, "backfill", *window, "--resume")
    assert "done already" in output
    with pytest.raises(SystemExit):  # another window's checkpoint is refused, not mixed up
        backfill.main(["backfill", "--since", "2020-01-01T00:00:00Z", "--resume", "--checkpoint", "x", "--bad"])


def stub_page_url(stub: TwilioStub, page: int) -> str:
    return (
        "https://insights.twilio.com/v1/Conferences?CreatedAfter=2026-11-01T00%3A00%3A00Z&"
        f"CreatedBefore=2026-11-22T00%3A00%3A00Z&PageSize=2&Page={page}&PageToken=PA{2 * page}"
    )


def test_reconcile_lists_what_the_table_lacks_or_holds_older_and_fills_it(stack: LocalStack, stub: TwilioStub) -> None:
    stream(stack, [conference(1), participant(1, 0), conference(2, "in_progress")])
    publish(stub, conference(1), [participant(1, 0), participant(1, 1)])  # one participant missing
    publish(stub, conference(2), [])  # complete at Twilio, partial in the table
    publish(stub, conference(3), [])  # missing
    code, output = run(stack, stub, "reconcile", "--since", SINCE)
    assert code == 0
    listed = [line for line in output.splitlines() if "CONF#" in line]
    assert len(listed) == 3
    assert output.splitlines()[-2] == "differing: 3 (missing 2, older 1)"  # counts, not Counter({...})
    code, output = run(stack, stub, "reconcile", "--since", SINCE, "--json")
    answer = json.loads(output)  # one JSON document, the differences in it
    assert (answer["differing"], answer["by_reason"]) == (3, {"missing": 2, "older": 1})
    assert sorted(d["key"] for d in answer["differences"]) == sorted(line.split()[-1] for line in listed)
    assert any(line.startswith("older: table in_progress, Twilio complete") for line in listed)
    assert len(table(stack)) == 3  # nothing written without --fill
    code, output = run(stack, stub, "reconcile", "--since", SINCE, "--fill", "--json")
    assert code == 0 and summary(output)["stored"] == 3
    code, output = run(stack, stub, "reconcile", "--since", SINCE)
    assert "differing: 0" in output


def test_alerts_for_backfilled_history_only_when_asked(
    stack: LocalStack, handlers: dict[str, Handler], stub: TwilioStub, tmp_path: Any
) -> None:
    driver = InProcessPipeline(stack, handlers)
    queue = stack.subscribe_queue("backfill-alerts")
    publish(stub, conference(1, bad=True), [])
    run(stack, stub, "backfill", "--since", SINCE, "--checkpoint", str(tmp_path / "a"))
    driver.alert()
    assert stack.drain(queue) == []
    publish(stub, conference(2, bad=True), [])
    run(stack, stub, "backfill", "--since", SINCE, "--alerts", "--checkpoint", str(tmp_path / "b"))
    driver.alert()
    assert len(stack.drain(queue)) == 1  # conference 2 only: conference 1 is already there


# The property ----------------------------------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    """Per conference: Twilio's final state (REST), and the stream events delivered (maybe with holes)."""
    found = []
    for n in range(draw(st.integers(1, 3))):
        final = draw(st.sampled_from(["complete", "in_progress"]))
        parts = [participant(n, p) for p in range(draw(st.integers(0, 2)))]
        events = [conference(n, "in_progress")] + ([conference(n)] if final == "complete" else []) + parts
        delivered = [e for e in events if draw(st.booleans())]
        found.append((final, conference(n, final), parts, delivered))
    return found


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories(), order=st.sampled_from(["stream-then-backfill", "backfill-then-stream"]))
def test_stream_and_backfill_in_any_order_end_as_either_alone(
    moto: MotoServer, stack: LocalStack, stub: TwilioStub, tmp_path_factory: Any, history: Any, order: str
) -> None:
    stub.state.conferences.clear()
    for _, conf, parts, _ in history:
        publish(stub, conf, parts)
    delivered = [copy.deepcopy(e) for _, _, _, events in history for e in events]
    checkpoint = str(tmp_path_factory.mktemp("cp") / "c.json")

    def alone(what: str) -> dict[tuple[str, str], dict[str, Any]]:
        stack, _ = fresh_stack(moto)  # the `stack` fixture set the environment (region, credentials)
        if what in ("stream", "stream-then-backfill"):
            stream(stack, delivered)
        if what != "stream":
            assert run(stack, stub, "backfill", "--since", SINCE, "--checkpoint", checkpoint)[0] == 0
        if what == "backfill-then-stream":
            assert Outcome.FAILED not in stream(stack, delivered)
        return {k: comparable(i) for k, i in table(stack).items()}

    streamed, backfilled, both = alone("stream"), alone("backfill"), alone(order)
    assert set(both) == set(backfilled)  # every item Twilio has
    assert {k: state(i) for k, i in both.items()} == {k: state(i) for k, i in backfilled.items()}
    for key, item in streamed.items():  # what the stream delivered in its final state is kept exactly
        final = state(backfilled[key]) == state(item)
        if final:
            assert both[key] == item, key


def test_a_backfill_leaves_no_metrics_behind_for_the_next_lambda_flush(
    stack: LocalStack, stub: TwilioStub, tmp_path: Any
) -> None:
    """The pipeline counts in Powertools' process-wide metrics, which only a Lambda handler flushes: a command run
    must drop them, or the next flush in the same process (a test's handler) publishes the backfill's counts."""
    from contextlib import redirect_stdout

    from voice_insights.runtime.observability import metrics

    publish(stub, conference(1), [participant(1, 1)])
    assert run(stack, stub, "backfill", "--since", SINCE, "--checkpoint", str(tmp_path / "cp.json"))[0] == 0
    out = io.StringIO()
    with redirect_stdout(out), pytest.warns(UserWarning, match="No application metrics to publish"):
        metrics.flush_metrics()
    assert '"EventsStored"' not in out.getvalue()


def test_without_an_aws_region_it_says_what_to_set_instead_of_a_traceback(
    stub: TwilioStub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    code = backfill.main(
        ["backfill", "--since", SINCE, "--table", "t", "--bucket", "b", "--twilio-base-url", stub.base_url,
         "--checkpoint", str(tmp_path / "cp.json"), "--no-progress"],
        environ=ENV,
        out=io.StringIO(),
    )  # fmt: skip
    assert code == 2
    assert "AWS_DEFAULT_REGION" in capsys.readouterr().err


def test_the_local_example_runs_without_aws_configuration(
    stack: LocalStack, stub: TwilioStub, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # Given no AWS configuration at all, as docs/backfill.md's local example is typed in a fresh shell
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    publish(stub, conference(31), [participant(31, 0)])
    # When it is pointed at the local runner's endpoint, then it runs (region and credentials: the local stack's)
    code, output = run(stack, stub, "backfill", "--since", SINCE, "--json", "--checkpoint", str(tmp_path / "c"))
    assert code == 0 and summary(output)["stored"] == 2


@pytest.mark.parametrize("down", ["aws", "twilio"])
def test_an_endpoint_that_is_down_is_one_line_and_exit_2(
    stack: LocalStack, stub: TwilioStub, down: str, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from devtools.loopback import free_port

    nobody = f"http://127.0.0.1:{free_port()}"
    publish(stub, conference(1), [participant(1, 0)])
    code = backfill.main(
        ["backfill", "--since", SINCE, "--no-progress", "--checkpoint", str(tmp_path / "c"),
         "--twilio-base-url", nobody if down == "twilio" else stub.base_url,
         "--endpoint-url", nobody if down == "aws" else stack.endpoint_url,
         *(["--table", stack.table_name, "--bucket", stack.bucket] if down == "twilio" else [])],
        environ=ENV,
        out=io.StringIO(),
    )  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and error.startswith("error: "), error
    assert ("is the endpoint up?" in error) if down == "aws" else ("no answer from Twilio" in error)
