"""Questions to the history lake (`make query ARGS=…`, docs/queries.md): a named query of ``operate/queries/`` or a
free one (``--sql``), on DuckDB over the local lake (``.lake/``, no AWS) or on Athena (``--stack-name``).

The SQL is written once, in Athena's (Trino) dialect, with named parameters (``:from``, ``:to``, ``:by``,
``:period``, ``:top``). Parameters are validated, then bound by the engine, never formatted into the text: Athena's
``ExecutionParameters``, DuckDB's prepared parameters (``:name`` becomes ``?`` in the order they occur). The views of
``operate/queries/views/`` a query names are put in front of it as CTEs, so that a query needs no view created
first. Locally the text is transpiled to DuckDB by sqlglot, ``approx_percentile`` becoming the exact
``quantile_cont`` (Athena's answer is approximate; docs/queries.md says by how much).

    make query ARGS="--name weekly_kpis --from 2026-11-02 --to 2026-11-30 --by region"
    make query ARGS="--sql 'SELECT count(*) AS n FROM latest_participant_summaries WHERE dt >= :from' --from 2026-11-01"
    make query ARGS="--name worst_participants --stack-name voice-insights --format csv"
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import takewhile
from pathlib import Path
from typing import Any, TextIO

QUERIES = Path(__file__).resolve().parent / "queries"
VIEWS = QUERIES / "views"
DEFAULT_LAKE = Path(".lake")
CONFERENCE_TABLE, PARTICIPANT_TABLE = "conference_summaries", "participant_summaries"  # domain/lake_schema.py


class Mistake(Exception):
    """A mistake of the caller's: one line saying what to do (exit 2)."""


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # date, choice or int
    help: str
    choices: tuple[str, ...] = ()
    default: Callable[[dict[str, Any]], Any] | None = None

    def parse(self, text: str) -> Any:
        """The value, validated: dates as yyyy-MM-dd, a choice among its values, an int in 1..10000."""
        if self.kind == "date":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise Mistake(f"--{self.name} takes a date as yyyy-MM-dd (e.g. 2026-11-02), not {text[:40]!r}")
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError:
                raise Mistake(f"--{self.name} {text} is not a day of the calendar") from None
        if self.kind == "choice":
            if text not in self.choices:
                raise Mistake(f"--{self.name} takes one of {', '.join(self.choices)}, not {text[:40]!r}")
            return text
        if not re.fullmatch(r"\d{1,5}", text) or not 1 <= int(text) <= 10000:
            raise Mistake(f"--{self.name} takes a whole number from 1 to 10000, not {text[:40]!r}")
        return int(text)

    def athena_literal(self, value: Any) -> str:
        """The value as Athena's ExecutionParameters take it: a SQL literal (validated: no quote can be in it)."""
        return str(value) if self.kind == "int" else f"'{value}'"


def _tomorrow(_: dict[str, Any]) -> str:
    return (datetime.now(UTC).date() + timedelta(days=1)).isoformat()


def _four_weeks_before_to(values: dict[str, Any]) -> str:
    return (date.fromisoformat(values["to"]) - timedelta(days=28)).isoformat()


PARAMETERS = {
    p.name: p
    for p in (
        Parameter("from", "date", "first day, inclusive (default: 28 days before --to)", default=_four_weeks_before_to),
        Parameter("to", "date", "the day after the last, exclusive (default: tomorrow, UTC)", default=_tomorrow),
        Parameter(
            "by",
            "choice",
            "breakdown (default all)",
            ("all", "region", "country", "call_type", "direction", "tag"),
            lambda _: "all",
        ),
        Parameter("period", "choice", "day, week or month (default week)", ("day", "week", "month"), lambda _: "week"),
        Parameter("top", "int", "how many rows of a worst-of list (default 20)", default=lambda _: 20),
    )
}
# Bound in this order when several default from each other (--from defaults from --to).
_DEFAULT_ORDER = ("to", "from", "by", "period", "top")
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|::|:([A-Za-z_]\w*)", re.DOTALL)


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    sql: str  # as written: Athena's dialect, named parameters
    preset: dict[str, Any] = field(default_factory=dict)  # parameters a named preset fixes (weekly_kpis: week)

    @property
    def parameters(self) -> list[str]:
        named = set(parameters_of(expand_views(self.sql)))
        return [p for p in PARAMETERS if p in named and p not in self.preset]


def parameters_of(sql: str) -> list[str]:
    """The named parameters in the order they occur (outside quotes and comments)."""
    return [m.group(1) for m in _TOKENS.finditer(sql) if m.group(1)]


