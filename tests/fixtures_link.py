"""Fixtures for linking stores: the project's BigCommerce settings pointed at the sandbox, the places an online
sale is booked in, and a helper that links the sandbox store through the service, as the settings page does.

- `bc_settings`: BIGCOMMERCE_API_URL and BIGCOMMERCE_LOGIN_URL are the sandbox; the app's client id and secret
  are the sandbox's (its login host and its JWTs use them).
- `places`: the retailer's outlet, its register and a "Card" payment type.
- `link_sandbox`: links `retailer` to the sandbox store now (hooks registered), returning the StoreLink.
- `link`: the retailer's store link, the one fixture every module uses: in a test with the sandbox store, the link
  to it, linked an hour ago (`live_link`: orders placed in the test are live orders); otherwise a link to a store
  nobody calls (BigCommerce's sample store id, so its webhook samples are this link's), booking online sales in
  the `outlet` and `register` fixtures. A module that needs more of it extends it (`def link(link): ...`).
- `sync(order_id)`: request one order's sync as a webhook does and run the due order syncs as a worker does.
"""

from __future__ import annotations

import pytest

from integration.services.link import store_credentials_check, store_link_create
from tests import factories
from tests.work_helpers import sync_order

# The store id in BigCommerce's webhook samples (../shared/bigcommerce).
SAMPLE_STORE_ID = "1025646"


@pytest.fixture
def link(request, retailer):
    if "sandbox" in request.fixturenames:
        return request.getfixturevalue("live_link")
    outlet, register = request.getfixturevalue("outlet"), request.getfixturevalue("register")
    return factories.StoreLinkFactory(retailer=retailer, outlet=outlet, register=register, store_id=SAMPLE_STORE_ID)


@pytest.fixture
def sync(link):
    def run(order_id: int):
        return sync_order(link, order_id)

    return run


@pytest.fixture
def bc_settings(settings, sandbox):
    settings.BIGCOMMERCE_API_URL = sandbox.url
    settings.BIGCOMMERCE_LOGIN_URL = sandbox.url
    settings.BIGCOMMERCE_CLIENT_ID = sandbox.store.settings.client_id
    settings.BIGCOMMERCE_CLIENT_SECRET = sandbox.store.settings.client_secret
    return settings


@pytest.fixture
def places(retailer, outlet, register):
    return {
        "outlet": outlet,
        "register": register,
        "default_payment_type": factories.PaymentTypeFactory(retailer=retailer, name="Card"),
    }


@pytest.fixture
def link_sandbox(bc_settings, sandbox, retailer, places, admin_user, django_capture_on_commit_callbacks):
    def link(**options):
        check = store_credentials_check(store_hash=sandbox.store_hash, access_token=sandbox.access_token)
        with django_capture_on_commit_callbacks(execute=True):
            created = store_link_create(
                retailer=retailer,
                check=check,
                access_token=sandbox.access_token,
                acting_user=admin_user,
                **{**places, **options},
            )
        created.refresh_from_db()
        return created

    return link
