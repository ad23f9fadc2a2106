"""A running sandbox: the WSGI app on a threaded HTTP/1.1 server (werkzeug's), plus its webhook deliverer.

    with SandboxServer(SandboxStore(orders=50)) as sandbox:
        client = BigCommerceClient(store_hash=sandbox.store_hash, access_token=sandbox.access_token,
                                   base_url=sandbox.url)

Port 0 picks a free port. The base URL serves both the API (`/stores/{hash}/v2|v3/...`) and the login host
(`/oauth2/token`), so `BIGCOMMERCE_API_URL` and `BIGCOMMERCE_LOGIN_URL` can both point at it.
"""

from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from sandbox.app import SandboxApp
from sandbox.store import SandboxStore


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (the request log records every request)."""

    def log_request(self, code="-", size="-"):
        return None


class SandboxServer:
    """Serves one sandbox store on `host:port` from a background thread."""

    def __init__(
        self, store: SandboxStore | None = None, *, host: str = "127.0.0.1", port: int = 0, quiet: bool = True
    ):
        self.store = store or SandboxStore()
        self.app = SandboxApp(self.store)
        self._server = make_server(
            host, port, self.app, threaded=True, request_handler=_QuietHandler if quiet else WSGIRequestHandler
        )
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._server.server_address[0]

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        """The base URL: what `BIGCOMMERCE_API_URL` (and `BIGCOMMERCE_LOGIN_URL`) should be."""
        return f"http://{self.host}:{self.port}"

    @property
    def store_hash(self) -> str:
        return self.store.settings.store_hash

    @property
    def access_token(self) -> str:
        return self.store.settings.access_token

    def start(self) -> SandboxServer:
        self.store.webhooks.start()
        # A short poll interval: stopping (once per test) takes milliseconds instead of half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.store.webhooks.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
