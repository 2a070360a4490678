"""Webhook trigger: Twilio's Event Streams webhook sink POSTs a JSON array of CloudEvents.

What Twilio sees decides what happens next: a 5xx or a timeout is retried for up to 4 hours,
a 4xx is never retried (the events are discarded by Twilio). So:
- first the request must be Twilio's (``signature.check_request``): 400/401/403/413/415 when it is not,
  each after a bounded record of the request is kept (``refused_requests``; never the whole body, since
  anyone can send one); 503 when the secret cannot be read, so Twilio delivers again later and nothing
  unsigned is ever accepted;
- 200 with counts once every event is stored, ignored as a duplicate/stale, or kept as rejected
  (the rejected events of one request together, in one object);
- 400 when Twilio's body is not a JSON array, 413 when it holds more than ``max_events`` events,
  each only after the whole body was kept, once per body (a replay of the request keeps nothing more);
- 500 when anything is not settled yet (AWS trouble), so Twilio delivers the batch again;
  the events already stored then come back as duplicates, which is harmless.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from voice_insights.aws.rejected import raw_payload_fields
from voice_insights.domain.items import now_utc
from voice_insights.ingest.decoding import NotJson, load_json
from voice_insights.ingest.pipeline import Inbound, Pipeline
from voice_insights.ingest.refused_requests import refused_request_record
from voice_insights.ingest.signature import CredentialSource, CredentialsUnavailable, check_request
from voice_insights.runtime.observability import logger, metrics, utf8_json
from voice_insights.runtime.settings import DEFAULT_MAX_WEBHOOK_EVENTS, ConfigurationError, Settings


@dataclass(frozen=True)
class WebhookAuth:
    credentials: CredentialSource
    public_base_url: str
    max_body_bytes: int
    max_events: int = DEFAULT_MAX_WEBHOOK_EVENTS


def route_path(route_name: str) -> str:
    return "/events/" + route_name.replace("_", "-")


def auth_from_settings() -> WebhookAuth:
    """What checks a request, from the environment."""
    settings = Settings.from_env()
    if not settings.webhook_secret_id:
        # Without a secret nothing can be checked and nothing unchecked is accepted: the function fails,
        # API Gateway answers 502 and Twilio delivers again.
        raise ConfigurationError("WEBHOOK_SECRET_ARN is not set (see template.yaml)")
    return WebhookAuth(
        CredentialSource(settings.webhook_secret_id),
        settings.public_base_url,
        settings.max_body_bytes,
        settings.max_webhook_events,
    )


def build_resolver(
    route_name: str, pipeline: Callable[[], Pipeline], auth: Callable[[], WebhookAuth] | None = None
) -> APIGatewayRestResolver:
    """The API for one function's webhook route: authenticate, then settle every event of the body.
    ``auth``: by default read from the environment on the first request, then kept."""
    auth = auth or cache(auth_from_settings)
    app = APIGatewayRestResolver()

    @app.post(route_path(route_name))
    def receive() -> Response[str]:
        request = app.current_event
        origin = {"request_id": request_id(request), "path": request.path}
        raw = request_body(request)
        checks = auth()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:  # Twilio sends JSON, which is UTF-8 (RFC 8259): not Twilio's
            return _refuse_request(pipeline(), request, raw, 400, "the body is not UTF-8 text")
        refused = _authenticate(request, checks, pipeline, raw, body)
        if refused is not None:
            return refused
        # From here the request is Twilio's: what cannot be stored is kept whole.
        try:
            events = load_json(body)
        except NotJson as exc:
            return _refuse_body(pipeline(), raw, body, origin, 400, f"the body is {exc}")
        if not isinstance(events, list):
            return _refuse_body(pipeline(), raw, body, origin, 400, "the body must be a JSON array of CloudEvents")
        if len(events) > checks.max_events:
            reason = f"the body holds {len(events)} events, more than the {checks.max_events} one request may carry"
            return _refuse_body(pipeline(), raw, body, origin, 413, reason)

        report = pipeline().process(
            [Inbound(raw=event, origin={**origin, "position": i}) for i, event in enumerate(events)], source="webhook"
        )
        counts = report.counts()
        if report.failed:
            return _json(500, {"message": "some events could not be stored yet; deliver the batch again", **counts})
        return _json(200, counts)

    return app


def _authenticate(
    request: APIGatewayProxyEvent,
    auth: WebhookAuth,
    pipeline: Callable[[], Pipeline],
    raw: bytes,
    body: str,
) -> Response[str] | None:
    """None when the request is Twilio's; else the answer, given after a bounded record of it is kept."""
    try:
        refusal = check_request(request, body, auth.credentials, auth.public_base_url, auth.max_body_bytes)
    except CredentialsUnavailable as error:
        metrics.add_metric(name="SignatureCheckUnavailable", unit=MetricUnit.Count, value=1)
        logger.error("Webhook request not checked: no usable auth token, Twilio will retry", reason=str(error))
        return _json(503, {"message": "the request cannot be verified right now; deliver it again"})
    if refusal is None:
        return None
    return _refuse_request(pipeline(), request, raw, refusal.status, refusal.value)


