"""Given a function's module imported as Lambda imports it (tracing on), then its init loads only what the
function uses: cold starts pay for every module loaded."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

LOADED = """
import sys, runpy
runpy.run_path({app!r})
print(sorted(m for m in {modules!r} if m in sys.modules))
"""


# Powertools' batch utility imports every Powertools event class, and every parser model (dozens of
# pydantic models, 45-55 ms) when pydantic is already loaded; the alert function reads stream records as
# they come (dicts) and needs neither. The processors need the event classes (the webhook's API Gateway
# event), not the parser models.
PT = "aws_lambda_powertools.utilities"
UNUSED = {
    "participant_summary_complete": (f"{PT}.parser.models", f"{PT}.batch"),
    "quality_alerts": (f"{PT}.parser.models", f"{PT}.batch", f"{PT}.data_classes"),
}


@pytest.mark.parametrize("function", UNUSED)
def test_init_does_not_import_powertools_utilities_the_function_does_not_use(function: str, tmp_path: object) -> None:
    script = LOADED.format(app=str(ROOT / "functions" / function / "app.py"), modules=UNUSED[function])
    assert run_as_on_lambda(script, tmp_path) == "[]"


TRACED_MODULES = """
import sys
import voice_insights.handler
from aws_xray_sdk.core.patcher import _PATCHED_MODULES
print(sorted(_PATCHED_MODULES))
print(sorted(m for m in ("requests", "sqlite3") if m in sys.modules))
"""


def test_the_tracer_patches_the_aws_sdk_only(tmp_path: object) -> None:
    # X-Ray's default patch_all would also import and patch requests (which twilio brings, unused
    # here) and sqlite3: 24 ms of init.
    patched, imported = run_as_on_lambda(TRACED_MODULES, tmp_path).splitlines()
    assert patched == "['botocore']"
    assert imported == "[]"


def run_as_on_lambda(script: str, task_root: object) -> str:
    """``script``'s output in a fresh interpreter with the layer, in a Lambda-like environment, tracing on."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        check=True,
        text=True,
        env={
            "PYTHONPATH": str(ROOT / "layers" / "voice_insights"),
            "LAMBDA_TASK_ROOT": str(task_root),
            "AWS_LAMBDA_FUNCTION_NAME": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "voice-insights-events",
        },
    )
    return done.stdout.strip()
