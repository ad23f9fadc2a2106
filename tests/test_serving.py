"""How production serves the site (config/gunicorn.conf.py), tested over real connections to a real gunicorn.

Slow clients: with 2 workers, 4 x 2 clients trickling request bodies must not stop the health probe and the
webhook from answering (the old set-up, 2 sync workers, answered nothing until a worker timed out: issue 16).
bench/drill_slow_clients.py is the long version with figures. Also here: a chunked webhook body is read, and
the body limits of config/request_limits.py.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from integration.models import WebhookEvent
from tests.fixtures_workers import ROOT, worker_env
from tests.slow_clients import SlowClients, probe

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 2
# Generous: a probe only has to be answered at all while the slow clients hold their connections; the old
# set-up could not answer before its 30 s worker timeout.
PROBE_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, setup: str, **env: str):
        port = _free_port()
        if setup == "production":
            command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"]
        else:  # the set-up before issue 16
            command = [sys.executable, "-m", "gunicorn", "config.wsgi:application"]
        command += ["--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}", "--access-logfile", "/dev/null"]
        self.log = Path(tempfile.mkdtemp(prefix="gunicorn-")) / "server.log"
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=worker_env(**env), stdout=subprocess.DEVNULL, stderr=self.log.open("wb")
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=5):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"gunicorn did not start: {self.log.read_text()[-3000:]}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def serve():
    servers: list[Server] = []

    def start(setup: str = "production", **env: str) -> Server:
        servers.append(Server(setup, **env))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def _webhook(link, order_id: int) -> tuple[bytes, dict]:
    payload = {"scope": "store/order/created", "store_id": link.store_id, "data": {"type": "order", "id": order_id}}
    body = json.dumps({**payload, "hash": uuid.uuid4().hex}).encode()
    return body, {"X-Pos-Webhook-Auth": f"{link.pk}:{link.webhook_secret}"}


def _slow_clients(server: Server) -> SlowClients:
    return SlowClients(server.url, ["/webhooks/bigcommerce/", "/accounts/login/"], 4 * WORKERS, interval=0.5)


def test_slow_clients_do_not_stop_the_health_probe_or_webhooks(serve, link):
    server = serve()
    clients = _slow_clients(server).start()
    try:
        answers = []
        for n in range(3):
            answers.append(probe(server.url, "health", timeout=PROBE_TIMEOUT).status)
            body, headers = _webhook(link, 500 + n)
            answers.append(probe(server.url, "webhook", timeout=PROBE_TIMEOUT, body=body, headers=headers).status)
        still_slow = sum(clients.answers.values())
    finally:
        clients.stop()

    assert answers == [200] * 6
    assert WebhookEvent.objects.filter(link=link).count() == 3
    # The slow clients were all still connected, none answered: the probes were served beside them.
    assert (clients.connections, still_slow) == (4 * WORKERS, 0)


def test_the_old_set_up_answered_nothing_while_slow_clients_held_its_workers(serve, link):
    # Why the set-up changed: the same slow clients against 2 sync workers, and the probe times out.
    server = serve("sync")
    clients = _slow_clients(server).start()
    try:
        answer = probe(server.url, "health", timeout=3)
    finally:
        clients.stop()

    assert answer.status is None


def _post_chunked(server: Server, body: bytes, headers: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=PROBE_TIMEOUT)
    try:
        pieces = (body[i : i + 16] for i in range(0, len(body), 16))
        conn.request("POST", "/webhooks/bigcommerce/", body=pieces, headers=headers, encode_chunked=True)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("setup", ["production", "sync"])
def test_a_chunked_webhook_body_is_read(serve, link, setup):
    # No Content-Length: Django's WSGI request used to read it as empty (malformed_json).
    server = serve(setup)
    body, headers = _webhook(link, 777)

    status, answer = _post_chunked(server, body, {**headers, "Content-Type": "application/json"})

    assert (status, answer) == (200, {"status": "queued"})
    assert WebhookEvent.objects.get(link=link).resource_id == 777


@pytest.mark.parametrize("setup", ["production", "sync"])
def test_a_chunked_webhook_body_over_the_limit_gets_413(serve, link, setup):
    server = serve(setup, WEBHOOK_MAX_BODY_BYTES="2048")
    body, headers = _webhook(link, 778)
    body = body[:-1] + b', "pad": "' + b"x" * 4096 + b'"}'

    status, answer = _post_chunked(server, body, {**headers, "Content-Type": "application/json"})

    assert (status, answer["reason"]) == (413, "body_too_large")
    assert not WebhookEvent.objects.exists()


def test_a_body_that_does_not_arrive_in_time_gets_408(serve, link):
    server = serve(REQUEST_BODY_TIMEOUT_SECONDS="1")
    clients = SlowClients(server.url, ["/webhooks/bigcommerce/"], 1, interval=0.2).start()
    try:
        answered = clients.answered.wait(timeout=30)
    finally:
        clients.stop()

    assert answered
    assert "408" in clients.answers


def test_a_declared_body_over_the_request_limit_gets_413_unread(serve):
    server = serve(REQUEST_MAX_BODY_BYTES="1000")
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=PROBE_TIMEOUT)
    try:
        conn.putrequest("POST", "/accounts/login/")
        conn.putheader("Content-Length", "5000")
        conn.endheaders()
        response = conn.getresponse()
    finally:
        conn.close()

    assert response.status == 413


def test_a_connection_whose_headers_do_not_arrive_in_time_is_closed(serve):
    # gunicorn's ASGI worker has no deadline for a first request's headers; config/gunicorn_worker.py adds one.
    server = serve(GUNICORN_HEADER_TIMEOUT="1")
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=30) as sock:
        sock.sendall(b"POST /webhooks/bigcommerce/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest

        closed = sock.recv(1024) == b""  # blocks until the server closes (or the 30 s timeout raises)

    assert closed


def test_a_connection_sending_its_headers_in_time_is_served(serve):
    server = serve(GUNICORN_HEADER_TIMEOUT="30")
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.sendall(b"Connection: close\r\n\r\n")

        answer = sock.recv(1024)

    assert answer.startswith(b"HTTP/1.1 200")
