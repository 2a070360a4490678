"""Draw docs/dashboard.svg: the CloudWatch dashboard of template.yaml, laid out from its own JSON, with sample data.

No AWS is reached (no screenshot of a deployed dashboard can be taken here): every widget is placed where its
x, y, width and height put it on CloudWatch's 24-column grid, with its title, one made-up line per series (a SEARCH
expression is drawn as one line per function it would find) and its legend. Plain SVG, no plotting library.

    .venv/bin/python scripts/dashboard.py            # writes docs/dashboard.svg
    .venv/bin/python scripts/dashboard.py --check    # exit 1 when docs/dashboard.svg is not what it would write
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
from html import escape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.cfn import load_template  # noqa: E402

TARGET = ROOT / "docs" / "dashboard.svg"
COLUMN, ROW = 56, 34  # pixels per grid column and row unit
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
# What a SEARCH on the code's metrics finds, per dimension set: the route names (the metrics' function dimension);
# for the quality metrics, sample values of a deployment calling through three regions.
SEARCHED_FUNCTIONS = {
    "function,service": ["conference_summary_complete", "conference_summary_partial", "participant_summary_complete"],
    "field,function,service": ["data.end_reason", "data.call_sid"],
    "region,service": ["us1", "de1", "au1"],
    "call_type,service": ["carrier", "client", "sip"],
    "issue,region,service": ["low_mos us1", "high_jitter us1", "low_mos de1", "high_packet_loss au1"],
    "call_type,issue,service": ["carrier low_mos", "sip high_jitter", "client high_packet_loss"],
}


def dashboard_body(template_path: Path = ROOT / "template.yaml", stack: str = "voice-insights") -> dict[str, Any]:
    """The dashboard's JSON with its ${...} substitutions shown as readable names."""
    body: str = load_template(template_path)["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = {
        "AWS::StackName": stack,
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
    }
    parsed: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: names.get(m[1], m[1].split(".")[0]), body))
    return parsed


def series(widget: dict[str, Any]) -> list[str]:
    """The legend of a metric widget: one entry per line CloudWatch would draw."""
    labels: list[str] = []
    for row in widget["properties"].get("metrics", []):
        options = row[-1] if isinstance(row[-1], dict) else {}
        if options.get("visible") is False:
            continue
        expression = options.get("expression", "")
        found = re.match(r"SEARCH\('\{\w+,([\w,]+)\} MetricName=\"(\w+)\"", expression)
        if found:
            labels += [f"{found[2]} {name}" for name in SEARCHED_FUNCTIONS.get(found[1], ["?"])]
        else:
            plain = [part for part in row if isinstance(part, str)]
            labels.append(options.get("label") or " ".join(plain[1:2] + plain[3:4]))
    return labels


