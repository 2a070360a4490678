"""Which quality issues a stored summary carries. Pure functions, no AWS.

Every rule yields an ``Issue`` with a stable ``code`` (unique within one summary), a ``kind`` (the
vocabulary SNS filter policies match on) and a ``severity``. Default thresholds are Twilio's
documented thresholds for call quality tags (Voice Insights "Call Quality Tags": high_jitter,
high_packet_loss, high_latency; MOS < 3.5 from the Voice SDK's quality warnings); each is a
template parameter.

Severities, low < medium < high:
- Twilio's own ``tags_info`` severity is used as given (``high``/``medium``; ``low`` if Twilio ever
  sends it; an unknown word counts as ``medium``, so a new value still alerts);
- a measured value over a threshold, a metric tag, a conference tag and detected call-quality or
  region issues are ``medium``; a conference that failed to start is ``high``;
- a bare ``quality_issues`` count, detected participant-behaviour issues and a ``summary_timeout``
  status (data that never completed, not a bad call) are ``low``.

Issues quote event text (tags, Twilio's descriptions, identities, reasons) only through
``mask_phone_numbers_in``: codes, kinds, titles and details reach items, logs and alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from operator import attrgetter
from typing import Any, cast

from voice_insights.domain.models import ConferenceSummary, ParticipantSummary, StreamMetrics
from voice_insights.domain.redaction import mask_phone_numbers_in as _quote


class Severity(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, word: str | None, default: Severity | None = None) -> Severity:
        """``"high"`` → HIGH. An unknown word is ``default`` (MEDIUM unless given), never an error."""
        # A dict lookup: Enum's own cls[name] goes through the metaclass, per tag of every summary.
        found = SEVERITY_WORDS.get(word) if word else None  # as Twilio writes them, without normalising
        if found is None:
            found = SEVERITY_WORDS.get((word or "").strip().lower())
        if found is not None:
            return found
        return default if default is not None else cls.MEDIUM


SEVERITY_WORDS = {severity.name.lower(): severity for severity in Severity}


@dataclass(frozen=True, slots=True)
class Thresholds:
    mos_below: float = 3.5
    packet_loss_percent_above: float = 5.0
    jitter_avg_ms_above: float = 5.0
    jitter_max_ms_above: float = 30.0
    latency_avg_ms_above: float = 150.0
    latency_max_ms_above: float = 150.0
    min_severity: Severity = Severity.LOW


# Not frozen: a frozen dataclass's __init__ costs more, and the quality rules build these by the thousand per batch.
@dataclass(slots=True)
class Issue:
    code: str  # unique within one summary, e.g. "inbound.mos"
    kind: str  # what SNS filter policies match on, e.g. "low_mos"
    severity: Severity
    title: str  # e.g. "Inbound MOS 1.0 is below 3.5"
    measured: float | None = None
    threshold: float | None = None
    unit: str = ""
    details: str = ""

    @property
    def fingerprint(self) -> str:
        """What makes an issue "the same problem": its code and severity (a severity rise is new)."""
        return f"{self.code}:{self.severity.label}"


# Twilio's tags_info names mapped onto the same kinds the threshold rules use.
_TAGS_INFO_KINDS = {
    "packet_loss": "high_packet_loss",
    "jitter": "high_jitter",
    "latency": "high_latency",
    "low_mos": "low_mos",
}
_TAGS_INFO_WORDS = {"packet_loss": "packet loss", "low_mos": "low MOS"}
_TAGS_INFO_KEYS = {*_TAGS_INFO_KINDS, "description"}
_severity_of = attrgetter("severity")
_LOW_CONFERENCE_DETECTIONS = {"participant_behavior"}
_HIGH_CONFERENCE_TAGS = {"start_failure"}


def issues_of(summary: ConferenceSummary | ParticipantSummary, thresholds: Thresholds) -> list[Issue]:
    """Every issue the summary carries, worst first, whatever the minimum severity."""
    if isinstance(summary, ParticipantSummary):
        found = participant_issues(summary, thresholds)
    else:
        found = conference_issues(summary)
    return sorted(found, key=_severity_of, reverse=True)  # a reversed sort keeps equal issues in order


def alerting(issues: list[Issue], thresholds: Thresholds) -> list[Issue]:
    """The issues at or above the operator's minimum severity."""
    return [issue for issue in issues if issue.severity >= thresholds.min_severity]


DEFAULT_THRESHOLDS = Thresholds()


# --- participant ---------------------------------------------------------------------------------


def participant_issues(summary: ParticipantSummary, thresholds: Thresholds) -> list[Issue]:
    found: list[Issue] = []
    metrics = summary.metrics or {}
    for direction, stream in (("inbound", metrics.get("inbound")), ("outbound", metrics.get("outbound"))):
        if stream is not None:
            found += _stream_issues(direction, stream, thresholds)
    if summary.quality_issues:
        found.append(
            Issue(
                code="quality_issues",
                kind="quality_issues",
                severity=Severity.LOW,
                title=f"Twilio counted {summary.quality_issues} quality issue(s)",
                measured=float(summary.quality_issues),
                threshold=0,
            )
        )
    return found


