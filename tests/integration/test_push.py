"""Stock levels and prices pushed to the sandbox store over HTTP: BigCommerce follows the POS, in batches."""

from __future__ import annotations

import socket
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from integration.choices import BcItemKind, LinkState
from integration.models import PricePushState, ProductLink, StockPushState, StoreLink, SyncLogEntry
from integration.services.link import HOOK_SCOPES
from integration.services.push import push_run
from integration.services.push_state import PUSH, push_debounce_seconds, push_request_all, stock_push_mark
from pos.choices import MovementReason, ProductKind
from pos.models import InventoryLevel, Product
from pos.services.catalog import product_update
from pos.services.inventory import stock_adjust, stock_count
from pos.services.sales import InStoreLine, sale_create_in_store
from pos.services.stock import StockMove, stock_move_many
from sandbox.records import to_units
from tests import factories
from tests.work_helpers import make_due, sync_order, work_rows
from work.models import WorkItem

pytestmark = [pytest.mark.django_db, pytest.mark.sandbox(locations=1)]

HEADLAMP, BEANIE, DOWN_JACKET, FLEECE = 116, 112, 114, 130  # sandbox products: no options, no options, sizes, 6


def _level(product, outlet) -> int:
    return InventoryLevel.objects.filter(product=product, outlet=outlet).values_list("on_hand", flat=True).first() or 0


def _bc_level(sandbox, pl: ProductLink, location: int = 1) -> int | None:
    return sandbox.store.inventory.get((location, pl.bc_variant_id))


def _receive(product, outlet, quantity, key, capture):
    with capture(execute=True):
        stock_move_many(
            retailer_id=product.retailer_id,
            moves=[StockMove(product.pk, outlet.pk, quantity, MovementReason.RECEIVED, key)],
        )


def _pushes_waiting() -> list[WorkItem]:
    """The push work rows due (at any time) and not running."""
    return list(WorkItem.objects.filter(kind=PUSH, due_at__isnull=False, lease_until__isnull=True))


def _events(code: str) -> list[SyncLogEntry]:
    return list(SyncLogEntry.objects.filter(event=code).order_by("id"))


# ---------------------------------------------------------------- the brief's cases


