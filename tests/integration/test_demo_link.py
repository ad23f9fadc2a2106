"""`manage.py demo_link`: `make run` links the demo retailer to the sandbox store at every start, idempotently."""

from __future__ import annotations

import random

import pytest
from django.core.management import CommandError, call_command

from integration.choices import LinkState, LogLevel
from integration.management.commands.demo_link import DEMO_PAYMENT_METHODS
from integration.models import OutletLocation, PaymentMethodMap, StoreLink, SyncLogEntry
from integration.services.link import HOOK_SCOPES, payment_methods_map, store_link_unlink
from integration.services.order_sync import order_sync_request
from pos.models import InventoryLevel, PaymentType, Product, Sale
from pos.services.demo import CATALOG, WEB_ONLY_SKUS, demo_retailer_ensure
from sandbox.catalog import PAYMENT_METHODS
from tests.work_helpers import make_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_link(sandbox, capsys, django_capture_on_commit_callbacks):
    demo_retailer_ensure()

    def run(**options) -> str:
        args = {"api_url": sandbox.url, "store_hash": sandbox.store_hash, "token": sandbox.access_token, **options}
        with django_capture_on_commit_callbacks(execute=True):
            call_command("demo_link", **args)
        return capsys.readouterr().out

    return run


def test_the_demo_retailer_is_linked_to_the_sandbox_with_its_webhooks(demo_link, sandbox):
    out = demo_link()

    link = StoreLink.objects.get()
    assert (link.retailer.slug, link.outlet.name, link.register.name) == ("demo-outfitters", "Downtown", "Online")
    assert link.default_payment_type.name == "BigCommerce"
    assert link.api_url == sandbox.url
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)
    assert "Demo retailer linked to Sandbox Outdoor Store" in out


def test_running_it_again_only_brings_back_the_webhooks_a_restarted_sandbox_forgot(demo_link, sandbox):
    demo_link()
    sandbox.store.hooks.clear()

    out = demo_link()

    assert StoreLink.objects.count() == 1
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)
    assert "already linked" in out and f"{len(HOOK_SCOPES)} webhook(s) re-registered" in out


def test_an_unlinked_demo_is_relinked_on_the_same_link(demo_link):
    demo_link()
    first = StoreLink.objects.get()
    store_link_unlink(link=first, acting_user=None)

    demo_link()

    assert StoreLink.objects.get().pk == first.pk
    assert StoreLink.objects.get().state == LinkState.ACTIVE


def test_a_wrong_token_stops_with_the_reason(demo_link):
    with pytest.raises(CommandError, match="rejected this access token"):
        demo_link(token="wrong")


def test_the_sandboxs_payment_methods_are_mapped_and_its_locations_followed(demo_link, sandbox):
    demo_link()
    link = StoreLink.objects.get()
    maps = {row.method: row.payment_type.name for row in PaymentMethodMap.objects.filter(link=link)}
    assert set(maps) == {method.label for method in PAYMENT_METHODS} == set(DEMO_PAYMENT_METHODS)
    assert maps == DEMO_PAYMENT_METHODS
    located = {(row.outlet.name, row.location_id) for row in OutletLocation.objects.filter(link=link)}
    assert located == {("Downtown", 1), ("Warehouse", 2)}


def test_a_mapping_the_admin_changed_is_kept_at_the_next_start(demo_link):
    demo_link()
    link = StoreLink.objects.get()
    paypal = PaymentMethodMap.objects.get(link=link, method="PayPal")
    cash = PaymentType.objects.get(retailer=link.retailer, name="Cash")
    payment_methods_map(link=link, mapping={paypal.pk: cash}, acting_user=None)

    demo_link()

    assert PaymentMethodMap.objects.get(pk=paypal.pk).payment_type == cash


def test_the_demo_runs_like_a_healthy_shop(demo_link, sandbox, run_jobs):
    """An hour of the live demo store, compressed: every order syncs without a warning, only the web-only items
    create products to review, and stock stays positive."""
    demo_link()
    link = StoreLink.objects.get()
    rng = random.Random(5)
    touched = set()
    for _ in range(60):
        touched.update(sandbox.store.simulate_activity(rng))
    for order_id in sorted(touched):
        order_sync_request(link=link, bc_order_id=order_id)
    run_jobs()
    make_due("bc.push")
    run_jobs()

    imported = Sale.objects.filter(retailer=link.retailer, channel="bigcommerce").count()
    assert imported >= 45  # of 60 orders: the Pending and Incomplete ones wait for their payment
    problems = SyncLogEntry.objects.filter(link=link).exclude(level=LogLevel.INFO)
    assert [entry.message for entry in problems] == []
    review = set(Product.objects.filter(retailer=link.retailer, needs_review=True).values_list("sku", flat=True))
    assert {sku or "" for sku in review} <= set(WEB_ONLY_SKUS)
    assert review  # the web-only items sold: creation shows
    # The POS's own products keep stock (web-only ones are sold from none: the review says so).
    levels = InventoryLevel.objects.filter(retailer=link.retailer, product__needs_review=False, outlet=link.outlet)
    assert levels.filter(product__sku__in=[sku for _, sku, _, _ in CATALOG]).count() == len(CATALOG)
    assert not levels.filter(product__kind="standard", on_hand__lte=0).exists()
