"""Webhook trigger: Twilio's Event Streams webhook sink POSTs a JSON array of CloudEvents.

What Twilio sees decides what happens next: a 5xx or a timeout is retried for up to 4 hours,
a 4xx is never retried (the events are discarded by Twilio). So:
- 200 with counts once every event is stored, ignored as a duplicate/stale, or kept as rejected;
- 400 only when the body is not a JSON array at all, and only after the body was kept;
- 500 when anything is not settled yet (AWS trouble), so Twilio delivers the batch again;
  the events already stored then come back as duplicates, which is harmless.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from voice_insights.decoding import NotJson, Rejected, load_json
from voice_insights.pipeline import Inbound, Outcome, Pipeline

Middleware = Callable[[APIGatewayRestResolver, NextMiddleware], Response[str]]


def route_path(route_name: str) -> str:
    return "/events/" + route_name.replace("_", "-")


def is_api_gateway_event(event: dict[str, Any]) -> bool:
    return "httpMethod" in event and "requestContext" in event


def build_resolver(
    route_name: str, pipeline: Callable[[], Pipeline], middlewares: Sequence[Middleware] = ()
) -> APIGatewayRestResolver:
    """The API for one function's webhook route.

    ``middlewares`` run before the body is read: the place for request authentication
    (Twilio's X-Twilio-Signature check).
    """
    app = APIGatewayRestResolver()

    @app.post(route_path(route_name), middlewares=list(middlewares))
    def receive() -> Response[str]:
        request = app.current_event
        body = request.decoded_body or ""
        origin = {"request_id": request.request_context.request_id, "path": request.path}
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


def _refuse_body(pipeline: Pipeline, body: str, origin: dict[str, Any], reason: str) -> Response[str]:
    outcome = pipeline.keep_rejection(Inbound(raw=body, origin=origin), Rejected(reason), source="webhook")
    if outcome is not Outcome.REJECTED:
        return _json(500, {"message": "the request could not be kept; deliver it again"})
    return _json(400, {"message": reason, "rejected": 1})


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))
