"""Given a stream batch, when its records are settled together, then Lambda's partial-batch response names
exactly the records to deliver again, in order, and a record that cannot be read is one of them."""

from __future__ import annotations

from collections.abc import Sequence

from voice_insights.runtime.stream_batch import StreamBatch

RECORDS = [{"seq": str(n), "value": n} for n in range(1, 6)]


def run(records: list[dict[str, object]], settled: Sequence[bool]) -> dict[str, object]:
    def convert(record: dict[str, object]) -> object:
        if record["value"] == "unreadable":
            raise ValueError("cannot read it")
        return record["value"]

    batch: StreamBatch[dict[str, object], object] = StreamBatch(records, sequence_number=lambda r: str(r["seq"]))
    inputs = batch.prepare(convert)
    assert inputs == [r["value"] for r in records if r["value"] != "unreadable"]  # the readable ones, in order
    return batch.answer(settled)


def test_every_settled_record_is_acknowledged() -> None:
    assert run(RECORDS, [True] * 5) == {"batchItemFailures": []}


def test_unsettled_records_are_delivered_again() -> None:
    response = run(RECORDS, [True, False, True, False, True])
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "4"}]}


def test_a_record_that_cannot_be_read_is_delivered_again_and_the_others_are_settled() -> None:
    records = [*RECORDS[:2], {"seq": "x", "value": "unreadable"}, *RECORDS[2:]]
    response = run(records, [True, True, True, False, True])  # settles the 5 readable ones: seq 4 is not settled
    assert response == {"batchItemFailures": [{"itemIdentifier": "x"}, {"itemIdentifier": "4"}]}


def test_an_empty_batch_settles_nothing() -> None:
    assert run([], []) == {"batchItemFailures": []}


def test_a_batch_of_unreadable_records_is_delivered_again_whole() -> None:
    records = [{"seq": "a", "value": "unreadable"}, {"seq": "b", "value": "unreadable"}]
    assert run(records, []) == {"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}
