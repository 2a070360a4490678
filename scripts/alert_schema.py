"""Write docs/alert.schema.json, the JSON Schema of the alert body SQS, Lambda and HTTPS subscribers receive.

Run after changing voice_insights.alerts.alert_message.AlertPayload (a unit test fails while the file is stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "voice_insights"))

from voice_insights.alerts.alert_message import AlertPayload  # noqa: E402

if __name__ == "__main__":
    target = ROOT / "docs" / "alert.schema.json"
    target.write_text(json.dumps(AlertPayload.model_json_schema(), indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")
