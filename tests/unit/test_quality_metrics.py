"""Given stored participant summaries, when a batch settles, then the quality-rate metrics count each stored one
once by bounded dimensions: duplicates and stale versions add nothing, values outside the lists are `other`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import variant, with_stream
from tests.quality_emf import (
    MemoryStore,
    configured,
    participant,
    quality_documents,
    run_batch,
    sample_quality_series,
    series_values,
)
from voice_insights.domain.models import ParticipantSummary
from voice_insights.domain.quality import DEFAULT_THRESHOLDS
from voice_insights.domain.quality_counts import MetricBounds, count_participants, parse_list, share_percent

SERVICE = ("service", "voice-insights-events")


def value(found: dict[Any, float], metric: str, **dimensions: str) -> float | None:
    return found.get((metric, tuple(sorted([*dimensions.items(), SERVICE]))))


def test_a_batch_counts_participants_with_issues_by_region_call_type_direction_and_issue() -> None:
    events = [participant(1, bad=True), participant(2, bad=True), participant(3), participant(4, "de1", "sip")]
    found = series_values(quality_documents(run_batch(events)))
    assert value(found, "Participants", region="us1") == 3
    assert value(found, "ParticipantsWithIssues", region="us1") == 2
    assert value(found, "Participants", region="de1") == 1
    assert value(found, "ParticipantsWithIssues", region="de1") == 0  # written as 0: a share of 0, not missing
    assert value(found, "Participants", call_type="carrier") == 3
    assert value(found, "Participants", direction="inbound") == 4
    assert value(found, "ParticipantIssues", issue="low_mos", region="us1") == 2
    assert value(found, "ParticipantIssues", issue="low_mos", call_type="carrier") == 2
    assert value(found, "ParticipantIssues", issue="low_mos", region="de1") is None
    assert not any(dims for _, dims in found if ("country", "US") in dims)  # no country list: no country metric


def test_values_outside_the_configured_lists_count_as_other() -> None:
    odd = with_stream(participant(1, "zz9", "webrtc"), "inbound", tags=["brand_new_tag"])
    with configured(QUALITY_METRIC_REGIONS="us1", QUALITY_METRIC_COUNTRIES="gb"):
        found = series_values(quality_documents(run_batch([odd, participant(2, "de1")])))
    assert value(found, "Participants", region="other") == 2  # zz9 and de1: only us1 is configured
    assert value(found, "Participants", call_type="other") == 1
    assert value(found, "Participants", country="other") == 2  # both are US; GB is the list
    assert value(found, "ParticipantIssues", issue="other", region="other") == 1


def test_only_stored_versions_count_a_duplicate_or_stale_one_adds_nothing() -> None:
    store = MemoryStore()
    first = participant(1, bad=True)
    assert value(series_values(run_batch([first, first], store)), "Participants", region="us1") == 1
    assert quality_documents(run_batch([first], store)) == []  # the same event again: a duplicate
    older = variant(first, id="EVolder", time="2020-01-01T00:00:00Z")
    assert quality_documents(run_batch([older], store)) == []  # an older version: stale


def test_a_conference_summary_is_not_a_participant() -> None:
    from tests.conftest import healthy_conference

    assert quality_documents(run_batch([healthy_conference()])) == []


def test_a_failure_to_count_never_fails_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    from voice_insights.runtime import quality_metrics

    def broken(*_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(quality_metrics, "count_participants", broken)
    store = MemoryStore()
    assert quality_documents(run_batch([participant(1)], store)) == []
    assert len(store.versions) == 1  # stored all the same, and settled (run_batch would raise otherwise)


def test_every_document_stays_inside_emfs_limits() -> None:
    # At most 100 metrics and 30 dimensions per document
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
    events = [participant(n, region, kind, bad=n % 2 == 0) for n, (region, kind) in enumerate(
        (r, c) for r in ("us1", "de1", "jp1", "x") for c in ("carrier", "sip", "client", "pstn"))]  # fmt: skip
    documents = quality_documents(run_batch(events))
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            assert len(directive["Metrics"]) <= 100
            assert all(len(dims) <= 30 for dims in directive["Dimensions"])
    assert len(documents) <= (10 + 5 + 3) + 2 * (10 + 5) * 1  # one issue kind here: bounded, not per participant


def test_parse_list_and_the_share_the_alarms_compute() -> None:
    assert parse_list(" us1, US2,,us1") == ("us1", "us2")
    assert parse_list("gb, us", upper=True) == ("GB", "US")
    assert share_percent(3, 3, min_participants=20) == 0  # three calls at night page nobody
    assert share_percent(5, 20, min_participants=20) == 25


def test_the_counting_is_pure_and_takes_the_issue_kinds_of_the_quality_rules() -> None:
    lossy = with_stream(participant(1), "outbound", packet_loss_percentage=9.0)
    summary = ParticipantSummary.model_validate(lossy["data"])
    counts = count_participants([summary], DEFAULT_THRESHOLDS, MetricBounds())
    assert counts.issues == {("high_packet_loss", "region", "us1"): 1, ("high_packet_loss", "call_type", "carrier"): 1}


def test_the_sample_the_template_tests_read_has_every_dimension_set() -> None:
    found = sample_quality_series()
    assert {tuple(name for name, _ in dims) for _, dims in found} == {
        ("region", "service"), ("call_type", "service"), ("direction", "service"), ("country", "service"),
        ("issue", "region", "service"), ("call_type", "issue", "service"),
    }  # fmt: skip
