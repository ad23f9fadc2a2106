"""Signals the POS sends for other parts of the product to follow (sent after the transaction commits).

`stock_changed` is how the BigCommerce link learns that a linked product's level moved, whatever the reason,
without the POS knowing about BigCommerce. Receivers get `retailer_id` and `changes`, a list of
`(product_id, outlet_id)` pairs.

`product_changed` says that a product's own fields changed (a price edit, stock tracking turned on) or that other
records now point at it (a merge moved BigCommerce links to it). Receivers get `retailer_id`, `product_id` and
`fields`: the names of the changed fields, plus `"links"` when a merge moved links to the product.
"""

from __future__ import annotations

from django.dispatch import Signal

stock_changed = Signal()
product_changed = Signal()
