"""What the POS records for other parts of the product to act on: durable work, in the transaction of the change.

The POS is the system of record and never imports the BigCommerce link. When something happens that others may
follow, it records it here, as a `work` row written in the same transaction as the change itself, so the record
exists exactly when the change does (a crash after the commit loses nothing, a rollback records nothing). The
link handles these kinds: it pushes levels and prices to BigCommerce and writes shipments, pickups ready and
completed fulfilments back. Work of a kind nobody handles is finished at once.
"""

# The link's handlers of these kinds: integration/kinds.py.

from __future__ import annotations

from collections.abc import Iterable

from work import kernel, registry

# Levels moved (a sale, a void, a count, a synced order...): payload {"changes": [[product id, outlet id], ...]}.
STOCK_MOVED = registry.declare("pos.stock_moved", queue=registry.QUEUE_DEFAULT, priority=2, batch=100)
# A product's own fields changed, or other records now point at it: payload {"product_id", "fields"}.
PRODUCT_CHANGED = registry.declare("pos.product_changed", queue=registry.QUEUE_DEFAULT, priority=2, batch=100)
# An online sale's fulfilment was completed: keyed by the fulfilment, so completing it is recorded once.
FULFILLMENT_COMPLETED = registry.declare("pos.fulfillment_completed", queue=registry.QUEUE_DEFAULT, priority=1)
# Staff shipped goods from the POS (a partial shipment, or the rest): keyed by the shipment, so each is sent once.
SHIPMENT_RECORDED = registry.declare("pos.shipment_recorded", queue=registry.QUEUE_DEFAULT, priority=1)
# A pickup's goods are all packed ("Ready for pickup"): keyed by the fulfilment.
PICKUP_READY = registry.declare("pos.pickup_ready", queue=registry.QUEUE_DEFAULT, priority=1)


def stock_moved(*, retailer_id: int, changes: Iterable[tuple[int, int]]) -> None:
    """Record that the levels of these (product id, outlet id) pairs moved."""
    pairs = sorted(set(changes))
    if pairs:
        kernel.request(
            STOCK_MOVED, kernel.event_key(), shard=retailer_id, payload={"changes": [list(p) for p in pairs]}
        )


def product_changed(*, retailer_id: int, product_id: int, fields: Iterable[str]) -> None:
    """Record that a product's fields changed (`"links"`: records elsewhere were moved to it by a merge)."""
    kernel.request(
        PRODUCT_CHANGED,
        kernel.event_key(),
        shard=retailer_id,
        payload={"product_id": product_id, "fields": sorted(set(fields))},
    )


def fulfillment_completed(*, retailer_id: int, fulfillment_id: int) -> None:
    """Record that a fulfilment was completed (or that staff asked for its write-back again)."""
    kernel.request(FULFILLMENT_COMPLETED, fulfillment_id, shard=retailer_id, reset=True)


def shipment_recorded(*, retailer_id: int, shipment_id: int) -> None:
    """Record that staff shipped goods from the POS (or asked for the shipment's write-back again)."""
    kernel.request(SHIPMENT_RECORDED, shipment_id, shard=retailer_id, reset=True)


def pickup_ready(*, retailer_id: int, fulfillment_id: int) -> None:
    """Record that a pickup's goods are all packed: ready for the customer to collect."""
    kernel.request(PICKUP_READY, fulfillment_id, shard=retailer_id, reset=True)
