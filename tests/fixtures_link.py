"""Fixtures for linking stores: the project's BigCommerce settings pointed at the sandbox, the places an online
sale is booked in, and a helper that links the sandbox store through the service, as the settings page does.

- `bc_settings`: BIGCOMMERCE_API_URL and BIGCOMMERCE_LOGIN_URL are the sandbox; the app's client id and secret
  are the sandbox's (its login host and its JWTs use them).
- `places`: the retailer's outlet, its register and a "Card" payment type.
- `link_sandbox`: links `retailer` to the sandbox store now (hooks registered), returning the StoreLink.
"""

from __future__ import annotations

import pytest

from integration.services.link import store_credentials_check, store_link_create
from tests import factories


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
