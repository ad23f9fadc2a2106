"""An order's buyer becomes a POS customer (`integration/services/customers.py`): matched by BigCommerce id, then by
e-mail without overwriting, else created from the billing address."""

from __future__ import annotations

import pytest

from integration.models import CustomerLink
from pos.models import Customer
from tests import factories
from tests.sale_helpers import online_sale

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- customers


def test_guest_orders_match_an_existing_customer_by_email_without_overwriting_them(sandbox, link, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1, guest=True).id
    email = bc_client.get_order(order_id).billing_address.email
    existing = factories.CustomerFactory(
        retailer=link.retailer, email=email.upper(), first_name="Kept", phone="555-0000"
    )

    sync(order_id)

    existing.refresh_from_db()
    assert online_sale(order_id).customer == existing
    assert (existing.first_name, existing.phone) == ("Kept", "555-0000")
    assert Customer.objects.count() == 1


def test_registered_customers_are_linked_once_then_found_by_their_bigcommerce_id(sandbox, link, sync, bc_client):
    customer_id = sandbox.store.place_order(status_id=11, lines=1, guest=False).customer_id
    first = sandbox.store.place_order(status_id=11, lines=1, customer_id=customer_id).id
    second = sandbox.store.place_order(status_id=11, lines=1, customer_id=customer_id).id

    sync(first)
    Customer.objects.update(email="changed@example.com")  # email changes no longer matter once linked
    sync(second)

    assert online_sale(first).customer == online_sale(second).customer
    assert CustomerLink.objects.filter(link=link, bc_customer_id=customer_id).count() == 1
    assert Customer.objects.count() == 1


def test_a_new_buyer_is_created_from_the_billing_address(sandbox, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1, guest=True).id
    billing = bc_client.get_order(order_id).billing_address

    sync(order_id)

    customer = online_sale(order_id).customer
    assert (customer.first_name, customer.last_name, customer.email) == (
        billing.first_name,
        billing.last_name,
        billing.email,
    )
    assert customer.created_by_link is True
    assert customer.address["city"] == billing.city
