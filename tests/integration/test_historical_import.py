"""Historical import: the support switch, the dry run, the run (exactly once beside live syncs, resumable after a
crash, cancel), with the sandbox store over HTTP and real PostgreSQL."""

from __future__ import annotations

import pickle
import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum
from django.utils import timezone

from integration.bc_types import bc_dumps, bc_loads
from integration.choices import ImportState
from integration.client import BigCommerceClient
from integration.exceptions import (
    ApiBadResponse,
    ApiCredentialsRejected,
    ApiParseError,
    ApiRateLimited,
    ApiServerError,
    ApiUnavailable,
)
from integration.models import HistoricalImport, OrderSync, StoreLink, SyncLogEntry
from integration.ratelimit import Priority
from integration.services.historical_import import (
    IMPORT,
    fetch_ahead_join,
    historical_import_cancel,
    historical_import_preview,
    historical_import_run,
    historical_import_start,
    historical_import_step,
    historical_import_switch_set,
    import_options,
)
from integration.services.order_sync import ORDER_SYNC
from integration.services.reconcile import reconcile_run
from integration.status_table import Outcome, status_for
from pos.choices import AuditAction, Channel, ProductKind
from pos.models import AuditEntry, InventoryLevel, InventoryMovement, Product, Retailer, Sale
from tests.work_helpers import sync_order
from work import kernel
from work.models import WorkItem

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def link(sandbox_link, support_user):
    """The sandbox store linked now: its generated orders (the last 90 days) are all historical; import enabled."""
    historical_import_switch_set(
        retailer=sandbox_link.retailer,
        enabled=True,
        reason="Merchant migrating from another POS",
        acting_user=support_user,
    )
    return StoreLink.objects.select_related("retailer", "default_payment_type").get(pk=sandbox_link.pk)


def _expected(sandbox):
    """(imported, skipped) for the sandbox's historical orders, from the status table."""
    store = sandbox.store
    skip = sum(
        1
        for i in range(store.order_count())
        if status_for(store.order(store.FIRST_ORDER_ID + i).status_id).outcome == Outcome.SKIP
    )
    return store.order_count() - skip, skip


def _expected_before(sandbox, first_new_id):
    """(imported, skipped) of the sandbox's orders placed before the order `first_new_id`."""
    store = sandbox.store
    ids = range(store.FIRST_ORDER_ID, first_new_id)
    skip = sum(1 for i in ids if status_for(store.order(i).status_id).outcome == Outcome.SKIP)
    return len(ids) - skip, skip


def _run(link, admin_user, **options):
    run = historical_import_start(link=link, options=import_options(link=link, **options), acting_user=admin_user)
    historical_import_run(import_id=run.pk, page_size=10)
    run.refresh_from_db()
    return run


def _snapshot():
    return (
        Sale.objects.count(),
        Product.objects.count(),
        OrderSync.objects.count(),
        InventoryMovement.objects.count(),
        Retailer.objects.values_list("last_invoice_number", flat=True).first(),
    )


def test_the_preview_names_each_product_to_create_once_with_its_variant_and_sku(sandbox, link):
    store = sandbox.store
    jacket = next(p for p in store.live_products() if p.sku == "DJ")
    first = store.FIRST_ORDER_ID  # Awaiting Fulfillment: imported
    for variant in jacket.variants[:2]:
        store.edit_order(first, add_variant_id=variant.id)
        store.edit_order(first + 1, add_variant_id=variant.id)  # the same variant on two orders: named once
    preview = historical_import_preview(link=link, options=import_options(link=link))
    names = preview["products_created_names"]
    assert len(names) == len(set(names))
    assert {"Down Jacket · Size S · SKU DJ-S", "Down Jacket · Size M · SKU DJ-M"} <= set(names)
    assert "Down Jacket" not in names


