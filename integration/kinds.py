"""Every kind of background work of the BigCommerce link, in one place: its queue, priority, batch, retry policy
and handler (see `work.registry`). Services request work by kind name; nothing is named by a dotted job path.

| kind | key | what runs | when it fails |
|---|---|---|---|
| `bc.catalog_ids` | link | read the store's product ids (before the first orders; daily) | backoff, then next day |
| `bc.order_sync` | link:order | fetch and apply a batch of one store's orders | backoff ×6, then needs attention |
| `pos.fulfillment_completed` | fulfilment | write the shipment / Completed status back | backoff ×5, then failed |
| `pos.shipment_recorded` | shipment | send a shipment staff made (part of an order) once | backoff ×5, then failed |
| `pos.pickup_ready` | fulfilment | set the order to Awaiting Pickup while it is ready | backoff ×5, then noted |
| `pos.stock_moved`, `pos.product_changed` | event | mark linked items for the push | retried (an error on our side) |
| `bc.push` | link | push dirty stock levels and prices | backoff forever; a rejected token hourly |
| `bc.reconcile` | link | list orders modified since the cursor (every RECONCILE_INTERVAL_SECONDS) | next interval |
| `bc.hooks` | link | re-register hooks BigCommerce deactivated (same interval) | next interval |
| `bc.stock_drift` | link | read stock back, set drift back (every STOCK_DRIFT_INTERVAL_SECONDS) | next interval |
| `bc.attention_digest` | all | email each retailer's admins their failing orders (daily, 07:00 UTC) | next day |
| `bc.sync_log_expire` | all | delete expired sync log entries (daily, 03:17 UTC) | next day |
| `bc.import` | import run | one window of a historical import | backoff ×20, then the run fails |

Priorities: catalog ids before the orders that need them, live orders before everything else, historical import
pages last. Failures are classified once (`ErrorCode.for_exception`, installed as the kernel's classifier).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time, timedelta

from django.conf import settings

from integration import receivers
from integration.choices import ErrorCode, LinkState
from integration.models import StoreLink
from integration.services import (
    alerts,
    catalog_ids,
    fulfillment_writeback,
    historical_import,
    order_sync,
    push,
    push_state,
    reconcile,
    stock_drift,
    synclog,
)
from integration.services.link import HOOKS, hooks_check
from pos import events
from work import registry
from work.models import WorkItem
from work.registry import Failure, Result, RetryPolicy

QUEUE_WEBHOOKS, QUEUE_DEFAULT, QUEUE_IMPORTS = registry.QUEUE_WEBHOOKS, registry.QUEUE_DEFAULT, registry.QUEUE_IMPORTS
DIGEST = "bc.attention_digest"
LOG_EXPIRE = "bc.sync_log_expire"
DAILY = timedelta(days=1)
# Write-backs to BigCommerce (shipments, statuses): a few tries over about an hour, then staff retry from the page.
WRITEBACK_RETRY = RetryPolicy(
    backoff=(timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30)),
    max_attempts=5,
)


def classify(exc: BaseException) -> Failure | None:
    """The kernel's classifier: the link's errors as failures (`ErrorCode.for_exception` decides)."""
    known = ErrorCode.for_exception(exc)
    if known is None:
        return None
    reason, detail, wait = known
    return Failure(reason.code, reason.describe(detail), reason.retryable, retry_after=wait or None, detail=detail)


def _active_links() -> list[tuple[int, int]]:
    return list(StoreLink.objects.filter(state=LinkState.ACTIVE).values_list("pk", "retailer_id"))


def _per_active_link(run):
    """A periodic handler for per-link work: `run(link)` for each item's active link; an unlinked or paused link's
    work stops (the next link requests it again)."""

    def handler(items: Sequence[WorkItem]) -> dict[int, object]:
        outcomes: dict[int, object] = {}
        links = {
            link.pk: link
            for link in StoreLink.objects.select_related("retailer", "outlet").filter(
                pk__in=[int(i.key) for i in items], state=LinkState.ACTIVE
            )
        }
        for item in items:
            link = links.get(int(item.key))
            if link is None:
                outcomes[item.pk] = Result.STOP
                continue
            try:
                run(link)
            except Exception as exc:  # noqa: BLE001 - this link's run failed; the others still run
                outcomes[item.pk] = exc
        return outcomes

    return handler


def _catalog_ids(link: StoreLink) -> None:
    from integration.client import BigCommerceClient

    catalog_ids.catalog_ids_refresh(link=link, client=BigCommerceClient.for_link(link, priority="bulk"))


def register() -> None:
    """Declare the link's kinds and attach its handlers (called once, from the app's `ready`)."""
    registry.set_classifier(classify)
    interval = timedelta(seconds=settings.RECONCILE_INTERVAL_SECONDS)

    registry.declare(catalog_ids.CATALOG_IDS, queue=QUEUE_WEBHOOKS, priority=-1)
    registry.handle(
        catalog_ids.CATALOG_IDS, _per_active_link(_catalog_ids), every=DAILY, seed=_active_links, lease=_minutes(5)
    )

    registry.declare(order_sync.ORDER_SYNC, queue=QUEUE_WEBHOOKS, priority=0)
    registry.handle(
        order_sync.ORDER_SYNC,
        order_sync.order_syncs_run,
        on_failure=order_sync.order_syncs_record_failures,
        retry=RetryPolicy(max_attempts=6),
        batch=50,
        lease=_minutes(2),
    )

    for kind, run, on_failure in (
        (
            events.FULFILLMENT_COMPLETED,
            fulfillment_writeback.fulfillment_writebacks_run,
            fulfillment_writeback.fulfillment_writeback_record_failures,
        ),
        (
            events.SHIPMENT_RECORDED,
            fulfillment_writeback.shipment_writebacks_run,
            fulfillment_writeback.shipment_writeback_record_failures,
        ),
        (
            events.PICKUP_READY,
            fulfillment_writeback.pickup_ready_run,
            fulfillment_writeback.pickup_ready_record_failures,
        ),
    ):
        registry.handle(kind, run, on_failure=on_failure, retry=WRITEBACK_RETRY, lease=_minutes(2))
    registry.handle(events.STOCK_MOVED, receivers.stock_moved_handler, atomic=True)
    registry.handle(events.PRODUCT_CHANGED, receivers.product_changed_handler, atomic=True)

    registry.declare(push_state.PUSH, queue=QUEUE_DEFAULT, priority=3)
    registry.handle(
        push_state.PUSH,
        push.push_runs,
        on_failure=push.push_record_failures,
        retry=RetryPolicy(
            max_attempts=None,
            retry_codes=frozenset({ErrorCode.CREDENTIALS_REJECTED.code, ErrorCode.UNPARSEABLE.code}),
            delays={ErrorCode.CREDENTIALS_REJECTED.code: timedelta(hours=1)},
        ),
        lease=_minutes(2),
    )

    registry.declare(reconcile.RECONCILE, queue=QUEUE_DEFAULT, priority=4)
    registry.handle(
        reconcile.RECONCILE,
        _per_active_link(lambda link: reconcile.reconcile_run(link=link)),
        every=interval,
        seed=_active_links,
        lease=_minutes(5),
    )
    registry.declare(HOOKS, queue=QUEUE_DEFAULT, priority=4)
    registry.handle(HOOKS, _per_active_link(lambda link: hooks_check(link=link)), every=interval, seed=_active_links)

    registry.declare(stock_drift.STOCK_DRIFT, queue=QUEUE_DEFAULT, priority=5)
    registry.handle(
        stock_drift.STOCK_DRIFT,
        _per_active_link(lambda link: stock_drift.stock_drift_run(link=link)),
        every=stock_drift.stock_drift_interval(),
        seed=_active_links,
        lease=_minutes(5),
    )

    registry.declare(DIGEST, queue=QUEUE_DEFAULT, priority=6)
    registry.handle(
        DIGEST,
        lambda items: alerts.attention_digests_send() and None,
        every=DAILY,
        at=time(7, 0),
        seed=lambda: [("all", None)],
        lease=_minutes(10),
    )
    registry.declare(LOG_EXPIRE, queue=QUEUE_DEFAULT, priority=7)
    registry.handle(
        LOG_EXPIRE,
        lambda items: synclog.sync_log_expire() and None,
        every=DAILY,
        at=time(3, 17),
        seed=lambda: [("all", None)],
        lease=_minutes(10),
    )

    registry.declare(historical_import.IMPORT, queue=QUEUE_IMPORTS, priority=9)
    registry.handle(
        historical_import.IMPORT,
        historical_import.historical_import_steps,
        on_failure=historical_import.historical_import_record_failures,
        retry=RetryPolicy(
            backoff=(timedelta(seconds=30), _minutes(1), _minutes(2), _minutes(5)),
            max_attempts=20,
        ),
        lease=_minutes(2),
    )


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
