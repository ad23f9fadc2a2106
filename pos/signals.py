"""Signals the POS sends for other parts of the product to follow (sent after the transaction commits).

`stock_changed` is how the BigCommerce link learns that a linked product's level moved, whatever the reason,
without the POS knowing about BigCommerce. Receivers get `retailer_id` and `changes`, a list of
`(product_id, outlet_id)` pairs.
"""

from __future__ import annotations

from django.dispatch import Signal

stock_changed = Signal()
