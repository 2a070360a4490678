"""Servers the local tools run on 127.0.0.1 (moto, the webhook gateway, the fault proxy): a free port,
and serving on a daemon thread until stopped."""

from __future__ import annotations

import socket
import threading
from socketserver import BaseServer
from typing import Self


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BackgroundServer:
    """``start`` builds the server and calls ``_serve``; ``stop`` (or leaving the ``with`` block) shuts it
    down and frees its port at once."""

    _server: BaseServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def _serve(self, server: BaseServer, name: str) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
