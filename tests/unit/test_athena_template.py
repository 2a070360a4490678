"""Given template.yaml and operate/queries, then the template's Athena block is what the SQL files say: one named
query per view and per query, each body generated from its file (views as CTEs, ``?`` for parameters), in an enforced
workgroup with a bytes-scanned cutoff (a parameter, at least Athena's 10 MB) and results encrypted with SSE_KMS in an
expiring bucket; and every query filters on dt as well as on its time column (partition pruning), with none of the
forms sqlglot translates wrongly without an error (three-argument approx_percentile, date_add)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devtools.cfn import load_template
from operate import query

TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
RESOURCES = TEMPLATE["Resources"]


def test_the_named_queries_of_the_template_are_generated_from_the_sql_files() -> None:
    in_template = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::Athena::NamedQuery"}

    assert {k: p["QueryString"] for k, p in in_template.items()} == {
        k: b for k, (_, b) in query.named_query_bodies().items()
    }
    assert {p["Name"] for p in in_template.values()} == {
        *query.views(),
        *(n for n, q in query.catalog().items() if not q.preset),
    }
    assert all(p["WorkGroup"] == {"Ref": "AthenaWorkGroup"} for p in in_template.values())


def test_the_template_block_is_what_the_generator_prints() -> None:
    text = (Path(__file__).resolve().parents[2] / "template.yaml").read_text()

    assert query.named_queries_yaml() in text


def test_the_workgroup_enforces_a_cutoff_and_encrypted_expiring_results() -> None:
    configuration = RESOURCES["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    cutoff = TEMPLATE["Parameters"]["AthenaBytesScannedCutoffPerQuery"]
    results = RESOURCES["AthenaResultsBucket"]["Properties"]

    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoffPerQuery"}
    assert cutoff["MinValue"] == 10_000_000 <= cutoff["Default"]
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": {"Fn::GetAtt": ["AthenaResultsKey", "Arn"]},
    }
    assert configuration["ResultConfiguration"]["OutputLocation"] == {"Fn::Sub": "s3://${AthenaResultsBucket}/results/"}
    [rule] = results["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "AthenaResultsRetentionDays"}
    assert TEMPLATE["Outputs"]["AthenaWorkGroupName"]["Value"] == {"Ref": "AthenaWorkGroup"}


def test_the_athena_block_is_one_block_ending_in_the_generated_named_queries() -> None:
    """Where it sits among the resources does not matter (other blocks follow it); that it is whole does: the key,
    results bucket and workgroup, then the named queries as `python -m operate.query --named-queries-yaml` prints
    them, so that the generator's output replaces them as one block."""
    names = list(RESOURCES)
    athena = [name for name in names if name.startswith(("Athena", "LakeView", "LakeQuery"))]
    first = names.index("AthenaResultsKey")
    queries = [name for name in athena if RESOURCES[name]["Type"] == "AWS::Athena::NamedQuery"]

    assert names[first : first + len(athena)] == athena
    assert athena[-len(queries) :] == queries == list(query.named_query_bodies())


@pytest.mark.parametrize("name", sorted(n for n, q in query.catalog().items() if not q.preset))
def test_every_query_filters_on_dt_and_on_its_time_column_wherever_it_reads_the_lake(name: str) -> None:
    sql = query.catalog()[name].sql
    reads = len(re.findall(r"\bFROM (participant_quality|latest_\w+|\w+_summaries)\b", sql))

    assert reads >= 1
    assert len(re.findall(r"\.dt >= :from AND \w+\.dt < :to", sql)) == reads
    assert len(re.findall(r"< CAST\(:to AS timestamp\)", sql)) == reads


def test_no_sql_uses_what_sqlglot_translates_wrongly_without_an_error() -> None:
    texts = [*query.views().values(), *(q.sql for q in query.catalog().values())]

    for sql in texts:
        assert not re.search(r"approx_percentile\([^()]*,[^()]*,", sql)
        assert "date_add" not in sql.lower()
