"""Reading stored summaries back: one Query per question, never a Scan (docs/read.md). Used by the read API
(``read_api.py``) and the quality report (``operate/report.py``); the client is any boto3 DynamoDB client.

| question                                  | key or index                                                   |
|-------------------------------------------|----------------------------------------------------------------|
| a conference and a page of participants   | table: GetItem, then ``pk = CONF#<sid>``, ``sk`` from ``PART#`` |
| the participant summary of a call         | ``ByCallSid`` (keys only), then GetItem                        |
| an account's conferences in a time range  | ``ByAccountStartTime``: ``gsi1pk = ACCT#<account>``, ``gsi1sk`` between |
| issues in a time range | ``ByIssueMonth`` (sparse): ``gsi3pk = ISSUES#<yyyy-mm>`` per month, ``gsi3sk`` between |

Every answer stays under Lambda's 6 MB response payload
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): a page also ends, with a cursor, before
its items' JSON would pass ``PAGE_BUDGET_BYTES``; one item can never pass it alone, since what an event may hold is
bounded (domain/json_limits.py) and an item that holds more is answered as ``unreadable`` (``data_of``).

Pages are cut by an opaque cursor: the position (the segment's partition key, e.g. ``ISSUES#2026-11``, not its
place in the list of segments, which moves when an omitted ``to`` crosses midnight, and DynamoDB's key of the
last item read) and a digest of the query's parameters, signed with HMAC-SHA256. A cursor that was altered, or that
was handed out for another query, is refused (``BadCursor``): it cannot be forged into another query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python

from voice_insights.domain.items import CONFERENCE_SORT_KEY, PARTICIPANT_SORT_KEY_PREFIX, summary_from_item, utc_text

BY_ACCOUNT_START_TIME = "ByAccountStartTime"
BY_CALL_SID = "ByCallSid"
BY_ISSUE_MONTH = "ByIssueMonth"

# Each index's key attributes: an item's position in it (ExclusiveStartKey) is these plus the table's.
INDEX_KEYS = {
    None: ("pk", "sk"),
    BY_ACCOUNT_START_TIME: ("pk", "sk", "gsi1pk", "gsi1sk"),
    BY_ISSUE_MONTH: ("pk", "sk", "gsi3pk", "gsi3sk"),
}
MAX_RANGE = timedelta(days=366)
# Reads one page may spend when a filter drops most items: the page then ends early, with a cursor.
MAX_QUERIES_PER_PAGE = 10
# Lambda answers at most 6 MB (6,291,456 bytes) of response JSON, where the body is a string again; what the items
# of a page may take of it, counted as ``answer_bytes`` does. The rest is room for the envelope and headers.
PAGE_BUDGET_BYTES = 5_000_000
MAX_UNREADABLE_REASON_CHARS = 300

Item = dict[str, Any]


class BadRequest(ValueError):
    """A malformed range or cursor: the caller's to fix (400)."""


class BadCursor(BadRequest):
    pass


def time_key(moment: datetime) -> str:
    """A bound for the index sort keys: second resolution, UTC, no zone letter, so that a stored
    ``2026-11-21T10:00:00Z`` or ``…00.000000Z`` sorts between ``…00:00`` and ``…00:01``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return utc_text(moment)[:19]


def in_utc(moment: datetime, name: str) -> datetime:
    """``moment`` in UTC (naive: taken as UTC); a time whose UTC falls outside years 1 to 9999
    (``0001-01-01T00:00+05:00``) is the caller's to fix, not an OverflowError."""
    try:
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise BadRequest(f"'{name}' is outside years 1 to 9999 in UTC") from None


