"""Integration fixtures: a real moto server over HTTP on 127.0.0.1, with the template's own data resources."""

from __future__ import annotations

import importlib.util
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from devtools.cfn import create_data_resources, local_client
from devtools.lambda_events import LocalLambdaContext
from devtools.moto_server import MotoServer, aws_env

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


class LocalStack:
    """The template's tables, stream, bucket and queues in moto, with clients to inspect them."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self.resources = create_data_resources(TEMPLATE, endpoint_url)
        self.table_name = self.resources["SummariesTable"]["ref"]
        self.bucket = self.resources["RejectedEventsBucket"]["ref"]
        self.stream_name = self.resources["EventStream"]["ref"]
        self.dynamodb = self.client("dynamodb")
        self.s3 = self.client("s3")
        self.kinesis = self.client("kinesis")

    def client(self, service: str) -> Any:
        return local_client(service, self.endpoint_url)

    def items(self) -> list[dict[str, Any]]:
        return self.dynamodb.scan(TableName=self.table_name)["Items"]

    def rejected(self) -> list[dict[str, Any]]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return [json.loads(self.s3.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read()) for o in listing]


@pytest.fixture
def stack(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    moto.reset()
    for name, value in aws_env(moto.endpoint_url).items():
        monkeypatch.setenv(name, value)
    local = LocalStack(moto.endpoint_url)
    monkeypatch.setenv("SUMMARIES_TABLE_NAME", local.table_name)
    monkeypatch.setenv("REJECTED_BUCKET_NAME", local.bucket)
    monkeypatch.setenv("RETENTION_DAYS", "0")
    return local


Handler = Callable[[dict[str, Any]], Any]


def load_handlers() -> dict[str, Handler]:
    """Each function's handler, loaded afresh from functions/<name>/app.py (in-process)."""
    loaded = {}
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        spec = importlib.util.spec_from_file_location(f"fn_{app.parent.name}", app)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        context = LocalLambdaContext(function_name=app.parent.name)
        loaded[app.parent.name] = lambda event, h=module.lambda_handler, c=context: h(event, c)
    return loaded


@pytest.fixture
def handlers(stack: LocalStack) -> dict[str, Handler]:
    return load_handlers()


class MetricsCapture:
    """Sums the EMF metrics the handlers print (Powertools Metrics writes them to stdout)."""

    def __init__(self) -> None:
        self.totals: Counter[str] = Counter()

    def run(self, call: Callable[[], Any]) -> Any:
        out = io.StringIO()
        with redirect_stdout(out):
            result = call()
        for line in out.getvalue().splitlines():
            if '"_aws"' not in line:
                continue
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    self.totals[metric["Name"]] += sum(_values(document[metric["Name"]]))
        return result


def _values(value: Any) -> list[float]:
    return value if isinstance(value, list) else [value]


@pytest.fixture
def metrics_capture() -> MetricsCapture:
    return MetricsCapture()
