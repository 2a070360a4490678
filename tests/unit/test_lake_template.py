"""Given template.yaml, then the history lake is as docs/history.md and the lake contract say: the Glue tables hold
exactly domain/lake_schema.py's columns, partitioned by dt with projection; each Firehose stream converts to compressed
Parquet with its table's latest version, splits the writer's newline-delimited records and partitions them by the
row's dt; the bucket is encrypted with its key, private, TLS-only, logged and expires rows after
HistoryRetentionDays; and the table's stream has exactly two readers, the alert function and the lake writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devtools.cfn import Resolver, load_template
from voice_insights.domain.lake_schema import COLUMNS, CONFERENCE_TABLE, PARTICIPANT_TABLE, PARTITION_KEY
from voice_insights.lake.lake_writer import METRIC_NAMES

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
TABLES = {CONFERENCE_TABLE: "LakeConferenceTable", PARTICIPANT_TABLE: "LakeParticipantTable"}
STREAMS = {CONFERENCE_TABLE: "LakeConferenceStream", PARTICIPANT_TABLE: "LakeParticipantStream"}


@pytest.mark.parametrize("table", TABLES)
def test_the_glue_tables_columns_are_lake_schemas_exactly(table: str) -> None:
    table_input = RESOURCES[TABLES[table]]["Properties"]["TableInput"]
    assert table_input["Name"] == table
    columns = [(column["Name"], column["Type"]) for column in table_input["StorageDescriptor"]["Columns"]]
    assert columns == list(COLUMNS[table])
    assert [(key["Name"], key["Type"]) for key in table_input["PartitionKeys"]] == [PARTITION_KEY]


@pytest.mark.parametrize("table", TABLES)
def test_partitions_are_projected_by_day_under_the_contracts_layout(table: str) -> None:
    table_input = RESOURCES[TABLES[table]]["Properties"]["TableInput"]
    parameters = Resolver(TEMPLATE, "voice-insights").resolve(table_input["Parameters"])
    bucket = "local-LakeBucket"  # the resolver's name for a bucket it did not create
    assert parameters == {
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": "2020-01-01,NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "storage.location.template": f"s3://{bucket}/{table}/dt=${{dt}}/",
    }
    assert "ParquetHiveSerDe" in table_input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]


def test_the_database_is_the_stack_name_with_underscores_and_lake() -> None:
    name = RESOURCES["LakeDatabase"]["Properties"]["DatabaseInput"]["Name"]
    assert Resolver(TEMPLATE, "voice-insights").resolve(name) == "voice_insights_lake"
    assert Resolver(TEMPLATE, "my-voice-stack").resolve(name) == "my_voice_stack_lake"


@pytest.mark.parametrize("table", STREAMS)
def test_each_stream_converts_to_parquet_and_partitions_by_the_rows_dt(table: str) -> None:
    stream = RESOURCES[STREAMS[table]]["Properties"]
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert stream["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == "CUSTOMER_MANAGED_CMK"
    s3 = stream["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"] == f"{table}/dt=!{{partitionKeyFromQuery:dt}}/"
    assert s3["ErrorOutputPrefix"] == f"errors/{table}/!{{firehose:error-output-type}}/"
    # at least 64 MiB with format conversion; the interval is a parameter
    assert s3["BufferingHints"]["SizeInMBs"] >= 64
    assert s3["BufferingHints"]["IntervalInSeconds"] == {"Ref": "LakeBufferIntervalSeconds"}
    assert s3["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"] == {"Fn::GetAtt": ["LakeKey", "Arn"]}
    assert s3["CloudWatchLoggingOptions"]["Enabled"] is True
    assert s3["DynamicPartitioningConfiguration"]["Enabled"] is True
    processors = {p["Type"]: {x["ParameterName"]: x["ParameterValue"] for x in p["Parameters"]} for p in
                  s3["ProcessingConfiguration"]["Processors"]}  # fmt: skip
    assert processors == {
        "RecordDeAggregation": {"SubRecordType": "JSON"},
        "MetadataExtraction": {"MetadataExtractionQuery": "{dt: .dt}", "JsonParsingEngine": "JQ-1.6"},
    }
    conversion = s3["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert conversion["OutputFormatConfiguration"]["Serializer"]["ParquetSerDe"]["Compression"] in ("SNAPPY", "ZSTD")
    schema = conversion["SchemaConfiguration"]
    assert schema["TableName"] == {"Ref": TABLES[table]} and schema["VersionId"] == "LATEST"
    assert schema["DatabaseName"] == {"Ref": "LakeDatabase"}


def test_the_lake_bucket_is_encrypted_private_tls_only_logged_and_expires_rows() -> None:
    bucket = RESOURCES["LakeBucket"]["Properties"]
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["LakeKey", "Arn"]},
    }
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "LakeAccessLogsBucket"}
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "HistoryRetentionDays"}
    assert TEMPLATE["Parameters"]["HistoryRetentionDays"]["Default"] >= 400
    # S3 takes an expiration only after the last transition
    assert TEMPLATE["Parameters"]["HistoryRetentionDays"]["MinValue"] > max(
        t["TransitionInDays"] for t in rule["Transitions"]
    )
    (deny,) = RESOURCES["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_tables_stream_has_two_readers_the_alerts_and_the_lake_writer() -> None:
    # No more than two processes should read a stream shard at once
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.Lambda.html).
    readers = {
        logical_id: event["Properties"]
        for logical_id, resource in RESOURCES.items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "DynamoDB"
    }
    assert set(readers) == {"QualityAlertsFunction", "LakeWriterFunction"}
    lake = readers["LakeWriterFunction"]
    assert lake["Stream"] == {"Fn::GetAtt": ["SummariesTable", "StreamArn"]}
    assert lake["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert lake["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["LakeFailuresQueue", "Arn"]}
    assert lake["MaximumRetryAttempts"] == {"Ref": "StreamMaximumRetryAttempts"}
    assert lake["FilterCriteria"]["Filters"] == [{"Pattern": '{"eventName": ["INSERT", "MODIFY"]}'}]
    environment = RESOURCES["LakeWriterFunction"]["Properties"]["Environment"]["Variables"]
    assert environment == {
        "LAKE_CONFERENCE_STREAM_NAME": {"Ref": "LakeConferenceStream"},
        "LAKE_PARTICIPANT_STREAM_NAME": {"Ref": "LakeParticipantStream"},
    }


def alarm(logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = RESOURCES[logical_id]["Properties"]
    assert properties["AlarmActions"] == [{"Ref": "OperationsTopic"}]
    return properties


def test_what_does_not_reach_the_lake_alarms() -> None:
    assert alarm("LakeFailuresQueueAlarm")["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["LakeFailuresQueue", "QueueName"]}}
    ]
    (unreadable,) = alarm("LakeRowsUnreadableAlarm")["Metrics"]
    assert METRIC_NAMES[next(o for o in METRIC_NAMES if o.value == "unreadable")] in unreadable["Expression"]
    for alarm_id, metric in (
        ("LakeDeliveryAlarm", "DeliveryToS3.Success"),
        ("LakeConversionFailuresAlarm", "FailedConversion.Records"),
        ("LakeFreshnessAlarm", "DeliveryToS3.DataFreshness"),
    ):
        stats = [m["MetricStat"]["Metric"] for m in alarm(alarm_id)["Metrics"] if "MetricStat" in m]
        assert {(s["Namespace"], s["MetricName"]) for s in stats} == {("AWS/Firehose", metric)}
        assert [s["Dimensions"][0]["Value"] for s in stats] == [{"Ref": STREAMS[t]} for t in STREAMS]