def positional(sql: str) -> tuple[str, list[str]]:
    """``:name`` replaced by ``?`` (outside quotes and comments), with the names in the order of the ``?``."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if not match.group(1):
            return match.group(0)
        names.append(match.group(1))
        return "?"

    return _TOKENS.sub(replace, sql), names


def _body(text: str) -> tuple[str, str]:
    """A .sql file's leading comment (its description) and the statement after it."""
    lines = text.strip().splitlines()
    lead = len(list(takewhile(lambda line: line.startswith("--"), lines)))
    description = " ".join(line.removeprefix("--").strip() for line in lines[:lead])
    return description, "\n".join(lines[lead:]).strip()


def views() -> dict[str, str]:
    """Every view's name and statement (operate/queries/views/<name>.sql)."""
    return {path.stem: _body(path.read_text())[1] for path in sorted(VIEWS.glob("*.sql"))}


def view_descriptions() -> dict[str, str]:
    return {path.stem: _body(path.read_text())[0] for path in sorted(VIEWS.glob("*.sql"))}


PRESETS = {"weekly_kpis": ("kpis", {"period": "week"}), "daily_kpis": ("kpis", {"period": "day"})}


def catalog() -> dict[str, Query]:
    """The named queries: one per operate/queries/*.sql, and the presets of kpis (weekly_kpis, daily_kpis)."""
    found = {}
    for path in sorted(QUERIES.glob("*.sql")):
        description, sql = _body(path.read_text())
        found[path.stem] = Query(path.stem, description, sql)
    for name, (base, preset) in PRESETS.items():
        period = preset["period"]
        found[name] = Query(name, f"kpis per {period} (kpis with --period {period}).", found[base].sql, preset)
    return dict(sorted(found.items()))


def _referenced(sql: str, names: Sequence[str]) -> list[str]:
    words = set(re.findall(r"[A-Za-z_]\w*", _TOKENS.sub(lambda m: " " if not m.group(1) else m.group(0), sql)))
    return [name for name in names if name in words]


def expand_views(sql: str) -> str:
    """The statement with the views it names (and the views they name) in front of it as CTEs, dependencies first."""
    known = views()
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for needed in _referenced(known[name], [n for n in known if n != name]):
            visit(needed)
        order.append(name)

    for name in _referenced(sql, list(known)):
        visit(name)
    if not order:
        return sql
    ctes = ",\n".join(f"{name} AS (\n{known[name]}\n)" for name in order)
    starts_with = re.match(r"\s*with\s", sql, re.IGNORECASE)
    if starts_with:
        return f"WITH {ctes},\n{sql[starts_with.end() :]}"
    return f"WITH {ctes}\n{sql}"


@dataclass(frozen=True)
class Bound:
    """A statement ready for an engine: ``?`` placeholders and their values in order."""

    sql: str  # Athena's dialect, views expanded
    names: list[str]
    values: list[Any]

    def athena_parameters(self) -> list[str]:
        return [PARAMETERS[name].athena_literal(value) for name, value in zip(self.names, self.values, strict=True)]


def bind(sql: str, given: dict[str, str | None], preset: dict[str, Any] | None = None) -> Bound:
    """Validates the parameters the statement uses (defaults for those not given) and binds them in order."""
    text, names = positional(expand_views(sql))
    unknown = sorted(set(names) - set(PARAMETERS))
    if unknown:
        raise Mistake(f"unknown parameter :{unknown[0]} (known: {', '.join(':' + p for p in PARAMETERS)})")
    values: dict[str, Any] = dict(preset or {})
    for name in _DEFAULT_ORDER:
        if name in values:
            continue
        text_value = given.get(name)
        default = PARAMETERS[name].default
        if text_value is not None:
            values[name] = PARAMETERS[name].parse(text_value)
        elif default is not None:
            values[name] = default(values)
    for name, text_value in given.items():
        if text_value is not None and name not in names:
            raise Mistake(f"this query takes no --{name} (it takes: {_options(names) or 'no parameter'})")
    if "from" in names and "to" in names and values["from"] >= values["to"]:
        raise Mistake(f"--from {values['from']} must come before --to {values['to']} (--to is exclusive)")
    return Bound(text, names, [values[name] for name in names])


def _options(names: Sequence[str]) -> str:
    return " ".join(f"--{name}" for name in dict.fromkeys(names))


