"""Print what a stored summary item holds, readable: the item as `aws dynamodb get-item` (or the console's
"Download JSON") gives it on stdin, its event (envelope fields and data as sent) as JSON on stdout.

    aws dynamodb get-item --table-name TABLE --key '{"pk":{"S":"CONF#CF..."},"sk":{"S":"SUMMARY"}}' \\
      | .venv/bin/python scripts/decode_item.py

The event is kept compressed in the item's ``payload`` attribute (docs/storage.md); items of the format
before (``data``/``data_gz``) read too.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "voice_insights"))

from voice_insights.domain.items import stored_event  # noqa: E402 (the layer's package, from the path above)


def decode(document: dict[str, Any]) -> dict[str, Any]:
    """The readable form of one item (``{"Item": ...}`` as get-item prints it, or the item itself)."""
    item = document.get("Item", document)
    # DynamoDB JSON as the CLI prints it carries binary values in base64, which stored_event reads.
    flat = {name: value for name, value in item.items() if name not in ("payload", "data", "data_gz")}
    return {"attributes": flat, "event": dataclasses.asdict(stored_event(item))}


def main() -> int:
    try:
        document = json.load(sys.stdin)
        print(json.dumps(decode(document), indent=2, ensure_ascii=False))
    except (ValueError, KeyError, AttributeError) as error:
        print(f"not a stored summary item: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