def test_switch_is_off_by_default_and_only_support_changes_it_with_a_reason(retailer, admin_user, support_user):
    assert retailer.historical_import_enabled is False
    with pytest.raises(PermissionDenied):
        historical_import_switch_set(retailer=retailer, enabled=True, reason="please", acting_user=admin_user)
    with pytest.raises(ValidationError):
        historical_import_switch_set(retailer=retailer, enabled=True, reason="  ", acting_user=support_user)
    assert historical_import_switch_set(retailer=retailer, enabled=True, reason="Ticket 42", acting_user=support_user)
    retailer.refresh_from_db()
    assert retailer.historical_import_enabled and retailer.historical_import_changed_by == support_user
    entry = AuditEntry.objects.get(action=AuditAction.HISTORICAL_IMPORT_ENABLED)
    assert (entry.actor, entry.reason, entry.retailer) == (support_user, "Ticket 42", retailer)


def test_dry_run_writes_nothing_and_counts_what_the_run_does(sandbox, link, admin_user):
    before = _snapshot()
    preview = historical_import_preview(link=link, options=import_options(link=link, adjust_stock=True))
    assert _snapshot() == before
    imported, skipped = _expected(sandbox)
    assert (preview["total"], preview["would_import"], preview["skipped"]) == (imported + skipped, imported, skipped)
    assert preview["products_created"] > 0
    assert preview["stock_impact"] and preview["stock_impact"][0]["quantity"] <= preview["stock_impact"][-1]["quantity"]
    run = _run(link, admin_user, adjust_stock=True)
    assert (run.state, run.imported, run.skipped, run.failed) == (ImportState.COMPLETED, imported, skipped, 0)
    assert Sale.objects.filter(channel=Channel.BIGCOMMERCE).count() == imported
    # Lines of products deleted in BigCommerce are booked on placeholders: counted as products the run creates.
    created = Product.objects.filter(created_by_link=True, kind__in=(ProductKind.STANDARD, ProductKind.PLACEHOLDER))
    assert preview["products_created"] >= created.filter(kind=ProductKind.STANDARD).count()


def test_stock_untouched_without_adjust_stock_and_moved_once_with_it(sandbox, link, admin_user):
    run = _run(link, admin_user)
    assert run.state == ImportState.COMPLETED and run.imported > 0
    assert not InventoryMovement.objects.exists()
    assert not Sale.objects.filter(stock_moved=True).exists()
    # a second run with adjust_stock finds them imported and moves nothing either
    again = _run(link, admin_user, adjust_stock=True)
    assert (again.imported, again.already_imported) == (0, run.imported)
    assert not InventoryMovement.objects.exists()


def test_adjust_stock_moves_stock_exactly_once(sandbox, link, admin_user):
    run = _run(link, admin_user, adjust_stock=True)
    moved = InventoryMovement.objects.aggregate(s=Sum("quantity"))["s"]
    assert moved < 0
    assert InventoryLevel.objects.aggregate(s=Sum("on_hand"))["s"] == moved
    again = _run(link, admin_user, adjust_stock=True)
    assert again.imported == 0 and again.already_imported == run.imported
    assert InventoryMovement.objects.aggregate(s=Sum("quantity"))["s"] == moved


def test_import_while_webhooks_sync_the_same_orders_makes_no_duplicates(sandbox, link, admin_user):
    store = sandbox.store
    ids = [store.FIRST_ORDER_ID + i for i in range(0, store.order_count(), 3)]
    # Live syncs of historical orders first: they are skipped as historical (no sale)...
    for order_id in ids[:5]:
        sync_order(link, order_id)
    run = historical_import_start(
        link=link, options=import_options(link=link, adjust_stock=True), acting_user=admin_user
    )
    historical_import_run(import_id=run.pk, page_size=10)
    # ... and after the import, webhooks for imported orders update the same sales.
    for order_id in ids:
        sync_order(link, order_id)
    external = list(Sale.objects.filter(channel=Channel.BIGCOMMERCE).values_list("external_order_id", flat=True))
    assert len(external) == len(set(external))
    keys = list(InventoryMovement.objects.values_list("source_key", flat=True))
    assert len(keys) == len(set(keys))
    run.refresh_from_db()
    assert run.imported == _expected(sandbox)[0]


