"""Given changes on the summaries table's stream, when the alert pipeline settles them, then each new problem
is alerted exactly once, whatever repeats, retries or failures happen around it.

AWS is replaced here by small in-memory fakes; tests/integration/test_alerts.py runs the same path on moto.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import healthy_conference, healthy_participant, load_seed, variant, with_stream
from tests.unit.test_alert_message import events_quoting, everything_published
from tests.unit.test_redaction import CALLER_NUMBERS, shows_whole
from voice_insights.alerts.alert_message import SnsMessage
from voice_insights.alerts.alerting import AlertOutcome, AlertPipeline, ItemChange, new_issues
from voice_insights.aws.alert_store import AlertPublisher
from voice_insights.domain.items import entity_of, stored_event, to_item
from voice_insights.domain.models import (
    ConferenceSummaryCompleteEvent,
    ConferenceSummaryPartialEvent,
    ParticipantSummaryCompleteEvent,
)
from voice_insights.domain.quality import Severity, Thresholds
from voice_insights.runtime.observability import logger

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
MODELS = {
    "com.twilio.voice.insights.conference-summary.complete": ConferenceSummaryCompleteEvent,
    "com.twilio.voice.insights.conference-summary.partial": ConferenceSummaryPartialEvent,
    "com.twilio.voice.insights.conference-participant-summary.complete": ParticipantSummaryCompleteEvent,
}


def image(event: dict[str, Any] | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return to_item(MODELS[event["type"]].model_validate(event), NOW).attributes


def change(new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> ItemChange:
    some = image(new) or image(old)
    assert some is not None
    keys = {"pk": some["pk"], "sk": some["sk"]}
    body: dict[str, Any] = {"Keys": keys}
    if new is not None:
        body["NewImage"] = image(new)
    if old is not None:
        body["OldImage"] = image(old)
    return ItemChange.from_stream_record({"eventSource": "aws:dynamodb", "dynamodb": body})


class FakeLedger:
    def __init__(self, fail: bool = False) -> None:
        self.sent: dict[tuple[str, str], set[str]] = {}
        self.fail = fail

    def alerted(self, keys: Any) -> dict[tuple[str, str], set[str]]:
        if self.fail:
            raise ConnectionError("ledger unreachable")
        return {key: set(self.sent.get(key, set())) for key in keys}

    def remember(self, key: tuple[str, str], fingerprints: set[str], alerted_at: str, expires_at: int | None) -> None:
        self.sent.setdefault(key, set()).update(fingerprints)


class FakeNames:
    def __init__(self, names: dict[str, str] | None = None) -> None:
        self.names = names or {}

    def lookup(self, conference_sids: Any) -> dict[str, str]:
        return {sid: self.names[sid] for sid in conference_sids if sid in self.names}


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[SnsMessage] = []
        self.fail_subjects_containing: str | None = None

    def publish(self, messages: list[SnsMessage]) -> list[str | None]:
        outcomes: list[str | None] = []
        for message in messages:
            if self.fail_subjects_containing and self.fail_subjects_containing in message.message:
                outcomes.append("Throttled: rate exceeded")
            else:
                self.published.append(message)
                outcomes.append(None)
        return outcomes


class FakeRejected:
    def __init__(self, fail: bool = False) -> None:
        self.kept: list[dict[str, Any]] = []
        self.fail = fail

    def keep(self, record: dict[str, Any], received_at: datetime) -> str:
        if self.fail:
            raise ConnectionError("bucket unreachable")
        self.kept.append(record)
        return f"rejected/{len(self.kept)}"


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
def rejected() -> FakeRejected:
    return FakeRejected()


@pytest.fixture
def pipeline(ledger: FakeLedger, publisher: FakePublisher, rejected: FakeRejected) -> AlertPipeline:
    names = FakeNames({"CF0000000000000000000000000000001": "Support line"})
    return AlertPipeline(Thresholds(), ledger, names, publisher, rejected, clock=lambda: NOW)  # type: ignore[arg-type]


def bad_participant(participant_sid: str = "CP1", **metrics: Any) -> dict[str, Any]:
    event = healthy_participant(id=f"EV-{participant_sid}", data__participant_sid=participant_sid)
    return with_stream(event, "inbound", **(metrics or {"mos": 2.0}))


def issue_codes(message: SnsMessage) -> list[str]:
    return [issue.code for issue in message.payload.issues]


def test_a_new_participant_with_issues_is_alerted_once(pipeline: AlertPipeline, publisher: FakePublisher) -> None:
    report = pipeline.process([change(bad_participant(mos=2.0, packet_loss_percentage=8.0))])
    assert report.outcomes == [AlertOutcome.PUBLISHED]
    (message,) = publisher.published
    assert issue_codes(message) == ["inbound.mos", "inbound.packet_loss"]
    assert message.payload.conference_name == "Support line"  # looked up for participant alerts


def test_healthy_items_and_removals_raise_nothing(pipeline: AlertPipeline, publisher: FakePublisher) -> None:
    removal = change(None, old=bad_participant())
    report = pipeline.process([change(healthy_participant()), change(healthy_conference()), removal])
    assert report.outcomes == [AlertOutcome.NOTHING_NEW] * 3
    assert publisher.published == []


def test_complete_summary_repeating_its_partials_issues_raises_nothing(
    pipeline: AlertPipeline, publisher: FakePublisher
) -> None:
    partial = healthy_conference("partial", id="EV-p", data__tags=["high_jitter"])
    complete = healthy_conference("complete", id="EV-c", data__tags=["high_jitter"])
    assert pipeline.process([change(partial)]).outcomes == [AlertOutcome.PUBLISHED]
    assert pipeline.process([change(complete, old=partial)]).outcomes == [AlertOutcome.NOTHING_NEW]
    assert len(publisher.published) == 1


def test_complete_summary_alerts_only_what_is_new(pipeline: AlertPipeline, publisher: FakePublisher) -> None:
    partial = healthy_conference("partial", id="EV-p", data__tags=["high_jitter"])
    complete = healthy_conference("complete", id="EV-c", data__tags=["high_jitter", "start_failure"])
    report = pipeline.process([change(partial), change(complete, old=partial)])  # both in one batch
    assert report.outcomes == [AlertOutcome.PUBLISHED, AlertOutcome.PUBLISHED]
    assert [issue_codes(m) for m in publisher.published] == [["tag.high_jitter"], ["tag.start_failure"]]


def test_a_rising_severity_is_a_new_problem(pipeline: AlertPipeline, publisher: FakePublisher) -> None:
    medium = bad_participant(tags_info={"jitter": {"severity": "medium"}})
    high = variant(bad_participant(tags_info={"jitter": {"severity": "high"}}), id="EV-2")
    assert pipeline.process([change(medium)]).outcomes == [AlertOutcome.PUBLISHED]
    assert pipeline.process([change(high, old=medium)]).outcomes == [AlertOutcome.PUBLISHED]
    assert [m.payload.issues[0].severity for m in publisher.published] == ["medium", "high"]
    assert issue_codes(publisher.published[1]) == ["inbound.twilio.jitter"]  # MOS was already alerted


def test_an_issue_that_comes_back_is_not_alerted_again(pipeline: AlertPipeline, publisher: FakePublisher) -> None:
    first = healthy_conference("partial", id="EV-1", time="2026-01-01T10:00:00Z", data__tags=["high_jitter"])
    second = healthy_conference("partial", id="EV-2", time="2026-01-01T10:05:00Z")
    complete = healthy_conference("complete", id="EV-3", data__tags=["high_jitter"])
    report = pipeline.process([change(first), change(second, old=first), change(complete, old=second)])
    assert report.outcomes == [AlertOutcome.PUBLISHED, AlertOutcome.NOTHING_NEW, AlertOutcome.ALREADY_ALERTED]
    assert len(publisher.published) == 1


def test_a_retried_batch_sends_each_alert_once(
    pipeline: AlertPipeline, publisher: FakePublisher, ledger: FakeLedger
) -> None:
    batch = [change(bad_participant(sid)) for sid in ("CP1", "CP2", "CP3")]
    publisher.fail_subjects_containing = "CP2"
    assert pipeline.process(batch).outcomes == [AlertOutcome.PUBLISHED, AlertOutcome.FAILED, AlertOutcome.PUBLISHED]

    # Lambda retries from the lowest failed record: CP2 and CP3 come again.
    publisher.fail_subjects_containing = None
    assert pipeline.process(batch[1:]).outcomes == [AlertOutcome.PUBLISHED, AlertOutcome.ALREADY_ALERTED]
    sent = sorted(message.payload.participant.participant_sid for message in publisher.published)  # type: ignore[union-attr]
    assert sent == ["CP1", "CP2", "CP3"]
    assert len(ledger.sent) == 3


def test_the_minimum_severity_silences_lesser_issues(
    ledger: FakeLedger, publisher: FakePublisher, rejected: FakeRejected
) -> None:
    high_only = Thresholds(min_severity=Severity.HIGH)
    pipeline = AlertPipeline(high_only, ledger, FakeNames(), publisher, rejected, clock=lambda: NOW)  # type: ignore[arg-type]
    report = pipeline.process([change(bad_participant(mos=1.0)), change(load_seed("participant_summary_complete"))])
    assert report.outcomes == [AlertOutcome.NOTHING_NEW, AlertOutcome.PUBLISHED]
    assert {issue.severity for issue in publisher.published[0].payload.issues} == {"high"}


def test_an_unreadable_item_is_kept_with_its_reason(
    pipeline: AlertPipeline, publisher: FakePublisher, rejected: FakeRejected
) -> None:
    broken = change(bad_participant())
    assert broken.new_image is not None
    broken.new_image["payload"] = {"B": b"\x01not deflate"}
    foreign = ItemChange.from_stream_record({"dynamodb": {"Keys": {}, "NewImage": {"x": {"S": "y"}}}})
    report = pipeline.process([broken, foreign, change(bad_participant("CP2"))])
    assert report.outcomes == [AlertOutcome.UNREADABLE, AlertOutcome.UNREADABLE, AlertOutcome.PUBLISHED]
    assert [record["reason"].split(":")[0] for record in rejected.kept] == [
        "the stream record's item cannot be read"
    ] * 2
    assert "not a summary item" in rejected.kept[1]["reason"]
    assert rejected.kept[0]["stream_record"]["dynamodb"]["NewImage"]["payload"] == {"B": b"\x01not deflate"}


def test_an_unreadable_item_that_cannot_be_kept_is_retried(ledger: FakeLedger, publisher: FakePublisher) -> None:
    pipeline = AlertPipeline(Thresholds(), ledger, FakeNames(), publisher, FakeRejected(fail=True))  # type: ignore[arg-type]
    broken = change(bad_participant())
    assert broken.new_image is not None
    broken.new_image["payload"] = {"B": b"\x01not deflate"}
    assert pipeline.process([broken]).outcomes == [AlertOutcome.FAILED]


def test_an_unreachable_ledger_fails_the_alerting_records_only(publisher: FakePublisher) -> None:
    pipeline = AlertPipeline(Thresholds(), FakeLedger(fail=True), FakeNames(), publisher, FakeRejected())  # type: ignore[arg-type]
    report = pipeline.process([change(healthy_participant()), change(bad_participant())])
    assert report.outcomes == [AlertOutcome.NOTHING_NEW, AlertOutcome.FAILED]
    assert publisher.published == []


def test_new_issues_compares_old_and_new_images() -> None:
    old = bad_participant(mos=2.0)
    new = with_stream(variant(old, id="EV-2"), "inbound", mos=2.5, packet_loss_percentage=9.0)
    found = new_issues(change(new, old=old), Thresholds())
    assert found is not None
    assert [issue.code for issue in found.issues] == ["inbound.packet_loss"]  # MOS moved, still the same problem


# --- the publisher's batching (a fake SNS client records the calls) ----------------------------------


class RecordingSns:
    def __init__(self, failed_ids: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.calls: list[tuple[str, Any]] = []
        self.failed_ids = failed_ids

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("publish", kwargs))
        return {"MessageId": "m"}

    def publish_batch(self, **kwargs: Any) -> dict[str, Any]:
        entries = kwargs["PublishBatchRequestEntries"]
        self.calls.append(("publish_batch", entries))
        ok = [{"Id": e["Id"], "MessageId": "m"} for e in entries if e["Id"] not in self.failed_ids]
        failed = [{"Id": e["Id"], "Code": "Throttled", "Message": "slow down", "SenderFault": False}
                  for e in entries if e["Id"] in self.failed_ids]  # fmt: skip
        return {"Successful": ok, "Failed": failed}


def sns_message(size: int = 100) -> SnsMessage:
    return SnsMessage(subject="s", message=json.dumps({"default": "x" * size}), attributes={}, payload=None)  # type: ignore[arg-type]


def test_one_message_is_published_alone() -> None:
    client = RecordingSns()
    assert AlertPublisher("arn:topic", client).publish([sns_message()]) == [None]
    assert [(name, call["MessageStructure"]) for name, call in client.calls] == [("publish", "json")]


def test_several_messages_go_in_batches_of_ten() -> None:
    client = RecordingSns(failed_ids={"3"})
    outcomes = AlertPublisher("arn:topic", client).publish([sns_message() for _ in range(25)])
    assert [len(entries) for _, entries in client.calls] == [10, 10, 5]
    assert [i for i, outcome in enumerate(outcomes) if outcome] == [3, 13, 23]  # Id "3" of each batch failed
    assert outcomes[3] == "Throttled: slow down"


def test_a_batch_stays_under_256_kib() -> None:
    client = RecordingSns()
    AlertPublisher("arn:topic", client).publish([sns_message(100_000) for _ in range(5)])
    assert [len(entries) for _, entries in client.calls] == [2, 2, 1]


class ProcessKilled(BaseException):
    """Lambda ending the process at its timeout: nothing in the function sees it coming."""


class PublisherKilledOnItsSecondRequest(FakePublisher):
    """Publishes in SNS-sized batches of 10 and is killed right after its second PublishBatch."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def publish(self, messages: list[SnsMessage]) -> list[str | None]:
        outcomes: list[str | None] = []
        for start in range(0, len(messages), 10):
            outcomes += super().publish(messages[start : start + 10])
            self.requests += 1
            if self.requests == 2:
                raise ProcessKilled
        return outcomes