def render(body: dict[str, Any]) -> str:
    widgets = body["widgets"]
    width = 24 * COLUMN
    height = max(w["y"] + w["height"] for w in widgets) * ROW
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#f2f3f3"/>',
    ]
    for widget in widgets:
        x, y = widget["x"] * COLUMN + 4, widget["y"] * ROW + 4
        w, h = widget["width"] * COLUMN - 8, widget["height"] * ROW - 8
        parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#fff" stroke="#d5dbdb"/>')
        props = widget["properties"]
        if widget["type"] == "text":
            for i, line in enumerate(props["markdown"].replace("## ", "").split("\n")):
                size, weight = ("15", "bold") if i == 0 else ("11", "normal")
                parts.append(f'<text x="{x + 10}" y="{y + 20 + 18 * i}" font-size="{size}" font-weight="{weight}">'
                             f"{escape(line)}</text>")  # fmt: skip
        elif widget["type"] == "alarm":
            parts += _alarms(props, x, y, w)
        elif widget["type"] == "log":
            parts += _log_table(props, x, y, w)
        else:
            parts += _chart(props, series(widget), x, y, w, h)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _chart(props: dict[str, Any], labels: list[str], x: int, y: int, w: int, h: int) -> list[str]:
    out = [f'<text x="{x + 8}" y="{y + 16}" font-size="12" font-weight="bold">{escape(props["title"])}</text>']
    legend_rows = math.ceil(len(labels) / 2)
    left, top, right = x + 34, y + 26, x + w - 10
    bottom = y + h - 14 - 12 * legend_rows
    for step in range(4):
        gy = top + (bottom - top) * step / 3
        out.append(f'<line x1="{left}" y1="{gy:.1f}" x2="{right}" y2="{gy:.1f}" stroke="#eaeded"/>')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#879596"/>')
    for index, label in enumerate(labels):
        rng = random.Random(f"{props['title']}|{label}")  # noqa: S311 (sample data: the same picture every run)
        level, points = rng.uniform(0.15, 0.7), []
        for i in range(48):
            level = min(0.95, max(0.02, level + rng.uniform(-0.08, 0.08)))
            px = left + (right - left) * i / 47
            points.append(f"{px:.1f},{bottom - (bottom - top) * level:.1f}")
        colour = PALETTE[index % len(PALETTE)]
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(points)}"/>')
        lx = x + 10 + (index % 2) * (w // 2)
        ly = bottom + 14 + 12 * (index // 2)
        out.append(f'<rect x="{lx}" y="{ly - 7}" width="8" height="8" fill="{colour}"/>')
        out.append(f'<text x="{lx + 12}" y="{ly}" font-size="9">{escape(label[:48])}</text>')
    return out


def _alarms(props: dict[str, Any], x: int, y: int, w: int) -> list[str]:
    out = [f'<text x="{x + 8}" y="{y + 16}" font-size="12" font-weight="bold">{escape(props["title"])}</text>']
    names = [arn.rsplit(":", 1)[-1] for arn in props["alarms"]]
    per_row = 4
    for index, name in enumerate(names):
        ax = x + 10 + (index % per_row) * (w // per_row)
        ay = y + 36 + 16 * (index // per_row)
        out.append(f'<circle cx="{ax + 4}" cy="{ay - 4}" r="4" fill="#1d8102"/>')
        out.append(f'<text x="{ax + 12}" y="{ay}" font-size="10">{escape(name)}</text>')
    return out


def _log_table(props: dict[str, Any], x: int, y: int, w: int) -> list[str]:
    """A Logs Insights table: its columns from the query's ``stats … by …``, sample rows per function and path."""
    out = [f'<text x="{x + 8}" y="{y + 16}" font-size="12" font-weight="bold">{escape(props["title"])}</text>']
    stats, _, by = props["query"].rpartition("| stats ")[2].partition(" by ")
    columns = [part.strip() for part in by.split(",")] + [part.rsplit(" as ", 1)[-1] for part in stats.split(",")]
    rows = [[function, path] for function in SEARCHED_FUNCTIONS["function,service"] for path in ("kinesis", "webhook")]
    step = w // len(columns)
    for index, name in enumerate(columns):
        out.append(
            f'<text x="{x + 10 + index * step}" y="{y + 36}" font-size="10" font-weight="bold">{escape(name)}</text>'
        )
    for row_index, row in enumerate(rows):
        rng = random.Random(f"{props['title']}|{row}")  # noqa: S311 (sample data: the same picture every run)
        received = rng.randint(200, 5000)
        values = [received, int(received * 0.9), int(received * 0.08), int(received * 0.01), rng.randint(0, 9), 0]
        cells = [*row, *(f"{value:,}" for value in values)]
        for index, cell in enumerate(cells[: len(columns)]):
            cy = y + 52 + 14 * row_index
            out.append(f'<text x="{x + 10 + index * step}" y="{cy}" font-size="10">{escape(str(cell))}</text>')
    return out


def main(argv: list[str]) -> int:
    drawn = render(dashboard_body())
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != drawn:
            print(f"{TARGET.relative_to(ROOT)} is stale: run scripts/dashboard.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(drawn)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
