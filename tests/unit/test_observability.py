"""Log lines survive any input: a lone surrogate (valid JSON text such as ``"\\udfff"`` decodes to one)
cannot be written as UTF-8, and a log line that fails to write is lost."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
from voice_insights.runtime.observability import logger
logger.warning("Event rejected", event_id="EZ\\udfff", friendly_name="Zoë")
"""


def test_a_log_line_with_a_lone_surrogate_is_written_escaped() -> None:
    # A fresh interpreter: stdout as Lambda's runtime has it (UTF-8, strict), not pytest's capture.
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        check=True,
        env={"PYTHONPATH": str(ROOT / "layers" / "voice_insights"), "PYTHONIOENCODING": "utf-8"},
    )
    assert b"Logging error" not in done.stderr, done.stderr.decode(errors="replace")
    line = json.loads(done.stdout)
    assert line["event_id"] == "EZ\udfff"
    assert line["friendly_name"] == "Zoë"
