"""Load: generated traffic on both paths through the whole local stack (the built functions under the
Lambda runtime emulator, the stream pollers, the webhook gateway, moto server), every event id accounted
for and every alert exactly once. 2,000 events in the default test run; 50,000 in ``make reliability``."""

from __future__ import annotations

import json
import math

import pytest

from devtools.traffic import generate
from tests.integration.test_demo import local
from tests.reliability import scaled

PARTICIPANTS = 4
# Events per conference: a partial and a complete summary, its participants, and 10 % redelivered.
EVENTS_PER_CONFERENCE = (2 + PARTICIPANTS) * 1.1


@pytest.mark.slow
def test_every_event_of_a_burst_is_accounted_for() -> None:
    wanted = scaled(default=2_000, full=50_000)
    conferences = math.ceil(wanted / EVENTS_PER_CONFERENCE)
    run = local("demo", "--conferences", str(conferences), "--participants", str(PARTICIPANTS), "--no-samples",
                "--json", "--no-progress", "--seed", "17", "--timeout", "1800", timeout=2400)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout)
    traffic = generate(conferences, PARTICIPANTS, random_seed=17)

    assert report["sent"]["total"] == len(traffic.deliveries) >= wanted
    assert report["sent"]["kinesis"] > wanted / 3 and report["sent"]["webhook"] > wanted / 3
    conservation = report["conservation"]
    assert conservation["unaccounted_ids"] == [] and conservation["ok"]
    assert conservation["sent_ids"] == len({d.key for d in traffic.deliveries})
    assert report["stored"]["participants"] == conferences * PARTICIPANTS
    assert report["alerts"]["for_generated_traffic"] == report["alerts"]["expected_for_generated_traffic"] > 0
    assert sum(report["given_up"].values()) == 0 and report["problems"] == []
    figures = {
        "events": report["sent"]["total"],
        "kinesis": report["sent"]["kinesis"],
        "webhook": report["sent"]["webhook"],
        "distinct_ids": conservation["sent_ids"],
        "unaccounted": len(conservation["unaccounted_ids"]),
        "stored_items": report["stored"]["items"],
        "alerts": report["alerts"]["published"],
        **report["throughput"],
    }
    print(f"\nfigures | load: {json.dumps(figures)}")