def only_a_query(sql: str) -> None:
    """A free --sql is one SELECT (or WITH … SELECT): nothing that writes, creates or sets."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(positional(sql)[0], read="athena") if s is not None]
    except sqlglot.errors.SqlglotError as error:
        raise Mistake(f"--sql does not parse as Athena SQL: {str(error).splitlines()[0]}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise Mistake("--sql takes one SELECT statement (WITH … SELECT included), nothing else")


# --- DuckDB over the local lake ---------------------------------------------------------------------------------

_DUCKDB_TYPES = {"string": "VARCHAR", "timestamp": "TIMESTAMP", "bigint": "BIGINT", "int": "INTEGER"}
_DUCKDB_TYPES |= {"double": "DOUBLE", "boolean": "BOOLEAN", "array<string>": "VARCHAR[]"}


def to_duckdb(sql: str) -> str:
    """Athena's SQL as DuckDB's: sqlglot, with approx_percentile made the exact quantile_cont (linear interpolation
    between the closest ranks), so that a test can compare with an exact answer."""
    import sqlglot
    from sqlglot import exp

    def exact(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.ApproxQuantile):
            if any(node.args.get(arg) is not None for arg in ("weight", "accuracy")):
                # sqlglot drops an argument of the three-argument form without an error: refused rather than wrong
                raise Mistake("approx_percentile takes two arguments here (value, percentage), not a weight/accuracy")
            return exp.PercentileCont(this=node.this, expression=node.args["quantile"])
        return node

    try:
        tree = sqlglot.parse_one(sql, read="athena")
    except sqlglot.errors.SqlglotError as error:
        raise Mistake(f"the query does not parse as Athena SQL: {str(error).splitlines()[0]}") from None
    return tree.transform(exact).sql(dialect="duckdb")


def duckdb_lake(lake_dir: Path) -> Any:
    """An in-memory DuckDB with the lake's two tables over ``<lake>/<table>/dt=…/*.parquet`` (dt a string, as in
    Athena), an empty table where none is written yet; times in UTC; files outside the lake unreadable."""
    import duckdb

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "voice_insights"))
    from voice_insights.domain.lake_schema import COLUMNS

    if not lake_dir.is_dir():
        raise Mistake(f"no lake at {lake_dir}/: run make demo (or make up) first, or give --lake-dir DIR")
    connection = duckdb.connect(":memory:")
    for table, columns in COLUMNS.items():
        files = lake_dir / table
        typed = [(name, _DUCKDB_TYPES[kind]) for name, kind in columns]
        if any(files.glob("dt=*/*.parquet")):
            where = str(files / "*" / "*.parquet").replace("'", "''")
            # Cast to the Glue types: a writer's timestamp with a time zone reads as Athena's timestamp (UTC).
            select = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in typed)
            options = "hive_partitioning = true, hive_types_autocast = false, union_by_name = true"
            # names from lake_schema, the path with its quotes doubled
            view = f"CREATE VIEW {table} AS SELECT {select}, dt FROM read_parquet('{where}', {options})"  # noqa: S608
            connection.execute(view)
        else:
            connection.execute(f"CREATE TABLE {table} ({', '.join(f'{n} {k}' for n, k in typed)}, dt VARCHAR)")
    connection.execute(f"SET allowed_directories = ['{str(lake_dir.resolve()).replace("'", "''")}']")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection


def run_duckdb(bound: Bound, lake_dir: Path, connection: Any = None) -> tuple[list[str], list[list[Any]]]:
    """The answer on DuckDB: on ``connection`` (a ``duckdb_lake``, several queries sharing it) or a new one."""
    import duckdb

    own = connection is None
    connection = duckdb_lake(lake_dir) if own else connection
    try:
        cursor = connection.execute(to_duckdb(bound.sql), bound.values)
        columns = [column[0] for column in cursor.description]
        return columns, [list(row) for row in cursor.fetchall()]
    except duckdb.Error as error:
        raise Mistake(f"the query failed on DuckDB: {str(error).splitlines()[0]}") from None
    finally:
        if own:
            connection.close()


# --- Athena ---------------------------------------------------------------------------------------------------------


def lake_database(stack_name: str) -> str:
    """The Glue database of a stack (the lake's contract): its name with '-' as '_', then _lake."""
    return stack_name.replace("-", "_") + "_lake"


def athena_workgroup(cloudformation: Any, stack_name: str) -> str:
    outputs = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "AthenaWorkGroupName":
            return str(output["OutputValue"])
    raise Mistake(f"stack {stack_name} has no AthenaWorkGroupName output: deploy this version of the template")


_ATHENA_NUMBERS: dict[str, Callable[[str], Any]] = {
    "tinyint": int,
    "smallint": int,
    "integer": int,
    "bigint": int,
    "double": float,
    "float": float,
    "real": float,
    "decimal": Decimal,
    "boolean": lambda text: text == "true",
}


def run_athena(
    bound: Bound, athena: Any, workgroup: str, database: str, timeout: float = 600.0, progress: TextIO | None = None
) -> tuple[list[str], list[list[Any]]]:
    """Starts the query in the stack's workgroup with its parameters bound by Athena, polls until it ends, reads
    every page of the results (the first row of the first page is the header)."""
    request: dict[str, Any] = {
        "QueryString": bound.sql,
        "WorkGroup": workgroup,
        "QueryExecutionContext": {"Database": database},
    }
    if bound.values:
        request["ExecutionParameters"] = bound.athena_parameters()
    query_id = athena.start_query_execution(**request)["QueryExecutionId"]
    waited, pause = 0.0, 0.25
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        if waited >= timeout:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise Mistake(f"query {query_id} ran over {timeout:.0f} s and was stopped: narrow the window")
        if progress is not None:
            progress.write(f"\rAthena query {query_id}: {status['State'].lower()} ({waited:.0f} s)")
        time.sleep(pause)
        waited, pause = waited + pause, min(pause * 2, 2.0)
    if progress is not None:
        progress.write("\n")
    if status["State"] != "SUCCEEDED":
        reason = str(status.get("StateChangeReason") or status["State"]).splitlines()[0]
        raise Mistake(f"Athena query {query_id} {status['State'].lower()}: {reason}")
    columns: list[str] = []
    rows: list[list[Any]] = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
        cells = [[datum.get("VarCharValue") for datum in row["Data"]] for row in page["ResultSet"]["Rows"]]
        if not columns:
            columns, cells = [column["Name"] for column in info], cells[1:]
        kinds = [_ATHENA_NUMBERS.get(column["Type"].lower()) for column in info]
        rows += [[v if v is None or k is None else k(v) for v, k in zip(row, kinds, strict=False)] for row in cells]
    return columns, rows


# --- Output ---------------------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _cell(value: Any) -> str:
    """A table cell: numbers rounded to 4 decimals, control characters escaped (they cannot move the cursor)."""
    value = plain(value)
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
    elif isinstance(value, list):
        text = ",".join(map(str, value))
    else:
        text = str(value)
    return escaped(text)


def escaped(text: str) -> str:
    """``text`` with its control characters written as escapes (\\x1b, \\n …): a terminal shows them, runs none."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def render_table(columns: list[str], rows: list[list[Any]]) -> str:
    cells = [[_cell(c) for c in columns], *([_cell(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    numeric = [
        all(isinstance(plain(row[i]), int | float) or row[i] is None for row in rows) for i in range(len(columns))
    ]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(lines) + "\n"


def csv_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run: text starting with = + - @ tab or CR gets a leading ' (OWASP,
    https://owasp.org/www-community/attacks/CSV_Injection). Numbers stay numbers."""
    value = plain(value)
    if isinstance(value, list):
        value = ",".join(map(str, value))
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def render_csv(columns: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_safe(c) for c in columns])
    writer.writerows([csv_safe(v) for v in row] for row in rows)
    return out.getvalue()


