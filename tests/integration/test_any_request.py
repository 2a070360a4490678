"""Given any request API Gateway can hand a webhook route (any method, header names in any case and
repeated, any values, query strings and bodies, base64 or not, signed right or not), when a processing
function handles it, then it answers a status docs/architecture.md documents and never raises, and every request
ends stored, kept as rejected, or kept as refused: counted.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any
from urllib.parse import quote, urlencode

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.lambda_events import LOCAL_AUTH_TOKEN, proxy_event, twilio_signature
from devtools.traffic import seed
from tests.integration.conftest import Handler, LocalStack, MetricsCapture
from tests.reliability import scaled
from voice_insights.ingest.webhook import request_body, route_path

FUNCTIONS = ["conference_summary_complete", "conference_summary_partial", "participant_summary_complete"]
ROUTES = [route_path(name) for name in FUNCTIONS]
SEEDS = [seed("conference-summary-complete"), seed("conference-summary-partial"),
         seed("conference-participant-summary-complete")]  # fmt: skip
# docs/architecture.md, "What each path answers"; 404/405: the resolver's answer for a path or method it does not serve.
DOCUMENTED = {200, 400, 401, 403, 404, 405, 413, 415}
HOST = "local.execute-api.localhost"
HEADER_NAMES = ["Content-Type", "X-Twilio-Signature", "X-Twilio-Webhooks-Signature-Settings", "Authorization",
                "Host", "Content-Length", "I-Twilio-Idempotency-Token", "User-Agent"]  # fmt: skip

texts = st.text(max_size=40)
header_names = st.one_of(st.sampled_from(HEADER_NAMES), st.text(min_size=1, max_size=20)).flatmap(
    lambda name: st.sampled_from([name, name.lower(), name.upper(), name.swapcase()])
)
header_values = st.one_of(
    texts,
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "Basic eDp5",
            "",
            "algorithm=HMAC_SHA256",
            "algorithm=HMAC_MD5",
            "key=a,algorithm=\r\nx",
        ]
    ),
)
bodies = st.one_of(
    st.binary(max_size=300),
    texts.map(str.encode),
    st.lists(st.sampled_from(SEEDS), max_size=3).map(lambda events: json.dumps(events).encode()),
    st.sampled_from([b"[]", b"{}", b"null", b"[1, 2]", b"[{}]", b"[NaN]", b"\xef\xbb\xbf[]", b"[" * 5000]),
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    usual = draw(st.integers(0, 9)) < 8  # mostly a POST on a route, so that most requests reach the checks
    path = draw(st.sampled_from(ROUTES) if usual else st.one_of(st.sampled_from(ROUTES).map(lambda p: p + "/x"), texts))
    method = "POST" if draw(st.integers(0, 9)) < 8 else draw(st.sampled_from(["GET", "PUT", "HEAD"]) | texts)
    body = draw(bodies)
    query = draw(st.lists(st.tuples(st.sampled_from(["bodySHA256", "x", "BODYSHA256"]) | texts, texts), max_size=3))
    if draw(st.integers(0, 9)) < 7:  # the body hash Twilio appends, once or more
        query += [("bodySHA256", hashlib.sha256(body).hexdigest())] * draw(st.integers(1, 2))
    headers: dict[str, list[str]] = {}
    for name, value in draw(st.lists(st.tuples(header_names, header_values), max_size=6)):
        headers.setdefault(name, []).append(value)
    if draw(st.integers(0, 9)) < 7:
        headers["Content-Type"] = ["application/json"]
    if draw(st.integers(0, 9)) < 7:  # signed as Twilio signs, over whatever URL this request has
        url = f"https://{HOST}/v1{path}" + ("?" + urlencode(query, quote_via=quote, safe="") if query else "")
        headers[draw(st.sampled_from(["X-Twilio-Signature", "x-twilio-signature"]))] = [
            twilio_signature(url, LOCAL_AUTH_TOKEN)
        ]
    headers.setdefault("Host", [HOST])
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    event = proxy_event(method, path, path, "v1", headers, multi_query, body)
    if draw(st.integers(0, 9)) == 0:  # base64 flag flipped: a body API Gateway would not send
        event["isBase64Encoded"] = not event["isBase64Encoded"]
    for key in ("identity", "requestId"):  # a context thinner than API Gateway's (a test tool's event)
        if draw(st.integers(0, 9)) == 0:
            del event["requestContext"][key]
    return event


def test_any_request_gets_a_documented_answer_and_is_accounted_for(
    stack: LocalStack, handlers: dict[str, Handler]
) -> None:
    metrics = MetricsCapture()
    statuses: Counter[int] = Counter()
    events_in_200s = 0
    signed_bodies: set[tuple[str, str]] = set()  # (function, SHA-256) of each signed body refused whole
    signed_answers = 0

    @settings(max_examples=scaled(default=150, full=2_000), deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(requests(), st.sampled_from(FUNCTIONS))
    def answered(event: dict[str, Any], function: str) -> None:
        nonlocal events_in_200s, signed_answers
        # The route's own function most of the time; another one sees the request as a wrong path.
        name = FUNCTIONS[ROUTES.index(event["path"])] if event["path"] in ROUTES else function
        answer = metrics.run(lambda: handlers[name](event))
        status = int(answer["statusCode"])
        assert status in DOCUMENTED, (status, answer.get("body"))
        statuses[status] += 1
        if status != 200 and json.loads(answer["body"]).get("rejected") == 1:  # a signed body, kept whole
            signed_answers += 1
            signed_bodies.add((name, hashlib.sha256(request_body(APIGatewayProxyEvent(event))).hexdigest()))
        if status == 200:
            counts = json.loads(answer["body"])
            assert counts["failed"] == 0
            events_in_200s += sum(counts.values())

    answered()
    refused = stack.refused()
    rejected = stack.rejected()
    # Every refused request (4xx before authentication) left exactly one bounded record, with its reason.
    assert len(refused) == metrics.totals["WebhookRequestsRefused"]
    assert all(record["reason"].startswith("request refused (") for record in refused)
    assert all(len(json.dumps(record).encode()) <= 64 * 1024 for record in refused)
    # Every 4xx is a refused request or a signed body kept whole, once per body (hypothesis sends some again,
    # as a replay would); nothing else answers 4xx.
    client_errors = sum(count for status, count in statuses.items() if status in (400, 401, 403, 413, 415))
    whole_bodies = sum(1 for record in rejected if record.get("origin", {}).get("position") is None)
    assert client_errors == len(refused) + signed_answers
    kept = {(r["function"], r["body_sha256"]) for r in rejected if r.get("origin", {}).get("position") is None}
    assert kept == signed_bodies and whole_bodies == len(signed_bodies)
    print(f"\nfigures | any request: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}, "
          f"{len(refused)} refused records, {whole_bodies} signed bodies kept whole ({signed_answers} answers), "
          f"{events_in_200s} events in 200 answers")  # fmt: skip
