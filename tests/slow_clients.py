"""Slow clients and probes against a running web server, for tests/test_serving.py and bench/drill_slow_clients.py.

A slow client opens a connection, sends a POST's headers (and a Content-Length it never reaches), then a byte of
body every `interval` seconds; when the server answers or closes, it connects again, as an attacker would. No
sign-in or secret is needed. A probe is one ordinary request on a fresh connection, timed, with a timeout.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

# Within every body limit (webhook 64 KB), so the server must wait for the body rather than refuse it at once.
SLOW_CONTENT_LENGTH = 60_000


@dataclass(frozen=True)
class Probe:
    kind: str
    seconds: float
    status: int | None  # None: timed out or failed
    error: str = ""


class SlowClients:
    """`count` slow clients spread over `paths`, each in a thread, until `stop()`."""

    def __init__(self, base_url: str, paths: list[str], count: int, *, interval: float = 1.0):
        parts = urlsplit(base_url)
        self.address = (parts.hostname, parts.port)
        self.paths = paths
        self.count = count
        self.interval = interval
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.connected = threading.Semaphore(0)  # released once per connection that has sent its headers
        self.connections = 0
        self.bytes_sent = 0
        self.answers: Counter[str] = Counter()  # what the server did with a slow request: "408", "closed"...
        self.answered = threading.Event()  # set at the first of them
        self.threads = [
            threading.Thread(target=self._run, args=(paths[n % len(paths)],), daemon=True) for n in range(count)
        ]

    def start(self, *, wait: float = 30) -> SlowClients:
        """Start every client; return once each has sent its headers and a first byte (or `wait` has passed)."""
        for thread in self.threads:
            thread.start()
        deadline = time.monotonic() + wait
        for _ in range(self.count):
            if not self.connected.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"the slow clients could not all connect within {wait} s")
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _run(self, path: str) -> None:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.address[0]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {SLOW_CONTENT_LENGTH}\r\n\r\n{{"
        ).encode()
        while not self.stopping.is_set():
            try:
                with socket.create_connection(self.address, timeout=10) as sock:
                    sock.sendall(head)
                    with self.lock:
                        self.connections += 1
                        self.bytes_sent += len(head)
                    self.connected.release()
                    self._trickle(sock)
            except OSError as exc:
                self._count(type(exc).__name__)
                self.stopping.wait(self.interval)

    def _trickle(self, sock: socket.socket) -> None:
        sent = 1
        while not self.stopping.is_set() and sent < SLOW_CONTENT_LENGTH:
            readable, _, _ = select.select([sock], [], [], self.interval)
            if readable:  # the server answered (or closed) before the body was complete
                data = sock.recv(4096)
                self._count(data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed")
                return
            sock.sendall(b" ")
            sent += 1
            with self.lock:
                self.bytes_sent += 1

    def _count(self, what: str) -> None:
        with self.lock:
            self.answers[what] += 1
        self.answered.set()


def probe(base_url: str, kind: str, *, timeout: float, body: bytes = b"", headers: dict | None = None) -> Probe:
    """One request on a fresh connection: `kind` is "health" (GET /healthz), "page" (GET the sign-in page) or
    "webhook" (POST `body` with `headers` to the webhook endpoint)."""
    method, path = {
        "health": ("GET", "/healthz"),
        "page": ("GET", "/accounts/login/"),
        "webhook": ("POST", "/webhooks/bigcommerce/"),
    }[kind]
    parts = urlsplit(base_url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        response.read()
        return Probe(kind, time.perf_counter() - started, response.status)
    except OSError as exc:
        return Probe(kind, time.perf_counter() - started, None, type(exc).__name__)
    finally:
        conn.close()
