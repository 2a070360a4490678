"""The quality report (`make report ARGS=…`, docs/read.md), from the history lake by default: trends over a window
of days, weeks or months (MOS p05/p50/p95, the share of each issue, MOS per region), the worst participants and
conferences; a terminal table, CSV or JSON; ``--png FILE`` draws the trends on a real time axis over the window (a
picture that says "no data" for an empty window). The lake is read with the named queries of operate/queries
(operate/query.py): DuckDB over the local lake (``.lake/``, ``--lake-dir``) or Athena with ``--stack-name``.

The table mode (``--source table``, implied by ``--table`` or ``--endpoint-url``) reads one window of the summaries
table with Queries as before, for one account (``--account``): its conferences of the range from
``ByAccountStartTime``, then one Query per conference; ``--png`` draws issues per hour and the MOS distribution.

    python -m operate.report --from 2026-09-07 --to 2026-11-30 --png trends.png
    python -m operate.report --source table --account AC… --from 2026-11-01 --to 2026-11-08 --stack-name voice-insights
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from operate.query import csv_safe, escaped
from voice_insights.domain.items import PARTICIPANT_SUMMARY, entity_of, summary_from_item
from voice_insights.domain.quality import Thresholds, issues_of
from voice_insights.domain.redaction import mask_phone_numbers_in
from voice_insights.read.summary_queries import Cursors, SummaryQueries, check_range, data_of, local_signer

PNG_SIZE = (1200, 500)  # pixels: 12 x 5 inches at 100 dpi
LAKE_PNG_SIZE = (1400, 900)  # pixels: 14 x 9 inches at 100 dpi


@dataclass
class Report:
    start: str
    end: str
    account: str | None
    conferences: int = 0
    participants: int = 0
    worst_conferences: list[dict[str, Any]] = field(default_factory=list)
    worst_participants: list[dict[str, Any]] = field(default_factory=list)
    issues_by_kind: dict[str, int] = field(default_factory=dict)
    issues_by_region: dict[str, int] = field(default_factory=dict)
    issues_by_hour: dict[str, dict[str, int]] = field(default_factory=dict)  # hour -> kind -> count
    mos: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def _worst(metrics: dict[str, Any], name: str, key: str | None = None, lowest: bool = False) -> float | None:
    values = []
    for direction in ("inbound", "outbound"):
        value = (metrics.get(direction) or {}).get(name)
        if key is not None:
            value = (value or {}).get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(float(value))
    if not values:
        return None
    return min(values) if lowest else max(values)


def participant_row(data: dict[str, Any], kinds: list[str]) -> dict[str, Any]:
    metrics = data.get("metrics") or {}
    return {
        "conference_sid": data.get("conference_sid"),
        "participant_sid": data.get("participant_sid"),
        "call_sid": data.get("call_sid"),
        "label": mask_phone_numbers_in(data.get("label") or ""),
        "region": data.get("participant_region"),
        "mos": _worst(metrics, "mos", lowest=True),
        "packet_loss_pct": _worst(metrics, "packet_loss_percentage"),
        "jitter_avg_ms": _worst(metrics, "jitter", "avg"),
        "latency_avg_ms": _worst(metrics, "latency", "avg"),
        "tags": sorted({str(t) for d in ("inbound", "outbound") for t in (metrics.get(d) or {}).get("tags") or []}),
        "issues": kinds,
    }


def build(items: list[dict[str, Any]], start: datetime, end: datetime, account: str | None, top: int = 10) -> Report:
    report = Report(start=start.isoformat(), end=end.isoformat(), account=account)
    thresholds = Thresholds()
    by_hour: dict[str, Counter[str]] = defaultdict(Counter)
    kinds_total: Counter[str] = Counter()
    regions: Counter[str] = Counter()
    conferences, participants = [], []
    for item in items:
        summary = summary_from_item(item)
        data = data_of(item)
        kinds = sorted({issue.kind for issue in issues_of(summary, thresholds)})
        participant = entity_of(item) == PARTICIPANT_SUMMARY
        when = str(data.get("join_time" if participant else "start_time") or "")
        region = str(data.get("participant_region" if participant else "mixer_region") or "unknown")
        for kind in kinds:
            kinds_total[kind] += 1
            regions[region] += 1
            by_hour[when[:13]][kind] += 1
        if participant:
            row = participant_row(data, kinds)
            participants.append(row)
            if row["mos"] is not None:
                report.mos.append(row["mos"])
        else:
            conferences.append(
                {
                    "conference_sid": data.get("conference_sid"),
                    "friendly_name": mask_phone_numbers_in(str(data.get("friendly_name") or "")),
                    "start_time": data.get("start_time"),
                    "status": data.get("status"),
                    "region": region,
                    "tags": [mask_phone_numbers_in(str(t)) for t in data.get("tags") or []],
                    "issues": kinds,
                }
            )
    report.conferences, report.participants = len(conferences), len(participants)
    worst_mos = {p["conference_sid"]: p["mos"] for p in sorted(participants, key=lambda p: -(p["mos"] or 5))}
    for conference in conferences:
        conference["worst_mos"] = worst_mos.get(conference["conference_sid"])
    report.worst_conferences = sorted(
        (c for c in conferences if c["issues"]), key=lambda c: (-len(c["issues"]), c["worst_mos"] or 5)
    )[:top]
    report.worst_participants = sorted(
        (p for p in participants if p["issues"]), key=lambda p: (p["mos"] or 5, -(p["packet_loss_pct"] or 0))
    )[:top]
    report.issues_by_kind = dict(kinds_total.most_common())
    report.issues_by_region = dict(regions.most_common())
    report.issues_by_hour = {hour: dict(by_hour[hour]) for hour in sorted(by_hour)}
    report.mos.sort()
    return report


def read_items(
    queries: SummaryQueries, start: datetime, end: datetime, account: str, progress: TextIO | None
) -> list[dict[str, Any]]:
    """Every conference of one account in the range with its participants (``ByAccountStartTime``, one Query per
    conference), a progress bar on ``progress`` (stderr) while they are read. Every account's: the lake's report."""
    keys = list(queries.account_conference_items(account, start, end))
    items: list[dict[str, Any]] = []
    for done, key in enumerate(keys, 1):
        items += queries.conference(key["pk"]["S"].removeprefix("CONF#"))
        if progress is not None:
            _bar(progress, done, len(keys))
    if progress is not None and keys:
        progress.write("\n")
    return items


def _bar(out: TextIO, done: int, total: int, width: int = 40) -> None:
    filled = width * done // total
    out.write(f"\rreading conferences [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    out.flush()


def render_table(report: Report) -> str:
    lines = [
        f"Quality report {report.start} .. {report.end}" + (f" (account {report.account})" if report.account else ""),
        f"{report.conferences} conferences, {report.participants} participants",
        "",
        "Worst participants:",
        f"  {'call':<34} {'region':<7} {'MOS':>5} {'loss %':>7} {'jitter':>7} {'latency':>8}  issues",
    ]
    for p in report.worst_participants:
        lines.append(
            f"  {p['call_sid'] or '-':<34} {p['region'] or '-':<7} {_num(p['mos']):>5} {_num(p['packet_loss_pct']):>7}"
            f" {_num(p['jitter_avg_ms']):>7} {_num(p['latency_avg_ms']):>8}  {', '.join(p['issues'])}"
        )
    lines += ["", "Worst conferences:", f"  {'conference':<34} {'region':<7} {'worst MOS':>9}  tags; issues"]
    for c in report.worst_conferences:
        lines.append(
            f"  {c['conference_sid']:<34} {c['region']:<7} {_num(c['worst_mos']):>9}"
            f"  {', '.join(c['tags']) or '-'}; {', '.join(c['issues'])}"
        )
    lines += ["", "Issues by kind:", *(f"  {k:<28} {n:>6}" for k, n in report.issues_by_kind.items())]
    lines += ["", "Issues by region:", *(f"  {k:<28} {n:>6}" for k, n in report.issues_by_region.items())]
    lines += ["", "Issues by hour (UTC):"]
    lines += [f"  {h}:00  {sum(k.values()):>5}  {_kinds(k)}" for h, k in report.issues_by_hour.items()]
    return "\n".join(escaped(line) for line in lines)  # event text: its control characters shown, not run


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))


def render_csv(report: Report) -> str:
    """One row per figure: section, key, value (participants and conferences: one row each, JSON details)."""
    out = io.StringIO()
    rows: list[list[Any]] = [["section", "key", "value"]]
    rows += [["worst_participant", p["call_sid"], json.dumps(p)] for p in report.worst_participants]
    rows += [["worst_conference", c["conference_sid"], json.dumps(c)] for c in report.worst_conferences]
    for section in ("issues_by_kind", "issues_by_region"):
        rows += [[section, key, count] for key, count in getattr(report, section).items()]
    for hour, kinds in report.issues_by_hour.items():
        rows += [["issues_by_hour", f"{hour}:00 {kind}", count] for kind, count in kinds.items()]
    csv.writer(out).writerows([csv_safe(cell) for cell in row] for row in rows)  # event text: no formula runs
    return out.getvalue()


def draw_png(report: Report, path: str) -> list[str]:
    """Issues per hour by kind (stacked bars) and the MOS distribution (histogram), 1200 x 500 pixels. Returns the
    series drawn (also written in the PNG's Description text, so that a test can read what was drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted(report.issues_by_kind)
    hours = list(report.issues_by_hour)
    figure, (by_hour, mos) = plt.subplots(1, 2, figsize=(12, 5), dpi=100, width_ratios=[2, 1])
    bottom = [0] * len(hours)
    for kind in kinds:
        counts = [report.issues_by_hour[h].get(kind, 0) for h in hours]
        by_hour.bar(range(len(hours)), counts, bottom=bottom, label=kind)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    by_hour.set_xticks(range(len(hours)), [h[5:].replace("T", " ") + "h" for h in hours], rotation=60, fontsize=7)
    by_hour.set_title("Issues per hour by kind (UTC)")
    by_hour.set_ylabel("summaries with the issue")
    if kinds:
        by_hour.legend(fontsize=7)
    mos.hist(report.mos, bins=[1 + i * 0.25 for i in range(15)], color="tab:blue", edgecolor="white")
    mos.axvline(Thresholds().mos_below, color="tab:red", linestyle="--", label=f"MOS {Thresholds().mos_below}")
    mos.set_title("MOS distribution (worst direction)")
    mos.set_xlabel("MOS")
    mos.set_ylabel("participants")
    mos.legend(fontsize=7)
    figure.suptitle(f"Voice quality {report.start[:16]} .. {report.end[:16]}")
    figure.tight_layout()
    series = [f"issues_by_hour:{kind}" for kind in kinds] + ["mos_histogram"]
    figure.savefig(path, format="png", metadata={"Description": json.dumps(series)})
    plt.close(figure)
    return series


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _queries(args: argparse.Namespace) -> SummaryQueries:
    from operate import aws_access

    client = aws_access.client("dynamodb", args.endpoint_url)
    table = args.table
    if not table:
        if not args.stack_name:
            raise SystemExit("give --table, or --stack-name (its SummariesTableName output)")
        cloudformation = aws_access.client("cloudformation", args.endpoint_url)
        outputs = cloudformation.describe_stacks(StackName=args.stack_name)["Stacks"][0]["Outputs"]
        table = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "SummariesTableName")
    return SummaryQueries(client, table, Cursors(local_signer(b"report: no cursors handed out")))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make report ARGS=", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="start", help="ISO date (time in table mode), inclusive (default: see --to)")
    parser.add_argument(
        "--to", dest="end", help="ISO date, exclusive (default: tomorrow; from 13 weeks before, 7 days in table mode)"
    )
    parser.add_argument("--source", choices=["lake", "table"], help="the lake (default) or the summaries table")
    parser.add_argument(
        "--period", choices=["day", "week", "month"], help="lake: the trend's step (default: by window)"
    )
    parser.add_argument("--lake-dir", default=".lake", help="lake: the local lake (default .lake)")
    parser.add_argument("--account", help="table: only this account's conferences (AC…)")
    where = parser.add_argument_group("which stack or table")
    where.add_argument(
        "--stack-name", help="a deployed stack: Athena in its workgroup (lake) or its SummariesTableName"
    )
    where.add_argument("--table", help="table: the table's name (with --endpoint-url, the local one `make up` prints)")
    where.add_argument("--endpoint-url", help="table: a local endpoint, e.g. the moto server `make up` prints")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.add_argument("--png", help="draw the report into this PNG file")
    parser.add_argument("--top", type=int, default=10, help="how many worst conferences and participants (10)")
    parser.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    parser.add_argument("--openapi", action="store_true", help="print the read API's OpenAPI document and exit")
    return parser


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    if args.openapi:
        from voice_insights.read.read_api import openapi_document

        out.write(openapi_document() + "\n")
        return 0
    if (args.source or ("table" if args.table or args.endpoint_url else "lake")) == "lake":
        from operate import lake_report

        return lake_report.main(args, out)
    if not args.account:
        print("make report: the table mode reads one account: give --account AC… (the lake's report, the default, "
              "reads every account)", file=sys.stderr)  # fmt: skip
        return 2
    end = _moment(args.end) if args.end else datetime.now(UTC)
    start = _moment(args.start) if args.start else end - timedelta(days=7)
    start, end = check_range(start, end)
    progress = None if args.no_progress else sys.stderr
    from operate import aws_access

    try:
        items = read_items(_queries(args), start, end, args.account, progress)
    except aws_access.SETUP_ERRORS as error:
        print(f"make report: {aws_access.explain(error)}", file=sys.stderr)
        return 2
    report = build(items, start, end, args.account, args.top)
    if args.format == "json":
        out.write(json.dumps(report.as_json(), indent=2) + "\n")
    elif args.format == "csv":
        out.write(render_csv(report))
    else:
        out.write(render_table(report) + "\n")
    if args.png:
        draw_png(report, args.png)
        print(f"wrote {args.png} ({PNG_SIZE[0]} x {PNG_SIZE[1]})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
