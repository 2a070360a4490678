"""What a refused webhook request leaves behind: a bounded record, never the whole body.

A request that has not proven to be Twilio's (no or a wrong signature, too large, not JSON, not UTF-8)
may come from anyone, as often as API Gateway lets it through, so what it makes the stack keep is capped
at ``MAX_RECORD_BYTES``: enough to diagnose (reason, size and SHA-256 of the body, its first bytes, source
IP, headers minus credentials), too little to be a storage bill, and no body whole that a replay could
put back on the stream. A genuine batch refused this way (a token rotated without updating the secret)
is recovered from Twilio's REST API; the SHA-256 and the first bytes say which.

No signature is kept. Twilio's signature covers the URL (its ``bodySHA256`` included) and no time, so a record
with the signature, the query and a small body whole would let anyone who can read the bucket send a genuine
request again (one refused while a rotated token was missing from the secret, say). The query and the first
bytes without the signature allow nothing: signing needs the auth token. What is kept instead is the
signature's SHA-256: whoever holds a candidate token computes its signature of the URL and compares the digests,
so the record still tells which token signed it, and the digest cannot be turned back into a signature.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from twilio.request_validator import SIGNATURE_HEADER

from voice_insights.runtime.observability import utf8_json

MAX_RECORD_BYTES = 64 * 1024
BODY_HEAD_BYTES = 4 * 1024
MAX_HEADERS = 40
MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 256
MAX_QUERY_CHARS = 1024
# Credentials never kept, whoever sent them; Twilio's signature, which replays the request it signs, neither.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-amz-security-token", SIGNATURE_HEADER.lower()}
)


def refused_request_record(request: APIGatewayProxyEvent, body: bytes, status: int, reason: str) -> dict[str, Any]:
    """The record kept for a refused request; its JSON is at most ``MAX_RECORD_BYTES``."""
    head = body[:BODY_HEAD_BYTES]
    record: dict[str, Any] = {
        "reason": f"request refused ({status}): {reason}",
        "status": status,
        "authenticated": False,
        "source_ip": _clip(str(_source_ip(request.raw_event)), MAX_NAME_CHARS),
        "method": _clip(request.http_method or "", MAX_NAME_CHARS),
        "path": _clip(request.path or "", MAX_VALUE_CHARS),
        "query": _clip(_query_text(request), MAX_QUERY_CHARS),
        "headers": kept_headers(request),
        "signature_sha256": _signature_digest(request),
        "body_bytes": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        # Readable text; bytes that are not UTF-8 (or a character cut at the end) as \\xNN escapes.
        "body_head": head.decode("utf-8", errors="backslashreplace"),
        "body_truncated": len(body) > len(head),
    }
    if len(utf8_json(record).encode()) > MAX_RECORD_BYTES:  # only headers can still make it long
        record["headers"] = {"omitted": f"{len(request.raw_event.get('multiValueHeaders') or {})} headers"}
    return record


def kept_headers(request: APIGatewayProxyEvent) -> dict[str, list[str]]:
    """The request's headers, credentials left out, each name and value clipped, at most ``MAX_HEADERS`` names."""
    kept: dict[str, list[str]] = {}
    for name, values in _header_lists(request)[:MAX_HEADERS]:
        if str(name).lower() in SECRET_HEADERS:
            continue
        kept[_clip(str(name), MAX_NAME_CHARS)] = [_clip(str(v), MAX_VALUE_CHARS) for v in values[:4]]
    return kept


def _signature_digest(request: APIGatewayProxyEvent) -> str | None:
    """The SHA-256 of the (first) X-Twilio-Signature sent, whatever the case of its name; None when none was."""
    wanted = SIGNATURE_HEADER.lower()
    sent = [str(v) for name, values in _header_lists(request) if str(name).lower() == wanted for v in values]
    return hashlib.sha256(sent[0].encode(errors="surrogatepass")).hexdigest() if sent else None


def _header_lists(request: APIGatewayProxyEvent) -> list[tuple[Any, Any]]:
    """(name, values) of every header as sent: API Gateway's multi-value map, else the single-value one."""
    multi: Any = request.raw_event.get("multiValueHeaders") or {
        name: [value] for name, value in (request.raw_event.get("headers") or {}).items()
    }
    if not isinstance(multi, dict):
        return []
    listed = {
        name: values if isinstance(values, list) else [] if values is None else [values]
        for name, values in multi.items()
    }
    return list(listed.items())


def _source_ip(event: dict[str, Any]) -> Any:
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, dict) else None
    return (identity.get("sourceIp") if isinstance(identity, dict) else None) or ""


def _query_text(request: APIGatewayProxyEvent) -> str:
    query = request.multi_value_query_string_parameters or {}
    return "&".join(f"{name}={value}" for name, values in query.items() for value in values or [])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