def test_a_crash_mid_run_resumes_from_the_cursor_with_the_right_totals(sandbox, link, admin_user, run_jobs):
    run = historical_import_start(link=link, options=import_options(link=link), acting_user=admin_user)

    class Crash(BaseException):
        pass

    client = BigCommerceClient.for_link(link)
    calls = {"n": 0}
    real = client.list_orders

    def dying(**kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash
        return real(**kw)

    client.list_orders = dying
    with pytest.raises(Crash):
        historical_import_run(import_id=run.pk, client=client, page_size=10)
    run.refresh_from_db()
    # the first step's window (its first page) applied; the window read ahead, whose read crashed, did not
    assert run.state == ImportState.RUNNING and run.seen == 10
    # Its work is still due: a worker takes it and it resumes.
    run_jobs("imports")
    run.refresh_from_db()
    imported, skipped = _expected(sandbox)
    assert (run.state, run.imported, run.skipped, run.already_imported) == (ImportState.COMPLETED, imported, skipped, 0)
    assert Sale.objects.count() == imported


def test_cancel_stops_after_the_current_page(sandbox, link, admin_user):
    run = historical_import_start(link=link, options=import_options(link=link), acting_user=admin_user)
    assert historical_import_cancel(run=run, acting_user=admin_user)
    historical_import_run(import_id=run.pk, page_size=10)
    run.refresh_from_db()
    assert run.state == ImportState.CANCELLED and run.seen == 0
    assert SyncLogEntry.objects.filter(event="import_cancelled").exists()


@pytest.mark.sandbox(orders=120)
def test_a_worker_killed_mid_run_resumes_and_finishes_with_the_right_totals(sandbox, link, admin_user, rq_workers):
    import os
    import signal
    import subprocess
    import sys
    import time

    from sandbox.faults import Fault
    from tests.fixtures_workers import ROOT, worker_env

    # Slow pages of 10, applied one by one, so the worker can be killed between two of them.
    sandbox.store.faults.add(Fault("latency", endpoint="list_orders", latency_ms=300))
    env = {**worker_env(), "HISTORICAL_IMPORT_PAGE_SIZE": "10", "HISTORICAL_IMPORT_WINDOW_PAGES": "1"}
    run = historical_import_start(link=link, options=import_options(link=link), acting_user=admin_user)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "imports", "--burst"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60

        def mid_step() -> bool:  # 30 orders in, and a step under way (holding its lease), not between two steps
            leased = WorkItem.objects.filter(kind=IMPORT, lease_until__isnull=False).exists()
            return HistoricalImport.objects.get(pk=run.pk).seen >= 30 and leased

        while not mid_step() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, mid-run
        worker.wait()
    run.refresh_from_db()
    assert run.state == ImportState.RUNNING and 30 <= run.seen < 120
    sandbox.store.faults.clear()

    # The run's work is not lost: killed mid-step, it stays leased to the dead worker (nothing extends the lease);
    # killed between two steps (each page is a step here), the next step is already due. Once the lease runs out,
    # the next worker takes the run where it stopped.
    item = WorkItem.objects.get(kind=IMPORT)
    assert item.lease_until is not None or item.due_at is not None
    WorkItem.objects.filter(kind=IMPORT, lease_until__isnull=False).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    rq_workers(1, queues=("imports",))

    run.refresh_from_db()
    imported, skipped = _expected(sandbox)
    assert (run.state, run.seen, run.imported, run.skipped, run.already_imported, run.failed) == (
        ImportState.COMPLETED,
        120,
        imported,
        skipped,
        0,
        0,
    )
    external = list(Sale.objects.values_list("external_order_id", flat=True))
    assert len(external) == imported == len(set(external))


def _first_page_applied(sandbox, link, admin_user, settings):
    """An import started with windows of one page of 10, its first step run, the sandbox's request log cleared
    before it."""
    settings.HISTORICAL_IMPORT_WINDOW_PAGES = 1
    run = historical_import_start(link=link, options=import_options(link=link), acting_user=admin_user)
    sandbox.store.request_log.clear()
    historical_import_step(import_id=run.pk, page_size=10, request_next=False)
    return run


@pytest.mark.sandbox(orders=30)
def test_the_next_window_is_read_while_this_one_is_applied_and_no_page_twice(sandbox, link, admin_user, settings):
    run = _first_page_applied(sandbox, link, admin_user, settings)
    fetch_ahead_join()

    run.refresh_from_db()
    pages_read = len(sandbox.store.request_log.records(endpoint="list_orders"))
    assert (run.seen, pages_read) == (10, 2)  # the second window was read before its step ran
    historical_import_run(import_id=run.pk, page_size=10)
    run.refresh_from_db()
    imported, skipped = _expected(sandbox)
    assert (run.state, run.seen, run.imported, run.skipped) == (ImportState.COMPLETED, 30, imported, skipped)
    # 3 full pages, each read once; the run's count ended the range, not an empty page
    assert len(sandbox.store.request_log.records(endpoint="list_orders")) == 3


@pytest.mark.sandbox(orders=30)
def test_orders_placed_during_an_import_that_ends_on_its_count_are_synced_live(sandbox, link, admin_user, settings):
    # given an import of the 30 orders placed before the link, one page (10) applied
    run = _first_page_applied(sandbox, link, admin_user, settings)
    # when orders are placed meanwhile: one whose webhook arrives, one whose webhook BigCommerce never sends
    after_the_link = int(link.linked_at.timestamp()) + 1  # the sandbox dates orders in whole seconds
    delivered, missed = (sandbox.store.place_order(status_id=11, created=after_the_link).id for _ in range(2))
    assert sync_order(link, delivered).state == "imported"
    historical_import_run(import_id=run.pk, page_size=10)
    # then the import ends on its count (no empty page after the third full one) with exactly its range...
    run.refresh_from_db()
    imported, skipped = _expected_before(sandbox, delivered)
    assert (run.state, run.seen, run.imported, run.skipped) == (ImportState.COMPLETED, 30, imported, skipped)
    assert len(sandbox.store.request_log.records(endpoint="list_orders")) == 3
    # ... and reconciliation syncs the order webhooks missed, once
    assert missed in (reconcile_run(link=link).missed or [])
    kernel.drain(only={ORDER_SYNC}, budget=600)
    external = list(Sale.objects.values_list("external_order_id", flat=True))
    assert len(external) == len(set(external)) == imported + 2
    assert {str(delivered), str(missed)} <= set(external)


@pytest.mark.sandbox(orders=30)
def test_the_log_has_one_entry_per_page_and_orders_only_when_they_fail(sandbox, link, admin_user):
    run = _run(link, admin_user)

    pages = list(SyncLogEntry.objects.filter(event="import_page").order_by("pk"))
    assert len(pages) == 3
    assert sum(p.data["imported"] + p.data["skipped"] + p.data["already"] + p.data["failed"] for p in pages) == 30
    assert sum(p.data["imported"] for p in pages) == run.imported
    assert not SyncLogEntry.objects.filter(
        event__in=["order_imported", "order_skipped", "order_voided", "customer_created", "customer_matched"]
    ).exists()
    assert "Historical import: orders" in pages[0].message


def test_an_import_step_yields_to_live_orders_of_its_store(sandbox, link, admin_user, run_jobs):
    """A live order of the importing store waits for at most one import page, not for the window or the run."""
    from integration.services.order_sync import ORDER_SYNC, order_sync_request
    from work import kernel

    run_jobs("webhooks")  # the link's own start-up work (catalog ids) is done
    run = historical_import_start(link=link, options=import_options(link=link), acting_user=admin_user)
    live = sandbox.store.place_order(status_id=11).id
    client = BigCommerceClient.for_link(link)
    real, calls = client.list_orders, {"n": 0}

    def webhook_during_the_window(**kw):
        calls["n"] += 1
        if calls["n"] == 2:  # the live order's webhook arrives while the step fetches its window
            order_sync_request(link=link, bc_order_id=live)
        return real(**kw)

    client.list_orders = webhook_during_the_window
    # the first step reads one page and applies it while the next window is read ahead (the webhook arrives then)
    assert historical_import_step(import_id=run.pk, client=client, page_size=10) == ImportState.RUNNING
    fetch_ahead_join()
    run.refresh_from_db()
    assert run.seen == 10
    assert historical_import_step(import_id=run.pk, client=client, page_size=10) == ImportState.RUNNING
    run.refresh_from_db()
    assert run.seen == 20  # one page of the window applied, then the step gave way
    following = kernel.claim(only={ORDER_SYNC, IMPORT})
    assert following.kind.name == ORDER_SYNC and [i.key for i in following.items] == [f"{link.pk}:{live}"]
    kernel.run(following)
    assert OrderSync.objects.get(link=link, bc_order_id=live).state != "pending"  # synced (placed before the link)
    assert historical_import_step(import_id=run.pk, client=client, page_size=10) == ImportState.RUNNING
    run.refresh_from_db()
    assert run.seen > 20  # nothing waiting: the rest of the window


FAILURES = {
    "BigCommerce down": ({"kind": "error", "status": 503}, ApiServerError),
    "connection dropped": ({"kind": "drop"}, ApiUnavailable),
    "not the documented shape": ({"kind": "malformed", "body": "wrong_shape"}, ApiBadResponse),
}


# (Rate limiting goes the same way, as the ApiRateLimited the read raised, but a 429 the read ahead gets stops
# every call to the store, the first step's own included, whichever comes first: not a test without a race.)
@pytest.mark.sandbox(orders=30)
@pytest.mark.parametrize("in_process", [True, False], ids=["process", "thread"])
@pytest.mark.parametrize("failure", FAILURES, ids=list(FAILURES))
def test_a_window_read_ahead_that_failed_fails_the_step_that_takes_it_as_if_read_there(
    sandbox, link, admin_user, settings, failure, in_process
):
    from sandbox.faults import Fault

    fault, error = FAILURES[failure]
    settings.HISTORICAL_IMPORT_FETCH_PROCESS = in_process
    # the first page is read by the step, the next window (read ahead) fails
    sandbox.store.faults.add(Fault(endpoint="list_orders", skip=1, **fault))
    run = _first_page_applied(sandbox, link, admin_user, settings)
    fetch_ahead_join()
    with pytest.raises(error) as raised:
        historical_import_step(import_id=run.pk, page_size=10, request_next=False)
    # the same error the client raises when the step reads the page itself (a wait in seconds aside)
    with pytest.raises(error) as direct:
        BigCommerceClient.for_link(link, priority=Priority.BULK).list_orders(page=1, limit=10, min_id=110)
    assert (_no_seconds(raised.value), raised.value.status) == (_no_seconds(direct.value), direct.value.status)
    run.refresh_from_db()
    assert run.seen == 10  # nothing of the failed window applied
    sandbox.store.faults.clear()
    historical_import_run(import_id=run.pk, page_size=10)
    run.refresh_from_db()
    assert (run.state, run.seen, run.failed) == (ImportState.COMPLETED, 30, 0)


def _no_seconds(exc: Exception) -> str:
    return re.sub(r"[0-9.]+ s\b", "N s", str(exc))


def test_api_errors_cross_a_process_boundary_unchanged():
    errors = [
        ApiCredentialsRejected("no", status=403, missing_scope="store_v2_orders"),
        ApiRateLimited("slow down", reset_seconds=12.5),
        ApiParseError("total_inc_tax", "order 7", "unreadable ('x')"),
        ApiServerError("maintenance", status=503),
        ApiUnavailable("GET /v2/orders: timed out"),
    ]
    for exc in errors:
        again = pickle.loads(pickle.dumps(exc))
        assert (type(again), str(again), again.args, vars(again)) == (type(exc), str(exc), exc.args, vars(exc))


@pytest.mark.sandbox(orders=30)
def test_orders_handed_back_by_the_fetch_ahead_process_are_the_orders_read(sandbox, link):
    orders = BigCommerceClient.for_link(link).list_orders(limit=30, include_line_items=True, sort="id:asc")
    assert bc_loads(bc_dumps(orders)) == orders
