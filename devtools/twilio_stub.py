"""A stub of Twilio's Conference Insights REST API on 127.0.0.1, for tests and local backfill runs.

Serves what ``GET https://insights.twilio.com/v1/Conferences`` and ``…/Conferences/{sid}/Participants``
answer, shaped as Twilio's documentation shows them: the records under ``meta.key`` ("conferences",
"participants") and a ``meta`` block with ``page``, ``page_size``, ``first_page_url``, ``previous_page_url``,
``url``, ``next_page_url`` (null on the last page) and ``key``. The URLs in ``meta`` name Twilio's host,
as the real API's do, so a client only reaches the stub by rewriting them (``--twilio-base-url``).
Filters: ``CreatedAfter``/``CreatedBefore`` (on ``create_time``), ``Subaccount`` (on ``account_sid``),
``PageSize`` (default 50, at most 1000 as Twilio's), ``PageToken``. HTTP Basic auth is required: the account
SID and auth token, or an API key and secret, given at start. ``throttle(n, retry_after)`` answers the next
``n`` requests with 429 and Twilio's error body, to test backoff.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

TWILIO_INSIGHTS = "https://insights.twilio.com"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass
class StubState:
    conferences: list[dict[str, Any]] = field(default_factory=list)
    participants: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    credentials: set[tuple[str, str]] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)  # path and query of every request, in order
    throttled: int = 0  # 429s answered
    _throttle_next: int = 0
    _retry_after: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class TwilioStub:
    """``with TwilioStub(credentials={("AC…", "token")}) as stub: stub.base_url``"""

    def __init__(self, credentials: set[tuple[str, str]] | None = None, port: int = 0) -> None:
        self.state = StubState(credentials=set(credentials or ()))
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="twilio-stub", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> TwilioStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, conference: dict[str, Any], participants: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
        """One Conference Summary resource and its Participant Summary resources (REST shapes)."""
        sid = conference["conference_sid"]
        conference = {
            **conference,
            "url": f"{TWILIO_INSIGHTS}/v1/Conferences/{sid}",
            "links": {"conference_participants": f"{TWILIO_INSIGHTS}/v1/Conferences/{sid}/Participants"},
        }
        with self.state.lock:
            self.state.conferences = [c for c in self.state.conferences if c["conference_sid"] != sid] + [conference]
            # Twilio lists the newest first.
            self.state.conferences.sort(key=lambda c: (c.get("create_time") or "", c["conference_sid"]), reverse=True)
            self.state.participants[sid] = [
                {**p, "url": f"{TWILIO_INSIGHTS}/v1/Conferences/{sid}/Participants/{p.get('participant_sid')}"}
                for p in participants
            ]

    def throttle(self, count: int, retry_after: str | None = "0") -> None:
        """Answer the next ``count`` requests with 429 Too Many Requests (``Retry-After`` unless None)."""
        with self.state.lock:
            self.state._throttle_next = count
            self.state._retry_after = retry_after

    def count(self, prefix: str) -> int:
        return sum(1 for request in self.state.requests if request.startswith(prefix))


@contextmanager
def running_stub(credentials: set[tuple[str, str]] | None = None) -> Iterator[TwilioStub]:
    with TwilioStub(credentials) as stub:
        yield stub


class _Handler(BaseHTTPRequestHandler):
    state: StubState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the state instead
        return

    def do_GET(self) -> None:  # http.server's naming
        parts = urlsplit(self.path)
        with self.state.lock:
            self.state.requests.append(self.path)
            throttled = self.state._throttle_next > 0
            if throttled:
                self.state._throttle_next -= 1
                self.state.throttled += 1
        if not self._authorised():
            return self._answer(401, _error(20003, "Authenticate", 401))
        if throttled:
            headers = {"Retry-After": self.state._retry_after} if self.state._retry_after is not None else {}
            return self._answer(429, _error(20429, "Too Many Requests", 429), headers)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        segments = [s for s in parts.path.split("/") if s]
        if segments == ["v1", "Conferences"]:
            return self._answer(200, self._page("conferences", "/v1/Conferences", self._conferences(query), query))
        if len(segments) == 4 and segments[:2] == ["v1", "Conferences"] and segments[3] == "Participants":
            with self.state.lock:
                records = list(self.state.participants.get(segments[2], []))
            path = f"/v1/Conferences/{segments[2]}/Participants"
            return self._answer(200, self._page("participants", path, records, query))
        return self._answer(404, _error(20404, f"The requested resource {parts.path} was not found", 404))

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password) in self.state.credentials

    def _conferences(self, query: dict[str, str]) -> list[dict[str, Any]]:
        after, before = _moment(query.get("CreatedAfter")), _moment(query.get("CreatedBefore"))
        subaccount = query.get("Subaccount")
        with self.state.lock:
            found = list(self.state.conferences)
        return [
            c
            for c in found
            if (after is None or _moment(c.get("create_time")) is None or _moment(c.get("create_time")) >= after)  # type: ignore[operator]
            and (before is None or _moment(c.get("create_time")) is None or _moment(c.get("create_time")) < before)  # type: ignore[operator]
            and (subaccount is None or c.get("account_sid") == subaccount)
        ]

    def _page(self, key: str, path: str, records: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        size = max(1, min(int(query.get("PageSize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE))
        # PageToken: "PA<offset>" here; Twilio's tokens are opaque, and the client only follows next_page_url.
        token = query.get("PageToken", "PA0")
        offset = int(token[2:]) if token.startswith("PA") and token[2:].isdigit() else 0
        page = offset // size
        filters = {k: v for k, v in query.items() if k not in ("PageSize", "Page", "PageToken")}

        def url(number: int, at: int) -> str:
            params = {**filters, "PageSize": size, "Page": number}
            if number:
                params["PageToken"] = f"PA{at}"
            return f"{TWILIO_INSIGHTS}{path}?{urlencode(params)}"

        more = offset + size < len(records)
        return {
            key: records[offset : offset + size],
            "meta": {
                "page": page,
                "page_size": size,
                "first_page_url": url(0, 0),
                "previous_page_url": url(page - 1, max(0, offset - size)) if page else None,
                "url": url(page, offset),
                "next_page_url": url(page + 1, offset + size) if more else None,
                "key": key,
            },
        }

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _error(code: int, message: str, status: int) -> dict[str, Any]:
    """Twilio's error body (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions)."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def rest_conference(event_data: dict[str, Any]) -> dict[str, Any]:
    """A Conference Summary resource holding the same state as a conference summary event's ``data``."""
    return dict(event_data)


