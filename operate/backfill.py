"""Backfill and reconcile the summaries table from Twilio's Conference Insights REST API (docs/backfill.md).

    python -m operate.backfill backfill  --since 2026-11-01T00:00:00Z [--until …] [--account AC…] [--dry-run]
                                          [--alerts] [--resume]
    python -m operate.backfill reconcile --since 2026-11-01T00:00:00Z [--until …] [--account AC…] [--fill] [--alerts]

Both read ``GET /v1/Conferences`` (filters CreatedAfter/CreatedBefore/Subaccount, paging by ``meta.next_page_url``)
and ``GET /v1/Conferences/{sid}/Participants`` with the ``twilio`` package's client, map each resource to the event
the stream delivers (voice_insights.domain.backfill) and feed it through ``Pipeline.process`` with the real stores: the
same validation, ordering, duplicate handling and rejected-events bucket as streamed events.

Credentials as ``make connect`` takes them, from the environment (TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN, or
with TWILIO_API_KEY + TWILIO_API_SECRET); never printed or logged. The table and bucket: --table/--bucket, or
--stack-name (its outputs), or found by name at --endpoint-url (the local runner, `make up`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from requests.exceptions import RequestException
from tqdm import tqdm
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from operate import aws_access, logs
from operate.connect_twilio import ConnectError, stack_outputs, twilio_client_from_env
from voice_insights.aws.rejected import RejectedEventStore
from voice_insights.aws.summaries import SummaryStore
from voice_insights.ingest.pipeline import Outcome
from voice_insights.reconcile import twilio_http
from voice_insights.reconcile.compare import Difference, differences, stored_state
from voice_insights.reconcile.feeding import ROUTE_OF_TYPE, Feeder
from voice_insights.reconcile.insights import (
    MAX_PAGES,
    MAX_SECONDS,
    PAGE_SIZE,
    ConferencePage,
    InsightsReader,
    PagingStopped,
    events_of,
)
from voice_insights.reconcile.twilio_http import BACKOFF_CAP_S, RetryingTwilioHttpClient, backoff_seconds

# What tests and callers import from here, now in the layer (the scheduled ReconcileFunction shares them).
__all__ = [
    "BACKOFF_CAP_S",
    "ROUTE_OF_TYPE",
    "ConferencePage",
    "Difference",
    "InsightsReader",
    "PagingStopped",
    "backoff_seconds",
    "differences",
    "stored_state",
]

DEFAULT_CHECKPOINT = Path(".backfill/checkpoint.json")
SUMMARY_LINE = (
    "read {read}, stored {stored}, already there {already}, stale {stale}, rejected {rejected}, failed {failed}"
)


def check_base_url(base_url: str) -> str:
    try:
        return twilio_http.check_base_url(base_url)
    except twilio_http.BaseUrlRefused as refused:
        raise ConnectError(str(refused)) from None


def twilio_client(
    environ: Any = os.environ, base_url: str | None = None, sleep: Callable[[float], None] = time.sleep
) -> Client:
    client = twilio_client_from_env(environ)
    client.http_client = RetryingTwilioHttpClient(base_url=check_base_url(base_url) if base_url else None, sleep=sleep)
    return client


# Writing through the pipeline -------------------------------------------------------------------------------------


@dataclass
class Tally:
    read: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, outcomes: Sequence[Outcome]) -> None:
        self.outcomes.update(o.value for o in outcomes)

    def summary(self) -> str:
        o = self.outcomes
        return SUMMARY_LINE.format(
            read=self.read,
            stored=o[Outcome.STORED.value],
            already=o[Outcome.DUPLICATE.value],
            stale=o[Outcome.STALE.value],
            rejected=o[Outcome.REJECTED.value],
            failed=o[Outcome.FAILED.value],
        )

    def as_dict(self) -> dict[str, int]:
        o = self.outcomes
        return {
            "read": self.read,
            "stored": o[Outcome.STORED.value],
            "already_there": o[Outcome.DUPLICATE.value],
            "stale": o[Outcome.STALE.value],
            "rejected": o[Outcome.REJECTED.value],
            "failed": o[Outcome.FAILED.value],
        }


class DryRun:
    """Validation only: what the pipeline would decide before writing (no AWS)."""

    def feed(self, events: Sequence[dict[str, Any]], origin: str) -> list[Outcome]:
        from voice_insights.ingest.decoding import Accepted, decode

        return [
            Outcome.STORED if isinstance(decode(e, ROUTE_OF_TYPE[e["type"]]), Accepted) else Outcome.REJECTED
            for e in events
        ]


# Checkpoint -------------------------------------------------------------------------------------------------------


def load_checkpoint(path: Path, window: dict[str, Any]) -> dict[str, Any] | None:
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    if state.get("window") != window:
        raise ConnectError(f"{path} is for another run ({state.get('window')}); drop --resume or use --checkpoint")
    return state


def save_checkpoint(path: Path, window: dict[str, Any], next_url: str | None, tally: Tally, pages: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "window": window,
        "next_page_url": next_url,
        "done": next_url is None,
        "pages": pages,
        "counts": tally.as_dict(),
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2))
    temporary.replace(path)  # atomic: a run killed mid-write leaves the previous checkpoint


# Commands ---------------------------------------------------------------------------------------------------------


def run_backfill(args: argparse.Namespace, reader: InsightsReader, feeder: Feeder | DryRun, out: Any) -> Tally:
    window = {"since": args.since, "until": args.until, "account": args.account}
    tally = Tally()
    start_url = None
    pages = 0
    if args.resume:
        state = load_checkpoint(args.checkpoint, window)
        if state and state.get("done"):
            print(f"{args.checkpoint}: this window is done already ({state.get('counts')})", file=out)
            return tally
        if state:
            start_url, pages = state.get("next_page_url"), int(state.get("pages", 0))
            tally.read = int(state.get("counts", {}).get("read", 0))
            for name, outcome in (("stored", Outcome.STORED), ("already_there", Outcome.DUPLICATE),
                                  ("stale", Outcome.STALE), ("rejected", Outcome.REJECTED)):  # fmt: skip
                tally.outcomes[outcome.value] = int(state["counts"].get(name, 0))
    bar = tqdm(unit=" conf", desc="backfill", file=sys.stderr, disable=args.no_progress)
    try:
        for page in reader.pages(args.since, args.until, args.account, start_url):
            events = []
            for conference in page.conferences:
                events += events_of(reader, conference, args.alerts)
            outcomes = feeder.feed(events, page.url)
            tally.read += len(events)
            tally.add(outcomes)
            pages += 1
            bar.update(len(page.conferences))
            bar.set_postfix_str(tally.summary())
            if Outcome.FAILED in outcomes:
                print(f"stopped: events of {page.url} could not be stored; run again with --resume", file=out)
                break
            if not args.dry_run:
                save_checkpoint(args.checkpoint, window, page.next_url, tally, pages)
    finally:
        bar.close()
    return tally


def run_reconcile(
    args: argparse.Namespace, reader: InsightsReader, summaries: SummaryStore, feeder: Feeder, out: Any
) -> tuple[list[Difference], Tally]:
    found: list[Difference] = []
    tally = Tally()
    bar = tqdm(unit=" conf", desc="reconcile", file=sys.stderr, disable=args.no_progress)
    try:
        for page in reader.pages(args.since, args.until, args.account):
            page_found = [d for c in page.conferences for d in differences(reader, summaries, c, args.alerts)]
            for difference in page_found if not args.json else ():  # --json: in its one document
                print(f"{difference.reason:<40} {difference.key}", file=out)
            found += page_found
            if args.fill and page_found:
                tally.read += len(page_found)
                tally.add(feeder.feed([d.event for d in page_found], page.url))
            bar.update(len(page.conferences))
    finally:
        bar.close()
    return found, tally


def resolve_resources(args: argparse.Namespace) -> tuple[str, str]:
    table, bucket = args.table, args.bucket
    if (not table or not bucket) and args.stack_name:
        outputs = stack_outputs(args.stack_name)
        table = table or outputs["SummariesTableName"]
        bucket = bucket or outputs["RejectedEventsBucketName"]
    if (not table or not bucket) and args.endpoint_url:  # the local runner: names as devtools.cfn gives them
        dynamodb, s3 = aws_client("dynamodb", args), aws_client("s3", args)
        table = table or _one(dynamodb.list_tables()["TableNames"], "summariestable", "table")
        bucket = bucket or _one([b["Name"] for b in s3.list_buckets()["Buckets"]], "rejectedeventsbucket", "bucket")
    if not table or not bucket:
        raise ConnectError("say where to write: --stack-name, or --table and --bucket (with --endpoint-url for local)")
    return table, bucket


def _one(names: list[str], fragment: str, what: str) -> str:
    matching = [n for n in names if fragment in n.lower()]
    if len(matching) != 1:
        raise ConnectError(f"no single {what} named like '{fragment}' at the endpoint: {matching}; pass --{what}")
    return matching[0]


def moment(text: str) -> str:
    """``--since``/``--until``: an ISO 8601 date (midnight UTC) or date and time (UTC when no offset is given), as
    Twilio's CreatedAfter/CreatedBefore take it: ``2026-11-01T00:00:00Z``."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time: give e.g. 2026-11-01 or 2026-11-01T06:00:00Z (ISO 8601, UTC)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def aws_client(service: str, args: argparse.Namespace) -> Any:
    return aws_access.client(service, args.endpoint_url)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m operate.backfill", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    for name in ("backfill", "reconcile"):
        sub = commands.add_parser(name)
        sub.add_argument(
            "--since", required=True, type=moment, help="conferences created at or after (ISO 8601 date or time, UTC)"
        )
        sub.add_argument(
            "--until", type=moment, help="conferences created before (ISO 8601 date or time); default: now"
        )
        sub.add_argument("--max-pages", type=int, default=MAX_PAGES, help="pages per listing at most")
        sub.add_argument("--max-seconds", type=float, default=MAX_SECONDS, help="run time at most, then stop")
        sub.add_argument("--account", help="a subaccount SID (the REST API's Subaccount filter)")
        sub.add_argument("--alerts", action="store_true", help="let the alert function alert on what is written")
        sub.add_argument("--page-size", type=int, default=PAGE_SIZE, help="records per REST page (Twilio: ≤ 1000)")
        sub.add_argument("--twilio-base-url", help="send Twilio requests here instead (a stub: http://127.0.0.1:PORT)")
        sub.add_argument("--endpoint-url", help="AWS endpoint (the local runner's moto server); or AWS_ENDPOINT_URL")
        sub.add_argument("--stack-name", help="a deployed stack: the table and bucket from its outputs")
        sub.add_argument("--table", help="the summaries table")
        sub.add_argument("--bucket", help="the rejected-events bucket")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        sub.add_argument("--json", action="store_true", help="the closing summary as one JSON line")
        if name == "backfill":
            sub.add_argument("--dry-run", action="store_true", help="read and validate only; write nothing")
            sub.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="where progress is kept")
            sub.add_argument("--resume", action="store_true", help="continue from the checkpoint of the same window")
        else:
            sub.add_argument("--fill", action="store_true", help="write what differs (through the pipeline)")
    return top


