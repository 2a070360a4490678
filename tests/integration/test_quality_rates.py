"""Given a burst of bad participants in one region, when the processing functions store them from the Kinesis stream
of the local stack (moto over HTTP), then the values the quality-rate alarm of that region reads cross its threshold
while another region, and a quiet one, stay below: computed with the alarm's own expression on the EMF documents
the functions wrote."""

from __future__ import annotations

import json

from tests.integration.conftest import Handler, LocalStack, MetricsCapture, run_kinesis
from tests.metric_math import evaluate
from tests.quality_emf import participant, quality_documents, series_values
from tests.unit.test_quality_template import PARAMETERS, quality_alarms, share_expression, stats


def alarm_reading(found: dict, logical_id: str) -> float:
    """What the alarm's share expression gives for one period holding these datapoints (the defaults' parameters)."""
    alarm = quality_alarms()[logical_id]
    values = {}
    for identifier, stat in stats(alarm).items():
        metric = stat["Metric"]
        key = (metric["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in metric["Dimensions"])))
        values[identifier] = found.get(key)
    return evaluate(share_expression(alarm), values)


def test_a_burst_in_one_region_crosses_its_alarm_and_the_other_regions_stay_below(
    stack: LocalStack, handlers: dict[str, Handler], metrics_capture: MetricsCapture
) -> None:
    us1 = [participant(n, "us1", bad=n < 24) for n in range(30)]  # 80 % with low MOS
    de1 = [participant(100 + n, "de1", "sip", bad=n == 0) for n in range(25)]  # 4 %
    jp1 = [participant(200 + n, "jp1", bad=True) for n in range(3)]  # all bad, but three calls at night
    events = us1 + de1 + jp1
    stack.kinesis.put_records(
        StreamName=stack.stream_name,
        Records=[{"Data": json.dumps(e).encode(), "PartitionKey": f"pk{i % 3}"} for i, e in enumerate(events)],
    )

    responses = run_kinesis(stack, handlers, metrics_capture)

    assert all(response == {"batchItemFailures": []} for response in responses.values()), responses
    assert len(stack.items()) == len(events)
    found = series_values(quality_documents(metrics_capture.documents))
    threshold = PARAMETERS["QualityRateAlarmPercent"]["Default"]
    readings = {region: alarm_reading(found, f"QualityRateRegion{region}Alarm") for region in ("Us1", "De1", "Jp1")}
    print(f"figures | alarm readings (%): {readings} | threshold {threshold} %")
    assert readings["Us1"] == 80 > threshold
    assert readings["De1"] == 4 < threshold
    assert readings["Jp1"] == 0  # under QualityRateAlarmMinParticipants: a share of 0
    assert alarm_reading(found, "QualityRateCallTypeCarrierAlarm") == 100 * 27 / 33 > threshold  # us1 and jp1
    assert alarm_reading(found, "QualityRateCallTypeSipAlarm") == 4

    # Lambda delivers the same records again: nothing new is stored, so nothing is counted again.
    again = MetricsCapture()
    run_kinesis(stack, handlers, again)
    assert quality_documents(again.documents) == []
