"""Given the template's quality-rate alarms, when they read the metrics the code writes, then each one reads series
the code's own EMF output carries (name, dimension set and values) and its expression computes the share the
quality rules count; the generated block is what scripts/quality_alarms.py writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from devtools.cfn import load_template
from tests.metric_math import evaluate
from tests.quality_emf import participant, quality_documents, run_batch, series_values
from voice_insights.domain.quality_counts import CALL_TYPES, TWILIO_REGIONS
from voice_insights.runtime.quality_metrics import QualityMetricSettings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
_spec = importlib.util.spec_from_file_location("quality_alarms", ROOT / "scripts" / "quality_alarms.py")
assert _spec is not None and _spec.loader is not None
generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generator)


def quality_alarms() -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if name.startswith("QualityRate") and name.endswith("Alarm")}


def stats(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["Id"]: m["MetricStat"] for m in alarm["Properties"]["Metrics"] if "MetricStat" in m}


def share_expression(alarm: dict[str, Any]) -> str:
    (share,) = [m for m in alarm["Properties"]["Metrics"] if m.get("Id") == "share"]
    text: str = share["Expression"]["Fn::Sub"]
    for name, parameter in PARAMETERS.items():
        text = text.replace(f"${{{name}}}", str(parameter.get("Default")))
    return text


def test_the_template_holds_the_alarms_the_generator_writes_one_per_region_and_call_type() -> None:
    assert generator.main(["--check"]) == 0, "run .venv/bin/python scripts/quality_alarms.py"
    wanted = {generator.logical_id("region", r) for r in TWILIO_REGIONS}
    wanted |= {generator.logical_id("call_type", c) for c in CALL_TYPES}
    assert set(quality_alarms()) == wanted and len(wanted) == 13


def test_the_parameters_defaults_are_the_codes_defaults() -> None:
    defaults = QualityMetricSettings.from_env({})
    assert PARAMETERS["QualityMetricRegions"]["Default"] == defaults.regions == ",".join(TWILIO_REGIONS)
    assert PARAMETERS["QualityMetricCallTypes"]["Default"] == defaults.call_types
    assert PARAMETERS["QualityMetricCountries"]["Default"] == defaults.countries == ""
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    for parameter, field in (("QualityMetricRegions", "regions"), ("QualityMetricCallTypes", "call_types"),
                             ("QualityMetricCountries", "countries")):  # fmt: skip
        assert variables[QualityMetricSettings.model_fields[field].alias] == {"Ref": parameter}


@pytest.mark.parametrize("logical_id", sorted(quality_alarms()))
def test_each_alarm_reads_series_the_codes_emf_output_carries(logical_id: str) -> None:
    alarm = quality_alarms()[logical_id]
    dimensions = [d for s in stats(alarm).values() for d in s["Metric"]["Dimensions"] if d["Name"] != "service"]
    where = {dimensions[0]["Name"]: dimensions[0]["Value"]}  # region=us1 or call_type=sip
    written = series_values(quality_documents(run_batch([participant(1, bad=True, **where)])))
    for stat in stats(alarm).values():
        metric = stat["Metric"]
        key = (metric["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in metric["Dimensions"])))
        assert metric["Namespace"] == "VoiceInsightsEvents" and key in written, (logical_id, key, sorted(written))
        assert stat["Stat"] == "Sum" and stat["Period"] == {"Ref": "QualityRateAlarmPeriodSeconds"}


def test_the_expression_pages_on_a_bad_share_and_never_on_three_calls_at_night() -> None:
    alarm = quality_alarms()["QualityRateRegionUs1Alarm"]
    expression = share_expression(alarm)
    threshold = PARAMETERS["QualityRateAlarmPercent"]["Default"]
    assert evaluate(expression, {"participants": 3, "with_issues": 3}) == 0  # under the minimum volume
    assert evaluate(expression, {"participants": 40, "with_issues": 8}) == 20 > threshold
    assert evaluate(expression, {"participants": 40, "with_issues": None}) == 0  # FILL: no datapoint is none
    props = alarm["Properties"]
    no_value = {"Ref": "AWS::NoValue"}
    assert props["Threshold"] == {"Fn::If": ["QualityRateAnomaly", no_value, {"Ref": "QualityRateAlarmPercent"}]}
    assert props["ThresholdMetricId"] == {"Fn::If": ["QualityRateAnomaly", "band", no_value]}
    assert props["AlarmActions"] == [{"Ref": "OperationsTopic"}] and props["TreatMissingData"] == "notBreaching"
    band = props["Metrics"][-1]["Fn::If"][1]
    assert band["Expression"] == {"Fn::Sub": "ANOMALY_DETECTION_BAND(share, ${QualityRateAlarmAnomalyBand})"}


def test_each_description_names_the_dimension_share_window_and_a_real_named_query() -> None:
    for logical_id, alarm in quality_alarms().items():
        text = alarm["Properties"]["AlarmDescription"]["Fn::Sub"]
        assert "share of participants with an issue" in text and "${QualityRateAlarmPeriodSeconds} s" in text
        assert ("region " in text) or ("call type " in text), logical_id
        assert 'make query ARGS="--name worst_participants' in text
        assert len(text) <= 1024  # CloudWatch's AlarmDescription limit
    off = {"Fn::Equals": [{"Ref": "QualityRateAlarmMode"}, "off"]}
    assert TEMPLATE["Conditions"]["QualityRateAlarmsOn"] == {"Fn::Not": [off]}


def quality_widgets() -> list[dict[str, Any]]:
    import json

    body = json.loads(RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    return [w for w in body["widgets"] if (w["type"] == "metric" and "articipant" in w["properties"]["title"])
            or "issue" in w["properties"].get("title", "")]  # fmt: skip


@pytest.mark.parametrize(("title", "dimension", "values"), [
    ("Participants with an issue by region (%)", "region", TWILIO_REGIONS),
    ("Participants with an issue by call type (%)", "call_type", CALL_TYPES),
])  # fmt: skip
def test_the_share_widgets_draw_a_line_per_value_from_series_the_code_writes(
    title: str, dimension: str, values: tuple[str, ...]
) -> None:
    (widget,) = [w for w in quality_widgets() if w["properties"]["title"] == title]
    rows = widget["properties"]["metrics"]
    plain = [row for row in rows if isinstance(row[0], str)]
    assert [row[0]["label"] for row in rows if isinstance(row[0], dict)] == list(values)
    for row in plain:
        namespace, name, *pairs, options = row
        written = series_values(quality_documents(run_batch([participant(1, bad=True, **{dimension: pairs[1]})])))
        key = (name, tuple(sorted(zip(pairs[::2], pairs[1::2], strict=True))))
        assert namespace == "VoiceInsightsEvents" and key in written and options["visible"] is False, row


def test_the_issue_share_widget_names_every_issue_kind_the_code_counts() -> None:
    from voice_insights.domain.quality_counts import ISSUE_KINDS, OTHER

    (widget,) = [w for w in quality_widgets() if w["properties"]["title"] == "Share of each issue, all regions (%)"]
    labels = [row[0]["label"] for row in widget["properties"]["metrics"]]
    assert labels == [*ISSUE_KINDS, OTHER]
    for row in widget["properties"]["metrics"]:
        assert f'issue=\\"{row[0]["label"]}\\"' in json_text(row[0]["expression"])


def json_text(value: str) -> str:
    import json

    return json.dumps(value)


def test_the_digest_is_opt_in_scheduled_on_its_alias_and_configured_as_its_code_reads() -> None:
    from voice_insights.digest.digest_handler import DIGESTS_FAILED_METRIC, FUNCTION_NAME, DigestSettings

    assert PARAMETERS["DigestSchedule"]["Default"] == "none"
    assert PARAMETERS["DigestSchedule"]["AllowedValues"] == ["none", "daily", "weekly", "both"]
    function = RESOURCES["DigestFunction"]
    assert function["Condition"] == "DigestOn"
    variables = function["Properties"]["Environment"]["Variables"]
    required = {f.alias for name, f in DigestSettings.model_fields.items() if f.is_required()}
    assert required <= set(variables) and {f.alias for f in DigestSettings.model_fields.values()} <= set(variables)
    assert variables["LAKE_QUERY_KPIS"] == {"Ref": "LakeQueryKpis"}
    assert RESOURCES["LakeQueryKpis"]["Properties"]["Name"] == "kpis"
    assert RESOURCES["LakeQueryWorstConferences"]["Properties"]["Name"] == "worst_conferences"
    for logical_id, condition, kind in (("DigestDailySchedule", "DigestDaily", "daily"),
                                        ("DigestWeeklySchedule", "DigestWeekly", "weekly")):  # fmt: skip
        schedule = RESOURCES[logical_id]
        assert schedule["Type"] == "AWS::Scheduler::Schedule" and schedule["Condition"] == condition
        target = schedule["Properties"]["Target"]
        assert target["Arn"] == {"Ref": "DigestFunction.Alias"}  # the published version `live`, as SnapStart needs
        assert target["RoleArn"] == {"Fn::GetAtt": ["DigestSchedulerRole", "Arn"]}
        assert target["Input"] == f'{{"kind": "{kind}"}}'
        assert schedule["Properties"]["ScheduleExpressionTimezone"] == "UTC"
    weekly = RESOURCES["DigestWeeklySchedule"]["Properties"]["ScheduleExpression"]["Fn::Sub"]
    assert "MON" in weekly  # window_for("weekly") ends at the last Monday
    alarm = RESOURCES["DigestFailedAlarm"]["Properties"]
    assert alarm["MetricName"] == DIGESTS_FAILED_METRIC and alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}]
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"function": FUNCTION_NAME,
                                                                     "service": "voice-insights-events"}  # fmt: skip
    assert TEMPLATE["Outputs"]["ReadApiUrl"]["Value"] == {"Fn::Sub": variables["READ_API_URL"]["Fn::Sub"]}
