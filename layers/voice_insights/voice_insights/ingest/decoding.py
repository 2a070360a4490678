"""Turn one raw event (Kinesis record bytes or one element of a webhook array) into a decision.

Every input ends as exactly one of: ``Accepted`` (a valid summary to store),
``SinkTest`` (Twilio's sink validation event: logged, not stored),
``Rejected`` (kept in the rejected-events store with the reason) or, for the
catch-all function only, ``Skipped`` (a type another function's filter takes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from aws_lambda_powertools.utilities.parser import parse
from pydantic import ValidationError

from voice_insights.domain import json_limits
from voice_insights.domain.models import EventType, SinkTestEvent, SummaryEvent, sid_violations
from voice_insights.domain.schema_drift import drift_only, field_name, validate_leniently
from voice_insights.ingest.routes import ROUTED_EVENT_TYPES, UNROUTED, Route
from voice_insights.runtime.observability import utf8_json

MAX_REASON_ERRORS = 10


@dataclass(frozen=True, slots=True)
class Accepted:
    event: SummaryEvent
    # Fields where the event differs from Twilio's documented schema (stored all the same: schema_drift.py),
    # and then its data as sent (JSON text): the event's model lacks the values set aside.
    violations: tuple[str, ...] = ()
    data_as_sent: str | None = None


@dataclass(frozen=True, slots=True)
class SinkTest:
    event_id: str
    test_id: str


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    event_id: str | None = None
    event_type: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    internal_error: bool = False  # a bug in this code, not a fault of the event


@dataclass(frozen=True, slots=True)
class Skipped:
    event_type: str


Decision = Accepted | SinkTest | Rejected | Skipped


def decode(raw: bytes | str | Any, route: Route) -> Decision:
    """Validate one CloudEvent for ``route``. ``raw`` is bytes/str JSON, or an already-decoded JSON value."""
    too_much = _over_event_limits(raw)
    if too_much is not None:
        filtered = _type_a_filter_reads(raw) if route is UNROUTED else None
        if _taken_by_a_filter(filtered):
            return Skipped(event_type=str(filtered))  # the routed function rejects it
        return too_much
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Rejected(reason=f"the event is not UTF-8 text: {exc.reason} at byte {exc.start}")
    if route is UNROUTED:
        return _decode_unrouted(raw)
    try:
        # parse() validates a str as JSON in one pass (pydantic validate_json); its annotation says dict only.
        event = parse(event=cast(dict[str, Any], raw), model=route.model)
    except ValidationError as exc:
        return _drifted(raw, exc, route) or _rejection(raw, exc, route, tagged=True)
    if isinstance(event, SinkTestEvent):
        return SinkTest(event_id=event.id, test_id=event.data.test_id)
    return Accepted(event=event, violations=sid_violations(event.data))


def _over_event_limits(raw: bytes | str | Any) -> Rejected | None:
    """The rejection of an event larger than one event may be (json_limits.EVENT), checked before it is parsed;
    None when it is within the limits."""
    text = isinstance(raw, bytes | str)
    reason = (
        json_limits.over_limits(raw, json_limits.EVENT)
        if text
        else json_limits.value_over_limits(raw, json_limits.EVENT)
    )
    if reason is None:
        return None
    header = {} if text or not isinstance(raw, dict) else raw  # a text too large is not parsed for its id
    return Rejected(
        reason=f"the event {reason}: more than one event may hold (docs/security.md, Bounds)",
        event_id=_str_or_none(header.get("id")),
        event_type=_str_or_none(header.get("type")),
        errors=[{"field": "", "type": "event_too_large", "message": reason}],
    )


def _type_a_filter_reads(raw: bytes | str | Any) -> Any:
    """The ``type`` Lambda's filter reads in an event over the limits, or None: the catch-all function must skip
    what a routed function's filter took. Parsed whole, as the filter does, but only up to a Kinesis record's
    1 MB (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html) and a million values."""
    if isinstance(raw, dict):
        return raw.get("type")
    if not isinstance(raw, bytes | str) or json_limits.over_limits(raw, json_limits.KINESIS_RECORD) is not None:
        return None
    try:  # strictly, as load_json: UTF-8 text without a byte-order mark (json.loads of bytes would take both)
        value = json.loads(raw.decode() if isinstance(raw, bytes) else raw, parse_constant=_not_json_constant)
    except (ValueError, RecursionError):  # not JSON Lambda's filter reads: no filter took it
        return None
    return value.get("type") if isinstance(value, dict) else None


def _drifted(raw: str | Any, exc: ValidationError, route: Route) -> Accepted | None:
    """The event, when it failed Twilio's documented schema only on fields storing does not need; else None."""
    errors = exc.errors(include_url=False, include_input=False)
    if not all(err["loc"] and err["loc"][0] in route.event_types for err in errors):
        return None  # not an object of the route's summary type (not JSON, an unknown type, a sink test event)
    errors = [{**err, "loc": err["loc"][1:]} for err in errors]  # the location below the matched type
    if not drift_only(errors):
        return None
    value = _as_dict(raw)
    if value is None:
        return None
    try:
        event = validate_leniently(route.event_model, value, errors)
    except ValidationError:
        return None
    violations = tuple(sorted({field_name(err["loc"]) for err in errors} | set(sid_violations(event.data))))
    return Accepted(event=event, violations=violations, data_as_sent=utf8_json(value.get("data")))


