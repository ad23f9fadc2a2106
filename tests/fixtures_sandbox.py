"""Sandbox store fixtures: a BigCommerce store on a free loopback port, fresh for every test.

- `sandbox`: a running `SandboxServer`; `sandbox.store` is the Python handle to arrange data
  (`place_order`, `refund_order`, `faults.add(...)`, `quota.configure(...)`) and read what happened
  (`request_log`, `webhooks.attempts`). Options per test with a marker:
  `@pytest.mark.sandbox(orders=40, seed=1, quota=10_000, window_ms=30_000, tax_inclusive=False, locations=2)`.
- `bc_client`: a `BigCommerceClient` pointed at it (short timeouts, its own rate limiter on the test Redis).
- `sandbox_link`: a `StoreLink` of `retailer` pointed at it (for code that builds clients with `for_link`).
- `live_link`: `sandbox_link` linked an hour ago, so orders placed during the test are live orders (imported).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integration.client import BigCommerceClient
from sandbox.server import SandboxServer
from sandbox.store import SandboxStore, StoreSettings

SANDBOX_DEFAULT_ORDERS = 40
SETTINGS_OPTIONS = {
    "seed",
    "quota",
    "window_ms",
    "tax_inclusive",
    "tax_rate_bp",
    "currency",
    "customers",
    "locations",
}


@pytest.fixture
def sandbox(request):
    options = dict(marker.kwargs) if (marker := request.node.get_closest_marker("sandbox")) else {}
    orders = options.pop("orders", SANDBOX_DEFAULT_ORDERS)
    unknown = set(options) - SETTINGS_OPTIONS
    if unknown:
        raise pytest.UsageError(f"unknown sandbox option(s): {', '.join(sorted(unknown))}")
    server = SandboxServer(SandboxStore(StoreSettings(**options), orders=orders)).start()
    yield server
    server.stop()


@pytest.fixture
def bc_client(sandbox) -> BigCommerceClient:
    return BigCommerceClient(
        store_hash=sandbox.store_hash, access_token=sandbox.access_token, base_url=sandbox.url, timeout=(2, 5)
    )


@pytest.fixture
def sandbox_link(sandbox, retailer):
    from tests import factories

    return factories.StoreLinkFactory(
        retailer=retailer,
        store_hash=sandbox.store_hash,
        store_id=str(sandbox.store.settings.store_id),
        access_token=sandbox.access_token,
        api_base_url=sandbox.url,
    )


@pytest.fixture
def live_link(sandbox_link):
    from integration.models import StoreLink

    StoreLink.objects.filter(pk=sandbox_link.pk).update(linked_at=timezone.now() - timedelta(hours=1))
    sandbox_link.refresh_from_db()
    return sandbox_link