def sent_participants(publisher: FakePublisher) -> list[str]:
    return [m.payload.participant.participant_sid for m in publisher.published]  # type: ignore[union-attr]


def test_a_batch_stops_before_the_timeout_and_leaves_the_rest_to_the_retry(
    pipeline: AlertPipeline, publisher: FakePublisher, ledger: FakeLedger
) -> None:
    batch = [change(bad_participant(f"CP{n:02d}")) for n in range(25)]
    time_left = iter([60.0, 3.0])  # seconds: plenty before the first batch of 10, too little before the second

    outcomes = pipeline.process(batch, time_left=lambda: next(time_left)).outcomes

    assert outcomes == [AlertOutcome.PUBLISHED] * 10 + [AlertOutcome.FAILED] * 15
    assert len(ledger.sent) == 10
    # Lambda retries from the first failed record.
    assert pipeline.process(batch[10:]).outcomes == [AlertOutcome.PUBLISHED] * 15
    assert sorted(sent_participants(publisher)) == [f"CP{n:02d}" for n in range(25)]


def test_a_function_killed_mid_batch_sends_again_at_most_the_publish_batch_in_flight(ledger: FakeLedger) -> None:
    # Each SNS batch is remembered in the ledger before the next is published.
    batch = [change(bad_participant(f"CP{n:02d}")) for n in range(25)]
    killed = PublisherKilledOnItsSecondRequest()
    first = AlertPipeline(Thresholds(), ledger, FakeNames(), killed, FakeRejected(), clock=lambda: NOW)  # type: ignore[arg-type]
    with pytest.raises(ProcessKilled):
        first.process(batch)

    retry = FakePublisher()
    second = AlertPipeline(Thresholds(), ledger, FakeNames(), retry, FakeRejected(), clock=lambda: NOW)  # type: ignore[arg-type]
    second.process(batch)

    sent = sent_participants(killed) + sent_participants(retry)
    assert sorted(set(sent)) == [f"CP{n:02d}" for n in range(25)]  # none lost
    assert len(sent) - len(set(sent)) == 10  # the second PublishBatch, out before the kill, not yet remembered


