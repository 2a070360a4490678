"""What DynamoDB bills for a run's writes, request by request, from the stand-in's log of write attempts.

A standard write (PutItem, UpdateItem) is billed 1 write unit per KB, or part of one, of the larger of the
item before and after it, and so is a write whose condition fails: it still reads and compares the item
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html, "Capacity unit
consumption for write operations"). A stored summary also writes to each index it enters, leaves or changes
in (bench/indexes.py). Throttled requests that botocore retries would be billed again; the stand-in throttles
none, and the fault tests (make reliability) count them apart.
"""

from __future__ import annotations

import base64
from typing import Any

from bench import indexes
from voice_insights.domain.items import item_size


def decoded(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """An item as DynamoDB JSON sends it (binary values in base64) with its binary values as bytes again."""
    if image is None:
        return None
    return {name: {"B": base64.b64decode(v["B"])} if "B" in v and isinstance(v["B"], str) else v
            for name, v in image.items()}  # fmt: skip


def attempt_units(attempt: dict[str, Any]) -> int:
    """One write request's units: the larger of the item before and after, whether or not it was written."""
    sizes = [item_size(image) for image in (decoded(attempt["old"]), decoded(attempt["new"])) if image is not None]
    return indexes.units(max(sizes, default=0))


def summarise(writes: list[dict[str, Any]], summaries: str, ledger: str, table: indexes.Table) -> dict[str, Any]:
    """Per table: requests and units, the summaries' stored and refused by their condition apart; the summaries'
    index units (of the writes that stored an item)."""
    result: dict[str, Any] = {
        "summaries": {"stored": 0, "stored_units": 0, "condition_failed": 0, "condition_failed_units": 0},
        "ledger": {"writes": 0, "units": 0},
        "index_units": 0,
        "index_writes": [],
    }
    for attempt in writes:
        units = attempt_units(attempt)
        if attempt["table"] == ledger:
            result["ledger"]["writes"] += 1
            result["ledger"]["units"] += units
        elif attempt["table"] == summaries:
            outcome = "stored" if attempt["new"] is not None else "condition_failed"
            result["summaries"][outcome] += 1
            result["summaries"][f"{outcome}_units"] += units
            if attempt["new"] is not None:
                breakdown = indexes.write_units(decoded(attempt["new"]) or {}, decoded(attempt["old"]), table)
                result["index_writes"].append(breakdown)
                result["index_units"] += sum(breakdown["indexes"].values())
    summary = result["summaries"]
    summary["units"] = summary["stored_units"] + summary["condition_failed_units"]
    return result


# DynamoDB stores 100 bytes of overhead with each item and each index entry
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
ITEM_OVERHEAD_BYTES = 100


def stored_bytes(images: list[dict[str, Any]], table: indexes.Table) -> int:
    """What the table bills storage on for these items: each item and each of its index entries, with overhead."""
    total = 0
    for image in images:
        item = decoded(image) or {}
        total += item_size(item) + ITEM_OVERHEAD_BYTES
        for index in table.indexes:
            entry = indexes.projected(item, table, index)
            if entry is not None:
                total += item_size(entry) + ITEM_OVERHEAD_BYTES
    return total
