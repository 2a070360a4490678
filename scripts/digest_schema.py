"""Write docs/digest.schema.json, the JSON Schema of the digest body SQS, Lambda and HTTPS subscribers receive.

Run after changing voice_insights.digest.digest.DigestPayload (a unit test fails while the file is stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "voice_insights"))

from voice_insights.digest.digest import DigestPayload  # noqa: E402

if __name__ == "__main__":
    target = ROOT / "docs" / "digest.schema.json"
    target.write_text(json.dumps(DigestPayload.model_json_schema(), indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")