def check_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The range in UTC, or ``BadRequest``; everything after (months, days, keys) can then not overflow."""
    start, end = in_utc(start, "from"), in_utc(end, "to")
    if start >= end:
        raise BadRequest("'from' must be before 'to'")
    if end - start > MAX_RANGE:
        raise BadRequest(f"a time range spans at most {MAX_RANGE.days} days")
    return start, end


def months_newest_first(start: datetime, end: datetime) -> list[str]:
    months, year, month = [], end.astimezone(UTC).year, end.astimezone(UTC).month
    first = start.astimezone(UTC)
    while (year, month) >= (first.year, first.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


Signer = Callable[[bytes], bytes]


def local_signer(key: bytes) -> Signer:
    """HMAC-SHA256 with ``key`` in this process (tests, the report); the read API signs in KMS (``kms_signer``)."""
    return lambda message: hmac.new(key, message, hashlib.sha256).digest()


def kms_signer(client: Any, key_id: str) -> Signer:
    """HMAC-SHA256 with a KMS HMAC key: the key never leaves KMS. Checking signs again and compares."""

    def sign(message: bytes) -> bytes:
        mac: bytes = client.generate_mac(Message=message, KeyId=key_id, MacAlgorithm="HMAC_SHA_256")["Mac"]
        return mac

    return sign


@dataclass(frozen=True)
class Cursors:
    """Signs and checks cursors with ``sign`` (a MAC over the cursor's payload)."""

    sign: Signer

    def make(self, query: dict[str, Any], segment: str, last_key: Item) -> str:
        body = json.dumps({"q": _digest(query), "s": segment, "k": last_key}, separators=(",", ":"), sort_keys=True)
        payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"{payload}.{self._sign(payload)}"

    def read(self, cursor: str, query: dict[str, Any], index: str | None) -> tuple[str, Item]:
        """The segment (its partition key) and DynamoDB's key to go on from, or ``BadCursor``."""
        payload, _, signature = cursor.partition(".")
        # A cursor is ASCII (base64url): anything else was not handed out, and compare_digest takes no other str.
        if not payload or not cursor.isascii() or not hmac.compare_digest(signature, self._sign(payload)):
            raise BadCursor("the cursor is not one this API handed out")
        try:
            body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            raise BadCursor("the cursor is not one this API handed out") from None
        if not isinstance(body, dict):
            raise BadCursor("the cursor is not one this API handed out")
        if body.get("q") != _digest(query):
            raise BadCursor("the cursor belongs to another query: repeat the parameters it was handed out with")
        segment, key = body.get("s"), body.get("k")
        names = set(INDEX_KEYS[index])
        if not isinstance(segment, str) or not isinstance(key, dict):
            raise BadCursor("the cursor is not one this API handed out")
        if set(key) != names or not all(isinstance(v, dict) and set(v) == {"S"} for v in key.values()):
            raise BadCursor("the cursor is not one this API handed out")
        return segment, key

    def _sign(self, payload: str) -> str:
        digest = self.sign(payload.encode())
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _digest(query: dict[str, Any]) -> str:
    text = json.dumps(query, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _item(item: Item) -> Any:
    return item


@dataclass(frozen=True)
class PageRequest:
    """One page of a list route: ``query`` (its parameters, which the cursor is bound to), the range (None: the
    route has none), the filter applied to each item read, the page size, the cursor handed out with the page
    before, what the page holds for each item kept (``answer``) and how many bytes of JSON the answers may take."""

    query: dict[str, Any]
    start: datetime | None
    end: datetime | None
    keep: Callable[[Item], bool]
    limit: int
    cursor: str | None
    answer: Callable[[Item], Any] = _item
    budget: int = PAGE_BUDGET_BYTES


@dataclass
class Page:
    items: list[Any] = field(default_factory=list)  # the answers (``PageRequest.answer``) of the items kept
    next: str | None = None
    size: int = 0  # their ``answer_bytes``


def answer_bytes(value: Any) -> int:
    """What ``value`` takes of a Lambda response: its JSON as the read API writes it (ASCII, compact), counted
    once more for each quote and backslash, which are escaped again where the body is a string in the response."""
    text = json.dumps(to_jsonable_python(value), separators=(",", ":"))
    return len(text) + text.count('"') + text.count("\\")


def data_of(item: Item) -> dict[str, Any]:
    """The event's ``data`` as stored, whatever the storage format (the payload, or JSON text or gzip before).
    An item that cannot be read back within the bounds (stored before them, or damaged) is answered as its keys
    and ``unreadable``, the reason, rather than failing the whole answer."""
    try:
        return summary_from_item(item).model_dump(mode="json", by_alias=True, exclude_unset=True)
    except ValueError as error:  # UnreadablePayload, or a pydantic ValidationError
        return unreadable(item, error)


def unreadable(item: Item, error: Exception) -> dict[str, Any]:
    keys = {"conference_sid": item.get("pk", {}).get("S", "").removeprefix("CONF#")}
    sort_key = item.get("sk", {}).get("S", "")
    if sort_key.startswith(PARTICIPANT_SORT_KEY_PREFIX):
        keys["participant_sid"] = sort_key.removeprefix(PARTICIPANT_SORT_KEY_PREFIX)
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return {**keys, "unreadable": f"this stored summary cannot be answered: {reason[:MAX_UNREADABLE_REASON_CHARS]}"}


class IndexOff(LookupError):
    """The stack was deployed without the index this question needs (``CallSidIndex=false``): nothing was queried."""


class SummaryQueries:
    def __init__(self, client: Any, table: str, cursors: Cursors, call_sid_index: bool = True) -> None:
        self.client = client
        self.table = table
        self.cursors = cursors
        self.call_sid_index = call_sid_index  # ByCallSid exists: the template's CallSidIndex

    def conference_summary(self, conference_sid: str) -> Item | None:
        key = {"pk": {"S": f"CONF#{conference_sid}"}, "sk": {"S": CONFERENCE_SORT_KEY}}
        found: Item | None = self.client.get_item(TableName=self.table, Key=key).get("Item")
        return found

    def participants(self, conference_sid: str, request: PageRequest) -> Page:
        """A page of a conference's participant summaries, by participant SID."""
        condition = "pk = :a AND begins_with(sk, :p)"
        segments = [f"CONF#{conference_sid}"]
        return self._page(request, None, condition, segments, {"p": PARTICIPANT_SORT_KEY_PREFIX}, forward=True)

    def conference(self, conference_sid: str) -> list[Item]:
        """The conference summary and all its participants' (one Query, paged by DynamoDB past 1 MB): for the
        report, which reads them in turn; the read API pages them (``participants``)."""
        return list(
            self._all(KeyConditionExpression="pk = :pk", ExpressionAttributeValues=_values(pk=f"CONF#{conference_sid}"))
        )

    def call(self, call_sid: str) -> Item | None:
        if not self.call_sid_index:
            raise IndexOff(BY_CALL_SID)
        for key in self._all(
            IndexName=BY_CALL_SID,
            KeyConditionExpression="gsi2pk = :c",
            ExpressionAttributeValues=_values(c=f"CALL#{call_sid}"),
        ):
            found: Item | None = self.client.get_item(TableName=self.table, Key={"pk": key["pk"], "sk": key["sk"]}).get(
                "Item"
            )
            if found is not None:
                return found
        return None

    def account_conferences(self, account_sid: str, request: PageRequest) -> Page:
        bounds = _time_bounds(request)
        segments = [f"ACCT#{account_sid}"]
        return self._page(
            request, BY_ACCOUNT_START_TIME, "gsi1pk = :a AND gsi1sk BETWEEN :lo AND :hi", segments, bounds
        )

    def issues(self, request: PageRequest) -> Page:
        bounds = _time_bounds(request)
        if request.start is None or request.end is None:  # _time_bounds refuses None already
            raise BadRequest("from and to are required")
        segments = [f"ISSUES#{m}" for m in months_newest_first(request.start, request.end)]
        return self._page(request, BY_ISSUE_MONTH, "gsi3pk = :a AND gsi3sk BETWEEN :lo AND :hi", segments, bounds)

    def account_conference_items(self, account_sid: str, start: datetime, end: datetime) -> Iterator[Item]:
        yield from self._all(
            IndexName=BY_ACCOUNT_START_TIME,
            KeyConditionExpression="gsi1pk = :a AND gsi1sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues=_values(a=f"ACCT#{account_sid}", lo=time_key(start), hi=time_key(end)),
            ScanIndexForward=False,
        )

    def _all(self, **kwargs: Any) -> Iterator[Item]:
        while True:
            answer = self.client.query(TableName=self.table, **kwargs)
            yield from answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                return
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _page(
        self,
        request: PageRequest,
        index: str | None,
        condition: str,
        segments: list[str],
        bounds: dict[str, str],
        forward: bool = False,
    ) -> Page:
        """``segments``: the partition keys (``:a``) to read in turn, newest first (``forward``: ascending), each
        between ``bounds``. The page ends at ``limit`` items, at ``MAX_QUERIES_PER_PAGE`` reads, or before the
        answers would pass ``budget`` bytes (never before its first item), each time with a cursor."""
        query, keep, limit, cursor = request.query, request.keep, request.limit, request.cursor
        segment, start_key = 0, None
        if cursor is not None:
            segment, start_key = self._resume(cursor, query, index, segments)
        page, queries = Page(), 0
        last: tuple[str, Item] | None = None  # the segment and position of the last item answered
        while segment < len(segments):
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": _values(a=segments[segment], **bounds),
                "ScanIndexForward": forward,
                "Limit": limit,
            }
            if index is not None:
                kwargs["IndexName"] = index
            if start_key is not None:
                kwargs["ExclusiveStartKey"] = start_key
            answer = self.client.query(**kwargs)
            queries += 1
            for item in answer.get("Items", []):
                if not keep(item):
                    continue
                answered = request.answer(item)
                size = answer_bytes(answered)
                if last is not None and page.size + size > request.budget:  # this one starts the next page
                    page.next = self.cursors.make(query, *last)
                    return page
                page.items.append(answered)
                page.size += size
                last = (segments[segment], _position(item, index))
                if len(page.items) == limit:
                    page.next = self.cursors.make(query, *last)
                    return page
            start_key = answer.get("LastEvaluatedKey")
            if start_key is None:
                segment += 1
            elif queries >= MAX_QUERIES_PER_PAGE:  # a sparse filter: hand back what was found and where to go on
                page.next = self.cursors.make(query, segments[segment], start_key)
                return page
        return page

    def _resume(
        self, cursor: str, query: dict[str, Any], index: str | None, segments: list[str]
    ) -> tuple[int, Item | None]:
        """Where a cursor goes on: its segment, found by key. With ``to`` omitted ("now") the segments move
        between requests: a new month is added in front after midnight (the cursor's month is then further
        down the list), and with ``from`` omitted too, old months leave the range (a cursor left in one has
        nothing more to give: the end of the list)."""
        key, start_key = self.cursors.read(cursor, query, index)
        if key in segments:
            return segments.index(key), start_key
        if segments and key < segments[-1]:  # older than the range now reaches (keys sort as times)
            return len(segments), None
        raise BadCursor("the cursor is not one this API handed out")


def _time_bounds(request: PageRequest) -> dict[str, str]:
    if request.start is None or request.end is None:
        raise BadRequest("this list needs a time range")
    return {"lo": time_key(request.start), "hi": time_key(request.end)}


def _position(item: Item, index: str | None) -> Item:
    return {name: {"S": item[name]["S"]} for name in INDEX_KEYS[index]}


def _values(**values: str) -> dict[str, Any]:
    return {f":{name}": {"S": value} for name, value in values.items()}
