"""From changes on the summaries table's stream to alerts: exactly one per new problem.

An issue is *new* on an item when the item's new image carries it and neither its old image nor any
alert already sent for the item did. "The same issue" means the same code and severity (see
``Issue.fingerprint``): a value that moves (MOS 3.1 → 2.9) is the same problem, a severity that rises
is a new one. So:
- a redelivered event or a stale partial writes nothing, hence no stream record, hence no alert;
- a MODIFY whose new image adds nothing new (a complete summary repeating its partial's issues)
  raises nothing; issues that appear only on the complete summary are alerted;
- a batch Lambda retries after a failure finds its sent alerts in the ledger and sends none twice;
- each SNS batch is remembered before the next is published, and no batch starts when the function's
  timeout is near (the rest is left to Lambda's retry): a function killed mid-batch sends again at most
  the one SNS batch it had in flight.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from voice_insights.alerts.alert_message import AlertContext, SnsMessage, build_alert, render
from voice_insights.alerts.chat_message import render_chat
from voice_insights.aws.alert_store import (
    AlertLedger,
    AlertPublisher,
    ChatPublisher,
    ConferenceNames,
    ItemKey,
    sns_batches,
)
from voice_insights.aws.clients import describe_error
from voice_insights.aws.rejected import RejectedEventStore
from voice_insights.domain.items import StoredEvent, now_utc, stored_event, summary_from_item
from voice_insights.domain.models import ConferenceSummary, ParticipantSummary
from voice_insights.domain.quality import Issue, Thresholds, alerting, issues_of
from voice_insights.domain.redaction import mask_phone_numbers_in
from voice_insights.runtime.batch_report import BatchReport
from voice_insights.runtime.observability import logger, metrics

FUNCTION_NAME = "quality_alerts"
# No SNS batch starts with less time than this before the function's timeout (template: 30 s). One batch
# is a PublishBatch and up to 10 ledger writes: well under a second, unless botocore is backing off
# from throttling. Lambda ends a function at its timeout, whatever it is doing
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html).
STOP_BEFORE_TIMEOUT_S = 10.0


class AlertOutcome(StrEnum):
    PUBLISHED = "published"
    NOTHING_NEW = "nothing_new"  # no issue the item did not already have
    ALREADY_ALERTED = "already_alerted"  # the ledger shows it was sent (a retried batch)
    UNREADABLE = "unreadable"  # the image cannot be read: kept with the reason, never retried
    FAILED = "failed"  # transient: Lambda delivers the record again


METRIC_NAMES = {
    AlertOutcome.PUBLISHED: "AlertsPublished",
    AlertOutcome.NOTHING_NEW: "ChangesWithoutNewIssues",
    AlertOutcome.ALREADY_ALERTED: "AlertsAlreadySent",
    AlertOutcome.UNREADABLE: "UnreadableChanges",
    AlertOutcome.FAILED: "AlertsFailed",
}
# The chat variant (published after the alert, best effort): how many reached the chat topic, how many did not.
CHAT_PUBLISHED_METRIC = "ChatAlertsPublished"
CHAT_FAILED_METRIC = "ChatAlertsFailed"


@dataclass(frozen=True, slots=True)
class ItemChange:
    """One stream record: the item's key and its images as low-level attribute values."""

    key: ItemKey
    new_image: dict[str, Any] | None
    old_image: dict[str, Any] | None
    record: dict[str, Any] = field(repr=False)

    @classmethod
    def from_stream_record(cls, record: dict[str, Any]) -> ItemChange:
        body = record.get("dynamodb") or {}
        keys = body.get("Keys") or {}
        key = (keys.get("pk", {}).get("S", ""), keys.get("sk", {}).get("S", ""))
        return cls(key=key, new_image=body.get("NewImage"), old_image=body.get("OldImage"), record=record)


@dataclass(frozen=True, slots=True)
class NewIssues:
    summary: ConferenceSummary | ParticipantSummary
    issues: list[Issue]
    event: StoredEvent


