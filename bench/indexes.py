"""Write units per stored item: the table's and each global secondary index's, from the items themselves.

The indexes (key attributes, projection) are read from template.yaml's ``SummariesTable``; the items are
the images the bench's run wrote (bench/invoke.py), sized with ``items.item_size`` as the table write is.

How DynamoDB bills them (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html,
"Provisioned throughput considerations for Global Secondary Indexes", writes): a table write that gives an
item an index's key attributes puts it into that index (one write); one that changes an index key value
deletes the old entry and puts the new one (two writes); one that removes them deletes the entry (one
write); an item without the index's key attributes before and after costs that index nothing (a sparse
index). Each index write is a standard write, 1 unit per 1 KB of the item as projected into the index,
rounded up ("Larger index entries require additional write capacity units"); what is projected is the
table's key and the index's key attributes (KEYS_ONLY), those plus the ``NonKeyAttributes`` (INCLUDE),
or the whole item (ALL). Item sizes: names plus values
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
The 100 bytes per index entry that the GSI page adds count toward storage, not write units. The table write
is a standard PutItem (1 unit per KB, bench/billing.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.cfn import Resolver, load_template
from voice_insights.domain.items import item_size

TABLE_RESOURCE = "SummariesTable"
KB = 1024


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]  # the index's key attributes (partition, then sort)
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    non_key: tuple[str, ...] = ()  # INCLUDE's NonKeyAttributes


@dataclass(frozen=True)
class Table:
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]


# Who queries each index (layers/voice_insights/voice_insights/read/summary_queries.py): an index nobody reads is
# a write unit per item for nothing (tests/unit/test_bench.py checks every index of the template is here).
READERS = {
    "ByAccountStartTime": "read API: GET /v1/conferences?accountSid= (an account's conferences by start time)",
    "ByCallSid": "read API: GET /v1/calls/{callSid}; only with CallSidIndex=true",
    "ByIssueMonth": "read API: GET /v1/issues (summaries with quality issues by time)",
}
# Every index the template can create: the bench prices each one, deployed by default or not.
ALL_INDEXES = {"CallSidIndex": "true"}


def table_from_template(path: Path, parameters: dict[str, str] | None = None) -> Table:
    """The table's keys and indexes as a stack with ``parameters`` (the defaults otherwise) creates them."""
    template = load_template(path)
    properties = Resolver(template, "bench", parameters).resolve(template["Resources"][TABLE_RESOURCE]["Properties"])
    indexes = tuple(
        Index(
            name=index["IndexName"],
            keys=tuple(key["AttributeName"] for key in index["KeySchema"]),
            projection=index["Projection"]["ProjectionType"],
            non_key=tuple(index["Projection"].get("NonKeyAttributes", ())),
        )
        for index in properties.get("GlobalSecondaryIndexes", [])
    )
    return Table(keys=tuple(key["AttributeName"] for key in properties["KeySchema"]), indexes=indexes)


def units(size: int, per_kb: int = 1) -> int:
    """Write units for an item of ``size`` bytes: ``per_kb`` per 1 KB or part of one (an empty item is still 1 KB)."""
    return per_kb * max(1, math.ceil(size / KB))


def projected(item: dict[str, Any], table: Table, index: Index) -> dict[str, Any] | None:
    """The item as the index holds it, or None when the item is not in the index (a key attribute missing)."""
    if not all(key in item for key in index.keys):
        return None
    if index.projection == "ALL":
        return item
    kept = {*table.keys, *index.keys, *(index.non_key if index.projection == "INCLUDE" else ())}
    return {name: value for name, value in item.items() if name in kept}


