"""The read API (ReadApiFunction): stored summaries by conference, account and time, call, and quality issue.

Powertools' event handler with validation on: parameters are checked from their annotations and the OpenAPI
document (docs/openapi.json) is generated from this code (``openapi_document``). A malformed SID, range or
cursor answers 400, an unknown conference or call 404, each with ``{"message": …}``. Summaries come back as the
event's ``data`` JSON, whatever the storage format; ``from``/``to`` phone numbers are returned whole: this API
is for the table's owner, behind IAM (docs/read.md, "Phone numbers"). Nothing of a response is logged or traced.
Every answer stays under Lambda's 6 MB (summary_queries.PAGE_BUDGET_BYTES); a conference's participants come in
pages too. An invocation that is not an API Gateway REST proxy request is answered 400, never raised.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from voice_insights.domain.items import PARTICIPANT_SUMMARY, entity_of
from voice_insights.domain.models import sid_pattern
from voice_insights.domain.quality import Issue, Severity, Thresholds, issues_of
from voice_insights.read.summary_queries import (
    PAGE_BUDGET_BYTES,
    BadRequest,
    Cursors,
    IndexOff,
    Item,
    PageRequest,
    SummaryQueries,
    answer_bytes,
    check_range,
    data_of,
    in_utc,
    kms_signer,
    unreadable,
)
from voice_insights.runtime.observability import logger
from voice_insights.runtime.settings import AlertRules, ReadSettings

# The rule ingest checks SIDs with (models.sid_pattern): what is stored under another SID is flagged there.
CONFERENCE_SID = sid_pattern("CF")
CALL_SID = sid_pattern("CA")
ACCOUNT_SID = sid_pattern("AC")
DEFAULT_DAYS = 7
# ISO 8601 date and time, UTC unless an offset is given (pydantic's datetime would also take a number).
TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$"
FROM_HELP = f"ISO 8601 date and time, inclusive; default: {DEFAULT_DAYS} days before `to`"
TO_HELP = "ISO 8601 date and time, exclusive; default: now"

TITLE = "Voice Insights summaries: read API"
VERSION = "1.0.0"

app = APIGatewayRestResolver(enable_validation=True)


class Message(BaseModel):
    message: str


class IssueOut(BaseModel):
    code: str
    kind: str
    severity: str
    title: str


class ConferenceOut(BaseModel):
    conference: dict[str, Any] | None = Field(
        description="the conference summary's data (on every page); null if only participants are stored"
    )
    participants: list[dict[str, Any]]
    next: str | None = Field(description="pass as `next` for the following page of participants")


class CallOut(BaseModel):
    participant: dict[str, Any]


class ConferencePage(BaseModel):
    conferences: list[dict[str, Any]]
    next: str | None = Field(description="pass as `next` with the same parameters for the following page")


class IssueSummary(BaseModel):
    entity: str
    severity: str
    issues: list[IssueOut]
    summary: dict[str, Any]


class IssuePage(BaseModel):
    items: list[IssueSummary]
    next: str | None


ERRORS: dict[int, Any] = {
    400: {
        "description": "malformed SID, range, limit or cursor",
        "content": {"application/json": {"schema": Message.model_json_schema()}},
    },
}
NOT_FOUND: dict[int, Any] = {
    **ERRORS,
    404: {
        "description": "nothing stored under this SID",
        "content": {"application/json": {"schema": Message.model_json_schema()}},
    },
}


@cache
def queries() -> SummaryQueries:
    from voice_insights.aws.clients import make_client

    settings = ReadSettings.from_env()
    signer = kms_signer(make_client("kms"), settings.cursor_key_id)
    return SummaryQueries(make_client("dynamodb"), settings.table_name, Cursors(signer), settings.call_sid_index)


@cache
def thresholds() -> Thresholds:
    return AlertRules.from_env().thresholds


def _message(status: int, text: str) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": text})


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(error: RequestValidationError) -> Response[Any]:
    details = "; ".join(
        f"{'.'.join(str(part) for part in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
        for e in error.errors()
    )
    return _message(400, details or "invalid request")


@app.exception_handler(BadRequest)  # type: ignore[untyped-decorator]
def _bad_request(error: BadRequest) -> Response[Any]:
    return _message(400, str(error))


@app.not_found
def _no_route(_: Exception) -> Response[Any]:
    return _message(404, "no such route")


def _only_parameters(*names: str) -> None:
    """A parameter this route does not know is refused rather than ignored: a misspelt filter (``stauts``)
    would otherwise answer with everything."""
    unknown = sorted(set(app.current_event.query_string_parameters or {}) - set(names))
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(u[:40] for u in unknown[:5])}")


def now() -> datetime:
    """The clock an omitted ``to`` reads (tests replace it)."""
    return datetime.now(UTC)


def _range(start_text: str | None, end_text: str | None) -> tuple[datetime, datetime]:
    """The range in UTC, or ``BadRequest``: no date arithmetic on a client's time may raise (years 1 and 9999)."""
    end = in_utc(_moment(end_text, "to") if end_text else now(), "to")
    if start_text:
        start = _moment(start_text, "from")
    elif end - datetime.min.replace(tzinfo=UTC) < timedelta(days=DEFAULT_DAYS):
        raise BadRequest(f"'to' is less than {DEFAULT_DAYS} days after 0001-01-01: give 'from'")
    else:
        start = end - timedelta(days=DEFAULT_DAYS)
    return check_range(start, end)


