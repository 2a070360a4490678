"""Log lines survive any input: a lone surrogate (valid JSON text such as ``"\\udfff"`` decodes to one)
cannot be written as UTF-8, and a log line that fails to write is lost."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
from voice_insights.observability import logger
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


TRACED_MODULES = """
import sys
import voice_insights.handler
from aws_xray_sdk.core.patcher import _PATCHED_MODULES
print(sorted(_PATCHED_MODULES))
print(sorted(m for m in ("requests", "aiohttp", "httpx", "sqlite3") if m in sys.modules))
"""


def test_on_lambda_the_tracer_patches_the_aws_sdk_only(tmp_path: object) -> None:
    # Tracing on, as deployed. X-Ray's patch_all would also import and patch requests (which twilio
    # brings, unused here) and sqlite3: 24 ms of init.
    done = subprocess.run(
        [sys.executable, "-c", TRACED_MODULES],
        capture_output=True,
        check=True,
        text=True,
        env={
            "PYTHONPATH": str(ROOT / "layers" / "voice_insights"),
            "LAMBDA_TASK_ROOT": str(tmp_path),
            "AWS_LAMBDA_FUNCTION_NAME": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "voice-insights-events",
        },
    )
    patched, imported = done.stdout.splitlines()
    assert patched == "['botocore']"
    assert imported == "[]"
