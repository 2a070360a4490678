"""The benchmark's events: realistic Voice Insights traffic built from Twilio's documented samples.

100 conferences, each a partial then a complete summary and 6 participants (20 % of them, and 20 %
of the conferences, with quality issues); then 100 older partial summaries arriving late (stale) and
100 redeliveries (duplicates): 1,000 events, shuffled with a fixed seed. As Twilio's Kinesis sink
writes them: ``data`` is a JSON-encoded string.
"""

from __future__ import annotations

import base64
import copy
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.traffic import HEALTHY_METRICS
from devtools.traffic import seed as load_seed

ROOT = Path(__file__).resolve().parents[1]
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/bench"


@dataclass(frozen=True)
class Workload:
    events: list[dict[str, Any]]
    conferences: int
    participants: int
    duplicates: int
    stale: int

    @property
    def unique_items(self) -> int:
        return self.conferences + self.participants


def build(conferences: int = 100, participants_each: int = 6, seed: int = 7) -> Workload:
    rng = random.Random(seed)  # noqa: S311 (a reproducible workload, not cryptography)
    partial_seed = load_seed("conference-summary-partial")
    complete_seed = load_seed("conference-summary-complete")
    participant_seed = load_seed("conference-participant-summary-complete")
    unique: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    for c in range(conferences):
        conference_sid = f"CF{c:032x}"
        bad_conference = c % 5 == 0
        for kind, template, minute in (("p", partial_seed, 5), ("c", complete_seed, 50)):
            event = copy.deepcopy(template)
            event["id"] = f"EZ{kind}{c:030x}"
            event["time"] = f"2026-11-21T10:{minute:02d}:00Z"
            data = event["data"]
            data.update(conference_sid=conference_sid, friendly_name=f"Support bridge {c}")
            if not bad_conference:
                data.update(tags=[], tag_info=None, detected_issues={"call_quality": 0})
            unique.append(event)
        late = copy.deepcopy(unique[-2])
        late["id"], late["time"] = f"EZs{c:030x}", "2026-11-21T10:01:00Z"
        stale.append(late)
        for p in range(participants_each):
            event = copy.deepcopy(participant_seed)
            number = c * participants_each + p
            event["id"] = f"EZa{number:030x}"
            data = event["data"]
            data.update(
                participant_sid=f"CP{number:032x}",
                call_sid=f"CA{number:032x}",
                conference_sid=conference_sid,
                label=f"agent-{number}",
            )
            if number % 5 != 0:  # 80 % healthy
                data["quality_issues"] = 0
                healthy = copy.deepcopy(HEALTHY_METRICS)
                data["metrics"] = {"inbound": healthy, "outbound": copy.deepcopy(healthy)}
            unique.append(event)
    duplicates = [copy.deepcopy(rng.choice(unique)) for _ in range(conferences)]
    events = unique + stale + duplicates
    rng.shuffle(events)
    return Workload(events, conferences, conferences * participants_each, len(duplicates), len(stale))


def participants_only(count: int = 1000) -> list[dict[str, Any]]:
    """``count`` distinct participant summaries: the largest items, for the memory and CPU worst case."""
    template = load_seed("conference-participant-summary-complete")
    events = []
    for number in range(count):
        event = copy.deepcopy(template)
        event["id"] = f"EZq{number:030x}"
        event["data"].update(participant_sid=f"CP{number:032x}", call_sid=f"CA{number:032x}")
        events.append(event)
    return events


def kinesis_records(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lambda's Kinesis event records for ``events``, data string-encoded as Twilio's Kinesis sink sends it."""
    records = []
    for position, event in enumerate(events):
        payload = json.dumps({**event, "data": json.dumps(event["data"])}).encode()
        sequence = f"4959{position:052d}"
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": event["id"],
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(payload).decode(),
                    "approximateArrivalTimestamp": 1795255200.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
                "awsRegion": "us-east-1",
                "eventSourceARN": STREAM_ARN,
            }
        )
    return records
