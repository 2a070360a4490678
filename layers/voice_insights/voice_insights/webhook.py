"""Webhook trigger: Twilio's Event Streams webhook sink POSTs a JSON array of CloudEvents.

What Twilio sees decides what happens next: a 5xx or a timeout is retried for up to 4 hours,
a 4xx is never retried (the events are discarded by Twilio). So:
- first the request must be Twilio's (``signature.check_request``): 401/403/413/415 when it is not,
  each only after the body was kept with the reason, so a request refused by mistake (a token
  rotated without updating the secret) can still be replayed; 503 when the secret cannot be read,
  so Twilio delivers again later and nothing unsigned is ever accepted;
- 200 with counts once every event is stored, ignored as a duplicate/stale, or kept as rejected;
- 400 only when the body is not a JSON array at all (or not even UTF-8 text), and only after the body
  was kept;
- 500 when anything is not settled yet (AWS trouble), so Twilio delivers the batch again;
  the events already stored then come back as duplicates, which is harmless.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from voice_insights.decoding import NotJson, Rejected, load_json
from voice_insights.observability import logger, metrics
from voice_insights.pipeline import Inbound, Outcome, Pipeline
from voice_insights.settings import ConfigurationError, Settings
from voice_insights.signature import CredentialSource, CredentialsUnavailable, check_request

# Request headers kept with a refused body: enough to diagnose, never the Authorization header.
KEPT_HEADERS = ("content-type", "user-agent", "x-twilio-signature", "i-twilio-idempotency-token", "host")


@dataclass(frozen=True)
class WebhookAuth:
    credentials: CredentialSource
    public_base_url: str
    max_body_bytes: int


def route_path(route_name: str) -> str:
    return "/events/" + route_name.replace("_", "-")


def auth_from_settings() -> WebhookAuth:
    """What checks a request, from the environment."""
    settings = Settings.from_env()
    if not settings.webhook_secret_id:
        # Without a secret nothing can be checked and nothing unchecked is accepted: the function fails,
        # API Gateway answers 502 and Twilio delivers again.
        raise ConfigurationError("WEBHOOK_SECRET_ARN is not set (see template.yaml)")
    return WebhookAuth(CredentialSource(settings.webhook_secret_id), settings.public_base_url, settings.max_body_bytes)


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
        origin = {"request_id": request.request_context.request_id, "path": request.path}
        raw = request_body(request)
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:  # Twilio sends JSON, which is UTF-8 (RFC 8259); keep it as bytes
            return _refuse_body(pipeline(), raw, origin, "the body is not UTF-8 text")
        refused = _authenticate(request, auth(), pipeline, body, origin)
        if refused is not None:
            return refused
        try:
            events = load_json(body)
        except NotJson as exc:
            return _refuse_body(pipeline(), body, origin, f"the body is {exc}")
        if not isinstance(events, list):
            return _refuse_body(pipeline(), body, origin, "the body must be a JSON array of CloudEvents")

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
    body: str,
    origin: dict[str, Any],
) -> Response[str] | None:
    """None when the request is Twilio's; else the answer, given after the body is kept."""
    try:
        refusal = check_request(request, body, auth.credentials, auth.public_base_url, auth.max_body_bytes)
    except CredentialsUnavailable as error:
        metrics.add_metric(name="SignatureCheckUnavailable", unit=MetricUnit.Count, value=1)
        logger.error("Webhook request not checked: no usable auth token, Twilio will retry", reason=str(error))
        return _json(503, {"message": "the request cannot be verified right now; deliver it again"})
    if refusal is None:
        return None
    metrics.add_metric(name="WebhookRequestsRefused", unit=MetricUnit.Count, value=1)
    headers = {k.lower(): v for k, v in (request.headers or {}).items() if k.lower() in KEPT_HEADERS}
    logger.warning(  # never the body: it may be forged, and it holds phone numbers
        "Webhook request refused", reason=refusal.name, status=refusal.status, body_bytes=len(body.encode())
    )
    reason = f"request refused ({refusal.status}): {refusal.value}"
    kept = pipeline().keep_rejection(
        Inbound(raw=body, origin={**origin, "headers": headers}), Rejected(reason), source="webhook"
    )
    if kept is not Outcome.REJECTED:
        return _json(500, {"message": "the request could not be kept; deliver it again"})
    return _json(refusal.status, {"message": refusal.value})


def request_body(request: APIGatewayProxyEvent) -> bytes:
    """The body as sent: API Gateway passes a body it does not take for text base64-encoded."""
    body = request.body or ""
    return base64.b64decode(body) if request.is_base64_encoded else body.encode()


def _refuse_body(pipeline: Pipeline, body: str | bytes, origin: dict[str, Any], reason: str) -> Response[str]:
    outcome = pipeline.keep_rejection(Inbound(raw=body, origin=origin), Rejected(reason), source="webhook")
    if outcome is not Outcome.REJECTED:
        return _json(500, {"message": "the request could not be kept; deliver it again"})
    return _json(400, {"message": reason, "rejected": 1})


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))