# --- phone numbers in event text --------------------------------------------------------------


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the functions' logger writes (its JSON lines), while the test runs."""
    captured = io.StringIO()
    previous = logger.registered_handler.setStream(captured)
    yield captured
    logger.registered_handler.setStream(previous)


@pytest.mark.parametrize("number", CALLER_NUMBERS)
def test_a_phone_number_in_event_text_is_nowhere_whole_from_the_item_to_the_alert(
    number: str, log_output: io.StringIO
) -> None:
    """Given a caller's number in a conference's name, tags, duplicate identity, start failure reason and end
    reason, and in a participant's label, tag and Twilio's tag description, when the items are built and their
    changes alerted (the participant's conference name read from the stored conference item), then the number is
    nowhere whole: not in a flat attribute, a subject, a body, a message attribute or a log line."""
    conference, participant = events_quoting(number)
    items = [image(conference), image(participant)]
    assert items[0] is not None and items[1] is not None
    stored_names = FakeNames({items[0]["pk"]["S"].removeprefix("CONF#"): items[0]["friendly_name"]["S"]})
    publisher = FakePublisher()
    pipeline = AlertPipeline(Thresholds(), FakeLedger(), stored_names, publisher, FakeRejected(), clock=lambda: NOW)  # type: ignore[arg-type]

    report = pipeline.process([change(conference), change(participant)])

    assert report.outcomes == [AlertOutcome.PUBLISHED] * 2
    flat = [{name: value for name, value in item.items() if name != "payload"} for item in items]
    seen = {
        "flat attributes": json.dumps(flat, ensure_ascii=False),
        "log lines": log_output.getvalue(),
        **{f"alert {index}": everything_published(message) for index, message in enumerate(publisher.published)},
    }
    assert "Alert published" in seen["log lines"]
    assert [where for where, text in seen.items() if shows_whole(number, text)] == []


