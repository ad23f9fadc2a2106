"""Signals the POS sends inside its own transaction, for records of other parts of the product that must change
with it, atomically, without the POS knowing them.

`product_merging` is sent by `pos.services.catalog.product_merge` before the source product may be deleted:
receivers move whatever of theirs points at the source to the target and return how many rows they moved
(the BigCommerce link moves its product links). Receivers get `retailer_id`, `source_id` and `target_id`.

Work that follows a change later (pushing stock and prices, writing a fulfilment back) is not a signal: it is
recorded as durable work in `pos.events`.
"""

from __future__ import annotations

from django.dispatch import Signal

product_merging = Signal()
