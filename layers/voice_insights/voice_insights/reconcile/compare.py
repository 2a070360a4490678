"""What Twilio has for a conference that the summaries table lacks or holds in an older state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voice_insights.aws.summaries import SummaryStore
from voice_insights.domain.backfill import backfill_version, would_replace
from voice_insights.domain.items import stored_event
from voice_insights.reconcile.insights import InsightsReader, events_of


@dataclass(frozen=True)
class Difference:
    key: str
    reason: str  # "missing" or "older: …"
    event: dict[str, Any]


def differences(
    reader: InsightsReader, summaries: SummaryStore, conference: dict[str, Any], alerts: bool
) -> list[Difference]:
    """What Twilio has for this conference that the table lacks or holds in an older state."""
    events = events_of(reader, conference, alerts)
    sid = conference.get("conference_sid")
    stored = {item["sk"]["S"]: item for item in summaries.query_conference(str(sid))} if sid else {}
    found = []
    for event in events:
        data = event["data"]
        sk = "SUMMARY" if "participant_sid" not in data else f"PART#{data.get('participant_sid')}"
        item = stored.get(sk)
        version = backfill_version(event)
        stored_version = item["version"]["S"] if item else None
        if not would_replace(stored_version, version):
            continue
        if item is None:
            reason = "missing"
        else:
            reason = f"older: table {stored_state(item)}, Twilio {data.get('processing_state')}"
        found.append(Difference(f"CONF#{sid}|{sk}", reason, event))
    return found


def stored_state(item: dict[str, Any]) -> str:
    """The stored summary's processing state ("?" when the item cannot be read)."""
    try:
        return str(stored_event(item).data.get("processing_state") or "?")
    except ValueError:
        return "?"