def index_write_units(new: dict[str, Any], old: dict[str, Any] | None, table: Table, index: Index) -> int:
    """The index's write units for one table write replacing ``old`` (None: a new item) with ``new``."""
    before = projected(old, table, index) if old is not None else None
    after = projected(new, table, index)
    if after is None:
        return 0 if before is None else units(item_size(before))  # out of the index: a delete
    if before is None:
        return units(item_size(after))  # into the index: a put
    if any(before[key] != after[key] for key in index.keys):
        return units(item_size(before)) + units(item_size(after))  # key changed: delete and put
    return 0 if before == after else units(item_size(after))  # projected attributes changed: a put


def write_units(new: dict[str, Any], old: dict[str, Any] | None, table: Table) -> dict[str, Any]:
    """One write's breakdown: the item's kind, table units (a standard write) and per index in it / units."""
    return {
        "kind": "conference" if new["sk"]["S"] == "SUMMARY" else "participant",
        "table": units(max(item_size(new), item_size(old) if old is not None else 0)),
        "in": {index.name: projected(new, table, index) is not None for index in table.indexes},
        "indexes": {index.name: index_write_units(new, old, table, index) for index in table.indexes},
    }


def summarise(writes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per item kind (and "all"): items, average units per item for the table and each index, the share of
    items in each index and the units per item in it."""
    summary: dict[str, dict[str, Any]] = {}
    for kind in ("conference", "participant", "all"):
        rows = [w for w in writes if kind in ("all", w["kind"])]
        if not rows:
            continue
        count = len(rows)
        names = list(rows[0]["indexes"])
        per_index = {}
        for name in names:
            inside = [w for w in rows if w["in"][name]]
            total = sum(w["indexes"][name] for w in rows)
            per_index[name] = {
                "units": total / count,
                "share": len(inside) / count,
                "units_in": sum(w["indexes"][name] for w in inside) / len(inside) if inside else 0.0,
            }
        summary[kind] = {
            "items": count,
            "table": sum(w["table"] for w in rows) / count,
            "indexes": per_index,
            "index_total": sum(sum(w["indexes"].values()) for w in rows) / count,
        }
    return summary


def render(summary: dict[str, dict[str, Any]], table: Table, deployed: Table, events: int) -> list[str]:
    """The markdown section: one row per index (its units per 1,000 events, who reads it, deployed by default or
    not), then one row per item kind, one column per index. ``table`` has every index, ``deployed`` the default's."""
    names = [index.name for index in table.indexes]
    default = {index.name for index in deployed.indexes}
    header = "| item kind | table | " + " | ".join(f"{index.name} ({index.projection})" for index in table.indexes)
    per_1000 = summary["all"]["items"] * 1000 / events
    lines = [
        "## Write units per item, by index",
        "",
        "Every item the handler run stored, sized as DynamoDB bills it (bench/indexes.py): the table write 1 unit per",
        "KB (a standard PutItem), an index write 1 per KB of the item as projected there (ALL: the item; KEYS_ONLY:",
        "the table and index keys), only for items with the index's key attributes. Every index the template can",
        "create is priced (CallSidIndex=true); the default stack has those marked deployed.",
        "",
        "| index | write units per 1,000 events | read by | in the default stack |",
        "|---|---|---|---|",
        *[
            f"| {name} | {summary['all']['indexes'][name]['units'] * per_1000:,.0f} | {READERS.get(name, 'nobody')} | "
            f"{'yes' if name in default else 'no'} |"
            for name in names
        ],
        "",
        "Per item kind. Cells: average units per item; then the share of items in the index and the units per item",
        "in it.",
        "",
        header + " | indexes, all |",
        "|---|---|" + "---|" * len(names) + "---|",
    ]
    for kind, figures in summary.items():
        cells = []
        for name in names:
            index = figures["indexes"][name]
            if index["share"]:
                cells.append(f"{index['units']:.2f}; {index['share']:.0%} in it, {index['units_in']:.2f} each")
            else:
                cells.append("not in it")
        lines.append(
            f"| {kind}: {figures['items']} items | {figures['table']:.2f} | "
            + " | ".join(cells)
            + f" | {figures['index_total']:.2f} |"
        )
    return lines
