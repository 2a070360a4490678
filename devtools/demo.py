"""`make demo`: generated Twilio traffic and the sample events through the whole local stack.

The runner (devtools.runner) starts moto server with the template's resources, every built function
under the Lambda RIE, the stream pollers and the webhook gateway. The traffic goes out as Twilio sends
it: PutRecords on the Kinesis stream, signed POSTs to the webhook routes. When everything is settled,
the report says where every event ended (by event id), what was alerted (read back from an SQS queue
subscribed to the alert topic), and the exit status is 1 when any event is unaccounted for.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from devtools.accounting import Conservation, LogTally, rejections, stored_event_ids
from devtools.cfn import local_client
from devtools.lake import LAKE_DIR, summarise
from devtools.queues import QueueReader, subscribe_queue
from devtools.runner import LocalRunner
from devtools.traffic import Delivery, Traffic, WebhookResult, generate, post_webhooks, put_on_stream, sample_deliveries
from voice_insights.alerts.alert_message import AlertPayload, render_text

ALERTS_SHOWN = 5


@dataclass(frozen=True)
class DemoOptions:
    conferences: int = 40
    participants: int = 4
    bad_share: float = 0.2
    duplicate_share: float = 0.1
    samples: bool = True
    random_seed: int = 7
    timeout_s: float = 300
    lake_dir: Path = LAKE_DIR


def run(options: DemoOptions, progress: bool = True, log: TextIO = sys.stderr) -> dict[str, Any]:
    """Run the demo; returns the report (``report["ok"]`` says whether every event is accounted for)."""
    started = time.monotonic()
    traffic = generate(
        options.conferences, options.participants, options.bad_share, options.duplicate_share, 0.5, options.random_seed
    )
    events: list[str] = []
    with LocalRunner(on_event=events.append, lake_dir=options.lake_dir) as runner:
        assert runner.gateway is not None
        print(f"local AWS endpoint (moto server): {runner.endpoint_url}", file=log)
        print(f"webhook gateway: {runner.gateway.base_url}; functions under the Lambda RIE: {len(runner.functions)}; "
              f"stream pollers: {len(runner.pollers)}", file=log)  # fmt: skip
        alert_queue = subscribe_queue(runner.endpoint_url, runner.ref("AlertTopic"), "demo-alerts")
        alert_reader = QueueReader(runner.endpoint_url, alert_queue)
        function_of_path = {route.path: route.function for route in runner.gateway.routes.values()}
        deliveries = traffic.deliveries + (sample_deliveries(function_of_path) if options.samples else [])
        tally = LogTally()
        sending = time.monotonic()
        webhook = _send(runner, deliveries, tally, options.timeout_s, progress, log)
        if not runner.wait_idle(timeout_s=options.timeout_s, tick=lambda: tally.read(runner.functions)):
            raise TimeoutError(f"the local stack was still busy after {options.timeout_s} s")
        # Until the last alert went out; wait_idle's quiet period (nothing in flight) is not work.
        busy_s = time.monotonic() - sending - runner.quiet_s
        tally.read(runner.functions)
        assert runner.lake is not None
        runner.lake.flush()  # Firehose's buffer, flushed: every row the writer sent is in the lake now
        report = _report(runner, traffic, deliveries, tally, webhook, alert_reader.finish())
        report["lake"] = _lake_report(runner, options.lake_dir, report["stored"])
        report["problems"] += report["lake"]["problems"]
    report["throughput"] = {
        "events": len(deliveries),
        "seconds": round(busy_s, 1),
        "events_per_s": round(len(deliveries) / busy_s, 1),
    }
    report["problems"] += [event for event in events if "given up" in event]
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    report["ok"] = not report["problems"]
    return report


def _send(
    runner: LocalRunner, deliveries: list[Delivery], tally: LogTally, timeout_s: float, progress: bool, log: TextIO
) -> WebhookResult:
    """Kinesis records in one go (as a busy sink does), webhooks on a thread, a progress bar meanwhile."""
    assert runner.gateway is not None
    # disable=None: the bar shows on a terminal only
    bar = tqdm(total=len(deliveries), desc="events settled", unit="ev", file=log, disable=None if progress else True)
    put_on_stream(runner.endpoint_url, runner.ref("EventStream"), [d for d in deliveries if d.path == "kinesis"])
    result = WebhookResult()
    route_urls = runner.gateway.route_urls()
    webhooks = [d for d in deliveries if d.path == "webhook"]

    poster = threading.Thread(target=post_webhooks, args=(route_urls, webhooks), kwargs={"result": result}, daemon=True)
    poster.start()
    deadline = time.monotonic() + timeout_s
    while poster.is_alive() or tally.settled_total < len(deliveries):
        runner.check()
        tally.read(runner.functions)
        bar.n = min(tally.settled_total, len(deliveries))
        bar.refresh()
        if time.monotonic() > deadline or (not poster.is_alive() and runner.idle()):
            break
        time.sleep(0.2)
    poster.join(timeout=max(deadline - time.monotonic(), 1))
    bar.close()
    if result.error is not None:
        raise RuntimeError(f"the webhook sender stopped: {result.error!r}") from result.error
    return result


def _report(
    runner: LocalRunner,
    traffic: Traffic,
    deliveries: list[Delivery],
    tally: LogTally,
    webhook: WebhookResult,
    notifications: list[dict[str, Any]],
) -> dict[str, Any]:
    endpoint = runner.endpoint_url
    stored = stored_event_ids(endpoint, runner.resources["SummariesTable"]["attrs"]["StreamArn"])
    bucket = runner.ref("RejectedEventsBucket")
    rejected = [r for r in rejections(endpoint, bucket) if r.source in ("kinesis", "webhook")]  # not the alert fn
    ignored = set().union(*tally.ignored.values())
    conservation = Conservation({d.key for d in deliveries}, stored, ignored, {r.key for r in rejected})
    pages = (
        local_client("dynamodb", endpoint)
        .get_paginator("scan")
        .paginate(TableName=runner.ref("SummariesTable"), ProjectionExpression="sk")
    )
    kinds = Counter(
        "conference" if item["sk"]["S"] == "SUMMARY" else "participant" for page in pages for item in page["Items"]
    )
    alerts = [AlertPayload.model_validate_json(json.loads(n["Body"])["Message"]) for n in notifications]
    generated_alerts = Counter(
        (alert.conference_sid, alert.participant.participant_sid if alert.participant else None)
        for alert in alerts
        if alert.conference_sid in traffic.conferences
    )
    expected_alerts = {(sid, None) for sid in traffic.bad_conferences} | traffic.bad_participants
    failure_queues = {
        name: _queue_depth(endpoint, runner.ref(name))
        for name in ("StreamFailuresQueue", "AlertFailuresQueue", "LakeFailuresQueue")
    }
    problems = []
    if not conservation.ok:
        problems.append(f"{len(conservation.unaccounted)} event ids unaccounted for")
    if set(generated_alerts) != expected_alerts or max(generated_alerts.values(), default=1) > 1:
        problems.append(f"alerts for the generated traffic: {sum(generated_alerts.values())}, "
                        f"expected {len(expected_alerts)}, one per bad conference and participant")  # fmt: skip
    for name, depth in failure_queues.items():
        if depth:
            problems.append(f"{depth} batches given up in {name}")
    if set(webhook.statuses) - {200}:
        problems.append(f"webhook answers: {webhook.statuses}")
    return {
        "endpoint_url": endpoint,
        "sent": {
            "kinesis": sum(1 for d in deliveries if d.path == "kinesis"),
            "webhook": sum(1 for d in deliveries if d.path == "webhook"),
            "total": len(deliveries),
            "distinct_ids": len(conservation.sent),
            "generated": len(traffic.deliveries),
            "redelivered": traffic.duplicates,
            "malformed": traffic.malformed,
            "samples": len(deliveries) - len(traffic.deliveries),
        },
        "webhook_requests": {"posts": webhook.posts, "retried": webhook.retried, "statuses": webhook.statuses},
        "settled": {name: tally.settled[name] for name in tally.settled} | {"total": tally.settled_total},
        "stored": {
            "table": runner.ref("SummariesTable"),
            "items": sum(kinds.values()),
            "conferences": kinds["conference"],
            "participants": kinds["participant"],
            "expected_from_generated": {
                "conferences": len(traffic.conferences),
                "participants": len(traffic.participants),
            },
        },
        "ignored": {kind: len(ids) for kind, ids in tally.ignored.items()},
        "rejected": {
            "bucket": runner.ref("RejectedEventsBucket"),
            "count": len(rejected),
            "reasons": dict(Counter(f"[{r.source}/{r.function}] {r.reason[:120]}" for r in rejected).most_common()),
        },
        "alerts": {
            "published": len(alerts),
            "for_generated_traffic": sum(generated_alerts.values()),
            "expected_for_generated_traffic": len(expected_alerts),
            "subjects": [alert.subject for alert in alerts],
            "first_rendered": render_text(alerts[0]) if alerts else None,
        },
        "given_up": failure_queues,
        "pollers": {
            poller.name: {
                "invocations": poller.stats.invocations,
                "records": poller.stats.records_delivered,
                "retries": poller.stats.retries,
                "function_errors": poller.stats.function_errors,
            }
            for poller in runner.pollers
        },
        "conservation": conservation.as_dict(),
        "function_errors_logged": tally.errors,
        "problems": problems,
    }


def _lake_report(runner: LocalRunner, lake_dir: Path, stored: dict[str, Any]) -> dict[str, Any]:
    """What the lake holds (DuckDB over the lake folder), and whether its latest versions are the table's items."""
    summary = summarise(lake_dir)
    assert runner.lake is not None
    problems = []
    if (summary.conferences, summary.participants) != (stored["conferences"], stored["participants"]):
        problems.append(
            f"the lake's latest versions ({summary.conferences} conferences, {summary.participants} participants) "
            f"are not the table's items ({stored['conferences']}, {stored['participants']})"
        )
    failed = sum(runner.lake.totals.failed_rows.values())
    if failed:
        problems.append(f"{failed} lake rows failed conversion (errors/ in the lake bucket)")
    return {
        "dir": str(lake_dir),
        "bucket": runner.ref("LakeBucket"),
        "files": len(runner.lake.totals.files),
        "rows": {"conference_summaries": summary.conference_rows, "participant_summaries": summary.participant_rows},
        "latest": {"conferences": summary.conferences, "participants": summary.participants},
        "days": summary.days,
        "p95_inbound_mos": summary.p95_inbound_mos,
        "share_with_issues": summary.share_with_issues,
        "line": summary.line(),
        "problems": problems,
    }