def render_json(columns: list[str], rows: list[list[Any]]) -> str:
    return json.dumps([dict(zip(columns, map(plain, row), strict=True)) for row in rows], indent=2) + "\n"


RENDERERS = {"table": render_table, "csv": render_csv, "json": render_json}


# --- The template's named queries ----------------------------------------------------------------------------------


def named_query_bodies() -> dict[str, tuple[str, str]]:
    """What the template's AWS::Athena::NamedQuery resources hold, by logical id: each view as CREATE OR REPLACE VIEW,
    each query as Athena runs it (views as CTEs, ``?`` for its parameters, listed in a first comment line)."""
    bodies = {}
    for name, sql in views().items():
        bodies[_logical_id("LakeView", name)] = (name, f"CREATE OR REPLACE VIEW {name} AS\n{sql}\n")
    for name, known in catalog().items():
        if known.preset:
            continue
        text, names = positional(expand_views(known.sql))
        bodies[_logical_id("LakeQuery", name)] = (name, f"-- parameters, in order: {', '.join(names)}\n{text}\n")
    return bodies


def _logical_id(prefix: str, name: str) -> str:
    return prefix + "".join(part.capitalize() for part in name.split("_"))


def named_queries_yaml() -> str:
    """The template's block of named queries (make the template's block this: python -m operate.query
    --named-queries-yaml; tests/unit/test_athena_template.py fails when they differ)."""
    descriptions = {**view_descriptions(), **{q.name: q.description for q in catalog().values()}}
    lines = []
    for logical_id, (name, body) in named_query_bodies().items():
        summary = descriptions[name].split(": ")[0].split(". ")[0][:120].replace('"', "'")
        lines += [
            f"  {logical_id}:",
            "    Type: AWS::Athena::NamedQuery",
            "    Properties:",
            f"      Name: {name}",
            f'      Description: "{summary}"',
            "      WorkGroup: !Ref AthenaWorkGroup",
            "      Database: !Ref LakeDatabase  # the Glue database of the lake (docs/history.md)",
            "      QueryString: |",
            *(f"        {line}".rstrip() for line in body.splitlines()),
            "",
        ]
    return "\n".join(lines)