def _as_dict(raw: str | Any) -> dict[str, Any] | None:
    """The event as a dict with ``data`` as an object (Twilio's Kinesis sink sends it as a JSON string)."""
    try:
        value = load_json(raw) if isinstance(raw, str) else raw
        if isinstance(value, dict) and isinstance(value.get("data"), str):
            value = {**value, "data": load_json(value["data"])}
    except NotJson:
        return None
    return value if isinstance(value, dict) else None


class NotJson(ValueError):
    """Text that is not JSON this code can read; the message says why."""


def load_json(text: str, limits: json_limits.Limits = json_limits.WEBHOOK_BODY) -> Any:
    """Strict JSON (RFC 8259: no NaN or Infinity, no byte-order mark) that fails only with ``NotJson``,
    also when ``text`` holds more than ``limits`` allow (checked before parsing: a webhook body by default).

    Strict because the catch-all function skips an event when it reads as a routed type, trusting that
    Lambda's filter (which reads JSON strictly) handed it to that type's function; what Lambda cannot
    read must be rejected here, not skipped. Deep nesting raises RecursionError, not ValueError.
    """
    too_much = json_limits.over_limits(text, limits)
    if too_much is not None:
        raise NotJson(f"JSON that {too_much}")
    try:
        return json.loads(text, parse_constant=_not_json_constant)
    except ValueError as exc:
        raise NotJson(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise NotJson("JSON nested too deeply") from None


def _not_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _decode_unrouted(raw: str | Any) -> Decision:
    if isinstance(raw, str):
        try:
            raw = load_json(raw)
        except NotJson as exc:
            return Rejected(reason=f"the event is {exc}")
    if not isinstance(raw, dict):
        return Rejected(reason=f"a CloudEvent must be a JSON object, got {_json_kind(raw)}")
    event_type = raw.get("type")
    if _taken_by_a_filter(event_type):
        return Skipped(event_type=str(event_type))
    if event_type == EventType.SINK_TEST:
        try:
            event = parse(event=raw, model=SinkTestEvent)
        except ValidationError as exc:
            return _rejection(raw, exc, UNROUTED, tagged=False)
        return SinkTest(event_id=event.id, test_id=event.data.test_id)
    return Rejected(
        reason=f"event type {event_type!r} is not one this application processes "
        f"(it processes: {', '.join(sorted(ROUTED_EVENT_TYPES))})",
        event_id=_str_or_none(raw.get("id")),
        event_type=_str_or_none(event_type),
    )


def _taken_by_a_filter(event_type: Any) -> bool:
    """Whether a processing function's filter matches this ``type``: Lambda's filter matches an array value
    when any element matches (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html)."""
    values = event_type if isinstance(event_type, list) else [event_type]
    return any(isinstance(value, str) and value in ROUTED_EVENT_TYPES for value in values)


def _rejection(raw: Any, exc: ValidationError, route: Route, tagged: bool) -> Rejected:
    header = peek_header(raw)
    errors = [_describe_error(err, route, tagged) for err in exc.errors(include_url=False, include_input=False)]
    shown = "; ".join(
        f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors[:MAX_REASON_ERRORS]
    )
    more = f" (and {len(errors) - MAX_REASON_ERRORS} more)" if len(errors) > MAX_REASON_ERRORS else ""
    return Rejected(
        reason=f"invalid event: {shown}{more}",
        event_id=_str_or_none(header.get("id")),
        event_type=_str_or_none(header.get("type")),
        errors=errors,
    )


def _describe_error(err: Any, route: Route, tagged: bool) -> dict[str, str]:
    loc = list(err["loc"])
    # A discriminated union puts the matched tag (the CloudEvent type) first in the location.
    if tagged and loc:
        loc = loc[1:]
    kind = err["type"]
    if kind == "union_tag_invalid":
        accepted = ", ".join(sorted(route.event_types))
        message = f"event type {err['ctx']['tag']!r} is not accepted by {route.name} (it accepts: {accepted})"
    elif kind == "union_tag_not_found":
        message = "the CloudEvent has no 'type'"
    elif kind == "json_invalid":
        message = f"not valid JSON ({err['ctx'].get('error', err['msg'])})"
    else:
        message = err["msg"]
    return {"field": ".".join(str(part) for part in loc), "type": kind, "message": message}


def peek_header(raw: Any) -> dict[str, Any]:
    """Best effort: the id and type of an event that failed validation, for the rejected-events record."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        try:
            raw = load_json(raw)
        except NotJson:
            return {}
    return raw if isinstance(raw, dict) else {}


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
