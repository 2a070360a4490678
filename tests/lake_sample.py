"""Generated lake rows for the SQL's tests, docs/queries.md's examples and the report's pictures: conference and
participant summaries with several versions each (older ones better or worse than the latest, in other files),
missing directions, missing join times, conferences that never completed, written as Parquet in the lake's layout
(``<dir>/<table>/dt=YYYY-MM-DD/<name>.parquet``) with the columns and types of domain/lake_schema.py.

    PYTHONPATH=layers/voice_insights:. .venv/bin/python -m tests.lake_sample .lake --from 2026-09-07 --weeks 12
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from voice_insights.domain.lake_schema import COLUMNS, CONFERENCE_TABLE, PARTICIPANT_TABLE

REGIONS = ("us1", "ie1", "de1", "au1")
COUNTRIES = ("US", "GB", "DE", "AU", None)
CALL_TYPES = ("carrier", "sip", "client")
DIRECTIONS = ("inbound", "outbound")
AUDIO_TAGS = ("silence", "high_jitter", "low_mos", "high_packet_loss")
_ARROW = {
    "string": pa.string(),
    "timestamp": pa.timestamp("ms"),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "array<string>": pa.list_(pa.string()),
}


def arrow_schema(table: str) -> pa.Schema:
    return pa.schema([(name, _ARROW[kind]) for name, kind in COLUMNS[table]])


def _kinds(mos: list[float | None], loss: list[float | None], jitter: list[float | None], tags: list[str]) -> list[str]:
    kinds = set()
    if any(m is not None and m < 3.5 for m in mos):
        kinds.add("low_mos")
    if any(v is not None and v > 5 for v in loss):
        kinds.add("high_packet_loss")
    if any(v is not None and v > 30 for v in jitter):
        kinds.add("high_jitter")
    kinds.update(t for t in tags if t in ("silence",))
    return sorted(kinds)


def _direction(rng: random.Random, bad: bool) -> dict[str, Any]:
    if rng.random() < 0.1:
        return {"mos": None, "jitter_avg": None, "loss": None, "latency": None, "tags": None}
    return {
        "mos": round(rng.uniform(2.0, 3.4) if bad else rng.uniform(3.6, 4.5), 3),
        "jitter_avg": round(rng.uniform(20, 60) if bad else rng.uniform(1, 25), 2),
        "loss": round(rng.uniform(3, 12) if bad else rng.uniform(0, 2), 3),
        "latency": round(rng.uniform(50, 300), 1),
        "tags": sorted(rng.sample(AUDIO_TAGS, rng.randint(0, 2))) if bad else [],
    }


def rows(start: date, days: int, per_day: int = 6, seed: int = 30) -> dict[str, list[dict[str, Any]]]:
    """Every row (every version) of both tables, each with its ``dt``; deterministic for a seed."""
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {CONFERENCE_TABLE: [], PARTICIPANT_TABLE: []}
    serial = 0
    for day in range(days):
        base = datetime.combine(start + timedelta(days=day), datetime.min.time())
        # Later weeks are worse in one region, so that trends and week over week have something to show.
        worse_region = REGIONS[(day // 7) % len(REGIONS)]
        for n in range(per_day):
            serial += 1
            conference = f"CF{serial:032x}"
            started = base + timedelta(seconds=rng.randint(0, 86_399))
            region = rng.choice(REGIONS)
            status = rng.choices(
                ["completed", "in_progress", "summary_timeout", "not_started", None], [8, 1, 1, 0.5, 0.5]
            )[0]
            versions = rng.randint(1, 3)
            for v in range(versions):
                latest = v == versions - 1
                out[CONFERENCE_TABLE].append(
                    {
                        "conference_sid": conference,
                        "event_id": f"EV{serial:06d}{v}",
                        "version": f"{started.timestamp() * 1000 + v:020.0f}",
                        "event_type": "com.twilio.voice.insights.conference-summary.complete",
                        "arrived_via": rng.choice(["kinesis", "webhook", "backfill"]),
                        "status": status if latest else "in_progress",
                        "processing_state": "complete" if latest else "in_progress",
                        "mixer_region": region,
                        "start_time": None if n == 0 else started,
                        "create_time": started - timedelta(seconds=5),
                        "event_time": started + timedelta(minutes=30),
                        "received_at": started + timedelta(minutes=31),
                        "unique_participants": 3,
                        "tags": ["start_failure"] if status == "not_started" else [],
                        "issue_kinds": ["start_failure"] if (latest and n == 1 and day % 5 == 0) else [],
                        "dt": (started - timedelta(seconds=5) if n == 0 else started).date().isoformat(),
                    }
                )
            for p in range(rng.randint(1, 4)):
                serial += 1
                joined = started + timedelta(seconds=rng.randint(0, 600))
                row_region = worse_region if p == 0 and rng.random() < 0.5 else rng.choice(REGIONS)
                bad = rng.random() < (0.45 if row_region == worse_region else 0.15)
                no_join = rng.random() < 0.08
                sid = f"PA{serial:032x}"
                participant_versions = rng.randint(1, 3)
                for v in range(participant_versions):
                    latest = v == participant_versions - 1
                    inbound, outbound = _direction(rng, bad and latest), _direction(rng, bad and latest)
                    mos = [inbound["mos"], outbound["mos"]]
                    loss = [inbound["loss"], outbound["loss"]]
                    jitter = [inbound["jitter_avg"], outbound["jitter_avg"]]
                    tags = (inbound["tags"] or []) + (outbound["tags"] or [])
                    kinds = _kinds(mos, loss, jitter, tags)
                    event_time = joined + timedelta(minutes=20)
                    row: dict[str, Any] = {
                        "participant_sid": sid,
                        "conference_sid": conference,
                        "call_sid": f"CA{serial:032x}",
                        "event_id": f"EV{serial:06d}{v}",
                        "version": f"{joined.timestamp() * 1000 + v:020.0f}",
                        "event_type": "com.twilio.voice.insights.participant-summary.complete",
                        "arrived_via": "kinesis",
                        "participant_region": row_region,
                        "country_code": rng.choice(COUNTRIES),
                        "call_type": rng.choice(CALL_TYPES),
                        "call_direction": rng.choice(DIRECTIONS),
                        "from_number": "+1415****567",
                        "join_time": None if no_join else joined,
                        "event_time": event_time,
                        "received_at": event_time + timedelta(seconds=3),
                        "issue_kinds": kinds,
                        "issue_severity": ("high" if "low_mos" in kinds else "medium") if kinds else None,
                        "dt": (event_time if no_join else joined).date().isoformat(),
                    }
                    for side, values in (("inbound", inbound), ("outbound", outbound)):
                        row[f"{side}_mos"] = values["mos"]
                        row[f"{side}_jitter_avg"] = values["jitter_avg"]
                        row[f"{side}_packet_loss_percentage"] = values["loss"]
                        row[f"{side}_latency_avg"] = values["latency"]
                        row[f"{side}_tags"] = values["tags"]
                    out[PARTICIPANT_TABLE].append(row)
    return out


def write(lake: Path, tables: dict[str, list[dict[str, Any]]]) -> int:
    """Writes every row as Parquet (ZSTD) in the lake's layout: per table and day, the latest version of each
    summary in one file and older versions in another (as several deliveries would). Returns files written."""
    files = 0
    for table, table_rows in tables.items():
        schema = arrow_schema(table)
        by_day: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for n, row in enumerate(table_rows):
            by_day[(row["dt"], n % 2)].append(row)
        for (day, part), day_rows in sorted(by_day.items()):
            folder = lake / table / f"dt={day}"
            folder.mkdir(parents=True, exist_ok=True)
            columns = {name: [r.get(name) for r in day_rows] for name in schema.names}
            pq.write_table(pa.table(columns, schema=schema), folder / f"part-{part}.parquet", compression="zstd")
            files += 1
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lake", type=Path)
    parser.add_argument("--from", dest="start", default="2026-09-07")
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--per-day", type=int, default=6)
    args = parser.parse_args()
    tables = rows(date.fromisoformat(args.start), args.weeks * 7, args.per_day)
    print(f"{write(args.lake, tables)} files, {sum(map(len, tables.values()))} rows, {datetime.now(UTC):%H:%M:%S}")


if __name__ == "__main__":
    main()