# --- The command ----------------------------------------------------------------------------------------------------


def render_list() -> str:
    lines = []
    for query in catalog().values():
        lines.append(f"{query.name}  {_options(query.parameters)}".rstrip())
        lines.append(f"    {query.description}")
    lines.append("views (name them in --sql; each named query has them as CTEs):")
    lines += [f"  {name}: {text}" for name, text in view_descriptions().items()]
    return "\n".join(lines) + "\n"


def statement(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    if args.sql is not None:
        only_a_query(args.sql)
        return args.sql, {}
    known = catalog()
    if args.name not in known:
        raise Mistake(f"no query named {args.name!r}: make query ARGS=--list shows them")
    return known[args.name].sql, known[args.name].preset


def answer(args: argparse.Namespace, progress: TextIO | None) -> tuple[list[str], list[list[Any]]]:
    sql, preset = statement(args)
    given = {name: getattr(args, name) for name in PARAMETERS}
    return run(bind(sql, given, preset), Path(args.lake_dir), args.stack_name, progress)


def run(
    bound: Bound, lake_dir: Path, stack_name: str | None, progress: TextIO | None = None, connection: Any = None
) -> tuple[list[str], list[list[Any]]]:
    """The answer from DuckDB over the local lake, or from Athena in the stack's workgroup with ``stack_name``."""
    if not stack_name:
        return run_duckdb(bound, lake_dir, connection)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        workgroup = athena_workgroup(boto3.client("cloudformation"), stack_name)
        return run_athena(bound, boto3.client("athena"), workgroup, lake_database(stack_name), progress=progress)
    except (BotoCoreError, ClientError) as error:
        raise Mistake(
            f"AWS refused: {str(error).splitlines()[0]} (check --stack-name and your AWS credentials)"
        ) from None


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make query ARGS=", description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--name", help="a named query (--list shows them)")
    what.add_argument("--sql", help="a SELECT in Athena's SQL, over the tables and views, with :from, :to, … if wanted")
    what.add_argument("--list", action="store_true", help="list the named queries and their parameters")
    for parameter in PARAMETERS.values():
        parser.add_argument(f"--{parameter.name}", help=parameter.help)
    parser.add_argument("--format", choices=list(RENDERERS), default="table")
    parser.add_argument("--lake-dir", default=str(DEFAULT_LAKE), help="the local lake (default .lake)")
    parser.add_argument("--stack-name", help="ask Athena in this deployed stack's workgroup (your AWS credentials)")
    parser.add_argument("--named-queries-yaml", action="store_true", help=argparse.SUPPRESS)
    return parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, as argparse does, without the usage block
        raise Mistake(f"{message} (make query ARGS=--help)")


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    command = parser()
    command.__class__ = _Parser
    try:
        args = command.parse_args(argv)
        if args.list:
            out.write(render_list())
            return 0
        if args.named_queries_yaml:
            out.write(named_queries_yaml())
            return 0
        if args.name is None and args.sql is None:
            raise Mistake("give --name NAME (make query ARGS=--list shows them) or --sql 'SELECT …'")
        columns, rows = answer(args, err)
    except Mistake as mistake:
        err.write(f"make query: {mistake}\n")
        return 2
    except KeyboardInterrupt:
        err.write("make query: interrupted\n")
        return 130
    except Exception as error:  # the rule: one line, never a traceback
        err.write(
            f"make query: unexpected {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}\n"
        )
        return 1
    out.write(RENDERERS[args.format](columns, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
