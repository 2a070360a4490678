"""Given `make up` running, when it prints the ready-made `aws kinesis put-record`, then the command works with
the AWS CLI v1 as with v2: the record's data is passed as a file (fileb://, raw bytes on both), not inline with
v2's --cli-binary-format, which v1 refuses."""

from __future__ import annotations

import base64
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devtools import local
from devtools.cfn import local_client
from devtools.moto_server import MotoServer, aws_env

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "events/conference_summary_complete/kinesis.json"


def banner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint_url: str = "http://127.0.0.1:1") -> str:
    monkeypatch.setattr(local, "LOCAL_SAMPLES", tmp_path)
    gateway = SimpleNamespace(route_urls=lambda: {"ParticipantSummaryCompleteFunction": "http://127.0.0.1:2/v1/x"})
    refs = {"EventStream": "local-stream", "SummariesTable": "local-table"}
    runner: Any = SimpleNamespace(
        gateway=gateway,
        endpoint_url=endpoint_url,
        resources=refs,
        ref=refs.__getitem__,
        read_api_url="http://127.0.0.1:3/v1",
        process_ids=lambda: {},
        ports=lambda: [],
        lake_dir=ROOT / ".lake",
    )
    return local.running_banner(runner, "local-alerts")


def put_record_command(text: str) -> str:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "aws kinesis put-record" in line)
    return " ".join(line.strip().removesuffix("\\") for line in lines[start : start + 2])


def test_the_put_record_passes_the_records_data_as_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = put_record_command(banner(tmp_path, monkeypatch))

    assert "--cli-binary-format" not in command
    words = shlex.split(command, comments=True)
    data = words[words.index("--data") + 1]
    assert data.startswith("fileb://")
    sent = (ROOT / data.removeprefix("fileb://")).read_bytes()
    assert sent == base64.b64decode(json.loads(RECORD.read_text())["Records"][0]["kinesis"]["data"])
    assert json.loads(sent)["type"] == "com.twilio.voice.insights.conference-summary.complete"


@pytest.mark.skipif(shutil.which("aws") is None, reason="no AWS CLI on PATH")
def test_the_printed_put_record_runs_with_the_installed_aws_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MotoServer() as moto:
        kinesis = local_client("kinesis", moto.endpoint_url)
        kinesis.create_stream(StreamName="local-stream", ShardCount=1)
        command = put_record_command(banner(tmp_path, monkeypatch, moto.endpoint_url))

        answer = subprocess.run(
            shlex.split(command, comments=True),
            cwd=ROOT,
            env={"PATH": str(Path(shutil.which("aws") or "").parent) + ":/usr/bin:/bin", **aws_env(moto.endpoint_url)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert answer.returncode == 0, answer.stderr
        shard = kinesis.list_shards(StreamName="local-stream")["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(
            StreamName="local-stream", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )
        records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]

    assert [json.loads(r["Data"])["type"] for r in records] == ["com.twilio.voice.insights.conference-summary.complete"]


def test_the_banner_prints_a_make_query_over_the_weeks_of_the_sample_conference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = banner(tmp_path, monkeypatch)
    (line,) = [line.strip() for line in text.splitlines() if line.strip().startswith("make query")]
    args = shlex.split(shlex.split(line)[2].removeprefix("ARGS="))
    assert args[:2] == ["--name", "weekly_kpis"]
    start, end = args[args.index("--from") + 1], args[args.index("--to") + 1]
    data = json.loads(base64.b64decode(json.loads(RECORD.read_text())["Records"][0]["kinesis"]["data"]))
    day = str((data["data"] if isinstance(data["data"], dict) else json.loads(data["data"]))["start_time"])[:10]
    assert start <= day < end  # the sample conference the put-record above stores is in the window
    assert "Parquet under .lake/" in text
