"""The order sync against the sandbox store over HTTP: the status table end to end, failures and retries, and what
a sync costs (API calls, queries, batches). What a fetched order writes is in test_order_apply.py, its products in
test_catalog_resolve.py and its customer in test_customers.py."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integration.choices import ErrorCode, OrderSyncState
from integration.models import OrderSync, SyncLogEntry
from integration.services.order_apply import ApplyOptions, FetchedOrder, Mode, orders_apply
from integration.services.order_sync import ORDER_SYNC, order_fetch, order_sync_request
from pos.choices import (
    SaleStatus,
)
from pos.models import Fulfillment, Sale
from sandbox.faults import Fault
from tests.sale_helpers import goods_units, ledger_matches_levels, online_sale, stock_out
from tests.work_helpers import make_due, sync_order, work_rows
from work import kernel
from work.models import WorkItem
from work.registry import get as work_kind

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- the status table, end to end


@pytest.mark.parametrize("status_id", [2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14])
def test_closed_statuses_become_closed_sales_with_bigcommerce_status_beside(sandbox, sync, bc_client, status_id):
    order_id = sandbox.store.place_order(status_id=status_id, lines=2).id

    order_sync = sync(order_id)

    order = bc_client.get_order(order_id)
    sale = online_sale(order_id)
    assert order_sync.state == OrderSyncState.IMPORTED
    assert order_sync.sale == sale
    assert sale.status == SaleStatus.CLOSED
    assert (sale.bc_status_id, sale.bc_status_label) == (status_id, order.status)
    assert stock_out(sale) == goods_units(order)
    ledger_matches_levels()


@pytest.mark.parametrize("status_id", [5, 6])
def test_cancelled_and_declined_orders_are_voided_sales_that_moved_no_stock(sandbox, sync, status_id):
    order_id = sandbox.store.place_order(status_id=status_id, lines=2).id

    order_sync = sync(order_id)

    sale = online_sale(order_id)
    assert order_sync.state == OrderSyncState.IMPORTED
    assert sale.status == SaleStatus.VOIDED
    assert stock_out(sale) == 0
    assert not Fulfillment.objects.filter(sale=sale).exists()


@pytest.mark.parametrize("status_id", [0, 1])
def test_incomplete_and_pending_orders_are_skipped_with_the_reason_then_imported_when_they_move_on(
    sandbox, sync, status_id
):
    order_id = sandbox.store.place_order(status_id=status_id, lines=1).id

    order_sync = sync(order_id)

    assert order_sync.state == OrderSyncState.SKIPPED
    assert not Sale.objects.exists()
    entry = SyncLogEntry.objects.get(bc_order_id=order_id, event="order_skipped")
    assert "is imported when the status moves on" in entry.message

    sandbox.store.set_status(order_id, 11)
    assert sync(order_id).state == OrderSyncState.IMPORTED
    assert online_sale(order_id).status == SaleStatus.CLOSED


def test_an_unknown_status_id_needs_attention_with_the_id_in_the_message(sandbox, link, bc_client):
    order = bc_client.get_order(sandbox.store.place_order(status_id=11, lines=1).id)
    odd = dataclasses.replace(order, status_id=21)

    [outcome] = orders_apply(link=link, fetched=[FetchedOrder(odd)], options=ApplyOptions())

    order_sync = OrderSync.objects.get(bc_order_id=order.id)
    assert outcome.state == OrderSyncState.NEEDS_ATTENTION
    assert order_sync.last_error_code == ErrorCode.UNKNOWN_STATUS.code
    assert "21" in order_sync.last_error_message
    assert not Sale.objects.exists()


def test_an_order_in_another_currency_without_a_usable_rate_needs_attention_and_is_not_converted(
    sandbox, link, bc_client
):
    order = bc_client.get_order(sandbox.store.place_order(status_id=11, lines=1).id)
    euro = dataclasses.replace(
        order, default_currency_code="EUR", store_default_to_transactional_exchange_rate=Decimal("0")
    )

    orders_apply(link=link, fetched=[FetchedOrder(euro)], options=ApplyOptions())

    order_sync = OrderSync.objects.get(bc_order_id=order.id)
    assert order_sync.state == OrderSyncState.NEEDS_ATTENTION
    assert order_sync.last_error_code == ErrorCode.CURRENCY_MISMATCH.code
    assert "EUR" in order_sync.last_error_message


def test_orders_placed_before_the_link_are_not_imported_by_live_sync(sandbox, sync, link):
    created = int((link.linked_at - timedelta(days=2)).timestamp())
    order_id = sandbox.store.place_order(status_id=11, lines=1, created=created).id

    assert sync(order_id).state == OrderSyncState.SKIPPED
    assert not Sale.objects.exists()
    assert SyncLogEntry.objects.filter(bc_order_id=order_id, event="order_historical").exists()


# ---------------------------------------------------------------- failures


def test_a_5xx_is_retried_with_backoff_then_needs_attention_after_the_last_attempt(sandbox, link, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sandbox.store.faults.add(Fault(kind="error", endpoint="get_order", status=503))

    order_sync = sync(order_id)

    assert order_sync.state == OrderSyncState.RETRYING
    assert order_sync.attempts == 1
    assert order_sync.last_error_code == ErrorCode.BIGCOMMERCE_ERROR.code
    assert order_sync.next_retry_at > timezone.now() + timedelta(seconds=20)
    assert work_rows(ORDER_SYNC) == [(f"{link.pk}:{order_id}", "due")]  # due again, at the retry time
    assert sync(order_id).attempts == 1  # a webhook meanwhile: nothing happens before the retry time
    max_attempts = work_kind(ORDER_SYNC).retry.max_attempts
    for _ in range(max_attempts - 1):
        make_due(ORDER_SYNC)  # the retry time has come
        order_sync = sync(order_id)
    assert order_sync.state == OrderSyncState.NEEDS_ATTENTION
    assert order_sync.attempts == max_attempts
    assert work_rows(ORDER_SYNC) == [(f"{link.pk}:{order_id}", "failed")]

    sandbox.store.faults.clear()
    assert sync(order_id).state == OrderSyncState.IMPORTED


def test_a_timeout_is_retried_at_the_time_the_order_row_shows(sandbox, link, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sandbox.store.faults.add(Fault(kind="timeout", endpoint="get_order", seconds=6))

    order_sync = sync(order_id)

    [work] = WorkItem.objects.filter(kind=ORDER_SYNC)
    assert order_sync.state == OrderSyncState.RETRYING
    assert order_sync.last_error_code == ErrorCode.UNREACHABLE.code
    assert work.due_at == order_sync.next_retry_at and work.due_at.microsecond == 0


def test_a_rate_limit_waits_for_the_reset_and_is_not_a_failure_when_short(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sandbox.store.faults.add(Fault(kind="rate_limit", endpoint="get_order", reset_ms=200, times=1))

    assert sync(order_id).state == OrderSyncState.IMPORTED


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault(kind="error", endpoint="get_order", status=404), ErrorCode.ORDER_NOT_FOUND.code),
        (Fault(kind="error", endpoint="get_order", status=401), ErrorCode.CREDENTIALS_REJECTED.code),
        (Fault(kind="malformed", endpoint="get_order", body="wrong_shape"), ErrorCode.UNPARSEABLE.code),
    ],
)
def test_permanent_problems_need_attention_at_once_with_a_sentence_and_a_fix(sandbox, sync, fault, code):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sandbox.store.faults.add(fault)

    order_sync = sync(order_id)

    assert order_sync.state == OrderSyncState.NEEDS_ATTENTION
    assert order_sync.last_error_code == code
    assert order_sync.attempts == 1
    entry = SyncLogEntry.objects.get(bc_order_id=order_id, event="sync_failed")
    assert entry.level == "error"
    assert ErrorCode.by_code(code).fix in entry.message


def test_an_order_archived_after_import_keeps_its_sale(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sync(order_id)
    sandbox.store.faults.add(Fault(kind="error", endpoint="get_order", status=404))

    assert sync(order_id).state == OrderSyncState.IMPORTED
    assert online_sale(order_id).status == SaleStatus.CLOSED


# ---------------------------------------------------------------- cost: API calls and queries


def test_queries_per_sync_are_the_same_for_a_1_line_and_a_50_line_order(sandbox, link, bc_client):
    one, fifty = (
        sandbox.store.place_order(status_id=11, lines=1).id,
        sandbox.store.place_order(status_id=11, lines=50).id,
    )
    # Warm up: the products exist and are linked, as they are for nearly every live order.
    warm = [FetchedOrder(bc_client.get_order(oid)) for oid in (one, fifty)]
    orders_apply(link=link, fetched=warm, options=ApplyOptions(mode=Mode.IMPORT, adjust_stock=False))
    Sale.objects.all().delete()
    OrderSync.objects.all().delete()

    counts = []
    for order_id in (one, fifty):
        fetched = FetchedOrder(bc_client.get_order(order_id))
        with CaptureQueriesContext(connection) as queries:
            orders_apply(link=link, fetched=[fetched], options=ApplyOptions())
        counts.append(len(queries))

    assert counts[0] == counts[1], counts


def test_the_webhook_path_costs_one_api_call_per_order_once_products_are_known(sandbox, link, bc_client):
    orders = sandbox.store.place_orders(10, status_id=11, lines=3)
    for order_id in orders[:1]:
        sync_order(link, order_id)
    sandbox.store.request_log.clear()

    for order_id in orders[1:]:
        order_fetch(client=bc_client, link=link, bc_order_id=order_id)

    calls = sum(sandbox.store.request_log.counts().values())
    assert calls / len(orders[1:]) <= 1.1 + 1  # first-seen products add one catalog call per new order at most


def test_one_run_takes_the_other_requested_orders_of_the_store_as_one_batch(sandbox, link, bc_client):
    order_ids = sandbox.store.place_orders(3, status_id=11, lines=1)
    for order_id in order_ids:
        order_sync_request(link=link, bc_order_id=order_id)
    sandbox.store.request_log.clear()

    claim = kernel.claim(only={ORDER_SYNC})
    kernel.run(claim)

    assert len(claim.items) == 3
    assert {s.state for s in OrderSync.objects.filter(bc_order_id__in=order_ids)} == {OrderSyncState.IMPORTED}
    assert not WorkItem.objects.filter(kind=ORDER_SYNC).exists()


def test_an_order_our_own_pos_channel_placed_in_bigcommerce_is_not_imported_back(sandbox, link, bc_client):
    from integration.services.order_apply import POS_EXTERNAL_SOURCE

    order = bc_client.get_order(sandbox.store.place_order(status_id=11, lines=1).id)
    ours = dataclasses.replace(order, external_source=POS_EXTERNAL_SOURCE)

    [outcome] = orders_apply(link=link, fetched=[FetchedOrder(ours)], options=ApplyOptions())

    assert outcome.state == OrderSyncState.SKIPPED
    assert not Sale.objects.exists()
    assert SyncLogEntry.objects.filter(bc_order_id=order.id, event="order_from_pos").exists()


def test_the_periodic_hook_check_brings_back_webhooks_bigcommerce_deactivated(sandbox, link, bc_client, run_jobs):
    from integration.services.link import HOOKS, hooks_register

    assert hooks_register(link=link, client=bc_client)
    link.refresh_from_db()
    sandbox.store.deactivate_hook(link.hooks[0]["id"])

    kernel.ensure_periodic()
    run_jobs(only={HOOKS})

    assert all(hook.is_active for hook in sandbox.store.hooks.values())
    assert SyncLogEntry.objects.filter(link=link, event="hooks_reactivated").exists()
