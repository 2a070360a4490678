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
import logging
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests.exceptions import RequestException
from tqdm import tqdm
from twilio.base.exceptions import TwilioException
from twilio.base.page import Page
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from operate import aws_access, logs
from operate.connect_twilio import ConnectError, stack_outputs, twilio_client_from_env
from voice_insights.aws.rejected import RejectedEventStore
from voice_insights.aws.summaries import SummaryStore
from voice_insights.domain.backfill import backfill_version, conference_event, participant_event, would_replace
from voice_insights.domain.items import stored_event
from voice_insights.ingest import routes
from voice_insights.ingest.pipeline import Inbound, Outcome, Pipeline
from voice_insights.runtime.observability import metrics

DEFAULT_CHECKPOINT = Path(".backfill/checkpoint.json")
PAGE_SIZE = 50  # Twilio's default page size; at most 1000
MAX_ATTEMPTS = 8  # per request, on 429 (and 503): Twilio says 429s are safe to retry after backing off
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
WRITE_ATTEMPTS = 3  # a batch's FAILED events (DynamoDB throttling, network) are processed again this often
MAX_PAGES = 100_000  # per listing: at PAGE_SIZE 50, five million conferences; a server that never ends is stopped
MAX_SECONDS = 6 * 3600.0  # per run: Twilio keeps 30 days, which reads in well under this at its rate limits
# RFC 9110 section 10.2.3: Retry-After is delay-seconds (digits only) or an HTTP-date.
_DELAY_SECONDS = re.compile(r"\s*[0-9]{1,9}\s*")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
SUMMARY_LINE = (
    "read {read}, stored {stored}, already there {already}, stale {stale}, rejected {rejected}, failed {failed}"
)

ROUTE_OF_TYPE = {event_type.value: route for route in routes.SUMMARY_ROUTES for event_type in route.event_types}


class RetryingTwilioHttpClient(TwilioHttpClient):
    """The twilio package's HTTP client, plus: 429/503 retried with exponential backoff and jitter (honouring
    Retry-After), and optionally every request sent to ``base_url`` instead of Twilio's host (a stub on 127.0.0.1).
    Only the public ``request`` method is overridden; everything else (auth, headers, timeouts) is the package's."""

    def __init__(
        self,
        base_url: str | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
    ) -> None:
        # A logger of our own, at WARNING: the package logs requests at INFO (never credentials, but be sure).
        quiet = logging.getLogger("operate.backfill.twilio_http")
        quiet.setLevel(logging.WARNING)
        super().__init__(timeout=timeout, logger=quiet)
        self.base_url = check_base_url(base_url) if base_url else None
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.requests = 0
        self.retried = 0

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        url = self.rewrite(url)
        for attempt in range(self.max_attempts):
            self.requests += 1
            response = super().request(method, url, params, data, headers, auth, timeout, allow_redirects)
            if response.status_code not in (429, 503) or attempt == self.max_attempts - 1:
                return response
            self.retried += 1
            self.sleep(backoff_seconds(attempt, response.headers))
        raise AssertionError("unreachable")  # pragma: no cover

    def rewrite(self, url: str) -> str:
        if not self.base_url:
            return url
        target, original = urlsplit(self.base_url), urlsplit(url)
        return urlunsplit((target.scheme, target.netloc, original.path, original.query, original.fragment))