def test_an_in_store_sale_lowers_the_outlet_and_the_sandbox_level_follows(
    sandbox, push_link, link_item, register, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    outlet = push_link.outlet
    _receive(pl.product, outlet, 12, "fixture:headlamp", django_capture_on_commit_callbacks)
    register = factories.RegisterFactory(retailer=push_link.retailer, outlet=outlet)

    with django_capture_on_commit_callbacks(execute=True):
        sale_create_in_store(register=register, lines=[InStoreLine(pl.product.pk, 3)], payments=[], user=None)
    run_pushes()

    assert _level(pl.product, outlet) == 9
    assert _bc_level(sandbox, pl) == 9
    pl.refresh_from_db()
    assert pl.bc_item_kind == BcItemKind.PRODUCT  # a product without options is adjusted by product id
    assert "Pushed 1 stock level(s) to BigCommerce." in [e.message for e in _events("stock_pushed")]


def test_an_adjustment_of_a_variant_pushes_the_variant(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(DOWN_JACKET, variant_index=1)  # size M

    with django_capture_on_commit_callbacks(execute=True):
        stock_adjust(
            product=pl.product, outlet=push_link.outlet, delta=7, reason=MovementReason.RECEIVED, request_key="adj-1"
        )
    run_pushes()

    assert _bc_level(sandbox, pl) == 7
    pl.refresh_from_db()
    assert pl.bc_item_kind == BcItemKind.VARIANT


@pytest.mark.postgres
def test_a_stock_count_of_5000_products_pushes_in_3_calls(
    sandbox, push_link, run_pushes, django_capture_on_commit_callbacks
):
    # given 5,000 linked products at an outlet mapped to location 1
    bc_products = sandbox.store.add_products(5000)
    products = Product.objects.bulk_create(
        Product(retailer=push_link.retailer, name=p.name, sku=p.sku, retail_price=Decimal("10")) for p in bc_products
    )
    ProductLink.objects.bulk_create(
        ProductLink(link=push_link, product=pos, bc_product_id=bc.id, bc_variant_id=bc.variants[0].id, bc_sku=bc.sku)
        for pos, bc in zip(products, bc_products, strict=True)
    )
    factories.OutletLocationFactory(link=push_link, outlet=push_link.outlet, location_id=1)
    outlet = push_link.outlet
    with django_capture_on_commit_callbacks(execute=True):
        stock_count(outlet=outlet, counts={p.pk: 5 for p in products}, request_key="first-count")
    run_pushes()  # the first push also learns how BigCommerce tracks each product: once
    first_lookups = sandbox.store.request_log.counts().get("list_products", 0)
    sandbox.store.request_log.clear()

    # when the next count changes every one of them
    with django_capture_on_commit_callbacks(execute=True):
        stock_count(outlet=outlet, counts={p.pk: 6 + i % 9 for i, p in enumerate(products)}, request_key="second")
    run_pushes()

    # then three calls of at most 2,000 items carried all 5,000 levels, and nothing else was asked
    assert sandbox.store.request_log.counts() == {"set_inventory_absolute": 3}
    assert first_lookups == 100  # 50 products a call, once per product ever
    assert all(sandbox.store.inventory[(1, bc.variants[0].id)] == 6 + i % 9 for i, bc in enumerate(bc_products))
    assert not StockPushState.objects.filter(dirty_since__isnull=False).exists()


@pytest.mark.postgres
@pytest.mark.sandbox(locations=1, orders=0)
def test_a_burst_of_500_orders_ends_in_a_handful_of_batched_pushes_and_equal_levels(
    sandbox, push_link, bc_client, run_pushes, django_capture_on_commit_callbacks
):
    # given the POS stocks every sellable item of the store (50 of them), matched to it by SKU
    sandbox.store.add_products(50 - len([v for p in sandbox.store.live_products() for v in p.variants]))
    outlet = push_link.outlet
    for product in sandbox.store.live_products():
        for variant in product.variants:
            if variant.sku:
                pos = factories.ProductFactory(retailer=push_link.retailer, sku=variant.sku, name=variant.sku)
                _receive(pos, outlet, 400, f"fixture:{variant.sku}", django_capture_on_commit_callbacks)
    run_pushes()
    sandbox.store.request_log.clear()
    order_ids = sandbox.store.place_orders(500, status_id=11, lines=2, deleted_product=False)

    # when they are synced one after the other, 0.1 s apart, a worker running each push when its window ends
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for order_id in order_ids:
            sync_order(push_link, order_id)
            run_pushes(until=timezone.now())
            clock.shift(0.1)
        elapsed = (timezone.now() - start).total_seconds()
        run_pushes()

    # then a handful of batched pushes, and BigCommerce shows what the POS has
    pushes = sandbox.store.request_log.counts().get("set_inventory_absolute", 0)
    linked = ProductLink.objects.filter(link=push_link).select_related("product")
    touched = {pl.bc_variant_id for pl in linked}
    assert len(touched) >= 45
    assert 1 <= pushes <= elapsed / push_debounce_seconds() + 2  # one per debounce window, on the test's clock
    assert pushes < 20
    for pl in linked:
        assert sandbox.store.inventory[(1, pl.bc_variant_id)] == max(_level(pl.product, outlet), 0), pl


def test_a_price_edit_reaches_the_product_or_the_variant(
    sandbox, push_link, link_item, admin_user, run_pushes, django_capture_on_commit_callbacks
):
    simple = link_item(BEANIE)
    variant = link_item(FLEECE, variant_index=3)

    with django_capture_on_commit_callbacks(execute=True):
        product_update(product=simple.product, acting_user=admin_user, retail_price=Decimal("27.40"))
        product_update(product=variant.product, acting_user=admin_user, retail_price=Decimal("84.95"))
    run_pushes()

    assert sandbox.store.products[BEANIE].price == to_units("27.40")
    assert sandbox.store.variants[variant.bc_variant_id].price == to_units("84.95")
    assert sorted(e.message for e in _events("price_pushed")) == [
        f"Pushed the price of {simple.product.name} ({simple.product.sku}) (27.40) to BigCommerce.",
        f"Pushed the price of {variant.product.name} ({variant.product.sku}) (84.95) to BigCommerce.",
    ]


def test_a_push_that_fails_with_5xx_is_retried_then_succeeds(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    sandbox.store.faults.add(kind="error", endpoint="set_inventory_absolute", status=503, times=1)

    _receive(pl.product, push_link.outlet, 4, "fixture:headlamp", django_capture_on_commit_callbacks)
    run_pushes()

    row = StockPushState.objects.get(product_link=pl)
    assert row.dirty_since is not None
    retrying = _events("push_retrying")
    assert len(retrying) == 1
    assert retrying[0].message.startswith(
        "Push to BigCommerce failed: BigCommerce answered with a server error (HTTP 503"
    )
    assert "1 change(s) wait; attempt 1, next try at" in retrying[0].message
    [waiting] = _pushes_waiting()  # the retry, at its time
    assert waiting.due_at > timezone.now() + timedelta(seconds=20)

    make_due(PUSH)
    run_pushes()

    assert _bc_level(sandbox, pl) == 4
    row.refresh_from_db()
    assert (row.dirty_since, row.attempts, row.last_pushed_level) == (None, 0, 4)
    assert sandbox.store.request_log.counts().get("set_inventory_absolute", 0) == 2


# ---------------------------------------------------------------- batching, debounce, nothing sent twice


def test_a_burst_of_changes_asks_for_one_push_at_the_end_of_the_window(
    sandbox, push_link, link_item, run_jobs, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    start = timezone.now()

    for n in range(20):
        _receive(pl.product, push_link.outlet, 1, f"burst:{n}", django_capture_on_commit_callbacks)
        run_jobs(only={"pos.stock_moved"})

    [push] = _pushes_waiting()  # one, however many changes: due when the first change's window ends
    assert start < push.due_at <= timezone.now() + timedelta(seconds=push_debounce_seconds())
    row = StockPushState.objects.get(product_link=pl)
    assert row.version == 20 and row.dirty_since is not None


def test_nothing_is_sent_when_the_level_equals_the_last_one_pushed(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    _receive(pl.product, push_link.outlet, 5, "first", django_capture_on_commit_callbacks)
    run_pushes()
    calls = sandbox.store.request_log.total()

    _receive(pl.product, push_link.outlet, 2, "in", django_capture_on_commit_callbacks)
    _receive(pl.product, push_link.outlet, -2, "out", django_capture_on_commit_callbacks)
    run_pushes()

    assert sandbox.store.request_log.total() == calls
    row = StockPushState.objects.get(product_link=pl)
    assert row.dirty_since is None and row.last_pushed_level == 5


def test_a_negative_pos_level_is_pushed_as_zero(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)

    _receive(pl.product, push_link.outlet, -3, "oversold", django_capture_on_commit_callbacks)
    run_pushes()

    assert _bc_level(sandbox, pl) == 0


def test_a_change_during_a_push_is_pushed_by_the_next_one(
    sandbox, push_link, link_item, bc_client, run_jobs, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    _receive(pl.product, push_link.outlet, 5, "first", django_capture_on_commit_callbacks)
    run_jobs(only={"pos.stock_moved"})
    send = bc_client.set_inventory_absolute

    def sale_while_sending(items, *, reason):
        result = send(items, reason=reason)
        _receive(pl.product, push_link.outlet, -1, "sold-meanwhile", django_capture_on_commit_callbacks)
        run_jobs(only={"pos.stock_moved"})
        return result

    bc_client.set_inventory_absolute = sale_while_sending
    push_run(link_id=push_link.pk, client=bc_client)
    bc_client.set_inventory_absolute = send

    row = StockPushState.objects.get(product_link=pl)
    assert _bc_level(sandbox, pl) == 5 and row.dirty_since is not None  # the sale is not forgotten
    push_run(link_id=push_link.pk, client=bc_client)
    assert _bc_level(sandbox, pl) == 4
    row.refresh_from_db()
    assert row.dirty_since is None


@pytest.mark.sandbox(locations=2)
def test_each_mapped_outlet_goes_to_its_location(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    warehouse = factories.OutletFactory(retailer=push_link.retailer, name="Warehouse")
    factories.OutletLocationFactory(link=push_link, outlet=push_link.outlet, location_id=2)
    factories.OutletLocationFactory(link=push_link, outlet=warehouse, location_id=1)
    pl = link_item(HEADLAMP)

    _receive(pl.product, push_link.outlet, 3, "shop", django_capture_on_commit_callbacks)
    _receive(pl.product, warehouse, 40, "warehouse", django_capture_on_commit_callbacks)
    run_pushes()

    assert (_bc_level(sandbox, pl, 2), _bc_level(sandbox, pl, 1)) == (3, 40)
    assert sandbox.store.request_log.counts().get("set_inventory_absolute", 0) == 2  # one call per location


@pytest.mark.sandbox(locations=2)
def test_an_unmapped_linked_outlet_of_a_store_with_two_locations_is_not_pushed_and_the_log_says_so(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    before = _bc_level(sandbox, pl)

    _receive(pl.product, push_link.outlet, 3, "shop", django_capture_on_commit_callbacks)
    run_pushes()
    _receive(pl.product, push_link.outlet, 3, "shop-again", django_capture_on_commit_callbacks)
    run_pushes()

    assert _bc_level(sandbox, pl) == before
    assert sandbox.store.request_log.counts().get("set_inventory_absolute", 0) == 0
    unmapped = _events("stock_push_unmapped")
    assert len(unmapped) == 1  # said once an hour, not at every change
    assert f"Stock of outlet {push_link.outlet.name} is not pushed" in unmapped[0].message
    assert "Map one in Settings › BigCommerce" in unmapped[0].message


@pytest.mark.sandbox(locations=2)
def test_mapping_an_outlet_later_pushes_all_its_levels(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    items = [link_item(HEADLAMP), link_item(BEANIE)]
    for pl in items:
        _receive(pl.product, push_link.outlet, 8, f"shop:{pl.pk}", django_capture_on_commit_callbacks)
    run_pushes()
    factories.OutletLocationFactory(link=push_link, outlet=push_link.outlet, location_id=2)

    with django_capture_on_commit_callbacks(execute=True):
        push_request_all(link=push_link, outlet_ids=[push_link.outlet.pk], prices=False)
    run_pushes()

    assert [_bc_level(sandbox, pl, 2) for pl in items] == [8, 8]


# ---------------------------------------------------------------- what is never pushed


def test_an_unlinked_store_pushes_nothing(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    StoreLink.objects.filter(pk=push_link.pk).update(state=LinkState.UNLINKED)

    _receive(pl.product, push_link.outlet, 9, "after-unlink", django_capture_on_commit_callbacks)
    run_pushes()

    assert not StockPushState.objects.exists()
    assert sandbox.store.request_log.total() == 0


def test_a_paused_link_pushes_nothing_until_it_is_active_again(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    StoreLink.objects.filter(pk=push_link.pk).update(state=LinkState.PAUSED)

    _receive(pl.product, push_link.outlet, 9, "while-paused", django_capture_on_commit_callbacks)
    run_pushes()
    assert sandbox.store.request_log.total() == 0 and not _pushes_waiting()

    StoreLink.objects.filter(pk=push_link.pk).update(state=LinkState.ACTIVE)
    push_link.refresh_from_db()
    push_request_all(link=push_link)  # what resuming the link does
    run_pushes()
    assert _bc_level(sandbox, pl) == 9


def test_unlinked_products_service_products_and_placeholders_are_never_marked(
    sandbox, push_link, link_item, retailer, django_capture_on_commit_callbacks
):
    unlinked = factories.ProductFactory(retailer=retailer)
    shipping = link_item(HEADLAMP, kind=ProductKind.SHIPPING, tracks_inventory=False, sku=None).product
    placeholder = link_item(BEANIE, kind=ProductKind.PLACEHOLDER, sku=None).product
    other_outlet = factories.OutletFactory(retailer=retailer)
    linked = link_item(DOWN_JACKET).product

    with django_capture_on_commit_callbacks(execute=True):
        marked = stock_push_mark(
            retailer_id=retailer.pk,
            changes=[(p.pk, push_link.outlet.pk) for p in (unlinked, shipping, placeholder)]
            + [(linked.pk, other_outlet.pk)],  # an outlet BigCommerce does not follow
        )

    assert marked == 0 and not StockPushState.objects.exists()


# ---------------------------------------------------------------- failures


def test_a_422_on_one_item_does_not_block_the_others_and_names_its_sku(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    good = [link_item(HEADLAMP), link_item(BEANIE), link_item(DOWN_JACKET, variant_index=2)]
    bad = factories.ProductLinkFactory(
        link=push_link,
        product=factories.ProductFactory(retailer=push_link.retailer, name="Old lantern", sku="LANTERN-OLD"),
        bc_product_id=DOWN_JACKET,
        bc_variant_id=99_999,  # a variant BigCommerce does not have
    )
    for pl in [*good, bad]:
        _receive(pl.product, push_link.outlet, 6, f"in:{pl.pk}", django_capture_on_commit_callbacks)

    run_pushes()

    assert [_bc_level(sandbox, pl) for pl in good] == [6, 6, 6]
    refused = _events("stock_push_rejected")
    assert len(refused) == 1
    assert refused[0].message.startswith(
        "BigCommerce refused the stock level of Old lantern (LANTERN-OLD) at location 1: "
        "[Item with variant_id 99999 does not exist]."
    )
    assert refused[0].level == "error"
    bad_row = StockPushState.objects.get(product_link=bad)
    assert bad_row.dirty_since is None and "99999" in bad_row.last_error  # not retried until it changes again
    assert sandbox.store.request_log.counts().get("set_inventory_absolute", 0) == 2  # the batch, then the rest


def test_an_item_tracked_the_other_way_is_looked_up_again_and_pushed(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    ProductLink.objects.filter(pk=pl.pk).update(bc_item_kind=BcItemKind.VARIANT)  # stale: options were removed

    _receive(pl.product, push_link.outlet, 11, "in", django_capture_on_commit_callbacks)
    run_pushes()
    run_pushes()

    assert _bc_level(sandbox, pl) == 11
    pl.refresh_from_db()
    assert pl.bc_item_kind == BcItemKind.PRODUCT
    assert not _events("stock_push_rejected")


def test_a_product_deleted_in_bigcommerce_is_said_once_and_not_pushed(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    sandbox.store.delete_product(HEADLAMP)

    _receive(pl.product, push_link.outlet, 2, "one", django_capture_on_commit_callbacks)
    run_pushes()
    _receive(pl.product, push_link.outlet, 2, "two", django_capture_on_commit_callbacks)
    run_pushes()

    assert sandbox.store.request_log.counts().get("set_inventory_absolute", 0) == 0
    gone = _events("push_item_gone")
    assert len(gone) == 1 and "no longer exists in BigCommerce" in gone[0].message


def test_revoked_credentials_hold_the_push_for_an_hour_with_the_fix(
    sandbox, push_link, link_item, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    sandbox.store.token_revoked = True

    _receive(pl.product, push_link.outlet, 2, "one", django_capture_on_commit_callbacks)
    run_pushes()

    waiting = _events("push_retrying")
    assert len(waiting) == 1 and "update the token in Settings › BigCommerce" in waiting[0].message
    row = StockPushState.objects.get(product_link=pl)
    [push] = _pushes_waiting()
    assert row.dirty_since is not None and push.due_at > timezone.now() + timedelta(minutes=59)


def test_a_change_is_kept_when_redis_is_down_and_pushed_all_the_same(
    sandbox, push_link, link_item, run_pushes, settings, django_capture_on_commit_callbacks
):
    pl = link_item(HEADLAMP)
    working = settings.RQ_QUEUES
    settings.RQ_QUEUES = {name: {**cfg, "URL": "redis://127.0.0.1:1/0"} for name, cfg in working.items()}

    _receive(pl.product, push_link.outlet, 3, "no-redis", django_capture_on_commit_callbacks)  # does not raise
    run_pushes()  # a worker looking at the database: no bell needed

    settings.RQ_QUEUES = working
    assert _bc_level(sandbox, pl) == 3


# ---------------------------------------------------------------- the marking itself


@pytest.mark.postgres
def test_marking_thousands_of_changes_is_one_statement(
    push_link, retailer, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    products = factories.ProductFactory.create_batch(2000, retailer=retailer)
    ProductLink.objects.bulk_create(
        ProductLink(link=push_link, product=p, bc_product_id=10_000 + p.pk, bc_variant_id=0) for p in products
    )

    changes = [(p.pk, push_link.outlet_id) for p in products]

    # the live link, its mapped outlets, one upsert, the push request (+ savepoint)
    with django_assert_max_num_queries(6):
        marked = stock_push_mark(retailer_id=retailer.pk, changes=changes)

    assert marked == 2000


def test_a_merge_makes_the_moved_links_follow_the_target(
    sandbox, push_link, link_item, retailer, admin_user, run_pushes, django_capture_on_commit_callbacks
):
    from pos.services.catalog import product_merge

    pl = link_item(HEADLAMP)
    target = factories.ProductFactory(retailer=retailer, retail_price=Decimal("44.00"))
    _receive(target, push_link.outlet, 15, "target-stock", django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        product_merge(source=pl.product, target=target, acting_user=admin_user)
    run_pushes()

    assert _bc_level(sandbox, pl) == 15
    assert sandbox.store.products[HEADLAMP].price == to_units("44.00")


def test_an_unchanged_price_is_not_sent_again(
    sandbox, push_link, link_item, admin_user, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(BEANIE)
    with django_capture_on_commit_callbacks(execute=True):
        product_update(product=pl.product, acting_user=admin_user, retail_price=Decimal("30.00"))
    run_pushes()

    with django_capture_on_commit_callbacks(execute=True):
        product_update(product=pl.product, acting_user=admin_user, retail_price=Decimal("31.00"))
        product_update(product=pl.product, acting_user=admin_user, retail_price=Decimal("30.00"))
    run_pushes()

    assert sandbox.store.request_log.counts().get("update_product", 0) == 1
    assert PricePushState.objects.get(product_link=pl).dirty_since is None


def test_an_error_on_our_side_keeps_the_changes_logs_it_and_is_retried(
    sandbox, push_link, link_item, run_pushes, monkeypatch, django_capture_on_commit_callbacks
):
    from integration.client import BigCommerceClient

    pl = link_item(HEADLAMP)
    _receive(pl.product, push_link.outlet, 5, "in", django_capture_on_commit_callbacks)

    def broken(self, items, *, reason):
        raise KeyError("location_id")

    monkeypatch.setattr(BigCommerceClient, "set_inventory_absolute", broken)
    run_pushes()

    row = StockPushState.objects.get(product_link=pl)
    assert row.dirty_since is not None
    failed = _events("push_retrying")
    assert len(failed) == 1 and "an error on our side (KeyError)" in failed[0].message
    assert work_rows(PUSH) == [(str(push_link.pk), "due")]


def test_one_push_runs_per_link_at_a_time(sandbox, push_link, link_item, run_jobs, django_capture_on_commit_callbacks):
    from work import kernel

    pl = link_item(HEADLAMP)
    _receive(pl.product, push_link.outlet, 5, "in", django_capture_on_commit_callbacks)
    run_jobs(only={"pos.stock_moved"})
    make_due(PUSH)

    first = kernel.claim(only={PUSH}, worker="a")
    assert kernel.claim(only={PUSH}, worker="b") is None  # the second worker does not push the same link

    kernel.run(first)
    assert _bc_level(sandbox, pl) == 5


def test_a_price_for_an_item_deleted_in_bigcommerce_says_so_and_stops(
    sandbox, push_link, link_item, admin_user, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(BEANIE)
    ProductLink.objects.filter(pk=pl.pk).update(bc_item_kind=BcItemKind.PRODUCT)  # known from an earlier push
    sandbox.store.delete_product(BEANIE)

    with django_capture_on_commit_callbacks(execute=True):
        product_update(product=pl.product, acting_user=admin_user, retail_price=Decimal("9.00"))
    run_pushes()

    pl.refresh_from_db()
    assert pl.bc_item_kind == BcItemKind.GONE
    assert len(_events("push_item_gone")) == 1
    assert PricePushState.objects.get(product_link=pl).dirty_since is None


def test_the_link_subscribes_to_no_webhook_that_a_push_could_trigger():
    # Pushes set inventory and prices; only order events come back, so a push can never echo as a change.
    assert HOOK_SCOPES and all(scope.startswith("store/order/") for scope in HOOK_SCOPES)


def test_a_refused_price_is_logged_with_what_to_do(
    sandbox, push_link, link_item, admin_user, run_pushes, django_capture_on_commit_callbacks
):
    pl = link_item(FLEECE, variant_index=0)
    sandbox.store.faults.add(kind="error", endpoint="update_variant", status=422, times=1)

    with django_capture_on_commit_callbacks(execute=True):
        product_update(product=pl.product, acting_user=admin_user, retail_price=Decimal("0.50"))
    run_pushes()

    failed = _events("price_push_failed")
    assert len(failed) == 1 and failed[0].level == "error"
    assert failed[0].message.endswith("Check the item in BigCommerce; the price is sent again at its next change.")
    row = PricePushState.objects.get(product_link=pl)
    assert row.dirty_since is None and row.last_pushed_price is None and row.last_error


def test_a_push_goes_out_while_the_cache_redis_is_down(
    sandbox, push_link, link_item, run_pushes, settings, django_capture_on_commit_callbacks
):
    # given the cache (Redis, where the store's locations are kept) refuses every connection
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{closed}"}
    }
    pl = link_item(HEADLAMP)

    # when stock moves and the push runs
    _receive(pl.product, push_link.outlet, 7, "fixture:cache-down", django_capture_on_commit_callbacks)
    run_pushes()

    # then the level reached BigCommerce at the first attempt, with nothing logged as failed
    assert _bc_level(sandbox, pl) == 7
    assert not _events("stock_push_retrying") and not _events("push_retrying")
    assert [e.message for e in _events("stock_pushed")] == ["Pushed 1 stock level(s) to BigCommerce."]
