"""`make report` from the history lake (operate/report.py parses the options): for a window, the trends (kpis over
all and per region, the share of each issue) and the worst participants and conferences, from the named queries of
operate/queries; a table, CSV or JSON on stdout, and ``--png``: MOS p05/p50/p95 lines, issue shares, one small MOS
chart per region, on a real time axis over the window, or a picture that says "no data"."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from operate import query

WIDTH, HEIGHT = 1400, 900  # pixels: 14 x 9 inches at 100 dpi
SECTIONS = ("kpis", "kpis_by_region", "issue_shares", "worst_participants", "worst_conferences")


def period_for(start: date, end: date) -> str:
    """Days for up to two weeks, weeks for up to half a year, months beyond."""
    days = (end - start).days
    return "day" if days <= 14 else "week" if days <= 183 else "month"


def window(args: argparse.Namespace) -> tuple[str, str, str]:
    parse = query.PARAMETERS["from"].parse
    end = parse(args.end) if args.end else (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    start = parse(args.start) if args.start else (date.fromisoformat(end) - timedelta(weeks=13)).isoformat()
    if start >= end:
        raise query.Mistake(f"--from {start} must come before --to {end} (--to is exclusive)")
    return start, end, args.period or period_for(date.fromisoformat(start), date.fromisoformat(end))


def gather(
    start: str, end: str, period: str, top: int, lake_dir: Path, stack_name: str | None, progress: TextIO | None
) -> dict[str, Any]:
    """Every section's rows (dicts), each from one named query."""
    catalog = query.catalog()
    asked = {
        "kpis": ("kpis", {"period": period, "by": "all"}),
        "kpis_by_region": ("kpis", {"period": period, "by": "region"}),
        "issue_shares": ("issue_shares", {"period": period}),
        "worst_participants": ("worst_participants", {"top": str(top)}),
        "worst_conferences": ("worst_conferences", {"top": str(top)}),
    }
    report: dict[str, Any] = {"from": start, "to": end, "period": period}
    connection = None if stack_name else query.duckdb_lake(lake_dir)  # one for all five queries
    try:
        for section, (name, given) in asked.items():
            if progress is not None:
                progress.write(f"report: {section}\n")
            bound = query.bind(catalog[name].sql, {"from": start, "to": end, **given})
            columns, rows = query.run(bound, lake_dir, stack_name, progress, connection)
            report[section] = [{c: query.plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]
    finally:
        if connection is not None:
            connection.close()
    return report


def render_table(report: dict[str, Any]) -> str:
    parts = [f"Quality report {report['from']} .. {report['to']} (per {report['period']}, UTC)"]
    for section in SECTIONS:
        rows = report[section]
        columns = list(rows[0]) if rows else ["(no data)"]
        parts += [
            "",
            f"{section.replace('_', ' ').capitalize()}:",
            query.render_table(columns, [list(r.values()) for r in rows]),
        ]
    return "\n".join(parts)


def render_csv(report: dict[str, Any]) -> str:
    """Long form, one figure a row: section, row (from 1), column, value (cells neutralised as make query's)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "row", "column", "value"])
    for section in SECTIONS:
        for n, row in enumerate(report[section], 1):
            writer.writerows([section, n, column, query.csv_safe(value)] for column, value in row.items())
    return out.getvalue()


def _x(day: str, period: str, start: date, end: date) -> datetime:
    """A period's point on the time axis: the middle of the part of it inside the window."""
    first = date.fromisoformat(day)
    if period == "month":
        after = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    else:
        after = first + timedelta(days=1 if period == "day" else 7)
    low, high = (datetime.combine(d, datetime.min.time()) for d in (max(first, start), min(after, end)))
    return low + (high - low) / 2


def draw_png(report: dict[str, Any], path: str) -> dict[str, Any]:
    """Draws the trends (or "no data") and returns what was drawn, also written in the PNG's Description text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    start, end, period = date.fromisoformat(report["from"]), date.fromisoformat(report["to"]), report["period"]
    limits = (datetime.combine(start, datetime.min.time()), datetime.combine(end, datetime.min.time()))
    title = f"Voice quality {report['from']} .. {report['to']} (UTC, per {period}: each point at its middle)"
    drawn: dict[str, Any] = {"x_range": [report["from"], report["to"]], "series": [], "regions": [], "points": []}
    if not report["kpis"]:
        figure = plt.figure(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
        figure.text(0.5, 0.55, "no data", ha="center", va="center", fontsize=48, color="tab:gray")
        figure.text(0.5, 0.42, f"no participant summary in the lake for {report['from']} .. {report['to']}",
                    ha="center", fontsize=14, color="tab:gray")  # fmt: skip
        figure.suptitle(title)
        drawn["series"] = ["no_data"]
        figure.savefig(path, format="png", metadata={"Description": json.dumps(drawn)})
        plt.close(figure)
        return drawn
    regions = sorted({r["breakdown"] for r in report["kpis_by_region"]})
    figure = plt.figure(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    grid = figure.add_gridspec(2, max(len(regions), 2), height_ratios=[3, 2])
    half = max(len(regions), 2) // 2
    mos = figure.add_subplot(grid[0, :half])
    shares = figure.add_subplot(grid[0, half:])
    points = [_x(r["period_start"], period, start, end) for r in report["kpis"]]
    drawn["points"] = [point.isoformat() for point in points]
    for column, style in (("mos_p95", ":"), ("mos_p50", "-"), ("mos_p05", "--")):
        mos.plot(points, [r[column] for r in report["kpis"]], style, marker="o", markersize=3, label=column)
        drawn["series"].append(column)
    mos.set_title("MOS of the worst direction (p95, p50, p05)")
    mos.set_ylabel("MOS")
    mos.legend(fontsize=8)
    kinds = sorted({r["kind"] for r in report["issue_shares"]})
    for kind in kinds:
        rows = [r for r in report["issue_shares"] if r["kind"] == kind]
        x = [_x(r["period_start"], period, start, end) for r in rows]
        shares.plot(x, [100 * r["share"] for r in rows], marker="o", markersize=3, label=kind)
        drawn["series"].append(f"share:{kind}")
    shares.set_title("Participants with each issue (%)")
    shares.set_ylabel("% of participants")
    if kinds:
        shares.legend(fontsize=8)
    axes = [mos, shares]
    for n, region in enumerate(regions):
        small = figure.add_subplot(grid[1, n], sharey=axes[2] if n else None)
        rows = [r for r in report["kpis_by_region"] if r["breakdown"] == region]
        x = [_x(r["period_start"], period, start, end) for r in rows]
        small.plot(x, [r["mos_p50"] for r in rows], "-", marker="o", markersize=2, label="p50")
        small.plot(x, [r["mos_p05"] for r in rows], "--", marker="o", markersize=2, label="p05")
        small.set_title(f"{region}: MOS p50, p05", fontsize=9)
        if n == 0:
            small.legend(fontsize=7)
        axes.append(small)
        drawn["regions"].append(region)
    for axis in axes:
        axis.set_xlim(*limits)
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8 if axis in (mos, shares) else 4)
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Description": json.dumps(drawn)})
    plt.close(figure)
    return drawn


def main(args: argparse.Namespace, out: TextIO) -> int:
    """The lake report for parsed options: a mistake is one line on stderr and exit 2."""
    try:
        start, end, period = window(args)
        if not 1 <= args.top <= 10000:
            raise query.Mistake("--top takes a whole number from 1 to 10000")
        progress = None if args.no_progress else sys.stderr
        report = gather(start, end, period, args.top, Path(args.lake_dir), args.stack_name, progress)
    except query.Mistake as mistake:
        print(f"make report: {mistake}", file=sys.stderr)
        return 2
    if args.format == "json":
        out.write(json.dumps(report, indent=2) + "\n")
    elif args.format == "csv":
        out.write(render_csv(report))
    else:
        out.write(render_table(report) + "\n")
    if args.png:
        draw_png(report, args.png)
        print(f"wrote {args.png} ({WIDTH} x {HEIGHT})", file=sys.stderr)
    return 0
