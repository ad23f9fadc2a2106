"""pos.services.stock: the one service that moves stock."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from pos.choices import MovementReason
from pos.events import STOCK_MOVED
from pos.models import InventoryLevel, InventoryMovement
from pos.services.stock import StockMove, stock_move, stock_move_many
from tests import factories
from tests.concurrency import run_concurrently
from work.models import WorkItem

pytestmark = pytest.mark.django_db


def _move(product, outlet, quantity, key, reason=MovementReason.ADJUSTMENT):
    return StockMove(product_id=product.pk, outlet_id=outlet.pk, quantity=quantity, reason=reason, source_key=key)


def _level(product, outlet) -> int:
    return InventoryLevel.objects.get(product=product, outlet=outlet).on_hand


def test_a_move_writes_the_movement_and_the_level(retailer, outlet):
    product = factories.ProductFactory(retailer=retailer)

    result = stock_move(retailer_id=retailer.pk, move=_move(product, outlet, 5, "test:1"))

    assert result.moved is True
    assert _level(product, outlet) == 5
    movement = InventoryMovement.objects.get(source_key="test:1")
    assert (movement.quantity, movement.product, movement.outlet, movement.retailer) == (5, product, outlet, retailer)


def test_the_same_source_key_moves_nothing_the_second_time_and_says_so(retailer, outlet):
    product = factories.ProductFactory(retailer=retailer)
    stock_move(retailer_id=retailer.pk, move=_move(product, outlet, -2, "bc:1:100:1:sale"))

    again = stock_move(retailer_id=retailer.pk, move=_move(product, outlet, -2, "bc:1:100:1:sale"))

    assert again.moved is False
    assert _level(product, outlet) == -2
    assert InventoryMovement.objects.filter(source_key="bc:1:100:1:sale").count() == 1


def test_many_moves_in_one_call_skip_known_keys_and_duplicates_within_the_call(retailer, outlet):
    a, b = factories.ProductFactory.create_batch(2, retailer=retailer)
    stock_move(retailer_id=retailer.pk, move=_move(a, outlet, 10, "k:a"))

    results = stock_move_many(
        retailer_id=retailer.pk,
        moves=[
            _move(a, outlet, 10, "k:a"),
            _move(b, outlet, 3, "k:b"),
            _move(b, outlet, 3, "k:b"),
            _move(a, outlet, -4, "k:a2"),
        ],
    )

    assert [r.moved for r in results] == [False, True, False, True]
    assert _level(a, outlet) == 6
    assert _level(b, outlet) == 3


def test_levels_always_equal_the_sum_of_movements(retailer, outlet):
    products = factories.ProductFactory.create_batch(3, retailer=retailer)
    moves = [_move(p, outlet, q, f"k:{i}:{p.pk}") for i, q in enumerate([5, -1, 7, -3]) for p in products]
    stock_move_many(retailer_id=retailer.pk, moves=moves)
    stock_move_many(retailer_id=retailer.pk, moves=moves)  # a full replay changes nothing

    for product in products:
        total = sum(InventoryMovement.objects.filter(product=product).values_list("quantity", flat=True))
        assert _level(product, outlet) == total == 8


def test_query_count_does_not_grow_with_the_number_of_lines(retailer, outlet, django_assert_num_queries):
    products = factories.ProductFactory.create_batch(50, retailer=retailer)
    # movements, levels, and the record that they moved
    with django_assert_num_queries(3):
        stock_move_many(retailer_id=retailer.pk, moves=[_move(products[0], outlet, 1, "one")])
    with django_assert_num_queries(3):
        stock_move_many(retailer_id=retailer.pk, moves=[_move(p, outlet, 1, f"fifty:{p.pk}") for p in products])


def test_a_move_records_the_changed_levels_in_its_own_transaction(retailer, outlet):
    product = factories.ProductFactory(retailer=retailer)

    stock_move(retailer_id=retailer.pk, move=_move(product, outlet, 1, "sig:1"))
    stock_move(retailer_id=retailer.pk, move=_move(product, outlet, 1, "sig:1"))  # no change: nothing recorded
    with pytest.raises(RuntimeError), transaction.atomic():
        stock_move(retailer_id=retailer.pk, move=_move(product, outlet, 1, "sig:2"))
        raise RuntimeError("the sale failed")  # rolled back: neither the move nor its record

    records = WorkItem.objects.filter(kind=STOCK_MOVED.name)
    assert [(r.shard, r.payload) for r in records] == [(retailer.pk, {"changes": [[product.pk, outlet.pk]]})]


def test_a_rolled_back_transaction_leaves_no_movement_and_no_level(retailer, outlet):
    product = factories.ProductFactory(retailer=retailer)

    with pytest.raises(RuntimeError), transaction.atomic():
        stock_move(retailer_id=retailer.pk, move=_move(product, outlet, 4, "rollback:1"))
        raise RuntimeError("boom")

    assert not InventoryMovement.objects.filter(source_key="rollback:1").exists()
    assert not InventoryLevel.objects.filter(product=product).exists()


def _move_holding_the_transaction_open(retailer_id, product_id, outlet_id, key, hold_seconds):
    """Runs in its own process: moves stock, then keeps the transaction open so the other process must wait."""
    with transaction.atomic():
        result = stock_move(
            retailer_id=retailer_id,
            move=StockMove(
                product_id=product_id, outlet_id=outlet_id, quantity=-1, reason=MovementReason.SALE, source_key=key
            ),
        )
        time.sleep(hold_seconds)
    return result.moved


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_moving_the_same_source_key_at_once_give_one_movement():
    product = factories.ProductFactory()
    outlet = factories.OutletFactory(retailer=product.retailer)

    moved = run_concurrently(
        _move_holding_the_transaction_open,
        [(product.retailer_id, product.pk, outlet.pk, "bc:1:7:1:sale", hold) for hold in (0.5, 0.0)],
    )

    assert sorted(moved) == [False, True]
    assert InventoryMovement.objects.filter(source_key="bc:1:7:1:sale").count() == 1
    assert _level(product, outlet) == -1