def _moment(text: str, name: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"'{name}' is not a date and time: {text[:40]!r}") from None


@app.get(
    "/conferences/<conferenceSid>",
    responses={200: {"description": "the summaries"}, **NOT_FOUND},
    summary="A conference with its participant summaries, a page at a time",
)
def get_conference(
    conferenceSid: Annotated[str, Path(pattern=CONFERENCE_SID)],
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> ConferenceOut:
    _only_parameters("limit", "next")
    summary = queries().conference_summary(conferenceSid)
    conference = data_of(summary) if summary is not None else None
    query = {"route": "conference", "conference": conferenceSid, "limit": limit}
    budget = PAGE_BUDGET_BYTES - (answer_bytes(conference) if conference is not None else 0)
    request = PageRequest(query, None, None, lambda _: True, limit, next, answer=data_of, budget=budget)
    page = queries().participants(conferenceSid, request)
    if conference is None and not page.items and next is None:
        raise _NotFound(f"no summary is stored for conference {conferenceSid}")
    return ConferenceOut(conference=conference, participants=page.items, next=page.next)


@app.get(
    "/calls/<callSid>",
    responses={200: {"description": "the summary"}, **NOT_FOUND},
    summary="The participant summary of a call",
)
def get_call(callSid: Annotated[str, Path(pattern=CALL_SID)]) -> CallOut:
    _only_parameters()
    try:
        item = queries().call(callSid)
    except IndexOff:  # CallSidIndex=false: the stack has no ByCallSid (docs/read.md, "Indexes")
        raise _NotFound(
            "call lookup is off on this stack (template parameter CallSidIndex=false): deploy with CallSidIndex=true "
            f"to turn it on, or ask the history lake for the participant_summaries row whose call_sid is {callSid} "
            "(make query --sql, docs/queries.md)"
        ) from None
    if item is None:
        raise _NotFound(f"no participant summary is stored for call {callSid}")
    return CallOut(participant=data_of(item))


@app.get(
    "/conferences",
    responses={200: {"description": "a page, newest first"}, **ERRORS},
    summary="An account's conferences in a time range",
)
def list_conferences(
    accountSid: Annotated[str, Query(pattern=ACCOUNT_SID)],
    from_: Annotated[str | None, Query(alias="from", pattern=TIME, description=FROM_HELP)] = None,
    to: Annotated[str | None, Query(pattern=TIME, description=TO_HELP)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> ConferencePage:
    _only_parameters("accountSid", "from", "to", "tag", "status", "limit", "next")
    start, end = _range(from_, to)
    query = {  # the parameters as given (an omitted `to` is "now", which moves): what a cursor is bound to
        "route": "conferences",
        "account": accountSid,
        "from": from_,
        "to": to,
        "tag": tag,
        "status": status,
        "limit": limit,
    }

    def keep(item: Item) -> bool:
        if status is not None and item.get("status", {}).get("S") != status:
            return False
        return tag is None or any(t.get("S") == tag for t in item.get("tags", {}).get("L", []))

    request = PageRequest(query, start, end, keep, limit, next, answer=data_of)
    page = queries().account_conferences(accountSid, request)
    return ConferencePage(conferences=page.items, next=page.next)


@app.get(
    "/issues",
    responses={200: {"description": "a page, newest first"}, **ERRORS},
    summary="Summaries with quality issues in a time range",
)
def list_issues(
    from_: Annotated[str | None, Query(alias="from", pattern=TIME, description=FROM_HELP)] = None,
    to: Annotated[str | None, Query(pattern=TIME, description=TO_HELP)] = None,
    kind: Annotated[
        str | None, Query(max_length=100, description="e.g. low_mos, high_jitter, high_packet_loss")
    ] = None,
    severity: Annotated[str | None, Query(pattern="^(low|medium|high)$", description="at least this severity")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> IssuePage:
    _only_parameters("from", "to", "kind", "severity", "limit", "next")
    start, end = _range(from_, to)
    query = {"route": "issues", "from": from_, "to": to, "kind": kind, "severity": severity, "limit": limit}
    floor = Severity.parse(severity) if severity else Severity.LOW

    def keep(item: Item) -> bool:
        if Severity.parse(item.get("issue_severity", {}).get("S"), Severity.LOW) < floor:
            return False
        return kind is None or any(i.kind == kind for i in _issues(item))

    page = queries().issues(PageRequest(query, start, end, keep, limit, next, answer=_issue_summary))
    return IssuePage(items=page.items, next=page.next)


def _issues(item: Item) -> list[Issue]:
    """The item's issues; none for an item that cannot be read back (``data_of`` answers it as unreadable)."""
    from voice_insights.domain.items import summary_from_item

    try:
        return issues_of(summary_from_item(item), thresholds())
    except ValueError:
        return []


def _issue_summary(item: Item) -> IssueSummary:
    from voice_insights.domain.items import summary_from_item

    try:
        summary = summary_from_item(item)
    except ValueError as error:  # UnreadablePayload, or a pydantic ValidationError
        issues, data = [], unreadable(item, error)
    else:
        issues = issues_of(summary, thresholds())
        data = summary.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return IssueSummary(
        entity="participant" if entity_of(item) == PARTICIPANT_SUMMARY else "conference",
        severity=item.get("issue_severity", {}).get("S", issues[0].severity.label if issues else "low"),
        issues=[IssueOut(code=i.code, kind=i.kind, severity=i.severity.label, title=i.title) for i in issues],
        summary=data,
    )


class _NotFound(LookupError):
    pass


@app.exception_handler(_NotFound)  # type: ignore[untyped-decorator]
def _not_found(error: _NotFound) -> Response[Any]:
    return _message(404, str(error))


def openapi_document() -> str:
    """docs/openapi.json: what `tests/unit/test_read_api.py` compares with the checked-in copy."""
    return app.get_openapi_json_schema(title=TITLE, version=VERSION, servers=None)


def handle(event: Any, context: Any) -> dict[str, Any]:
    """Answer any invocation: an API Gateway REST proxy request (payload format 1.0) as the routes say, anything
    else (an HTTP API's payload 2.0, a stream batch, ``{}``, a list) 400, and a failure inside 500, never raised."""
    if not _is_rest_proxy_request(event):
        shape = _shape(event)
        logger.warning("Not an API Gateway REST proxy request", shape=shape)
        return _raw_answer(400, f"this function answers API Gateway REST API proxy requests (payload 1.0), not {shape}")
    try:
        return app.resolve(event, context)
    except Exception:  # a bug, or DynamoDB or KMS unreachable: the caller gets an answer, the log the reason
        logger.exception("The read API failed to answer")
        return _raw_answer(500, "the read API could not answer; try again later")


def _is_rest_proxy_request(event: Any) -> bool:
    """What Powertools' REST resolver reads without fail: the method, the path and the request context."""
    return (
        isinstance(event, dict)
        and isinstance(event.get("httpMethod"), str)
        and isinstance(event.get("path"), str)
        and isinstance(event.get("requestContext"), dict)
    )


def _shape(event: Any) -> str:
    version = event.get("version") if isinstance(event, dict) else None
    if isinstance(version, str) and version.replace(".", "").isdigit():
        return f"payload format {version[:10]}"
    names = {dict: "object", list: "array", str: "string", type(None): "null", bool: "boolean"}
    return f"a JSON {names.get(type(event), 'number')}"


def _raw_answer(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"message": message}),
        "isBase64Encoded": False,
    }