def rest_participant(event_data: dict[str, Any]) -> dict[str, Any]:
    """A Participant Summary resource holding the same state as a participant summary event's ``data``
    (the REST API names ``call_state`` ``call_status``)."""
    data = dict(event_data)
    if "call_state" in data:
        data["call_status"] = data.pop("call_state")
    return data


def main(argv: list[str] | None = None) -> int:
    """``python -m devtools.twilio_stub [--port P] [--conferences N]``: the stub until Ctrl-C, serving N generated
    conferences (3 participants each) to the credentials in the environment (as `make backfill` reads them)."""
    import argparse
    import os
    import time

    from devtools.traffic import seed

    parser = argparse.ArgumentParser(prog="python -m devtools.twilio_stub")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--conferences", type=int, default=10)
    args = parser.parse_args(argv)
    user = os.environ.get("TWILIO_API_KEY") or os.environ.get("TWILIO_ACCOUNT_SID", "")
    secret = os.environ.get("TWILIO_API_SECRET") or os.environ.get("TWILIO_AUTH_TOKEN", "")
    if not user or not secret:
        parser.error("set TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN (any values) for the stub to accept")
    conference, participant = seed("conference-summary-complete"), seed("conference-participant-summary-complete")
    with TwilioStub(credentials={(user, secret)}, port=args.port) as stub:
        for n in range(args.conferences):
            sid = f"CF{n:032x}"
            data = {**conference["data"], "conference_sid": sid, "processing_state": "complete",
                    "create_time": f"2026-11-21T09:{n % 60:02d}:00Z"}  # fmt: skip
            parts = [
                rest_participant(
                    {**participant["data"], "conference_sid": sid, "participant_sid": f"CP{n:016x}{p:016x}"}
                )
                for p in range(3)
            ]
            stub.add(rest_conference(data), parts)
        print(f"Twilio Conference Insights stub: {stub.base_url} ({args.conferences} conferences); Ctrl-C to stop")
        print(f'  make backfill ARGS="--since 2026-11-01T00:00:00Z --twilio-base-url {stub.base_url} --endpoint-url …"')
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
