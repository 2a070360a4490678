"""Write the quality-rate alarms of template.yaml: one per Twilio region and one per call type (CloudFormation has no
loop without the AWS::LanguageExtensions transform, which the local stack's template reader does not expand).

Each alarm reads the share of participants with an issue, ``IF(participants >= min, 100 * with_issues /
participants, 0)``, over the metrics runtime/quality_metrics.py writes; a fixed threshold, or CloudWatch's anomaly
band on that expression (QualityRateAlarmMode). tests/unit/test_quality_template.py checks that the template holds
what this writes.

    .venv/bin/python scripts/quality_alarms.py            # rewrites the block in template.yaml
    .venv/bin/python scripts/quality_alarms.py --check    # exit 1 when the template's block is not what it writes
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "voice_insights"))

from voice_insights.domain.quality_counts import CALL_TYPES, TWILIO_REGIONS  # noqa: E402

TEMPLATE = ROOT / "template.yaml"
BEGIN = "  # --- quality-rate alarms: written by scripts/quality_alarms.py, do not edit by hand ---\n"
END = "  # --- end of the quality-rate alarms ---\n"
NAMESPACE, SERVICE = "VoiceInsightsEvents", "voice-insights-events"
# The named query of the history lake that lists a window's worst participants, with their region and call type.
QUERY = (
    'make query ARGS="--name worst_participants --from <alarm time - window> --to <alarm time>'
    ' --stack-name ${AWS::StackName}"'
)
SHARE = "IF(participants >= ${QualityRateAlarmMinParticipants}, 100 * FILL(with_issues, 0) / participants, 0)"


def logical_id(dimension: str, value: str) -> str:
    words = "".join(part.capitalize() for part in dimension.split("_"))
    return f"QualityRate{words}{value.capitalize()}Alarm"


def alarms() -> list[tuple[str, str]]:
    """(dimension, value) of every alarm, in template order."""
    return [("region", region) for region in TWILIO_REGIONS] + [("call_type", kind) for kind in CALL_TYPES]


def _metric(identifier: str, name: str, dimension: str, value: str) -> str:
    return f"""        - Id: {identifier}
          ReturnData: false
          MetricStat:
            Metric:
              Namespace: {NAMESPACE}
              MetricName: {name}
              Dimensions:
                - {{Name: {dimension}, Value: {value}}}
                - {{Name: service, Value: {SERVICE}}}
            Period: !Ref QualityRateAlarmPeriodSeconds
            Stat: Sum
"""


def alarm(dimension: str, value: str) -> str:
    shown = dimension.replace("_", " ")
    metrics = _metric("participants", "Participants", dimension, value)
    metrics += _metric("with_issues", "ParticipantsWithIssues", dimension, value)
    return f"""  {logical_id(dimension, value)}:
    Type: AWS::CloudWatch::Alarm
    Condition: QualityRateAlarmsOn
    Properties:
      AlarmDescription: !Sub >-
        Quality rate, {shown} {value}: the share of participants with an issue over
        ${{QualityRateAlarmPeriodSeconds}} s x ${{QualityRateAlarmPeriods}} rose above ${{QualityRateAlarmPercent}} %
        (mode ${{QualityRateAlarmMode}}: anomaly compares with CloudWatch's band instead), counted once
        ${{QualityRateAlarmMinParticipants}} participants were stored. The affected conferences ({shown} column
        {value}): {QUERY}. Runbook: docs/operations.md, Quality rates.
      Metrics:
{metrics}        - Id: share
          Label: Participants with an issue, {shown} {value} (%)
          ReturnData: true
          Expression: !Sub "{SHARE}"
        - !If
          - QualityRateAnomaly
          - Id: band
            Label: Expected share (anomaly band)
            ReturnData: true
            Expression: !Sub "ANOMALY_DETECTION_BAND(share, ${{QualityRateAlarmAnomalyBand}})"
          - !Ref AWS::NoValue
      ComparisonOperator: !If [QualityRateAnomaly, GreaterThanUpperThreshold, GreaterThanThreshold]
      Threshold: !If [QualityRateAnomaly, !Ref AWS::NoValue, !Ref QualityRateAlarmPercent]
      ThresholdMetricId: !If [QualityRateAnomaly, band, !Ref AWS::NoValue]
      EvaluationPeriods: !Ref QualityRateAlarmPeriods
      DatapointsToAlarm: !Ref QualityRateAlarmPeriods
      TreatMissingData: notBreaching
      AlarmActions: [!Ref OperationsTopic]
      OKActions: [!Ref OperationsTopic]

"""


def block() -> str:
    return BEGIN + "".join(alarm(dimension, value) for dimension, value in alarms()) + END


def main(argv: list[str]) -> int:
    text = TEMPLATE.read_text()
    if BEGIN not in text or END not in text:
        print("template.yaml has no quality-rate alarm block (its markers are missing)", file=sys.stderr)
        return 2
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    wanted = before + block() + after
    if "--check" in argv:
        if wanted != text:
            print("template.yaml's quality-rate alarms are stale: run scripts/quality_alarms.py", file=sys.stderr)
            return 1
        return 0
    TEMPLATE.write_text(wanted)
    print(f"wrote {len(alarms())} alarms into template.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
