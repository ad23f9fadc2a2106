"""What the reliability drills (issue #9) share: their size, their figures, webhooks as BigCommerce sends them,
waiting for the pipeline to settle, and the end-state checks every drill makes.

Sizes: a drill runs small in the suite (seconds) and at the issue's size under `DRILL_SCALE=full`
(`bench/drill_*.py --full`). Figures are printed and, when `DRILL_FIGURES` names a file, appended to it as JSON
lines for the bench scripts to show.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from integration.choices import OrderSyncState
from integration.models import OrderSync, StoreLink
from integration.services.order_sync import ORDER_SYNC, order_sync_request
from integration.status_table import Outcome, status_for
from pos.choices import Channel, SaleStatus
from pos.models import InventoryLevel, InventoryMovement, Sale, SaleLine
from work.models import WorkItem

FULL = os.environ.get("DRILL_SCALE", "") == "full"
WEBHOOK_PATH = "/webhooks/bigcommerce/"


def size(small: int, full: int) -> int:
    return full if FULL else small


class Figures:
    """A drill's figures: printed at the end of the test, and written for `bench/drill_*.py`."""

    def __init__(self, drill: str):
        self.drill = drill
        self.rows: list[tuple[str, object]] = []

    def add(self, name: str, value) -> None:
        self.rows.append((name, value))

    def emit(self) -> None:
        width = max((len(k) for k, _ in self.rows), default=0)
        print(f"\n{self.drill} ({'full' if FULL else 'test'} size)")
        for name, value in self.rows:
            print(f"  {name.ljust(width)}  {value}")
        if path := os.environ.get("DRILL_FIGURES"):
            with open(path, "a") as out:
                record = {"drill": self.drill, "full": FULL, "figures": _json_safe(self.rows)}
                out.write(json.dumps(record, default=str) + "\n")


