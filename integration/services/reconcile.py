"""Reconciliation: catch what webhooks missed. Lists the store's orders modified since the link's cursor (minus an
overlap window, every status, oldest change first) and requests a sync for each order that is new to us or newer
than what was applied. It runs as the periodic `bc.reconcile` work of each active link (`integration.kinds`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice

from django.db import transaction
from django.utils import timezone

from integration.exceptions import ApiError
from integration.models import OrderSync, StoreLink
from integration.services.order_sync import order_syncs_request
from integration.services.synclog import Event, sync_log

logger = logging.getLogger("integration.reconcile")

RECONCILE = "bc.reconcile"
OVERLAP = timedelta(minutes=10)
PAGE = 250
MISSED_SHOWN = 20


@dataclass
class ReconcileReport:
    checked: int = 0
    requested: int = 0
    missed: list[int] | None = None  # orders we had never heard of: webhooks did not deliver them
    error: str = ""


def reconcile_run(*, link: StoreLink, client=None) -> ReconcileReport:
    """One reconciliation pass for one link."""
    if client is None:
        from integration.client import BigCommerceClient

        client = BigCommerceClient.for_link(link)
    report = ReconcileReport(missed=[])
    started = timezone.now()
    since = (link.reconcile_cursor or link.linked_at) - OVERLAP
    newest = link.reconcile_cursor
    try:
        orders = client.iter_orders(min_date_modified=since, sort="date_modified:asc")
        while page := list(islice(orders, PAGE)):
            newest = max([newest, *(o.date_modified for o in page)], key=lambda d: d or since)
            _request_page(link, page, report)
    except ApiError as exc:
        report.error = exc.detail
        sync_log(link=link, event=Event.RECONCILE_FAILED, message=exc.detail)
    else:
        # The cursor only advances over a complete pass; the overlap covers BigCommerce's clock skew.
        StoreLink.objects.filter(pk=link.pk).update(
            reconcile_cursor=max(newest or since, since), last_reconciled_at=started
        )
        if report.missed:
            shown = ", ".join(map(str, report.missed[:MISSED_SHOWN]))
            more = f" and {len(report.missed) - MISSED_SHOWN} more" if len(report.missed) > MISSED_SHOWN else ""
            sync_log(
                link=link,
                event=Event.RECONCILE_MISSED,
                missed=len(report.missed),
                orders=shown + more,
                data={"orders": report.missed[:500]},
            )
        if report.requested or report.missed:
            sync_log(
                link=link,
                event=Event.RECONCILED,
                checked=report.checked,
                since=f"{since:%Y-%m-%d %H:%M} UTC",
                missed=report.requested,
            )
    return report


def _request_page(link: StoreLink, page: list, report: ReconcileReport) -> None:
    known = dict(
        OrderSync.objects.filter(link=link, bc_order_id__in=[o.id for o in page]).values_list(
            "bc_order_id", "bc_date_modified"
        )
    )
    wanted = []
    for order in page:
        report.checked += 1
        if order.id not in known and order.date_created < link.linked_at:
            continue  # historical: only a historical import brings it in
        applied = known.get(order.id)
        if applied is not None and applied >= order.date_modified:
            continue
        if order.id not in known:
            report.missed.append(order.id)
        wanted.append(order.id)
    with transaction.atomic():
        order_syncs_request(link=link, bc_order_ids=wanted, refunds=True)
    report.requested += len(wanted)
