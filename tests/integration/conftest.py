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

from devtools.accounting import kept_records
from devtools.cfn import create_data_resources, filter_patterns, load_template, local_client
from devtools.lambda_events import (
    LOCAL_WEBHOOK_SECRET,
    LocalLambdaContext,
    kinesis_filter_matches,
    read_stream_records,
    read_table_stream_records,
    table_stream_filter_matches,
)
from devtools.moto_server import MotoServer, aws_env
from devtools.queues import drain, subscribe_queue

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
        self.table_stream_arn = self.resources["SummariesTable"]["attrs"]["StreamArn"]
        self.topic_arn = self.resources["AlertTopic"]["ref"]
        self.ledger_table = self.resources["AlertLedgerTable"]["ref"]
        self.webhook_secret = self.resources["TwilioWebhookSecret"]["ref"]
        self.lake_bucket = self.resources["LakeBucket"]["ref"]
        self.dynamodb = self.client("dynamodb")
        self.s3 = self.client("s3")
        self.kinesis = self.client("kinesis")
        self.sns = self.client("sns")
        self.sqs = self.client("sqs")
        self._delivered_stream_events: set[str] = set()
        self.set_webhook_secret(LOCAL_WEBHOOK_SECRET)

    def function_env(self) -> dict[str, str]:
        """The environment template.yaml gives the functions, for these resources."""
        return {
            "SUMMARIES_TABLE_NAME": self.table_name,
            "REJECTED_BUCKET_NAME": self.bucket,
            "RETENTION_DAYS": "0",
            "ALERT_TOPIC_ARN": self.topic_arn,
            "ALERT_LEDGER_TABLE_NAME": self.ledger_table,
            "WEBHOOK_SECRET_ARN": self.webhook_secret,
            "LAKE_CONFERENCE_STREAM_NAME": self.resources["LakeConferenceStream"]["ref"],
            "LAKE_PARTICIPANT_STREAM_NAME": self.resources["LakeParticipantStream"]["ref"],
        }

    def set_webhook_secret(self, value: dict[str, str]) -> None:
        self.client("secretsmanager").put_secret_value(SecretId=self.webhook_secret, SecretString=json.dumps(value))

    def client(self, service: str) -> Any:
        return local_client(service, self.endpoint_url)

    def items(self) -> list[dict[str, Any]]:
        return self.dynamodb.scan(TableName=self.table_name)["Items"]

    def rejected(self) -> list[dict[str, Any]]:
        """Every rejected event kept (one record per event, whatever the objects hold)."""
        return kept_records(self.s3, self.bucket, "rejected/")

    def refused(self) -> list[dict[str, Any]]:
        """Every refused (unauthenticated) webhook request kept."""
        return kept_records(self.s3, self.bucket, "refused/")

    def new_table_stream_records(self) -> list[dict[str, Any]]:
        """Table stream records not handed out before, in stream order (what the next poll would read)."""
        records = read_table_stream_records(self.client("dynamodbstreams"), self.table_stream_arn)
        fresh = [r for r in records if r["eventID"] not in self._delivered_stream_events]
        self._delivered_stream_events.update(r["eventID"] for r in fresh)
        return fresh

    def subscribe_queue(self, name: str, filter_policy: dict[str, Any] | None = None, raw: bool = False) -> str:
        """An SQS queue subscribed to the alert topic; returns its URL."""
        return subscribe_queue(self.endpoint_url, self.topic_arn, name, filter_policy, raw)

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        return drain(self.endpoint_url, queue_url)


@pytest.fixture
def stack(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    moto.reset()
    for name, value in aws_env(moto.endpoint_url).items():
        monkeypatch.setenv(name, value)
    local = LocalStack(moto.endpoint_url)
    for name, value in local.function_env().items():
        monkeypatch.setenv(name, value)
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
        self.documents: list[dict[str, Any]] = []

    def run(self, call: Callable[[], Any]) -> Any:
        out = io.StringIO()
        with redirect_stdout(out):
            result = call()
        for line in out.getvalue().splitlines():
            if '"_aws"' not in line:
                continue
            document = json.loads(line)
            self.documents.append(document)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    self.totals[metric["Name"]] += sum(_values(document[metric["Name"]]))
        return result

    def by_dimension(self, name: str, dimension: str) -> Counter[str]:
        """``name``'s values summed per value of ``dimension``, from the documents that carry that dimension."""
        counts: Counter[str] = Counter()
        for document in self.documents:
            if name in document and dimension in document:
                counts[document[dimension]] += int(sum(_values(document[name])))
        return counts


def _values(value: Any) -> list[float]:
    return value if isinstance(value, list) else [value]


@pytest.fixture
def metrics_capture() -> MetricsCapture:
    return MetricsCapture()


# The order Lambda's pollers happen to call the functions in; fixed so that counts are exact.
KINESIS_FUNCTIONS = [
    "ConferenceSummaryCompleteFunction",
    "ConferenceSummaryPartialFunction",
    "ParticipantSummaryCompleteFunction",
    "UnroutedEventsFunction",
]


def function_name(logical_id: str) -> str:
    """The functions/<name> folder of a template function."""
    code_uri: str = load_template(TEMPLATE)["Resources"][logical_id]["Properties"]["CodeUri"]
    return code_uri.strip("/").split("/")[-1]


def run_kinesis(stack: LocalStack, handlers: dict[str, Handler], metrics: MetricsCapture) -> dict[str, Any]:
    """Every record of the stream to each Kinesis function that the template's filter lets through."""
    template = load_template(TEMPLATE)
    records = read_stream_records(stack.kinesis, stack.stream_name)
    responses = {}
    for logical_id in KINESIS_FUNCTIONS:
        patterns = filter_patterns(template, logical_id, "Stream")
        batch = [record for record in records if kinesis_filter_matches(patterns, record)]
        if not batch:
            continue  # Lambda never invokes a function with an empty batch
        handler = handlers[function_name(logical_id)]
        responses[logical_id] = metrics.run(lambda h=handler, b=batch: h({"Records": b}))
    return responses


def alert_filter_patterns(parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The alert function's table-stream filter, resolved as CloudFormation would with ``parameters``."""
    return filter_patterns(load_template(TEMPLATE), "QualityAlertsFunction", "TableStream", parameters)


def filtered_table_stream(stack: LocalStack, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The new table-stream records the alert function's filter lets through."""
    patterns = alert_filter_patterns(parameters)
    return [r for r in stack.new_table_stream_records() if table_stream_filter_matches(patterns, r)]
