"""Given DynamoDB failing some writes, when a batch of items is written, then a failed item is tried again in
the same invocation (up to WRITE_ROUNDS) and only what still fails is reported failed; the answers of
DynamoDB (stored, refused by the condition as duplicate or stale, refused as invalid) are never retried."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from voice_insights.aws import summaries
from voice_insights.aws.summaries import SummaryStore, WriteStatus
from voice_insights.domain.items import StoredItem


def item(key: str, version: str = "2#t#EZ1") -> StoredItem:
    attributes = {"pk": {"S": key}, "sk": {"S": "SUMMARY"}, "version": {"S": version}}
    return StoredItem(
        pk=key, sk="SUMMARY", version=version, event_id="EZ1", event_type="t", attributes=attributes, size=60
    )


class FlakyDynamoDB:
    """Answers each key's writes from a script: "ok", "fail" (a 500 left after botocore's retries),
    "duplicate", "stale", "invalid"; the last answer repeats."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script
        self.calls: dict[str, int] = {}

    def put_item(self, Item: dict[str, Any], **_: Any) -> None:
        key = Item["pk"]["S"]
        answers = self.script[key]
        answer = answers[min(self.calls.get(key, 0), len(answers) - 1)]
        self.calls[key] = self.calls.get(key, 0) + 1
        if answer == "ok":
            return
        codes = {"fail": "InternalServerError", "invalid": "ValidationException"}
        stored = {"duplicate": "2#t#EZ1", "stale": "2#z#EZ9"}
        code = codes.get(answer, "ConditionalCheckFailedException")
        response: dict[str, Any] = {"Error": {"Code": code, "Message": answer}}
        if answer in stored:
            response["Item"] = {"version": {"S": stored[answer]}}
        raise ClientError(response, "PutItem")  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summaries, "ROUND_BACKOFF_S", 0.0)


def test_a_failed_write_is_tried_again_in_the_same_invocation() -> None:
    client = FlakyDynamoDB({"A": ["fail", "ok"], "B": ["ok"], "C": ["fail", "fail", "ok"]})
    results = SummaryStore("t", client=client).write([item("A"), item("B"), item("C")])
    assert [r.status for r in results] == [WriteStatus.STORED] * 3
    assert client.calls == {"A": 2, "B": 1, "C": 3}


def test_what_still_fails_after_the_last_round_is_reported_failed() -> None:
    client = FlakyDynamoDB({"A": ["fail"], "B": ["ok"]})
    results = SummaryStore("t", client=client).write([item("A"), item("B")])
    assert [r.status for r in results] == [WriteStatus.FAILED, WriteStatus.STORED]
    assert client.calls["A"] == summaries.WRITE_ROUNDS


def test_dynamodbs_answers_are_final() -> None:
    client = FlakyDynamoDB({"A": ["duplicate"], "B": ["stale"], "C": ["invalid"]})
    results = SummaryStore("t", client=client).write([item("A"), item("B"), item("C")])
    assert [r.status for r in results] == [WriteStatus.DUPLICATE, WriteStatus.STALE, WriteStatus.REFUSED]
    assert client.calls == {"A": 1, "B": 1, "C": 1}