def _stream_issues(direction: str, stream: StreamMetrics, limits: Thresholds) -> list[Issue]:
    side = direction.capitalize()
    found: list[Issue] = []
    found += _tags_info_issues(direction, stream)
    mos = stream.get("mos")
    if mos is not None and mos < limits.mos_below:
        found.append(_breach(f"{direction}.mos", "low_mos", f"{side} MOS", mos, limits.mos_below))
    loss = stream.get("packet_loss_percentage")
    if loss is not None and loss > limits.packet_loss_percent_above:
        found.append(
            _breach(
                f"{direction}.packet_loss",
                "high_packet_loss",
                f"{side} packet loss",
                loss,
                limits.packet_loss_percent_above,
                "%",
            )
        )
    for metric, kind, stats, avg_limit, max_limit in (
        ("jitter", "high_jitter", stream.get("jitter"), limits.jitter_avg_ms_above, limits.jitter_max_ms_above),
        ("latency", "high_latency", stream.get("latency"), limits.latency_avg_ms_above, limits.latency_max_ms_above),
    ):
        stats = stats or {}
        for statistic, value, limit in (
            ("average", stats.get("avg"), avg_limit),
            ("maximum", stats.get("max"), max_limit),
        ):
            if value is not None and value > limit:
                code = f"{direction}.{metric}_{'avg' if statistic == 'average' else 'max'}"
                found.append(_breach(code, kind, f"{side} {metric} {statistic}", value, limit, "ms"))
    # Measured values first: at equal severity the first issue names the alert's subject.
    for tag in map(_quote, stream.get("tags") or ()):
        found.append(
            Issue(
                code=f"{direction}.tag.{tag}",
                kind=tag,
                severity=Severity.MEDIUM,
                title=f"{side} audio tagged '{tag}' by Twilio",
            )
        )
    return found


def _tags_info_issues(direction: str, stream: StreamMetrics) -> list[Issue]:
    info = cast(dict[str, Any] | None, stream.get("tags_info"))  # read by name, unknown names included
    if not info:
        return []
    side = direction.capitalize()
    description = _quote(info.get("description") or "")
    found = []
    # Known names first, then any entry Twilio adds later that carries a severity (open enum).
    names = [name for name in _TAGS_INFO_KINDS if name in info] + [name for name in info if name not in _TAGS_INFO_KEYS]
    for name in names:
        detail = info[name]
        word = detail.get("severity") if isinstance(detail, dict) else None
        if not isinstance(word, str):
            continue
        quoted = name if name in _TAGS_INFO_KINDS else _quote(name)
        words = _TAGS_INFO_WORDS.get(name) or quoted.replace("_", " ")
        found.append(
            Issue(
                code=f"{direction}.twilio.{quoted}",
                kind=_TAGS_INFO_KINDS.get(name, quoted),
                severity=Severity.parse(word),
                title=f"{side} {words} flagged by Twilio ({_quote(word)})",
                details=description,
            )
        )
    return found


def _breach(code: str, kind: str, what: str, value: float, limit: float, unit: str = "") -> Issue:
    """A measured value past its threshold (below for MOS, above for the rest)."""
    direction = "below" if value < limit else "above"
    spaced_unit = f" {unit}" if unit else ""
    return Issue(
        code=code,
        kind=kind,
        severity=Severity.MEDIUM,
        title=f"{what} {_number(value)}{spaced_unit} is {direction} {_number(limit)}{spaced_unit}",
        measured=value,
        threshold=limit,
        unit=unit,
    )


def _number(value: float) -> str:
    return f"{value:g}"


# --- conference ----------------------------------------------------------------------------------


def conference_issues(summary: ConferenceSummary) -> list[Issue]:
    tags = list(dict.fromkeys(summary.tags or ()))
    details = _tag_details(summary)
    # tag_info can carry details for a tag the list omits (Twilio's own sample does): report them too.
    tags += [tag for tag in details if tag not in tags]
    found = []
    for tag in tags:
        quoted = _quote(tag)
        found.append(
            Issue(
                code=f"tag.{quoted}",
                kind=quoted,
                severity=Severity.HIGH if tag in _HIGH_CONFERENCE_TAGS else Severity.MEDIUM,
                title=f"Conference tagged '{quoted}' by Twilio",
                details=details.get(tag, ""),
            )
        )
    if summary.detected_issues is not None:
        for name, count in summary.detected_issues.items():
            if isinstance(count, (int, float)) and not isinstance(count, bool) and count > 0:
                quoted = _quote(name)  # Twilio's three names, or any other an event carries
                found.append(
                    Issue(
                        code=f"detected.{quoted}",
                        kind=f"detected_{quoted}",
                        severity=Severity.LOW if name in _LOW_CONFERENCE_DETECTIONS else Severity.MEDIUM,
                        title=f"Twilio detected {count:g} {quoted.replace('_', ' ')} issue(s)",
                        measured=float(count),
                        threshold=0,
                    )
                )
    if summary.status == "summary_timeout":
        found.append(
            Issue(
                code="status.summary_timeout",
                kind="summary_timeout",
                severity=Severity.LOW,
                # Twilio times a summary out 24 h after the conference without last_participant_left.
                title="Conference summary timed out (Twilio never saw the last participant leave)",
            )
        )
    return found


def _tag_details(summary: ConferenceSummary) -> dict[str, str]:
    info = summary.tag_info
    if info is None:
        return {}
    details = {}
    if duplicates := info.get("duplicate_identity"):
        details["duplicate_identity"] = _quote(
            "; ".join(
                f"identity {dup.get('participant_identity', '-')} used by "
                f"{', '.join(dup.get('participant_sids') or [])}"
                for dup in duplicates
            )
        )
    reason = (info.get("start_failure") or {}).get("reason")
    if reason:
        details["start_failure"] = f"reason: {_quote(reason)}"
    return details