def new_issues(change: ItemChange, thresholds: Thresholds) -> NewIssues | None:
    """The alerting issues of the new image that the old image did not have; None without a new image.

    Raises ValueError (or a pydantic ValidationError) when an image cannot be read.
    """
    if change.new_image is None or _quiet(change.new_image):
        return None  # REMOVE (TTL expiry), or history backfilled without alerts: nothing to alert
    event = stored_event(change.new_image)
    summary = summary_from_item(change.new_image, event)
    current = alerting(issues_of(summary, thresholds), thresholds)
    before: set[str] = set()
    # A quiet backfill alerted nothing: the stream event replacing it alerts as if it had not been there.
    if change.old_image is not None and current and not _quiet(change.old_image):
        old = summary_from_item(change.old_image)
        before = {issue.fingerprint for issue in issues_of(old, thresholds)}
    # The event's data is in ``summary`` already: kept once, not twice, for the rest of the batch.
    return NewIssues(summary, [issue for issue in current if issue.fingerprint not in before], replace(event, data={}))


@dataclass(frozen=True)
class AlertReport(BatchReport[AlertOutcome]):
    messages: list[SnsMessage] = field(default_factory=list)  # the alerts published


@dataclass(slots=True, eq=False)
class Change:
    """One stream record's way through the batch: the change, the issues it brings (None: none, or unreadable),
    and how it ended."""

    change: ItemChange
    found: NewIssues | None = None
    outcome: AlertOutcome = AlertOutcome.NOTHING_NEW


