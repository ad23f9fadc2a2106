"""Many sandbox stores behind one server: requests are routed by store hash, as BigCommerce's API host does.

Each store keeps everything of its own (data, token, quota window, faults, request log, webhook deliverer); the
router only picks the store:

| path | goes to |
|---|---|
| `/stores/<hash>/...` | that store's API (an unknown hash: 404, as BigCommerce answers) |
| `/__sandbox__/stores` | `GET`: each store's hash, token, id, quota; `POST {"count": 10, "quota": 150}`: add |
| `/__sandbox__/stores/<hash>/<endpoint>` | that store's control endpoint (`/__sandbox__/stores/<hash>/orders`, ...) |
| anything else (`/__sandbox__/...`, `/oauth2/token`) | the first store: the one-store API the tests use |
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import replace

from werkzeug.wrappers import Request, Response

from sandbox.app import SandboxApp, error_response
from sandbox.store import SandboxStore

_STORES = "/__sandbox__/stores"
ADD_OPTIONS = frozenset({"count", "quota", "window_ms", "orders", "customers"})


class SandboxRouter:
    """The WSGI callable for one or many `SandboxStore`s (the first is the default store)."""

    def __init__(self, stores: Iterable[SandboxStore]):
        self._lock = threading.Lock()
        self.apps: dict[str, SandboxApp] = {}
        self.started = False
        for store in stores:
            self.add(store)
        if not self.apps:
            raise ValueError("a sandbox needs at least one store")
        self.first = next(iter(self.apps.values()))

    @property
    def stores(self) -> list[SandboxStore]:
        return [app.store for app in list(self.apps.values())]

    def add(self, store: SandboxStore) -> SandboxStore:
        """Serve one more store (its webhooks start at once if the server runs)."""
        with self._lock:
            if store.settings.store_hash in self.apps:
                raise ValueError(f"store hash {store.settings.store_hash} is served already")
            self.apps[store.settings.store_hash] = SandboxApp(store)
            if self.started:
                store.webhooks.start()
        return store

    def store(self, store_hash: str) -> SandboxStore:
        return self.apps[store_hash].store

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == _STORES:
            response = self._stores(Request(environ))
            return response(environ, start_response)
        app = self.first
        if path.startswith("/stores/"):
            app = self.apps.get(path.split("/", 3)[2], self.first)  # an unknown hash: the first store says 404
        elif path.startswith(_STORES + "/"):
            store_hash, _, rest = path.removeprefix(_STORES + "/").partition("/")
            app = self.apps.get(store_hash)
            if app is None:
                response = error_response(404, f"No sandbox store has the hash {store_hash!r}.", 3)
                return response(environ, start_response)
            environ = {**environ, "PATH_INFO": f"/__sandbox__/{rest}"}
        return app(environ, start_response)

    def _stores(self, request: Request) -> Response:
        if request.method == "POST":
            body = json.loads(request.get_data() or b"{}")
            unknown = set(body) - ADD_OPTIONS
            if unknown:
                return _json(400, {"error": f"Unknown option(s): {', '.join(sorted(unknown))}"})
            added = self.add_stores(
                int(body.get("count", 1)),
                orders=int(body.get("orders", 0)),
                **{k: int(v) for k, v in body.items() if k in ("quota", "window_ms", "customers")},
            )
            return _json(200, {"stores": [describe(s) for s in added]})
        if request.method != "GET":
            return _json(405, {"error": "GET or POST"})
        return _json(200, {"stores": [describe(s) for s in self.stores]})

    def add_stores(self, count: int, *, orders: int = 0, **settings) -> list[SandboxStore]:
        """Add `count` stores, seeded after the highest seed served (so each has its own hash and token)."""
        added = []
        for _ in range(count):
            seed = max(s.settings.seed for s in self.stores) + 1
            blank = {"store_hash": "", "access_token": "", "store_id": 0, "client_id": "", "client_secret": ""}
            fresh = replace(self.first.store.settings, seed=seed, **blank, **settings)
            added.append(self.add(SandboxStore(fresh, orders=orders)))
        return added


def describe(store: SandboxStore) -> dict:
    s = store.settings
    return {
        "store_hash": s.store_hash,
        "access_token": s.access_token,
        "store_id": s.store_id,
        "quota": store.quota.quota,
        "window_ms": store.quota.window_ms,
        "orders": store.order_count(),
    }


def _json(status: int, body) -> Response:
    return Response(json.dumps(body).encode(), status=status, content_type="application/json")
