"""Given a generated lake, when `make report` runs over it (the lake is its default source), then its figures are
the named queries' answers for the window (trends per day for a week, per week for months, per month beyond), its
PNG draws MOS lines, each issue's share and one small chart per region with every point inside the window on a real
time axis, an empty window draws a picture that says "no data", and a mistake is one line with exit 2."""

from __future__ import annotations

import csv
import io
import json
import struct
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from operate import query, report
from tests import lake_sample

ROWS = lake_sample.rows(date(2026, 9, 7), 12 * 7)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lake")
    lake_sample.write(folder, ROWS)
    return folder


def png_description(path: Path) -> tuple[int, int, dict[str, Any]]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    marker = b"tEXtDescription\x00"
    at = data.index(marker)
    length = struct.unpack(">I", data[at - 4 : at])[0]
    return width, height, json.loads(data[at + len(marker) : at + 4 + length])


def run(lake: Path, *arguments: str) -> dict[str, Any]:
    out = io.StringIO()
    assert report.main(["--lake-dir", str(lake), "--no-progress", "--format", "json", *arguments], out) == 0
    return json.loads(out.getvalue())


def test_weekly_trends_are_the_named_queries_answers_and_the_png_draws_them_inside_the_window(
    lake: Path, tmp_path: Path
) -> None:
    figures = run(lake, "--from", "2026-09-09", "--to", "2026-11-30", "--png", str(tmp_path / "t.png"))
    weekly = query.catalog()["weekly_kpis"]
    columns, rows = query.run_duckdb(
        query.bind(weekly.sql, {"from": "2026-09-09", "to": "2026-11-30"}, weekly.preset), lake
    )
    latest = {r["participant_sid"]: r for r in sorted(ROWS[lake_sample.PARTICIPANT_TABLE], key=lambda r: r["version"])}
    in_window = [
        r
        for r in latest.values()
        if "2026-09-09" <= (r["join_time"] or r["event_time"]).date().isoformat() < "2026-11-30"
    ]

    assert figures["period"] == "week"
    assert figures["kpis"] == [{c: query.plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]
    assert sum(r["participants"] for r in figures["kpis"]) == len(in_window)
    assert {r["breakdown"] for r in figures["kpis_by_region"]} == set(lake_sample.REGIONS)
    width, height, drawn = png_description(tmp_path / "t.png")
    assert (width, height) == (report.LAKE_PNG_SIZE if hasattr(report, "LAKE_PNG_SIZE") else (1400, 900))
    kinds = sorted({r["kind"] for r in figures["issue_shares"]})
    assert drawn["series"] == ["mos_p95", "mos_p50", "mos_p05", *(f"share:{k}" for k in kinds)]
    assert drawn["regions"] == sorted(lake_sample.REGIONS) and drawn["x_range"] == ["2026-09-09", "2026-11-30"]
    points = [datetime.fromisoformat(p) for p in drawn["points"]]
    assert len(points) == 12 and all(datetime(2026, 9, 9) < p < datetime(2026, 11, 30) for p in points)
    assert points[0] == datetime(2026, 9, 11, 12)  # the middle of the partial first week, 9 to 14 September


def test_one_week_is_drawn_per_day_and_a_long_window_per_month(lake: Path, tmp_path: Path) -> None:
    week = run(lake, "--from", "2026-11-23", "--to", "2026-11-30", "--png", str(tmp_path / "w.png"))
    months = run(lake, "--from", "2026-06-01", "--to", "2027-01-01")

    assert week["period"] == "day" and [r["period_start"] for r in week["kpis"]] == [
        f"2026-11-{d}" for d in range(23, 30)
    ]
    assert len(png_description(tmp_path / "w.png")[2]["points"]) == 7
    assert months["period"] == "month" and [r["period_start"] for r in months["kpis"]] == [
        "2026-09-01",
        "2026-10-01",
        "2026-11-01",
    ]


def test_an_empty_window_draws_no_data(lake: Path, tmp_path: Path) -> None:
    figures = run(lake, "--from", "2027-01-04", "--to", "2027-02-01", "--png", str(tmp_path / "e.png"))

    assert figures["kpis"] == [] and figures["worst_participants"] == []
    assert png_description(tmp_path / "e.png")[2]["series"] == ["no_data"]


def test_csv_is_one_figure_a_row_and_the_table_names_each_section(lake: Path) -> None:
    out = io.StringIO()
    assert (
        report.main(
            ["--lake-dir", str(lake), "--from", "2026-11-02", "--to", "2026-11-09", "--format", "csv", "--no-progress"],
            out,
        )
        == 0
    )
    rows = list(csv.reader(io.StringIO(out.getvalue())))

    assert rows[0] == ["section", "row", "column", "value"]
    assert {r[0] for r in rows[1:]} == set(report_sections())
    out = io.StringIO()
    report.main(["--lake-dir", str(lake), "--from", "2026-11-02", "--to", "2026-11-09", "--no-progress"], out)
    assert "Worst participants:" in out.getvalue() and "Kpis by region:" in out.getvalue()


def report_sections() -> tuple[str, ...]:
    from operate import lake_report

    return lake_report.SECTIONS


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--from", "yesterday"], "--from takes a date"),
        (["--from", "2026-12-01", "--to", "2026-11-01"], "must come before"),
    ],
)
def test_a_mistake_is_one_line_with_exit_2(
    lake: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], says: str
) -> None:
    assert report.main(["--lake-dir", str(lake), *arguments], io.StringIO()) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and says in err


def test_no_lake_at_all_says_how_to_make_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--lake-dir", str(tmp_path / "none"), "--no-progress"], io.StringIO()) == 2
    assert (
        capsys.readouterr().err
        == f"make report: no lake at {tmp_path / 'none'}/: run make demo (or make up) first, or give --lake-dir DIR\n"
    )
