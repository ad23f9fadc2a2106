"""The sandbox store's data: the generator covers every case, is deterministic, keeps orders small, and the
amounts of every order add up the way BigCommerce's do."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from integration import bc_types
from sandbox import render
from sandbox.catalog import STATUSES
from sandbox.generator import COVERAGE, STAFF_NOTES_EDITED
from sandbox.store import SandboxStore, StoreSettings

NOW = 1_790_000_000
BASE = "http://sandbox.test/stores/h/v2"


def _orders(store: SandboxStore) -> list[bc_types.Order]:
    ids = range(store.FIRST_ORDER_ID, store.FIRST_ORDER_ID + store.order_count())
    return [bc_types.Order.from_api(render.order(store, store.order(i), BASE, consignments=True)) for i in ids]


def test_the_first_orders_of_any_seed_cover_every_case_the_product_handles():
    store = SandboxStore(StoreSettings(seed=7), orders=len(COVERAGE), now=NOW)
    orders = _orders(store)
    lines = [line for order in orders for line in order.products]
    deleted = {p.id for p in store.products.values() if p.deleted}

    assert {o.status_id for o in orders} == set(STATUSES)
    assert {o.is_guest for o in orders} == {True, False}
    assert min(len(o.products) for o in orders) == 0
    assert any(o.consignments.truncated for o in orders)  # over 50 lines: BigCommerce's inline cut
    assert any(line.product_options for line in lines) and any(not line.sku for line in lines)
    assert any(line.product_id in deleted for line in lines)
    assert any(o.shipping_cost_inc_tax > 0 for o in orders) and any(o.handling_cost_inc_tax > 0 for o in orders)
    assert any(o.wrapping_cost_inc_tax > 0 for o in orders)
    assert any(o.coupon_discount > 0 for o in orders) and any(o.discount_amount > 0 for o in orders)
    assert {o.is_tax_inclusive_pricing for o in orders} == {True, False}
    assert any(not re.fullmatch(r"[ -~]*", o.billing_address.name) for o in orders)  # non-ASCII names
    assert any(o.consignments.pickups for o in orders)
    assert any(len(o.consignments.shipping) == 2 for o in orders)
    edited = [o for o in orders if o.staff_notes == STAFF_NOTES_EDITED]
    assert edited and all(o.date_modified > o.date_created for o in edited)
    refunded = {o.status_id: store.refunded_units(o.id) for o in orders if o.status_id in (4, 14)}
    assert refunded[4] > 0 and refunded[14] > 0
    full = next(o for o in orders if o.status_id == 4)
    assert Decimal(store.refunded_units(full.id)) / 10_000 == full.total_inc_tax


def test_a_seed_always_gives_the_same_store_and_orders():
    one = SandboxStore(StoreSettings(seed=3), orders=200, now=NOW)
    two = SandboxStore(StoreSettings(seed=3), orders=200, now=NOW)
    other = SandboxStore(StoreSettings(seed=4), orders=200, now=NOW)

    def dump(store):
        return json.dumps([render.order(store, store.order(i), BASE, consignments=True) for i in range(100, 300)])

    assert one.settings.store_hash == two.settings.store_hash != other.settings.store_hash
    assert one.settings.access_token == two.settings.access_token
    assert dump(one) == dump(two)
    assert dump(one) != dump(other)


def test_every_order_adds_up_like_a_bigcommerce_order():
    store = SandboxStore(StoreSettings(seed=11), orders=600, now=NOW)

    for order in _orders(store):
        # every line (the inline ones stop at 50)
        lines = [bc_types.OrderProduct.from_api(li) for li in render.order_products(store, store.order(order.id))]
        assert order.total_inc_tax == order.total_ex_tax + order.total_tax, order.id
        assert order.total_ex_tax == (
            order.subtotal_ex_tax
            + order.shipping_cost_ex_tax
            + order.handling_cost_ex_tax
            + order.wrapping_cost_ex_tax
            - order.coupon_discount
            - order.discount_amount
        ), order.id
        assert order.subtotal_inc_tax == sum((li.total_inc_tax for li in lines), Decimal(0)), order.id
        assert order.subtotal_tax == sum((li.total_tax for li in lines), Decimal(0)), order.id
        # The lines' applied discounts carry both the coupon and the other discount.
        assert order.coupon_discount + order.discount_amount == sum((li.discount_total for li in lines), Decimal(0))
        assert order.total_ex_tax >= 0


def test_v2_money_has_four_decimals_and_dates_are_rfc_2822():
    store = SandboxStore(orders=30, now=NOW)
    body = render.order(store, store.order(105), BASE, consignments=True)

    money = [v for k, v in body.items() if k.endswith(("_tax", "_cost", "_amount", "_discount"))]
    assert money and all(re.fullmatch(r"-?\d+\.\d{4}", v) for v in money if isinstance(v, str))
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", body["date_created"])


@pytest.mark.parametrize("tax_inclusive", [True, False])
def test_new_orders_follow_the_store_tax_setting(tax_inclusive):
    store = SandboxStore(StoreSettings(tax_inclusive=tax_inclusive), orders=0, now=NOW)

    orders = [store.place_order(status_id=11, lines=2, tax_flip=False) for _ in range(5)]

    assert {o.tax_inclusive for o in orders} == {tax_inclusive}
    order = bc_types.Order.from_api(render.order(store, orders[0], BASE, consignments=True))
    line = order.products[0]
    entered = line.price_inc_tax if tax_inclusive else line.price_ex_tax
    assert entered == line.base_price


def test_orders_stay_compact_in_memory():
    store = SandboxStore(orders=10_000, now=NOW)

    per_order = store.memory_estimate() / store.order_count()

    assert per_order < 600  # bytes: packed ints, strings shared in pools


def test_a_deleted_product_leaves_its_order_lines_readable():
    store = SandboxStore(orders=30, now=NOW)
    order = store.place_order(status_id=11, lines=1)
    product_id = order.lines[0].product_id

    store.delete_product(product_id)

    line = bc_types.OrderProduct.from_api(render.order_products(store, store.order(order.id))[0])
    assert line.product_id == product_id and line.name == store.products[product_id].name
    assert product_id not in {p.id for p in store.live_products()}


def test_edits_refunds_and_archiving_change_the_order_as_bigcommerce_would():
    store = SandboxStore(orders=0, now=NOW)
    order = store.place_order(status_id=11, lines=2, coupon=False, discount=False)
    first = order.lines[0]

    edited = store.edit_order(order.id, line_id=first.id, quantity=first.quantity + 2)
    partial = store.refund_order(order.id, lines=[(first.id, 1)])
    after_partial = store.order(order.id)
    store.refund_order(order.id, full=True)
    store.archive_order(order.id)

    assert edited.lines[0].quantity == first.quantity + 2
    assert after_partial.status_id == 14 and partial.items == (("PRODUCT", first.id, 1, None),)
    final = store.order(order.id)
    assert final.status_id == 4 and final.archived
    assert store.refunded_units(order.id) == store.totals(final).total.inc
    assert order.id not in store.query_orders({})
