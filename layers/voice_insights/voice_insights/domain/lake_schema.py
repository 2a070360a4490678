"""The history lake's two tables: their columns and Glue types, the one definition every part reads.

Rows are flat JSON objects with exactly these names (Amazon Data Firehose converts them to Parquet with the Glue
table's schema: https://docs.aws.amazon.com/firehose/latest/dev/record-format-conversion.html); the template's Glue
tables, the local converter and the SQL read the same names. Times are ISO 8601 in UTC (``…Z``), which Firehose's
Hive JSON SerDe reads into ``timestamp`` columns. ``dt`` (``yyyy-MM-dd``) is the partition: the UTC day of the
summary's own time (a conference's start, else its creation; a participant's join), else the event's time, else when
it was received, so that every version of a summary, backfilled ones included, lands in the same day.
"""

from __future__ import annotations

CONFERENCE_TABLE = "conference_summaries"
PARTICIPANT_TABLE = "participant_summaries"
PARTITION_KEY = ("dt", "string")

# Every row, both tables: what the event was, how it arrived, what the project made of it, and the event whole.
_COMMON: tuple[tuple[str, str], ...] = (
    ("event_id", "string"),
    ("event_type", "string"),
    ("schema_version", "string"),  # the last path segment of dataschema: "1", "2", ...
    ("event_time", "timestamp"),
    ("received_at", "timestamp"),
    ("version", "string"),  # the table's ordering version: the latest row of a summary has the highest
    ("arrived_via", "string"),  # kinesis, webhook or backfill
    ("account_sid", "string"),
    ("processing_state", "string"),
    ("schema_violations", "array<string>"),
    ("issue_codes", "array<string>"),  # e.g. inbound.mos, tag.start_failure (domain.quality)
    ("issue_kinds", "array<string>"),  # e.g. low_mos, start_failure
    ("issue_severity", "string"),  # the highest: low, medium, high; null without issues
    ("event_json", "string"),  # the event whole (envelope and data), phone numbers masked
)

CONFERENCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("conference_sid", "string"),
    *_COMMON,
    ("friendly_name", "string"),
    ("status", "string"),
    ("end_reason", "string"),
    ("ended_by", "string"),
    ("mixer_region", "string"),
    ("mixer_region_requested", "string"),
    ("recording_enabled", "boolean"),
    ("create_time", "timestamp"),
    ("start_time", "timestamp"),
    ("end_time", "timestamp"),
    ("duration_seconds", "bigint"),
    ("connect_duration_seconds", "bigint"),
    ("max_participants", "int"),
    ("max_concurrent_participants", "int"),
    ("unique_participants", "int"),
    ("tags", "array<string>"),
    ("detected_issues_call_quality", "int"),
    ("detected_issues_region_configuration", "int"),
    ("detected_issues_participant_behavior", "int"),
)


def _direction(direction: str) -> tuple[tuple[str, str], ...]:
    return (
        (f"{direction}_mos", "double"),
        (f"{direction}_jitter_avg", "double"),
        (f"{direction}_jitter_max", "double"),
        (f"{direction}_packet_loss_percentage", "double"),
        (f"{direction}_latency_avg", "double"),
        (f"{direction}_latency_max", "double"),
        (f"{direction}_packets_lost", "bigint"),
        (f"{direction}_packets_received", "bigint"),
        (f"{direction}_tags", "array<string>"),
    )


PARTICIPANT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("participant_sid", "string"),
    ("conference_sid", "string"),
    ("call_sid", "string"),
    *_COMMON,
    ("label", "string"),
    ("call_direction", "string"),
    ("call_type", "string"),
    ("call_state", "string"),
    ("country_code", "string"),
    ("participant_region", "string"),
    ("conference_region", "string"),
    ("from_number", "string"),  # masked as alerts mask them (domain.redaction): never whole in the lake
    ("to_number", "string"),
    ("join_time", "timestamp"),
    ("leave_time", "timestamp"),
    ("duration_seconds", "bigint"),
    ("is_moderator", "boolean"),
    ("jitter_buffer_size", "string"),
    ("quality_issues", "int"),
    *_direction("inbound"),
    *_direction("outbound"),
)

COLUMNS = {CONFERENCE_TABLE: CONFERENCE_COLUMNS, PARTICIPANT_TABLE: PARTICIPANT_COLUMNS}
