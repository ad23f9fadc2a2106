"""Fixtures for the stock and price push: a linked store on the sandbox, linked items, and the RQ scheduler.

- `push_link`: the retailer's active link to the sandbox store (linked outlet = `push_link.outlet`).
- `link_item(bc_product_id, variant_index=0, product=None)`: a POS product (made if not given) linked to a
  sandbox catalog item, as the order sync would link it.
- `run_pushes(until=None)`: what RQ's scheduler and a worker do when the time comes: every push job scheduled
  at or before `until` (default: once this window and the next have passed) is queued and run by a burst worker.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rq.job import Job

from integration.models import ProductLink, StoreLink
from integration.queueing import QUEUE_DEFAULT, get_queue
from integration.services.push_state import push_debounce_seconds
from tests import factories


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
        """Run the push jobs due by `until`; returns how many ran."""
        until = until or timezone.now() + timedelta(seconds=3 * push_debounce_seconds() + 1)
        queue = get_queue(QUEUE_DEFAULT)
        registry = queue.scheduled_job_registry
        due = registry.get_job_ids(0, -1)
        ran = 0
        for job_id in due:
            if registry.get_scheduled_time(job_id) > until:
                continue
            job = Job.fetch(job_id, connection=queue.connection)
            registry.remove(job)
            queue.enqueue_job(job)
            ran += 1
        if ran:
            run_jobs(QUEUE_DEFAULT)
        return ran

    return run