def main(argv: list[str] | None = None, environ: Any = os.environ, out: Any = sys.stdout) -> int:
    args = parser().parse_args(argv)
    logs.to_stderr()
    try:
        client = twilio_client(environ, args.twilio_base_url)
        reader = InsightsReader(client, args.page_size, args.max_pages, args.max_seconds)
        http = client.http_client
        reconciled: dict[str, Any] = {}
        if args.command == "backfill" and args.dry_run:
            tally = run_backfill(args, reader, DryRun(), out)
            summaries = None
        else:
            table, bucket = resolve_resources(args)
            summaries = SummaryStore(table, client=aws_client("dynamodb", args))
            feeder = Feeder(summaries, RejectedEventStore(bucket, client=aws_client("s3", args)))
            if args.command == "backfill":
                tally = run_backfill(args, reader, feeder, out)
            else:
                found, tally = run_reconcile(args, reader, summaries, feeder, out)
                by_reason = Counter(d.reason.split(":")[0] for d in found)
                reconciled = {"differing": len(found), "by_reason": dict(sorted(by_reason.items())),
                              "differences": [{"reason": d.reason, "key": d.key} for d in found]}  # fmt: skip
                if not args.json:
                    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(by_reason.items()))
                    print(f"differing: {len(found)}" + (f" ({reasons})" if reasons else ""), file=out)
    except (ConnectError, TwilioException) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except aws_access.SETUP_ERRORS as error:
        print(f"error: {aws_access.explain(error)}", file=sys.stderr)
        return 2
    except RequestException as error:  # the twilio client's transport: Twilio (or the stub) unreachable
        reason = type(error).__name__
        print(f"error: no answer from Twilio ({reason}): check the network or --twilio-base-url", file=sys.stderr)
        return 2
    calls = {"twilio_requests": getattr(http, "requests", reader.calls), "retried_429": getattr(http, "retried", 0)}
    label = "would store (valid)" if getattr(args, "dry_run", False) else "done"
    if args.json:
        print(json.dumps({**tally.as_dict(), **calls, **reconciled}), file=out)
    else:
        print(
            f"{label}: {tally.summary()}; "
            f"Twilio requests {calls['twilio_requests']} ({calls['retried_429']} retried after 429)",
            file=out,
        )
    return 1 if tally.outcomes[Outcome.FAILED.value] else 0


if __name__ == "__main__":
    sys.exit(main())
