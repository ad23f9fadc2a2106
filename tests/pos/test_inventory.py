"""pos.services.inventory: adjustments and stock counts through the ledger."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum

from pos.choices import MovementReason, ProductKind
from pos.models import InventoryLevel, InventoryMovement, Product
from pos.services.inventory import stock_adjust, stock_count
from pos.services.stock import StockMove, stock_move_many
from tests import factories

pytestmark = pytest.mark.django_db


def _level(product, outlet) -> int:
    level = InventoryLevel.objects.filter(product=product, outlet=outlet).first()
    return level.on_hand if level else 0


def test_an_adjustment_moves_stock_with_its_reason_note_and_person(retailer, outlet, admin_user):
    product = factories.ProductFactory(retailer=retailer)

    result = stock_adjust(
        product=product,
        outlet=outlet,
        delta=-2,
        reason=MovementReason.DAMAGED,
        note="  Dropped a box  ",
        acting_user=admin_user,
        request_key="k1",
    )

    assert result.moved is True
    assert _level(product, outlet) == -2
    movement = InventoryMovement.objects.get()
    assert (movement.reason, movement.note, movement.user, movement.source_key) == (
        MovementReason.DAMAGED,
        "Dropped a box",
        admin_user,
        "pos:adjust:k1",
    )


def test_an_adjustment_submitted_twice_moves_stock_once(retailer, outlet):
    product = factories.ProductFactory(retailer=retailer)

    for _ in range(2):
        stock_adjust(product=product, outlet=outlet, delta=5, reason=MovementReason.RECEIVED, request_key="same")

    assert _level(product, outlet) == 5


@pytest.mark.parametrize(
    ("delta", "reason", "field"),
    [(0, MovementReason.RECEIVED, "delta"), (3, MovementReason.SALE, "reason"), (3, MovementReason.MERGE, "reason")],
)
def test_an_adjustment_needs_a_change_and_a_manual_reason(retailer, outlet, delta, reason, field):
    product = factories.ProductFactory(retailer=retailer)

    with pytest.raises(ValidationError) as error:
        stock_adjust(product=product, outlet=outlet, delta=delta, reason=reason, request_key="k")

    assert field in error.value.message_dict
    assert not InventoryMovement.objects.exists()


def test_untracked_products_and_other_retailers_outlets_cannot_be_adjusted(retailer, outlet, other_retailer):
    untracked = factories.ProductFactory(retailer=retailer, kind=ProductKind.SHIPPING, tracks_inventory=False)
    with pytest.raises(ValidationError, match="does not track stock"):
        stock_adjust(product=untracked, outlet=outlet, delta=1, reason=MovementReason.RECEIVED, request_key="a")

    product = factories.ProductFactory(retailer=retailer)
    with pytest.raises(ValidationError, match="same retailer"):
        stock_adjust(
            product=product,
            outlet=factories.OutletFactory(retailer=other_retailer),
            delta=1,
            reason=MovementReason.RECEIVED,
            request_key="b",
        )
    with pytest.raises(ValidationError, match="expired"):
        stock_adjust(product=product, outlet=outlet, delta=1, reason=MovementReason.RECEIVED, request_key="")
    assert not InventoryMovement.objects.exists()


def test_a_count_moves_the_difference_and_leaves_uncounted_products_alone(retailer, outlet, staff_user):
    more, less, same, never_moved, uncounted = factories.ProductFactory.create_batch(5, retailer=retailer)
    stock_move_many(
        retailer_id=retailer.pk,
        moves=[
            StockMove(p.pk, outlet.pk, 10, MovementReason.RECEIVED, f"r:{p.pk}") for p in (more, less, same, uncounted)
        ],
    )

    result = stock_count(
        outlet=outlet,
        counts={more.pk: 12, less.pk: 7, same.pk: 10, never_moved.pk: 4},
        note="Monthly count",
        acting_user=staff_user,
        request_key="count-1",
    )

    assert (result.counted, result.changed, result.units_added, result.units_removed) == (4, 3, 6, 3)
    assert [_level(p, outlet) for p in (more, less, same, never_moved, uncounted)] == [12, 7, 10, 4, 10]
    counted = InventoryMovement.objects.filter(reason=MovementReason.COUNT)
    assert set(counted.values_list("note", "user")) == {("Monthly count", staff_user.pk)}
    assert counted.get(product=less).source_key == f"pos:count:count-1:{less.pk}"
    for product in (more, less, same, never_moved):
        moved = InventoryMovement.objects.filter(product=product, outlet=outlet).aggregate(s=Sum("quantity"))["s"]
        assert moved == _level(product, outlet)


def test_a_count_submitted_twice_moves_nothing_the_second_time(retailer, outlet):
    product = factories.ProductFactory(retailer=retailer)

    stock_count(outlet=outlet, counts={product.pk: 6}, request_key="twice")
    again = stock_count(outlet=outlet, counts={product.pk: 6}, request_key="twice")

    assert again.changed == 0
    assert _level(product, outlet) == 6


def test_a_count_refuses_negative_quantities_untracked_and_unknown_products_and_moves_nothing(
    retailer, outlet, other_retailer
):
    good = factories.ProductFactory(retailer=retailer, name="Good")
    untracked = factories.ProductFactory(retailer=retailer, name="Wrap", kind="wrapping", tracks_inventory=False)

    with pytest.raises(ValidationError) as error:
        stock_count(outlet=outlet, counts={good.pk: -1, untracked.pk: 2}, request_key="bad")
    assert error.value.messages == [
        "A counted quantity cannot be negative (Good: -1).",
        "“Wrap” does not track stock. Turn on “Tracks stock” on the product first.",
    ]
    foreign = factories.ProductFactory(retailer=other_retailer)
    with pytest.raises(ValidationError, match="not in this retailer"):
        stock_count(outlet=outlet, counts={good.pk: 1, foreign.pk: 1}, request_key="foreign")
    with pytest.raises(ValidationError, match="no products"):
        stock_count(outlet=outlet, counts={}, request_key="empty")
    assert not InventoryMovement.objects.exists()


def test_a_count_of_thousands_of_products_costs_the_same_queries_as_a_count_of_ten(
    retailer, outlet, django_assert_num_queries, on_postgres
):
    if not on_postgres:
        pytest.skip("SQLite writes the ledger in chunks of 500 rows; PostgreSQL in one statement")
    Product.objects.bulk_create(
        [Product(retailer=retailer, name=f"P{i}", sku=f"P{i:05d}") for i in range(3000)], batch_size=1000
    )
    ids = list(Product.objects.for_retailer(retailer).values_list("pk", flat=True))

    # savepoint, products, levels (locked), movements, levels upsert, the stock-moved record, release savepoint
    with django_assert_num_queries(7):
        small = stock_count(outlet=outlet, counts=dict.fromkeys(ids[:10], 1), request_key="small")
    with django_assert_num_queries(7):
        large = stock_count(outlet=outlet, counts=dict.fromkeys(ids, 2), request_key="large")

    assert (small.changed, large.changed, large.units_added) == (10, 3000, 10 + 2 * 2990)
    assert InventoryLevel.objects.filter(outlet=outlet, on_hand=2).count() == 3000
