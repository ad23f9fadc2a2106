"""Fixtures for the stock and price push: a linked store on the sandbox, linked items, and the push's due time.

- `push_link`: the retailer's active link to the sandbox store (linked outlet = `push_link.outlet`).
- `link_item(bc_product_id, variant_index=0, product=None)`: a POS product (made if not given) linked to a
  sandbox catalog item, as the order sync would link it.
- `run_pushes(until=None)`: what a worker does when the time comes: every push due at or before `until` (default:
  once this window and the next have passed) is brought forward to now, then the due work runs.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integration.models import ProductLink, StoreLink
from integration.services.push_state import PUSH, push_debounce_seconds
from tests import factories
from work.models import WorkItem


@pytest.fixture
def push_link(sandbox_link) -> StoreLink:
    StoreLink.objects.filter(pk=sandbox_link.pk).update(linked_at=timezone.now() - timedelta(hours=1))
    sandbox_link.refresh_from_db()
    return sandbox_link


@pytest.fixture
def link_item(push_link, sandbox):
    def make(bc_product_id: int, variant_index: int = 0, product=None, **product_fields) -> ProductLink:
        variant = sandbox.store.products[bc_product_id].variants[variant_index]
        if product is None:
            product_fields.setdefault("sku", variant.sku or None)
            product = factories.ProductFactory(retailer=push_link.retailer, **product_fields)
        return factories.ProductLinkFactory(
            link=push_link, product=product, bc_product_id=bc_product_id, bc_variant_id=variant.id, bc_sku=variant.sku
        )

    return make


@pytest.fixture
def run_pushes(run_jobs):
    def run(until=None) -> int:
        """Run the pushes due by `until` (and whatever else is due now); returns how many pushes ran."""
        run_jobs()  # the POS's records of changes first: they ask for the pushes
        until = until or timezone.now() + timedelta(seconds=3 * push_debounce_seconds() + 1)
        due = WorkItem.objects.filter(kind=PUSH, due_at__lte=until, lease_until__isnull=True)
        ran = due.update(due_at=timezone.now())
        if ran:
            run_jobs()
        return ran

    return run
