"""Given a summary event, when it becomes an item, then it carries the read API's index keys (docs/read.md):
ByIssueMonth only when the quality rules found issues; no item carries ByStartDay's keys any more (the quality
report reads the lake), and a participant keeps ByCallSid's gsi2pk whatever CallSidIndex says."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import load_seed
from tests.unit.test_items import accepted
from voice_insights.domain.items import to_item

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _item(seed: str, **data: object) -> dict[str, dict[str, str]]:
    raw = load_seed(seed)
    raw["data"].update(data)
    return to_item(accepted(raw), NOW).attributes


def test_a_conference_with_issues_is_in_its_issue_month_and_no_start_day_index() -> None:
    attrs = _item("conference_summary_complete", start_time="2026-11-21T23:59:58+02:00", tags=["start_failure"])
    sid = attrs["pk"]["S"].removeprefix("CONF#")
    assert "gsi4pk" not in attrs and "gsi4sk" not in attrs  # ByStartDay is gone: a key nobody reads costs nothing
    assert attrs["gsi3pk"] == {"S": "ISSUES#2026-11"}
    assert attrs["gsi3sk"] == {"S": f"2026-11-21T21:59:58.000000Z#{sid}#SUMMARY"}


def test_an_item_without_issues_is_not_in_the_issues_index() -> None:
    attrs = _item(
        "participant_summary_complete", quality_issues=0, metrics={}, tags=[], tags_info=None, detected_issues=None
    )
    assert "issue_severity" not in attrs
    assert "gsi3pk" not in attrs and "gsi3sk" not in attrs
    assert "gsi4pk" not in attrs
    # Written whatever CallSidIndex says: ByCallSid, created later, is backfilled from it (costs nothing without it).
    assert attrs["gsi2pk"]["S"].startswith("CALL#CA")


def test_a_participant_with_issues_is_in_the_month_of_its_join_time() -> None:
    attrs = _item("participant_summary_complete", join_time="2026-12-01T00:00:01Z", quality_issues=3)
    assert attrs["issue_severity"]
    assert attrs["gsi3pk"] == {"S": "ISSUES#2026-12"}
    assert attrs["gsi3sk"]["S"].startswith("2026-12-01T00:00:01.000000Z#CF")
    assert attrs["gsi3sk"]["S"].endswith("#" + attrs["sk"]["S"])


def test_an_unreadable_own_time_falls_back_to_the_event_time_and_no_start_day() -> None:
    attrs = _item("conference_summary_complete", start_time="not a time", tags=["start_failure"])
    assert "gsi4pk" not in attrs
    assert attrs["gsi3pk"]["S"] == "ISSUES#" + attrs["version"]["S"].split("#")[1][:7]  # rank#time#id
