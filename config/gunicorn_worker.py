"""gunicorn's ASGI worker, plus a deadline for a connection's first request line and headers.

gunicorn's ASGI worker bounds the wait between two requests on a connection (`keepalive`) and between two pieces
of a body (`timeout`), but not the headers of a connection's first request: a client could send them a byte at a
time for as long as it liked. Cheap for an event loop (a socket, not a worker), yet unbounded; this closes such a
connection after GUNICORN_HEADER_TIMEOUT seconds (10), as nginx's client_header_timeout would.

It hooks two methods of gunicorn's HTTP/1 protocol (pinned to gunicorn 27.0.x in requirements/constraints.txt);
tests/test_serving.py checks it against a real gunicorn, so an upgrade that moves them fails there.
"""

from __future__ import annotations

import os

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

HEADER_TIMEOUT_SECONDS = float(os.environ.get("GUNICORN_HEADER_TIMEOUT", "10"))


class HeaderDeadlineProtocol(ASGIProtocol):
    _header_deadline = None

    def _start_http1(self, buffered=b""):
        # HTTP/1 only (h2 and uWSGI connections never parse HTTP/1 headers), from the connection's start.
        self._header_deadline = self.worker.loop.call_later(HEADER_TIMEOUT_SECONDS, self._headers_too_slow)
        super()._start_http1(buffered)

    def _on_headers_complete(self):
        self._cancel_header_deadline()
        return super()._on_headers_complete()

    def connection_lost(self, exc):
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        self._close_transport()
        self._request_ready.set()  # wake the connection's loop, which sees the connection closed and ends


class ASGIWorker(gasgi.ASGIWorker):
    def init_process(self):
        # gunicorn's worker builds each connection's protocol from this module-level name; in this worker
        # process, it is ours.
        gasgi.ASGIProtocol = HeaderDeadlineProtocol
        super().init_process()
