"""The quality digest run locally: the digest function's own code (voice_insights.digest) over the local lake
(``.lake/``, what make demo or make up wrote) with DuckDB in Athena's place, the same named queries
(operate/queries/) transpiled as make query does. Prints the digest on stdout: its text, or its digest/1 JSON.

    .venv/bin/python -m devtools.digest --kind daily --today 2026-12-04 [--json] [--lake-dir .lake]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from operate.query import Mistake, bind, catalog, duckdb_lake, run_duckdb
from voice_insights.digest.digest import Question, build_digest, questions, render_text, window_for


class DuckDbLake:
    """The digest's questions answered by DuckDB over a local lake: the lake interface of aws/lake_queries.py."""

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = lake_dir

    def ask(self, asked: Sequence[Question]) -> dict[str, list[dict[str, Any]]]:
        named = catalog()
        connection = duckdb_lake(self.lake_dir)
        try:
            answers = {}
            for question in asked:
                bound = bind(named[question.query].sql, dict(question.parameters))
                columns, rows = run_duckdb(bound, self.lake_dir, connection)
                answers[question.key] = [dict(zip(columns, row, strict=True)) for row in rows]
            return answers
        finally:
            connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["daily", "weekly"], default="daily")
    parser.add_argument("--today", help="the day the digest runs, yyyy-MM-dd (default: today, UTC)")
    parser.add_argument("--lake-dir", default=".lake")
    parser.add_argument("--read-api-url", default="", help="the stack's ReadApiUrl, for the conferences' links")
    parser.add_argument("--json", action="store_true", help="the digest/1 JSON instead of the text")
    args = parser.parse_args(argv)
    try:
        today = date.fromisoformat(args.today) if args.today else datetime.now(UTC).date()
    except ValueError:
        print(f"--today takes a date as yyyy-MM-dd, not {args.today!r}", file=sys.stderr)
        return 2
    window = window_for(args.kind, today)
    try:
        digest = build_digest(window, DuckDbLake(Path(args.lake_dir)).ask(questions(window)), args.read_api_url)
    except Mistake as mistake:
        print(mistake, file=sys.stderr)
        return 2
    print(digest.model_dump_json(indent=2) if args.json else render_text(digest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
