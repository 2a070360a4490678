"""Given generated lake rows (several versions of each summary, in several Parquet files, directions and join
times missing at times) in the lake's layout, when every named query runs on DuckDB through `make query`'s code,
then each answer equals one computed here in plain Python from the rows: latest versions, windows, breakdowns,
shares, exact percentiles (the local engine maps approx_percentile to the exact quantile_cont; docs/queries.md),
week over week, worst lists and conferences that never completed."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from operate import query
from tests import lake_sample

START, WEEKS = date(2026, 9, 7), 12
WINDOW = ("2026-10-05", "2026-11-16")  # Mondays: six whole weeks inside the twelve generated
ROWS = lake_sample.rows(START, WEEKS * 7)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lake")
    assert lake_sample.write(folder, ROWS) > 100
    return folder


def run(lake: Path, name: str, **parameters: str) -> list[dict[str, Any]]:
    known = query.catalog()[name]
    bound = query.bind(known.sql, parameters, known.preset)
    columns, rows = query.run_duckdb(bound, lake)
    return [dict(zip(columns, row, strict=True)) for row in rows]


# --- The answers, from the rows in plain Python ------------------------------------------------------------------


def latest(table: str, key: str) -> list[dict[str, Any]]:
    best: dict[str, dict[str, Any]] = {}
    for row in ROWS[table]:
        if key not in best or row["version"] > best[key]["version"]:
            best[row[key]] = row
    return list(best.values())


def percentile(values: Iterable[float | None], p: float) -> float | None:
    """Linear interpolation between closest ranks (quantile_cont, numpy's default)."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    h = (len(ordered) - 1) * p
    low = math.floor(h)
    return ordered[low] + (h - low) * (ordered[min(low + 1, len(ordered) - 1)] - ordered[low])


def _worst(row: dict[str, Any], name: str, pick: Callable[..., float]) -> float | None:
    values = [row[f"{side}_{name}"] for side in ("inbound", "outbound") if row.get(f"{side}_{name}") is not None]
    return pick(values) if values else None


def participants(start: str, end: str) -> list[dict[str, Any]]:
    found = []
    for row in latest(lake_sample.PARTICIPANT_TABLE, "participant_sid"):
        when = row["join_time"] or row["event_time"]
        if datetime.fromisoformat(start) <= when < datetime.fromisoformat(end):
            found.append(
                row
                | {
                    "when": when,
                    "mos": _worst(row, "mos", min),
                    "jitter": _worst(row, "jitter_avg", max),
                    "loss": _worst(row, "packet_loss_percentage", max),
                    "latency": _worst(row, "latency_avg", max),
                    "kinds": sorted(set(row["issue_kinds"] or [])),
                    "audio_tags": sorted({*(row["inbound_tags"] or []), *(row["outbound_tags"] or [])}),
                }
            )
    return found


def period_of(when: datetime, period: str) -> date:
    day = when.date()
    if period == "day":
        return day
    if period == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


BREAKDOWN = {"region": "participant_region", "country": "country_code", "call_type": "call_type"}
BREAKDOWN |= {"direction": "call_direction"}


def breakdowns(row: dict[str, Any], by: str) -> list[str]:
    if by == "all":
        return ["all"]
    if by == "tag":
        return row["audio_tags"] or ["(none)"]
    return [row[BREAKDOWN[by]] or "(none)"]


def grouped(by: str, period: str) -> dict[tuple[date, str], list[dict[str, Any]]]:
    groups: dict[tuple[date, str], list[dict[str, Any]]] = defaultdict(list)
    for row in participants(*WINDOW):
        for value in breakdowns(row, by):
            groups[(period_of(row["when"], period), value)].append(row)
    return groups


def expected_kpis(by: str, period: str) -> list[dict[str, Any]]:
    answer = []
    for (start, value), rows in sorted(grouped(by, period).items()):
        n = len(rows)
        figures: dict[str, Any] = {
            "period_start": start,
            "breakdown": value,
            "participants": n,
            "conferences": len({r["conference_sid"] for r in rows}),
            "participants_with_issues": sum(1 for r in rows if r["kinds"]),
            "share_any_issue": sum(1 for r in rows if r["kinds"]) / n,
        }
        for kind in ("low_mos", "high_jitter", "high_packet_loss", "high_latency"):
            figures[f"share_{kind}"] = sum(1 for r in rows if kind in r["kinds"]) / n
        figures["mos_p05"] = percentile((r["mos"] for r in rows), 0.05)
        for name, column in (
            ("mos", "mos"),
            ("jitter_avg", "jitter"),
            ("packet_loss", "loss"),
            ("latency_avg", "latency"),
        ):
            for p in (50, 95, 99):
                figures[f"{name}_p{p}"] = percentile((r[column] for r in rows), p / 100)
        answer.append(figures)
    return answer


def assert_rows_equal(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want)
    for have, expected in zip(got, want, strict=True):
        assert set(have) == set(expected)
        for column, value in expected.items():
            if isinstance(value, float):
                assert have[column] == pytest.approx(value, rel=1e-9, abs=1e-12), column
            else:
                assert have[column] == value, column


# --- The tests -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["all", "region", "country", "call_type", "direction", "tag"])
def test_weekly_kpis_by_every_breakdown_equal_the_rows_computed_in_python(lake: Path, by: str) -> None:
    got = run(lake, "weekly_kpis", **{"from": WINDOW[0], "to": WINDOW[1], "by": by})

    assert_rows_equal(got, expected_kpis(by, "week"))
    assert {row["period_start"] for row in got} == {date(2026, 10, 5) + timedelta(weeks=w) for w in range(6)}


@pytest.mark.parametrize("period", ["day", "month"])
def test_kpis_per_day_and_per_month_equal_the_rows_computed_in_python(lake: Path, period: str) -> None:
    got = run(lake, "kpis", **{"from": WINDOW[0], "to": WINDOW[1], "period": period, "by": "region"})

    assert_rows_equal(got, expected_kpis("region", period))


def test_the_percentiles_are_exact_and_differ_from_what_the_latest_rows_alone_would_not_give(lake: Path) -> None:
    got = run(lake, "weekly_kpis", **{"from": WINDOW[0], "to": WINDOW[1]})
    every_version = [r for r in ROWS[lake_sample.PARTICIPANT_TABLE] if WINDOW[0] <= r["dt"] < WINDOW[1]]

    # the generated older versions change the answer: a query over every version would fail this test
    assert sum(r["participants"] for r in got) == len(participants(*WINDOW)) < len(every_version)
    assert got[0]["mos_p50"] != percentile((_worst(r, "mos", min) for r in every_version), 0.5)


def test_week_over_week_compares_each_week_with_the_one_seven_days_before(lake: Path) -> None:
    got = run(lake, "week_over_week", **{"from": WINDOW[0], "to": WINDOW[1], "by": "region"})
    weekly = {key: rows for key, rows in grouped("region", "week").items()}

    def figures(rows: list[dict[str, Any]]) -> dict[str, float | None]:
        return {
            "participants": len(rows),
            "share_any_issue": sum(1 for r in rows if r["kinds"]) / len(rows),
            "mos_p50": percentile((r["mos"] for r in rows), 0.5),
            "mos_p95": percentile((r["mos"] for r in rows), 0.95),
            "packet_loss_p95": percentile((r["loss"] for r in rows), 0.95),
        }

    want = []
    for (week, region), rows in sorted(weekly.items()):
        now, before = figures(rows), weekly.get((week - timedelta(days=7), region))
        previous = figures(before) if before else None
        row: dict[str, Any] = {"week_start": week, "breakdown": region}
        for name, value in now.items():
            row[name] = value
            change = None if previous is None or value is None or previous[name] is None else value - previous[name]
            row[f"{name}_change"] = change
        want.append(row)

    assert_rows_equal(got, want)
    assert all(r["participants_change"] is None for r in got if r["week_start"] == date(2026, 10, 5))
    assert all(r["participants_change"] is not None for r in got if r["week_start"] > date(2026, 10, 5))


def test_worst_participants_are_the_lowest_mos_with_issues_in_the_window(lake: Path) -> None:
    got = run(lake, "worst_participants", **{"from": WINDOW[0], "to": WINDOW[1], "top": "7"})
    with_issues = [r for r in participants(*WINDOW) if r["kinds"]]
    ordered = sorted(
        with_issues,
        key=lambda r: (r["mos"] is None, r["mos"] or 0, r["loss"] is None, -(r["loss"] or 0), r["participant_sid"]),
    )[:7]

    assert [r["participant_sid"] for r in got] == [r["participant_sid"] for r in ordered]
    assert [r["worst_rank"] for r in got] == list(range(1, 8))
    assert [r["mos"] for r in got] == [r["mos"] for r in ordered]
    assert [r["issue_kinds"] for r in got] == [",".join(r["kinds"]) for r in ordered]
    assert [r["join_time"] for r in got] == [r["when"] for r in ordered]


def conferences_in(start: str, end: str) -> list[dict[str, Any]]:
    found = []
    for row in latest(lake_sample.CONFERENCE_TABLE, "conference_sid"):
        when = row["start_time"] or row["create_time"]
        if datetime.fromisoformat(start) <= when < datetime.fromisoformat(end):
            found.append(row | {"when": when})
    return found


def test_worst_conferences_rank_by_participants_with_issues_then_worst_mos(lake: Path) -> None:
    got = run(lake, "worst_conferences", **{"from": WINDOW[0], "to": WINDOW[1], "top": "10"})
    people: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in participants(*WINDOW):
        people[row["conference_sid"]].append(row)
    ranked = []
    for conference in conferences_in(*WINDOW):
        mine = people[conference["conference_sid"]]
        flagged = sum(1 for r in mine if r["kinds"])
        if flagged or conference["issue_kinds"]:
            worst = min((r["mos"] for r in mine if r["mos"] is not None), default=None)
            ranked.append((-flagged, worst is None, worst or 0, conference["conference_sid"], len(mine), worst))
    ranked.sort()

    assert [(r["conference_sid"], r["participants_with_issues"], r["participants"], r["worst_mos"]) for r in got] == [
        (sid, -negative, count, worst) for negative, _, _, sid, count, worst in ranked[:10]
    ]


def test_incomplete_conferences_are_those_whose_latest_summary_did_not_complete(lake: Path) -> None:
    got = run(lake, "incomplete_conferences", **{"from": WINDOW[0], "to": WINDOW[1]})
    want = sorted(
        ((c["when"], c["conference_sid"], c["status"]) for c in conferences_in(*WINDOW) if c["status"] != "completed"),
    )
    every_version_incomplete = {
        r["conference_sid"] for r in ROWS[lake_sample.CONFERENCE_TABLE] if r["status"] != "completed"
    }

    assert [(r["start_time"], r["conference_sid"], r["status"]) for r in got] == want
    assert None in {status for _, _, status in want} and len(want) < len(every_version_incomplete)


def test_issue_shares_give_each_kind_per_week(lake: Path) -> None:
    got = run(lake, "issue_shares", **{"from": WINDOW[0], "to": WINDOW[1]})
    totals: dict[date, int] = defaultdict(int)
    counts: dict[tuple[date, str], int] = defaultdict(int)
    for row in participants(*WINDOW):
        week = period_of(row["when"], "week")
        totals[week] += 1
        for kind in row["kinds"]:
            counts[(week, kind)] += 1
    want = [
        {"period_start": w, "kind": k, "participants_with_issue": n, "participants": totals[w], "share": n / totals[w]}
        for (w, k), n in sorted(counts.items())
    ]

    assert_rows_equal(got, want)
    assert {r["kind"] for r in got} >= {"low_mos", "high_packet_loss", "high_jitter", "silence"}


def test_an_empty_window_answers_no_rows_and_an_empty_lake_too(lake: Path, tmp_path: Path) -> None:
    assert run(lake, "weekly_kpis", **{"from": "2027-01-04", "to": "2027-02-01"}) == []
    assert run(tmp_path, "weekly_kpis", **{"from": WINDOW[0], "to": WINDOW[1]}) == []


def test_a_free_query_names_the_views_and_binds_its_parameters(lake: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    sql = "SELECT count(*) AS n FROM latest_participant_summaries WHERE dt >= :from AND dt < :to"

    code = query.main(
        ["--sql", sql, "--from", WINDOW[0], "--to", WINDOW[1], "--lake-dir", str(lake), "--format", "json"], out, err
    )

    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue()) == [
        {
            "n": sum(
                1 for r in latest(lake_sample.PARTICIPANT_TABLE, "participant_sid") if WINDOW[0] <= r["dt"] < WINDOW[1]
            )
        }
    ]


def test_a_free_query_cannot_read_a_file_outside_the_lake(lake: Path) -> None:
    err = io.StringIO()

    assert (
        query.main(["--sql", "SELECT * FROM read_text('/etc/hostname')", "--lake-dir", str(lake)], io.StringIO(), err)
        == 2
    )
    assert (
        err.getvalue().startswith("make query: the query failed on DuckDB:") and len(err.getvalue().splitlines()) == 1
    )


def test_output_cannot_attack_its_reader() -> None:
    columns, rows = ["label", "n"], [["=1+1\x1b[2J", -1.5], ["\tx\r\n", 2], ["ok", None]]

    table = query.render_table(columns, rows)
    assert "\x1b" not in table and "\\x1b[2J" in table and "\\t" in table and "\\r\\n" in table
    assert csv_cells(query.render_csv(columns, rows)) == [
        ["label", "n"],
        ["'=1+1\x1b[2J", "-1.5"],
        ["'\tx\r\n", "2"],
        ["ok", ""],
    ]


def csv_cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_timestamps_written_with_a_time_zone_read_as_athenas_utc_timestamps(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            pa.field(f.name, pa.timestamp("us", tz="UTC") if pa.types.is_timestamp(f.type) else f.type)
            for f in lake_sample.arrow_schema(lake_sample.PARTICIPANT_TABLE)
        ]
    )
    row = {"participant_sid": "PA1", "version": "1", "join_time": datetime(2026, 11, 8, 23, 30), "inbound_mos": 4.0}
    folder = tmp_path / lake_sample.PARTICIPANT_TABLE / "dt=2026-11-08"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({n: [row.get(n)] for n in schema.names}, schema=schema), folder / "tz.parquet")

    [only] = run(tmp_path, "daily_kpis", **{"from": "2026-11-08", "to": "2026-11-09"})
    assert (only["period_start"], only["participants"], only["mos_p50"]) == (date(2026, 11, 8), 1, 4.0)
    assert run(tmp_path, "daily_kpis", **{"from": "2026-11-09", "to": "2026-11-10"}) == []