def check_base_url(base_url: str) -> str:
    """The endpoint override: https anywhere, plain http only on this machine (Basic auth carries the secret)."""
    parts = urlsplit(base_url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return base_url.rstrip("/")
    raise ConnectError(f"--twilio-base-url must be https://…, or http:// on 127.0.0.1/localhost, not {base_url!r}")


def backoff_seconds(attempt: int, headers: Any, rng: random.Random | None = None) -> float:
    """Retry-After when Twilio sends a valid one (seconds or an HTTP date), else exponential with full jitter, capped.
    Anything else in Retry-After (``nan``, ``-1``, ``1e9``, text) counts as absent."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if isinstance(value, str) and _DELAY_SECONDS.fullmatch(value):
        return min(float(value), BACKOFF_CAP_S)
    if isinstance(value, str) and value.strip():
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return min(max((moment - datetime.now(UTC)).total_seconds(), 0.0), BACKOFF_CAP_S)
    return (rng or random.Random()).uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))  # noqa: S311  # jitter


def twilio_client(
    environ: Any = os.environ, base_url: str | None = None, sleep: Callable[[float], None] = time.sleep
) -> Client:
    client = twilio_client_from_env(environ)
    client.http_client = RetryingTwilioHttpClient(base_url=base_url, sleep=sleep)
    return client


# Reading Twilio ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConferencePage:
    url: str  # the page's own URL: where a resumed run starts again
    conferences: list[dict[str, Any]]
    next_url: str | None


class PagingStopped(TwilioException):
    """A listing was stopped before its end: a next page on another host or scheme, a page already read, or more
    pages or time than the bounds allow. What was read before is stored, and the checkpoint names where it stopped."""


class InsightsReader:
    """The raw JSON of the REST resources, read with the twilio client (``Client.request``): the typed instances
    would turn Twilio's timestamps into datetimes and hide unknown fields, and the events carry Twilio's text.

    ``meta.next_page_url`` is the server's word: it is followed only on the scheme and host the listing started on
    (the requests carry the account's credentials), never to a page already read, and within ``max_pages`` pages
    and ``max_seconds`` per run."""

    def __init__(
        self,
        client: Client,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
        max_seconds: float = MAX_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.page_size = page_size
        self.max_pages = max_pages
        self.clock = clock
        self.deadline = clock() + max_seconds
        self.calls = 0

    @property
    def base(self) -> str:
        return f"{self.client.insights.base_url}/v1"

    def first_url_and_params(self, since: str, until: str | None, account: str | None) -> tuple[str, dict[str, object]]:
        params: dict[str, object] = {"CreatedAfter": since, "PageSize": self.page_size}
        if until:
            params["CreatedBefore"] = until
        if account:
            params["Subaccount"] = account
        return f"{self.base}/Conferences", params

    def pages(
        self, since: str, until: str | None, account: str | None, start_url: str | None = None
    ) -> Iterator[ConferencePage]:
        url, params = self.first_url_and_params(since, until, account)
        current: str | None = self._checked(start_url) if start_url else url
        first, read = start_url is None, set[str]()
        while current:
            self._within_bounds(current, read)
            payload = self._get(current, params if first else None)
            own = str(payload.get("meta", {}).get("url") or current)
            next_url = self._next(payload)
            yield ConferencePage(own, _records(payload, "conferences"), next_url)
            current, first = next_url, False

    def participants(self, conference_sid: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        url: str | None = f"{self.base}/Conferences/{conference_sid}/Participants"
        params: dict[str, object] | None = {"PageSize": self.page_size}
        read: set[str] = set()
        while url:
            self._within_bounds(url, read)
            payload = self._get(url, params)
            found += _records(payload, "participants")
            url, params = self._next(payload), None
        return found

    def _next(self, payload: dict[str, Any]) -> str | None:
        next_url = payload.get("meta", {}).get("next_page_url")
        return self._checked(str(next_url)) if next_url else None

    def _checked(self, url: str) -> str:
        """``url`` when it is on the listing's own scheme and host; otherwise the listing stops, nothing sent there."""
        expected, given = urlsplit(self.base), urlsplit(url)
        if (given.scheme, given.netloc.lower()) != (expected.scheme, expected.netloc.lower()):
            raise PagingStopped(
                f"Twilio's next page is on {given.scheme}://{given.hostname or '?'}, not on "
                f"{expected.scheme}://{expected.hostname}: stopped there (no request sent, credentials kept)"
            )
        return url

    def _within_bounds(self, url: str, read: set[str]) -> None:
        if url in read:
            raise PagingStopped(f"Twilio's next page {urlsplit(url).path}?… was read already: stopped (a page loop)")
        if len(read) >= self.max_pages:
            raise PagingStopped(f"more than {self.max_pages} pages in one listing: stopped (--max-pages)")
        if self.clock() > self.deadline:
            raise PagingStopped("the run took longer than --max-seconds: stopped; run again with --resume")
        read.add(url)

    def _get(self, url: str, params: dict[str, object] | None) -> dict[str, Any]:
        self.calls += 1
        response = self.client.request("GET", url, params=params)
        if response.status_code != 200:
            raise TwilioException(
                f"Twilio answered {response.status_code} for GET {urlsplit(url).path}: {response.text[:300]}"
            )
        payload: dict[str, Any] = Page.process_response(response)
        return payload


def _records(payload: dict[str, Any], default_key: str) -> list[dict[str, Any]]:
    key = payload.get("meta", {}).get("key") or default_key
    records: list[dict[str, Any]] = payload.get(key) or []
    return records


def events_of(reader: InsightsReader, conference: dict[str, Any], alerts: bool) -> list[dict[str, Any]]:
    """The conference's event and its participants' events, as the stream would deliver them."""
    events = [conference_event(conference, alerts)]
    sid = conference.get("conference_sid")
    if sid:
        events += [participant_event(p, alerts) for p in reader.participants(str(sid))]
    return events


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


class Feeder:
    """Mapped events into the pipeline, one Pipeline per route (as each function has its own), source "backfill"."""

    def __init__(self, summaries: SummaryStore, rejected: RejectedEventStore) -> None:
        self.pipelines = {route.name: Pipeline(route, summaries, rejected) for route in routes.SUMMARY_ROUTES}

    def feed(self, events: Sequence[dict[str, Any]], origin: str) -> list[Outcome]:
        outcomes: list[Outcome] = [Outcome.FAILED] * len(events)
        by_route: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            by_route.setdefault(ROUTE_OF_TYPE[event["type"]].name, []).append(index)
        for name, indexes in by_route.items():
            pending = indexes
            for _ in range(WRITE_ATTEMPTS):
                inbound = [Inbound(raw=events[i], origin={"backfill": origin}) for i in pending]
                report = self.pipelines[name].process(inbound, source="backfill")
                # The pipeline counts in Powertools' process-wide metrics, which only a Lambda handler flushes:
                # this command's counts are its closing summary, so they are dropped here, not left for a flush.
                metrics.clear_metrics()
                for index, outcome in zip(pending, report.outcomes, strict=True):
                    outcomes[index] = outcome
                pending = [i for i, o in zip(pending, report.outcomes, strict=True) if o is Outcome.FAILED]
                if not pending:
                    break
        return outcomes


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


@dataclass(frozen=True)
class Difference:
    key: str
    reason: str  # "missing" or "older: …"
    event: dict[str, Any]


def differences(
    reader: InsightsReader, summaries: SummaryStore, conference: dict[str, Any], alerts: bool
) -> list[Difference]:
    """What Twilio has for this conference that the table lacks or holds in an older state."""
    events = events_of(reader, conference, alerts)
    sid = conference.get("conference_sid")
    stored = {item["sk"]["S"]: item for item in summaries.query_conference(str(sid))} if sid else {}
    found = []
    for event in events:
        data = event["data"]
        sk = "SUMMARY" if "participant_sid" not in data else f"PART#{data.get('participant_sid')}"
        item = stored.get(sk)
        version = backfill_version(event)
        stored_version = item["version"]["S"] if item else None
        if not would_replace(stored_version, version):
            continue
        if item is None:
            reason = "missing"
        else:
            reason = f"older: table {stored_state(item)}, Twilio {data.get('processing_state')}"
        found.append(Difference(f"CONF#{sid}|{sk}", reason, event))
    return found


def stored_state(item: dict[str, Any]) -> str:
    """The stored summary's processing state ("?" when the item cannot be read)."""
    try:
        return str(stored_event(item).data.get("processing_state") or "?")
    except ValueError:
        return "?"


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