def _shown_path(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd())) + "/"
    except ValueError:
        return path


def _queue_depth(endpoint_url: str, queue_url: str) -> int:
    attributes = local_client("sqs", endpoint_url).get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def render(report: dict[str, Any], out: TextIO = sys.stdout) -> None:
    sent, stored, ignored, rejected, alerts = (report[k] for k in ("sent", "stored", "ignored", "rejected", "alerts"))
    conservation = report["conservation"]
    webhook = report["webhook_requests"]
    lines = [
        "",
        f"Sent:      {sent['kinesis']} events on Kinesis (PutRecords) + {sent['webhook']} by webhook "
        f"({webhook['posts']} signed POSTs, {webhook['retried']} retried) = {sent['total']} "
        f"({sent['distinct_ids']} distinct events; {sent['redelivered']} redelivered, {sent['malformed']} malformed, "
        f"{sent['samples']} from events/)",
        f"Stored:    {stored['items']} items in {stored['table']}: {stored['conferences']} conferences, "
        f"{stored['participants']} participants",
        f"Ignored:   {ignored['duplicate']} duplicates, {ignored['stale']} stale, {ignored['test_event']} sink test "
        "events (distinct ids)",
        f"Rejected:  {rejected['count']}, kept in s3://{rejected['bucket']} with the reason:",
        *(f"  {count:>4}  {reason}" for reason, count in rejected["reasons"].items()),
        f"Alerts:    {alerts['published']} published to the SNS topic, read back from an SQS subscription "
        f"({alerts['for_generated_traffic']} for the generated traffic, "
        f"{alerts['expected_for_generated_traffic']} expected):",
        *(f"  {subject}" for subject in alerts["subjects"][:ALERTS_SHOWN]),
    ]
    if len(alerts["subjects"]) > ALERTS_SHOWN:
        lines.append(f"  … and {len(alerts['subjects']) - ALERTS_SHOWN} more")
    if alerts["first_rendered"]:
        lines += ["", "What an email subscriber reads for the first one:", ""]
        lines += [f"    {line}" for line in alerts["first_rendered"].splitlines()]
    lines += [
        "",
        f"Given up:  {sum(report['given_up'].values())} batches in the on-failure queues",
        f"Accounted: {conservation['sent_ids'] - len(conservation['unaccounted_ids'])} of {conservation['sent_ids']} "
        f"event ids (stored {conservation['stored_ids']}, only ignored {conservation['ignored_only_ids']}, "
        f"rejected {conservation['rejected_ids']}) in {report['elapsed_s']} s",
        f"Pace:      {report['throughput']['events_per_s']} events/s from the first sent to the last alert "
        f"({report['throughput']['seconds']} s, one machine, moto serving one request at a time)",
    ]
    lines += [f"PROBLEM:   {problem}" for problem in report["problems"]]
    lines.append("every event is accounted for" if report["ok"] else "some events are NOT accounted for")
    lake = report["lake"]
    lines.append(
        f"Lake:      {lake['line']} (DuckDB over {_shown_path(lake['dir'])}: {lake['files']} Parquet files, the latest "
        f"versions equal to the table's items)"
        if not lake["problems"]
        else f"Lake:      {lake['line']} (DuckDB over {_shown_path(lake['dir'])})"
    )
    print("\n".join(lines), file=out)
