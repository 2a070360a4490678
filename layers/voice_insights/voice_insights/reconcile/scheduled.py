"""One scheduled reconcile run: a window of conference creation times, read newest first (Twilio's order), what
differs filled through the pipeline, within a time budget. A run cut short by its budget keeps what it filled; the
next run's window overlaps this one (a window of ReconcileWindowHours every ReconcileSchedule) and covers the rest."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from voice_insights.aws.summaries import SummaryStore
from voice_insights.ingest.pipeline import Outcome
from voice_insights.reconcile.compare import Difference, differences
from voice_insights.reconcile.feeding import Feeder
from voice_insights.reconcile.insights import InsightsReader, TimeBudgetSpent

TWILIO_TIME = "%Y-%m-%dT%H:%M:%SZ"  # as CreatedAfter/CreatedBefore take it


@dataclass(frozen=True)
class Window:
    since: str
    until: str


def window_before(moment: datetime, lag_minutes: int, hours: int) -> Window:
    """Conferences created in the ``hours`` that ended ``lag_minutes`` before ``moment`` (their summaries are final:
    Twilio sends complete summaries within minutes of a conference's end, and retries delivery for 4 hours)."""
    until = moment.astimezone(UTC) - timedelta(minutes=lag_minutes)
    return Window((until - timedelta(hours=hours)).strftime(TWILIO_TIME), until.strftime(TWILIO_TIME))


def scheduled_moment(event: Any, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> datetime:
    """The schedule's time (the target's Input carries <aws.scheduler.scheduled-time>), else now."""
    text = event.get("scheduled_time") if isinstance(event, dict) else None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return now()
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass
class RunResult:
    window: Window
    conferences: int = 0  # checked against the table
    differing: Counter[str] = field(default_factory=Counter)  # by reason: missing, older
    outcomes: Counter[str] = field(default_factory=Counter)  # of what was fed
    complete: bool = False  # the whole window was read
    stopped: str = ""  # why not

    @property
    def filled(self) -> int:
        return self.outcomes[Outcome.STORED.value]

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.window.since,
            "until": self.window.until,
            "conferences_checked": self.conferences,
            "differing": dict(sorted(self.differing.items())),
            "filled": self.filled,
            "outcomes": dict(sorted(self.outcomes.items())),
            "complete": self.complete,
            "stopped": self.stopped,
        }


def reconcile_window(
    reader: InsightsReader, summaries: SummaryStore, feeder: Feeder, result: RunResult, alerts: bool = False
) -> RunResult:
    """Fill ``result.window``'s differences, page by page. Out of time: what was found is filled, ``result`` says
    where it stopped. Any other error (Twilio's answer, a page on another host) is raised once what was found is
    filled: the run failed (its Errors alarm)."""
    try:
        for page in reader.pages(result.window.since, result.window.until, None):
            found: list[Difference] = []
            try:
                for conference in page.conferences:
                    found += differences(reader, summaries, conference, alerts)
                    result.conferences += 1
            finally:
                _fill(feeder, found, page.url, result)
    except TimeBudgetSpent as spent:
        result.stopped = f"time budget spent after {result.conferences} conferences: {spent}"
        return result
    result.complete = True
    return result


def _fill(feeder: Feeder, found: list[Difference], origin: str, result: RunResult) -> None:
    if found:
        result.differing.update(d.reason.split(":")[0] for d in found)
        result.outcomes.update(o.value for o in feeder.feed([d.event for d in found], origin))


def budgeted_sleep(deadline: float, clock: Callable[[], float] = time.monotonic) -> Callable[[float], None]:
    """A backoff sleep that raises TimeBudgetSpent instead of waiting past ``deadline`` (a clock() reading)."""

    def sleep(seconds: float) -> None:
        if clock() + seconds > deadline:
            raise TimeBudgetSpent(f"Twilio asked to wait {seconds:.0f} s, past the run's time budget")
        time.sleep(seconds)

    return sleep