class EchoingPublisher(FakePublisher):
    """A topic that refuses every message, quoting what it was given (as an error text may)."""

    def publish(self, messages: list[SnsMessage]) -> list[str | None]:
        return [f"InvalidParameter: {json.loads(message.message)['sqs'][:400]} ({RAW_SID})" for message in messages]


RAW_SID = "CA+14155551234"


def test_a_phone_number_in_an_id_or_an_error_is_not_logged_whole(log_output: io.StringIO) -> None:
    """Given a forged event whose SIDs are phone numbers, and SNS errors that quote a number back, when its changes
    are alerted (or kept as unreadable), then no log line shows the number whole (the stored record keeps it)."""
    forged = bad_participant("+14155551234")
    forged["data"]["conference_sid"] = "(415) 555-1234"
    unreadable = change(forged)
    assert unreadable.new_image is not None
    unreadable.new_image["payload"] = {"B": b"\x01not deflate"}
    rejected = FakeRejected()
    pipeline = AlertPipeline(Thresholds(), FakeLedger(), FakeNames(), EchoingPublisher(), rejected, clock=lambda: NOW)  # type: ignore[arg-type]

    report = pipeline.process([change(forged), unreadable])

    assert report.outcomes == [AlertOutcome.FAILED, AlertOutcome.UNREADABLE]
    logged = log_output.getvalue()
    assert "Alert not published" in logged and "Stream record unreadable" in logged
    assert not shows_whole("+14155551234", logged) and not shows_whole("(415) 555-1234", logged), logged
    assert rejected.kept[0]["item"] == "CONF#(415) 555-1234|PART#+14155551234"  # the kept record is the record


