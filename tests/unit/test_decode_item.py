"""Given an item as `aws dynamodb get-item` prints it, when scripts/decode_item.py reads it, then a person sees
the stored event whole, and anything else gets a one-line answer."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from pydantic import TypeAdapter

from tests.conftest import load_seed
from voice_insights.domain.items import to_item
from voice_insights.domain.models import SummaryEvent

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "decode_item.py"


def run(stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT)], input=stdin, capture_output=True, text=True, check=False)


def test_an_item_as_the_cli_prints_it_reads_back_as_its_event() -> None:
    raw = load_seed("participant_summary_complete")
    item = to_item(TypeAdapter(SummaryEvent).validate_python(raw), datetime(2026, 12, 1, tzinfo=UTC)).attributes
    as_printed = {"Item": {k: {"B": base64.b64encode(v["B"]).decode()} if "B" in v else v for k, v in item.items()}}
    done = run(json.dumps(as_printed))
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["event"]["data"] == raw["data"]
    assert shown["event"]["event_id"] == raw["id"]
    assert shown["attributes"]["sk"] == {"S": "PART#" + raw["data"]["participant_sid"]}


def test_anything_else_gets_a_one_line_answer() -> None:
    for stdin in ("not json", '{"Item": {"pk": {"S": "x"}}}', "[]"):
        done = run(stdin)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr.startswith("not a stored summary item") and done.stderr.count("\n") == 1
