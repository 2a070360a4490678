"""Given summaries whose text an attacker chose (a signed event can carry any participant_region or label), when the
table-mode report prints them as CSV or as a table, then no cell runs as a spreadsheet formula (OWASP's CSV
injection guidance) and no control character reaches the terminal unescaped (issue 32, item 3)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from operate import report
from tests.conftest import load_seed
from tests.unit.test_items import accepted
from voice_insights.domain.items import to_item

START, END = datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 1, 2, tzinfo=UTC)


def hostile_items(region: str = '=HYPERLINK("http://evil.example","x")') -> list[dict]:
    seed = load_seed("participant_summary_complete")
    seed["data"]["participant_region"] = region
    seed["data"]["call_sid"] = "CA" + "0" * 32
    seed["data"]["label"] = "\x1b[2J\x1b[31mred"
    seed["data"]["join_time"] = "2023-01-01T12:00:00Z"
    return [to_item(accepted(seed), START).attributes]


def test_no_csv_cell_starts_a_formula() -> None:
    rows = list(csv.reader(io.StringIO(report.render_csv(report.build(hostile_items(), START, END, None)))))
    cells = [cell for row in rows for cell in row]
    assert any("HYPERLINK" in cell for cell in cells)
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_the_table_shows_control_characters_as_escapes() -> None:
    text = report.render_table(report.build(hostile_items("\x1b[2J\x1b[31mus1"), START, END, None))
    assert "\x1b" not in text and "\\x1b[2J\\x1b[31mus1" in text
