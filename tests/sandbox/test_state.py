"""The sandbox store's state across restarts (`python -m sandbox --state FILE`): a store loaded from its file is
the same store and goes on numbering where it stopped, so a restarted demo never serves another order under a
number it already served."""

from __future__ import annotations

import random

from sandbox.store import CHECKOUT_STATUSES, SandboxStore, StoreSettings


def _store(seed: int = 1, orders: int = 12) -> SandboxStore:
    return SandboxStore(StoreSettings(seed=seed), orders=orders)


def test_a_saved_store_loads_as_the_same_store_and_continues_its_numbering(tmp_path):
    path = tmp_path / "sandbox.state"
    first = _store()
    placed = first.place_order(status_id=11, lines=2)
    first.refund_order(placed.id)
    first.create_hook(scope="store/order/created", destination="http://127.0.0.1:8000/webhooks/bigcommerce/")
    first.set_inventory_absolute([{"location_id": 1, "product_id": first.live_products()[1].id, "quantity": 7}])
    first.save(path)

    again = _store()
    assert again.load(path) is True
    assert again.order_count() == first.order_count()
    for order_id in range(again.FIRST_ORDER_ID, again.FIRST_ORDER_ID + again.order_count()):
        assert again.order(order_id) == first.order(order_id)
    assert again.refunded_units(placed.id) == first.refunded_units(placed.id) > 0
    assert [h.scope for h in again.hooks.values()] == ["store/order/created"]
    assert again.inventory == first.inventory

    after = again.place_order(status_id=11, lines=3)
    assert after.id == placed.id + 1
    line_ids = [line.id for i in range(again.order_count()) for line in again.order(again.FIRST_ORDER_ID + i).lines]
    assert len(line_ids) == len(set(line_ids))


def test_a_state_file_of_another_seed_or_none_leaves_a_fresh_store(tmp_path):
    path = tmp_path / "sandbox.state"
    assert _store().load(path) is False
    _store(seed=2).save(path)
    fresh = _store(orders=5)
    assert fresh.load(path) is False
    assert fresh.order_count() == 5


def test_a_live_store_places_orders_in_the_statuses_a_checkout_leaves_them_in():
    store = _store(orders=0)
    rng = random.Random(3)
    for _ in range(200):
        store.simulate_activity(rng)
    placed = {store.order(store.FIRST_ORDER_ID + i).status_id for i in range(store.order_count())}
    # New orders start in checkout statuses; later moves only pay, ship, collect or refund them.
    assert placed <= set(CHECKOUT_STATUSES) | {9, 2, 10, 4, 14}
    assert not placed & {5, 6}  # the demo never cancels or declines on its own
