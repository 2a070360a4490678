"""The history lake's named queries asked through Athena, within the workgroup's limits and a time budget.

Each named query (template: AWS::Athena::NamedQuery, written from operate/queries/) starts with a line naming its
``?`` parameters in order (``-- parameters, in order: period, by, from, to, from, to``): they are bound by Athena
(ExecutionParameters: https://docs.aws.amazon.com/athena/latest/ug/querying-with-prepared-statements.html), never
formatted into the text. All questions start at once, then are polled until they end or the budget runs out (then
stopped). The workgroup enforces the bytes-scanned cutoff: a query past it fails, and so does the digest, loudly.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from voice_insights.digest.digest import Question

_PARAMETER_LINE = re.compile(r"--\s*parameters, in order:\s*(.*)")
_NUMBERS: dict[str, Callable[[str], Any]] = {
    "tinyint": int, "smallint": int, "integer": int, "bigint": int,
    "double": float, "float": float, "real": float, "decimal": float,
}  # fmt: skip
_INTEGER_PARAMETERS = {"top"}


class LakeError(RuntimeError):
    pass


class Lake(Protocol):
    """Answers the digest's questions: per question key, its rows as dicts (Athena in AWS, DuckDB locally)."""

    def ask(self, asked: Sequence[Question]) -> dict[str, list[dict[str, Any]]]: ...


def parameter_order(query_string: str) -> list[str]:
    first = query_string.lstrip().splitlines()[0] if query_string.strip() else ""
    found = _PARAMETER_LINE.match(first)
    return [name.strip() for name in found[1].split(",") if name.strip()] if found else []


def literal(name: str, value: str) -> str:
    """A parameter as Athena's ExecutionParameters take it: a SQL literal (the digest's own values: dates, words)."""
    if name in _INTEGER_PARAMETERS:
        return str(int(value))
    if not re.fullmatch(r"[\w.-]+", value):
        raise LakeError(f"parameter {name} is not a plain value: {value[:40]!r}")
    return f"'{value}'"


class AthenaLake:
    def __init__(
        self,
        client: Any,
        workgroup: str,
        database: str,
        named_queries: Mapping[str, str],  # query name -> NamedQueryId
        budget_seconds: Callable[[], float],  # what is left of the function's time for the queries
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.workgroup = workgroup
        self.database = database
        self.named_queries = named_queries
        self.budget_seconds = budget_seconds
        self.sleep = sleep
        self._texts: dict[str, str] = {}

    def _text(self, name: str) -> str:
        if name not in self._texts:
            if name not in self.named_queries:
                raise LakeError(f"no named query {name} configured")
            found = self.client.get_named_query(NamedQueryId=self.named_queries[name])
            self._texts[name] = found["NamedQuery"]["QueryString"]
        return self._texts[name]

    def ask(self, asked: Sequence[Question]) -> dict[str, list[dict[str, Any]]]:
        started = {}
        for question in asked:
            text = self._text(question.query)
            values = [literal(name, question.parameters[name]) for name in parameter_order(text)]
            request: dict[str, Any] = {
                "QueryString": text,
                "WorkGroup": self.workgroup,
                "QueryExecutionContext": {"Database": self.database},
            }
            if values:
                request["ExecutionParameters"] = values
            started[question.key] = self.client.start_query_execution(**request)["QueryExecutionId"]
        self._wait(started)
        return {key: self._rows(query_id) for key, query_id in started.items()}

    def _wait(self, started: dict[str, str]) -> None:
        pending, pause = dict(started), 0.25
        while pending:
            for key, query_id in list(pending.items()):
                status = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
                if status["State"] == "SUCCEEDED":
                    del pending[key]
                elif status["State"] in ("FAILED", "CANCELLED"):
                    reason = str(status.get("StateChangeReason") or status["State"]).splitlines()[0]
                    del pending[key]
                    self._stop(pending)
                    raise LakeError(f"Athena query {key} ({query_id}) {status['State'].lower()}: {reason}")
            if pending and self.budget_seconds() <= pause:
                self._stop(pending)
                raise LakeError(f"Athena queries {', '.join(sorted(pending))} did not end in the function's time")
            if pending:
                self.sleep(pause)
                pause = min(pause * 2, 2.0)

    def _stop(self, pending: Mapping[str, str]) -> None:
        for query_id in pending.values():
            with contextlib.suppress(Exception):  # best effort: the error that stopped us is the one reported
                self.client.stop_query_execution(QueryExecutionId=query_id)

    def _rows(self, query_id: str) -> list[dict[str, Any]]:
        columns: list[str] = []
        rows: list[dict[str, Any]] = []
        for page in self.client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
            cells = [[datum.get("VarCharValue") for datum in row["Data"]] for row in page["ResultSet"]["Rows"]]
            if not columns:
                columns, cells = [column["Name"] for column in info], cells[1:]  # the first row is the header
            kinds = [_NUMBERS.get(column["Type"].lower()) for column in info]
            for cell in cells:
                values = [v if v is None or k is None else k(v) for v, k in zip(cell, kinds, strict=False)]
                rows.append(dict(zip(columns, values, strict=False)))
        return rows
