"""Summaries spread over time for the read API and the quality report: conferences that start one per
``spacing`` from ``first_start`` (so a range can cross days and months), each with participants, a known
share of them with quality issues. Events as Twilio sends them (``traffic.seed`` templates)."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devtools.traffic import HEALTHY_METRICS, seed

ACCOUNT = "AC" + "1" * 32
OTHER_ACCOUNT = "AC" + "2" * 32


@dataclass
class ReadTraffic:
    events: list[dict[str, Any]] = field(default_factory=list)
    conferences: dict[str, dict[str, Any]] = field(default_factory=dict)  # sid -> data
    participants: dict[str, dict[str, Any]] = field(default_factory=dict)  # call sid -> data
    bad_participants: set[str] = field(default_factory=set)  # call sids
    bad_conferences: set[str] = field(default_factory=set)


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(
    conferences: int = 12,
    participants_each: int = 3,
    first_start: datetime = datetime(2026, 10, 30, 20, 0, tzinfo=UTC),
    spacing: timedelta = timedelta(hours=7),
    bad_share: float = 0.3,
    random_seed: int = 11,
) -> ReadTraffic:
    rng = random.Random(random_seed)  # noqa: S311 (a reproducible workload)
    complete, participant = seed("conference-summary-complete"), seed("conference-participant-summary-complete")
    traffic = ReadTraffic()
    for c in range(conferences):
        start = first_start + c * spacing
        sid = f"CF{c:032x}"
        account = ACCOUNT if c % 4 else OTHER_ACCOUNT
        event = copy.deepcopy(complete)
        event["id"] = f"EZr{c:030x}"
        event["time"] = _time(start + timedelta(minutes=50))
        bad = rng.random() < bad_share
        event["data"].update(
            conference_sid=sid,
            account_sid=account,
            friendly_name=f"Bridge {c}",
            start_time=_time(start),
            end_time=_time(start + timedelta(minutes=40)),
            status="completed" if c % 5 else "summary_timeout",
            mixer_region=("us1", "de1", "au1")[c % 3],
        )
        if not bad:
            event["data"].update(tags=[], tag_info=None, detected_issues={"call_quality": 0})
        else:
            traffic.bad_conferences.add(sid)
        traffic.events.append(event)
        traffic.conferences[sid] = event["data"]
        for p in range(participants_each):
            number = c * participants_each + p
            part = copy.deepcopy(participant)
            part["id"] = f"EZs{number:030x}"
            part["time"] = _time(start + timedelta(minutes=45))
            call_sid = f"CA{number:032x}"
            part["data"].update(
                participant_sid=f"CP{number:032x}",
                call_sid=call_sid,
                conference_sid=sid,
                account_sid=account,
                label=f"agent-{number}",
                join_time=_time(start + timedelta(minutes=p)),
                leave_time=_time(start + timedelta(minutes=39)),
                participant_region=("us1", "de1", "au1", "br1")[number % 4],
            )
            if rng.random() < bad_share:
                traffic.bad_participants.add(call_sid)
                mos = round(rng.uniform(1.5, 3.4), 2)
                part["data"]["metrics"] = {
                    "inbound": {**HEALTHY_METRICS, "mos": mos, "packet_loss_percentage": round(rng.uniform(6, 20), 1)},
                    "outbound": HEALTHY_METRICS,
                }
            else:
                part["data"]["quality_issues"] = 0
                part["data"]["metrics"] = {"inbound": HEALTHY_METRICS, "outbound": HEALTHY_METRICS}
            part["data"]["tags"] = []
            traffic.events.append(part)
            traffic.participants[call_sid] = part["data"]
    return traffic