def format_before(item: dict[str, Any], gzipped: bool = False) -> dict[str, Any]:
    """The item as the format before this one stored it: flat entity and event, the data as JSON text
    (or gzipped, base64 in a stream record as Lambda delivers binary values)."""
    event = stored_event(item)
    old = {name: value for name, value in item.items() if name != "payload"}
    old.update(entity={"S": entity_of(item)}, event_id={"S": event.event_id}, event_type={"S": event.event_type})
    if gzipped:
        old["data_gz"] = {"B": base64.b64encode(gzip.compress(json.dumps(event.data).encode())).decode()}
    else:
        old["data"] = {"S": json.dumps(event.data)}
    return old


@pytest.mark.parametrize("gzipped", [False, True])
def test_stream_images_of_items_stored_before_still_alert_and_compare(
    pipeline: AlertPipeline, publisher: FakePublisher, gzipped: bool
) -> None:
    """A table stored before this format: its items' new images still alert (the event named from the flat
    attributes), and an old image in that format still tells what is new when the item is written again."""
    bad = bad_participant()
    stored = image(bad)
    assert stored is not None
    keys = {"pk": stored["pk"], "sk": stored["sk"]}
    before = ItemChange.from_stream_record({"dynamodb": {"Keys": keys, "NewImage": format_before(stored, gzipped)}})
    again = change(bad)
    assert again.new_image is not None
    rewritten = ItemChange(again.key, again.new_image, format_before(again.new_image, gzipped), again.record)
    report = pipeline.process([before, rewritten])
    assert report.outcomes == [AlertOutcome.PUBLISHED, AlertOutcome.NOTHING_NEW]
    assert publisher.published[0].payload.event_id == "EV-CP1"