class AlertPipeline:
    def __init__(
        self,
        thresholds: Thresholds,
        ledger: AlertLedger,
        names: ConferenceNames,
        publisher: AlertPublisher,
        rejected: RejectedEventStore,
        retention_days: int = 0,
        clock: Callable[[], datetime] = now_utc,
        chat: ChatPublisher | None = None,
    ) -> None:
        self.thresholds = thresholds
        self.ledger = ledger
        self.names = names
        self.publisher = publisher
        self.rejected = rejected
        self.retention_days = retention_days
        self.clock = clock
        self.chat = chat

    def process(self, changes: Sequence[ItemChange], time_left: Callable[[], float] = lambda: math.inf) -> AlertReport:
        """Settle one stream batch. ``time_left``: seconds before the function's timeout."""
        now = self.clock()
        records = [self._read(change, now) for change in changes]
        to_alert = [record for record in records if record.found is not None and record.found.issues]
        messages: list[SnsMessage] = []
        if to_alert:
            try:
                messages = self._send(to_alert, now, time_left)
            except Exception:  # DynamoDB or SNS unreachable: the records come again
                logger.exception("Alerts not sent, will be retried")
                for record in to_alert:
                    record.outcome = AlertOutcome.FAILED
        if self.chat is not None:
            self._publish_chat(self.chat, messages)
        report = AlertReport([record.outcome for record in records], tuple(AlertOutcome), messages)
        report.publish("Stream batch settled", METRIC_NAMES, received=len(changes))
        return report

    def _read(self, change: ItemChange, now: datetime) -> Change:
        """What the change brings that is new; an image that cannot be read is kept, since retrying cannot help."""
        try:
            found = new_issues(change, self.thresholds)
        except Exception as error:  # a bug or a foreign item
            return Change(change, outcome=self._keep_unreadable(change, error, now))
        # A summary is kept for the rest of the batch only when it is to be alerted: a batch holds at most its
        # alerting records' summaries, each bounded (domain/json_limits.py), never every image it read.
        return Change(change, found if found is not None and found.issues else None)

    def _send(self, records: list[Change], now: datetime, time_left: Callable[[], float]) -> list[SnsMessage]:
        """Alert what the ledger has not seen, an SNS batch at a time, each remembered before the next; sets each
        record's outcome. Returns the alerts published."""
        already = self.ledger.alerted(record.change.key for record in records)
        participant_conferences = [
            record.found.summary.conference_sid
            for record in records
            if record.found is not None and isinstance(record.found.summary, ParticipantSummary)
        ]
        names = self.names.lookup(participant_conferences) if participant_conferences else {}
        detected_at = now.strftime("%Y-%m-%dT%H:%M:%SZ")

        to_send: list[tuple[Change, list[Issue], SnsMessage]] = []
        for record in records:
            found = record.found
            seen = already[record.change.key]
            fresh = [issue for issue in found.issues if issue.fingerprint not in seen] if found is not None else []
            if found is None or not fresh:
                record.outcome = AlertOutcome.ALREADY_ALERTED
                continue
            # A later record of the same item in this batch must not repeat these.
            seen.update(issue.fingerprint for issue in fresh)
            context = _context(record.change, found, names, detected_at)
            to_send.append((record, fresh, render(build_alert(found.summary, fresh, context))))

        expires_at = int((now + timedelta(days=self.retention_days)).timestamp()) if self.retention_days > 0 else None
        sent: list[SnsMessage] = []
        chunks = list(sns_batches(to_send, lambda entry: entry[2]))
        for position, chunk in enumerate(chunks):
            if time_left() < STOP_BEFORE_TIMEOUT_S:
                left = [record for later in chunks[position:] for record, _, _ in later]
                logger.warning("Stopping before the function's timeout; Lambda retries the rest", alerts=len(left))
                for record in left:
                    record.outcome = AlertOutcome.FAILED
                break
            sent += self._publish_and_remember(chunk, detected_at, expires_at)
        return sent

    def _publish_and_remember(
        self, chunk: list[tuple[Change, list[Issue], SnsMessage]], detected_at: str, expires_at: int | None
    ) -> list[SnsMessage]:
        results = self.publisher.publish([message for _, _, message in chunk])
        sent: list[SnsMessage] = []
        for (record, fresh, message), error in zip(chunk, results, strict=True):
            key = record.change.key
            if error is not None:
                record.outcome = AlertOutcome.FAILED
                logger.warning(
                    "Alert not published, will be retried",
                    item=_logged_key(key),
                    error=mask_phone_numbers_in(error),  # SNS's reason may quote what it was given
                )
                continue
            record.outcome = AlertOutcome.PUBLISHED
            sent.append(message)
            logger.info(
                "Alert published",
                item=_logged_key(key),
                alert_id=message.payload.alert_id,
                severity=message.payload.severity,
                issues=[issue.code for issue in fresh],
            )
            try:
                self.ledger.remember(key, {i.fingerprint for i in fresh}, detected_at, expires_at)
            except Exception:
                # The alert is out; only the memory of it is missing. Retrying would send it twice.
                logger.exception("Alert sent but not recorded in the ledger", alert_id=message.payload.alert_id)
        return sent

    def _publish_chat(self, chat: ChatPublisher, sent: list[SnsMessage]) -> None:
        failed = 0
        if sent:
            try:
                errors = chat.publish([render_chat(message.payload) for message in sent])
            except Exception:  # a bug in the chat variant must not fail alerts that are out already
                logger.exception("Chat alerts not published")
                errors = ["not published"] * len(sent)
            for message, error in zip(sent, errors, strict=True):
                if error is not None:
                    failed += 1
                    logger.warning(
                        "Chat alert not published (the alert itself was)",
                        alert_id=message.payload.alert_id,
                        error=mask_phone_numbers_in(error),
                    )
        metrics.add_metric(name=CHAT_PUBLISHED_METRIC, unit=MetricUnit.Count, value=len(sent) - failed)
        metrics.add_metric(name=CHAT_FAILED_METRIC, unit=MetricUnit.Count, value=failed)

    def _keep_unreadable(self, change: ItemChange, error: Exception, now: datetime) -> AlertOutcome:
        record = {
            "reason": f"the stream record's item cannot be read: {describe_error(error)}"[:2000],
            "function": FUNCTION_NAME,
            "source": "dynamodb-stream",
            "received_at": now.isoformat(),
            "item": _key_text(change.key),
            "stream_record": change.record,
        }
        try:
            key = self.rejected.keep(record, now)
        except Exception:
            logger.exception("Could not keep an unreadable stream record, will be retried")
            return AlertOutcome.FAILED
        logger.error("Stream record unreadable, kept", item=_logged_key(change.key), rejected_key=key)
        return AlertOutcome.UNREADABLE


def _quiet(image: dict[str, Any]) -> bool:
    """An item backfilled from Twilio's REST API without --alerts (items.to_item, docs/backfill.md)."""
    return bool(image.get("alerts", {}).get("S") == "off")


def _context(change: ItemChange, found: NewIssues, names: dict[str, str], detected_at: str) -> AlertContext:
    is_participant = isinstance(found.summary, ParticipantSummary)
    return AlertContext(
        item_key=_key_text(change.key),
        event_type=found.event.event_type,
        event_id=found.event.event_id,
        conference_name=names.get(found.summary.conference_sid) if is_participant else None,
        detected_at=detected_at,
    )


def _key_text(key: ItemKey) -> str:
    return f"{key[0]}|{key[1]}"


def _logged_key(key: ItemKey) -> str:
    # The keys hold the event's SIDs: a forged event can put a phone number there, and logs never show one.
    return mask_phone_numbers_in(_key_text(key))
