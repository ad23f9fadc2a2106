"""A running sandbox: the WSGI app on a threaded HTTP/1.1 server (werkzeug's), plus its webhook deliverer.

    with SandboxServer(SandboxStore(orders=50)) as sandbox:
        client = BigCommerceClient(store_hash=sandbox.store_hash, access_token=sandbox.access_token,
                                   base_url=sandbox.url)

Port 0 picks a free port. One server may hold many stores (`SandboxServer(stores=[...])`, or `add_stores` while it
runs), routed by store hash (`sandbox.router`); `store`, `store_hash` and `access_token` are the first one's.
The base URL serves both the API (`/stores/{hash}/v2|v3/...`) and the login host
(`/oauth2/token`), so `BIGCOMMERCE_API_URL` and `BIGCOMMERCE_LOGIN_URL` can both point at it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from werkzeug.serving import WSGIRequestHandler, make_server

from sandbox.router import SandboxRouter
from sandbox.store import SandboxStore


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (the request log records every request)."""

    def log_request(self, code="-", size="-"):
        return None


class SandboxServer:
    """Serves sandbox stores (one by default) on `host:port` from a background thread."""

    def __init__(
        self,
        store: SandboxStore | None = None,
        *,
        stores: Iterable[SandboxStore] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
    ):
        stores = list(stores)
        self.store = store or (stores[0] if stores else SandboxStore())
        self.app = SandboxRouter([self.store, *(s for s in stores if s is not self.store)])
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

    @property
    def stores(self) -> list[SandboxStore]:
        """Every store served, the first (`store`) first."""
        return self.app.stores

    def add_stores(self, count: int, **settings) -> list[SandboxStore]:
        """Serve `count` more stores, each with its own hash, token and quota (see `SandboxRouter.add_stores`)."""
        return self.app.add_stores(count, **settings)

    def start(self) -> SandboxServer:
        with self.app._lock:
            self.app.started = True
            for store in self.app.stores:
                store.webhooks.start()
        # A short poll interval: stopping (once per test) takes milliseconds instead of half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for store in self.stores:
            store.webhooks.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
