"""Helpers for tests that run background work in the test's own process and transaction (see `work.kernel`)."""

from __future__ import annotations

from django.utils import timezone

from integration.models import OrderSync, StoreLink
from integration.services.order_sync import ORDER_SYNC, order_sync_request
from work import kernel
from work.models import WorkItem


def sync_order(link: StoreLink, bc_order_id: int) -> OrderSync:
    """Request an order's sync as a webhook does, then run the due order syncs, as a worker would."""
    order_sync_request(link=link, bc_order_id=bc_order_id)
    kernel.drain(only={ORDER_SYNC}, budget=600)
    return OrderSync.objects.get(link=link, bc_order_id=bc_order_id)


def make_due(*kinds: str) -> int:
    """The time has come for waiting work of these kinds (a retry's backoff, a debounce window): due now."""
    return WorkItem.objects.filter(kind__in=kinds, due_at__isnull=False).update(due_at=timezone.now())


def work_rows(kind: str) -> list[tuple[str, str]]:
    """(key, state) of each work row of a kind, by key."""
    return [(w.key, w.state) for w in WorkItem.objects.filter(kind=kind).order_by("key")]