def _json_safe(value):
    """`value` with every mapping's keys made strings: JSON has no tuple (or number) keys, and one such key made
    json.dumps fail, so bench/drill_*.py reported a drill that passed as FAILED."""
    if isinstance(value, dict):
        return {_json_key(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _json_key(key) -> str:
    return " ".join(map(str, key)).strip() if isinstance(key, tuple) else str(key)


# ---------------------------------------------------------------- webhooks


def webhook_body(store, scope: str, order_id: int, **data) -> bytes:
    """A thin order callback shaped like BigCommerce's (and the sandbox deliverer's), with a unique hash."""
    digest = hashlib.sha1(f"{scope}|{order_id}|{uuid.uuid4().hex}".encode()).hexdigest()
    payload = {
        "scope": scope,
        "store_id": str(store.settings.store_id),
        "data": {"type": "order", "id": order_id, **data},
        "hash": digest,
        "created_at": int(time.time()),
        "producer": f"stores/{store.settings.store_hash}",
    }
    return json.dumps(payload).encode()


def auth_headers(link: StoreLink) -> dict[str, str]:
    return {"X-Pos-Webhook-Auth": f"{link.pk}:{link.webhook_secret}", "Content-Type": "application/json"}


def post_webhooks(base_url: str, link: StoreLink, bodies: list[bytes], *, threads: int = 4) -> list[tuple[int, str]]:
    """POST every body to the webhook endpoint over HTTP, `threads` at a time; (status, answer) each."""
    headers = auth_headers(link)
    sessions: dict[int, requests.Session] = {}

    def post(body: bytes) -> tuple[int, str]:
        import threading

        session = sessions.setdefault(threading.get_ident(), requests.Session())
        for attempt in range(3):
            try:
                response = session.post(base_url + WEBHOOK_PATH, data=body, headers=headers, timeout=30)
                return response.status_code, response.text
            except requests.ConnectionError:
                if attempt == 2:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(post, bodies))


def request_syncs(link: StoreLink, order_ids) -> None:
    """Request the syncs as webhooks do: each order's work row, the bell rung after the commit."""
    with transaction.atomic():
        for order_id in order_ids:
            order_sync_request(link=link, bc_order_id=order_id)


def time_passes(delta: timedelta) -> None:
    """Move the work's clock columns back by `delta`: for the claims, `delta` has passed (the drills cannot wait
    out a 30 s backoff or a two-minute lease)."""
    WorkItem.objects.filter(due_at__isnull=False).update(due_at=F("due_at") - delta)
    WorkItem.objects.filter(lease_until__isnull=False).update(lease_until=F("lease_until") - delta)
    OrderSync.objects.filter(next_retry_at__isnull=False).update(next_retry_at=F("next_retry_at") - delta)


# ---------------------------------------------------------------- waiting


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.25) -> float:
    """Wait until `predicate()` holds; the seconds it took. Fails the drill with `what` on timeout."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


def pipeline_idle(link: StoreLink) -> bool:
    """No order sync of the store due now or running (a retry due later does not count)."""
    work = WorkItem.objects.filter(kind=ORDER_SYNC, key__startswith=f"{link.pk}:")
    return not work.filter(Q(due_at__lte=timezone.now()) | Q(lease_until__isnull=False)).exists()


def scheduled_retries() -> int:
    """Order syncs waiting for a retry time still to come."""
    return WorkItem.objects.filter(kind=ORDER_SYNC, due_at__gt=timezone.now(), lease_until__isnull=True).count()


def settle(link: StoreLink, *, timeout: float, quiet: float = 1.0) -> float:
    """Wait until the pipeline stays idle for `quiet` seconds; the seconds it took."""
    started = time.monotonic()

    def idle_for_a_while() -> bool:
        if not pipeline_idle(link):
            return False
        time.sleep(quiet)
        return pipeline_idle(link)

    wait_until(idle_for_a_while, timeout=timeout, what="the queues to drain")
    return time.monotonic() - started


# ---------------------------------------------------------------- end-state checks


def expected_outcome(store, order_id: int) -> Outcome:
    return status_for(store.order(order_id).status_id).outcome


def assert_pos_matches_store(store, link: StoreLink, order_ids) -> Counter:
    """Every order in its expected state (imported as a closed or voided sale, or skipped), no order twice, its
    stock moved exactly once (tracked lines of a closed sale; nothing for a voided one), and the ledger equal to
    every inventory level. Returns the count of POS outcomes."""
    order_ids = list(order_ids)
    syncs = {
        row["bc_order_id"]: row
        for row in OrderSync.objects.filter(link=link, bc_order_id__in=order_ids).values(
            "bc_order_id", "state", "sale_id", "last_error_code", "last_error_message"
        )
    }
    sales = {
        int(s.external_order_id): s
        for s in Sale.objects.filter(retailer_id=link.retailer_id, channel=Channel.BIGCOMMERCE)
    }
    duplicates = Sale.objects.filter(retailer_id=link.retailer_id, channel=Channel.BIGCOMMERCE).count() - len(sales)
    assert duplicates == 0, f"{duplicates} duplicate sale(s)"
    moved = dict(
        InventoryMovement.objects.filter(sale__in=sales.values())
        .values_list("sale_id")
        .annotate(n=Sum("quantity"))
        .values_list("sale_id", "n")
    )
    tracked = defaultdict(int)
    for sale_id, quantity in SaleLine.objects.filter(
        sale__in=sales.values(), product__tracks_inventory=True
    ).values_list("sale_id", "quantity"):
        tracked[sale_id] += quantity
    outcomes: Counter = Counter()
    problems = []
    for order_id in order_ids:
        record = store.order(order_id)
        outcome = status_for(record.status_id).outcome
        sync, sale = syncs.get(order_id), sales.get(order_id)
        if sync is None:
            problems.append((order_id, "never synced"))
            continue
        if outcome == Outcome.SKIP:
            if sync["state"] != OrderSyncState.SKIPPED or sale is not None:
                problems.append((order_id, "should be skipped", sync["state"]))
            outcomes["skipped"] += 1
            continue
        if sync["state"] != OrderSyncState.IMPORTED or sale is None:
            problems.append((order_id, sync["state"], sync["last_error_code"], sync["last_error_message"][:120]))
            continue
        units = -(moved.get(sale.pk) or 0)
        if outcome == Outcome.VOIDED:
            if sale.status != SaleStatus.VOIDED or units != 0:
                problems.append((order_id, "voided sale", sale.status, units))
            outcomes["voided"] += 1
        else:
            ordered = sum(line.quantity for line in record.lines)
            if sale.status != SaleStatus.CLOSED or units != tracked[sale.pk] or tracked[sale.pk] > ordered:
                problems.append((order_id, "closed sale", sale.status, units, tracked[sale.pk], ordered))
            outcomes["closed"] += 1
    assert not problems, f"{len(problems)} order(s) not in their expected state: {problems[:10]}"
    assert_ledger_equals_levels(link)
    return outcomes


def assert_ledger_equals_levels(link: StoreLink) -> None:
    """The sum of the movements of every (product, outlet) equals its InventoryLevel."""
    ledger = {
        (p, o): n
        for p, o, n in InventoryMovement.objects.filter(retailer_id=link.retailer_id)
        .values("product_id", "outlet_id")
        .annotate(n=Sum("quantity"))
        .values_list("product_id", "outlet_id", "n")
    }
    levels = {
        (p, o): on_hand
        for p, o, on_hand in InventoryLevel.objects.filter(retailer_id=link.retailer_id).values_list(
            "product_id", "outlet_id", "on_hand"
        )
    }
    wrong = [(key, levels.get(key), n) for key, n in ledger.items() if levels.get(key, 0) != n]
    wrong += [(key, on_hand, 0) for key, on_hand in levels.items() if key not in ledger and on_hand]
    assert not wrong, f"{len(wrong)} inventory level(s) differ from the ledger: {wrong[:10]}"