def _refuse_request(
    pipeline: Pipeline, request: APIGatewayProxyEvent, raw: bytes, status: int, reason: str
) -> Response[str]:
    """Refuse a request not proven Twilio's, keeping only a bounded record of it (``refused/`` in the bucket)."""
    record = {"function": pipeline.route.name, **refused_request_record(request, raw, status, reason)}
    record["request_id"] = request_id(request)
    received_at = now_utc()
    record["received_at"] = received_at.isoformat()
    try:
        key = pipeline.rejected.keep_all([record], received_at, prefix="refused")
    except Exception:  # not kept: answer 5xx, so that a genuine request comes again
        logger.exception("Could not keep a refused webhook request")
        return _json(500, {"message": "the request could not be kept; deliver it again"})
    metrics.add_metric(name="WebhookRequestsRefused", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RefusedRequestBytesKept", unit=MetricUnit.Bytes, value=len(utf8_json(record).encode()))
    logger.warning(  # never the body: it may be forged, and it holds phone numbers
        "Webhook request refused", reason=reason, status=status, body_bytes=len(raw), refused_key=key
    )
    return _json(status, {"message": reason})


def request_id(request: APIGatewayProxyEvent) -> str | None:
    """API Gateway's id of the request (read without assuming the context has it: a test tool's may not)."""
    context = request.raw_event.get("requestContext")
    return context.get("requestId") if isinstance(context, dict) else None


def request_body(request: APIGatewayProxyEvent) -> bytes:
    """The body as sent: API Gateway passes a body it does not take for text base64-encoded."""
    body = request.body or ""
    if request.is_base64_encoded:
        try:
            return base64.b64decode(body)
        except ValueError:  # not from API Gateway, which encodes correctly: read as it came
            pass
    return body.encode(errors="surrogatepass")  # a lone surrogate: not UTF-8, refused as such


def _refuse_body(
    pipeline: Pipeline, raw: bytes, body: str, origin: dict[str, Any], status: int, reason: str
) -> Response[str]:
    """Refuse a body Twilio signed, after keeping it whole with the reason (``rejected/``, replayable).

    Once per body: Twilio's signature has no timestamp, so the same request verifies at every replay, and each
    would otherwise keep the whole body again. The key is the body's SHA-256, written only if absent."""
    received_at = now_utc()
    record = {"reason": reason, "errors": [], "event_id": None, "event_type": None, "function": pipeline.route.name,
              "source": "webhook", "received_at": received_at.isoformat(), "origin": origin,
              "body_sha256": hashlib.sha256(raw).hexdigest(), **raw_payload_fields(body)}  # fmt: skip
    try:
        kept = pipeline.rejected.keep_body(record, record["body_sha256"])
    except Exception:  # not kept: answer 5xx, so that Twilio delivers it again
        logger.exception("Could not keep rejected events, will be retried", events=1)
        return _json(500, {"message": "the request could not be kept; deliver it again"})
    logger.warning(  # the line the rejections-by-reason query counts; kept_now: false for a replay
        "Event rejected", reason=reason, event_id=None, event_type=None, rejected_key=kept.key, kept_now=kept.kept_now
    )
    return _json(status, {"message": reason, "rejected": 1})


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))
