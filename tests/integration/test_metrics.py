"""GET /metrics: each metric moves when its event happens, read the way Prometheus reads it (the exposition parsed
with prometheus_client's parser). The suite runs prometheus_client's multiprocess mode, as production does."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import django_rq
import pytest
import time_machine
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from integration.choices import ImportState, OrderSyncState
from integration.exceptions import ApiUnavailable
from integration.metrics import (
    FAILURE_EVENTS,
    WEBHOOK_TO_SALE,
    bigcommerce_call_observe,
    endpoint_template,
    sync_log_observe,
    webhook_received,
    webhook_rejected,
    work_counts,
)
from integration.models import OrderSync
from integration.ratelimit import RateLimitHeaders
from integration.services.order_sync import order_sync_request
from integration.services.synclog import Event
from sandbox.faults import Fault
from tests import factories
from tests.work_helpers import sync_order

pytestmark = pytest.mark.django_db

TOKEN = "metrics-bearer-token-for-the-tests"
DASHBOARD = Path(django_settings.BASE_DIR) / "docs" / "grafana-dashboard.json"


class Scrape(dict):
    """Sample name and labels -> value, from one scrape."""

    def __call__(self, name: str, **labels: str) -> float:
        return self.get((name, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        return {name for name, _ in self}

    def __sub__(self, before: Scrape) -> Scrape:
        """What moved since `before`."""
        return Scrape({key: self.get(key, 0.0) - before.get(key, 0.0) for key in self.keys() | before.keys()})


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def get() -> Scrape:
        response = client.get(reverse("metrics"), headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        samples = Scrape()
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return samples

    return get


def _order_payload(order_id: int, *, store_id: str, hash_: str) -> str:
    return json.dumps(
        {"scope": "store/order/updated", "store_id": store_id, "data": {"type": "order", "id": order_id}, "hash": hash_}
    )


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """POST a webhook delivery for an order of `link`, as BigCommerce does."""

    def post(link, order_id: int, *, hash_: str, secret: str | None = None):
        body = _order_payload(order_id, store_id=link.store_id, hash_=hash_)
        auth = f"{link.pk}:{secret or link.webhook_secret}"
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                reverse("integration:webhook"), body, content_type="application/json", HTTP_X_POS_WEBHOOK_AUTH=auth
            )

    return post


# ---------------------------------------------------------------- the endpoint


def test_the_endpoint_is_off_without_a_token_setting_and_refuses_a_missing_or_wrong_token(client, settings):
    url = reverse("metrics")
    assert client.get(url).status_code == 404

    settings.METRICS_TOKEN = TOKEN
    missing = client.get(url)
    wrong = client.get(url, headers={"Authorization": "Bearer not-the-metrics-token"})
    basic = client.get(url, headers={"Authorization": f"Basic {TOKEN}"})
    right = client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})

    assert (missing.status_code, missing["WWW-Authenticate"]) == (401, "Bearer")
    assert (wrong.status_code, basic.status_code, right.status_code) == (401, 401, 200)
    assert b"pos_work_due" in right.content


# ---------------------------------------------------------------- intake


def test_webhooks_received_and_rejected_count_by_outcome_and_reason(scrape, deliver, db):
    link = factories.StoreLinkFactory()
    before = scrape()

    deliver(link, 501, hash_="a" * 40)
    deliver(link, 501, hash_="a" * 40)
    deliver(link, 501, hash_="b" * 40)
    assert deliver(link, 502, hash_="c" * 40, secret="not-the-secret").status_code == 401

    moved = scrape() - before
    received = "pos_webhooks_received_total"
    assert [moved(received, outcome=o) for o in ("queued", "duplicate", "ignored_scope")] == [2, 1, 0]
    assert moved("pos_webhooks_rejected_total", reason="unknown_secret") == 1
    assert moved("pos_work_due", kind="bc.order_sync") == 1  # one sync waits, however many deliveries asked for it


# ---------------------------------------------------------------- webhook to sale


def test_webhook_to_sale_counts_from_the_earliest_webhook_not_yet_applied(
    scrape, sandbox, live_link, deliver, run_jobs
):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    before = scrape()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        deliver(live_link, order_id, hash_="1" * 40)
        clock.shift(2)
        deliver(live_link, order_id, hash_="2" * 40)  # the same sync, already requested
        clock.shift(5)
        run_jobs("webhooks")  # the sale is created 7 s after the first webhook
        first = scrape()

        clock.shift(60)
        sandbox.store.set_status(order_id, 2)
        deliver(live_link, order_id, hash_="3" * 40)
        clock.shift(3)
        run_jobs("webhooks")  # updated 3 s after the webhook that followed the sale; the earlier ones are applied
        second = scrape()

    assert OrderSync.objects.get(link=live_link, bc_order_id=order_id).sale.bc_status_id == 2
    created, updated = first - before, second - first
    name = "pos_webhook_to_sale_seconds"
    assert (created(f"{name}_count"), created(f"{name}_sum")) == (1, pytest.approx(7.0))
    assert (created(f"{name}_bucket", le="5.0"), created(f"{name}_bucket", le="10.0")) == (0, 1)
    assert (updated(f"{name}_count"), updated(f"{name}_sum")) == (1, pytest.approx(3.0))


def test_a_sync_that_creates_no_sale_is_not_a_webhook_to_sale(scrape, sandbox, live_link, deliver, run_jobs):
    order_id = sandbox.store.place_order(status_id=1, lines=1).id  # Pending: skipped
    before = scrape()

    deliver(live_link, order_id, hash_="p" * 40)
    run_jobs("webhooks")

    assert OrderSync.objects.get(bc_order_id=order_id).state == OrderSyncState.SKIPPED
    name = "pos_webhook_to_sale_seconds_count"
    assert scrape()(name) == before(name)


# ---------------------------------------------------------------- background work and failures


def test_work_due_and_running_per_kind_are_read_from_the_database(scrape, retailer):
    from work import kernel

    link = factories.StoreLinkFactory(retailer=retailer)
    for order_id in (1, 2, 3):
        order_sync_request(link=link, bc_order_id=order_id)
    kernel.request("bc.push", link.pk, shard=retailer.pk, due=timezone.now() + timedelta(seconds=5))
    claim = kernel.claim(only={"bc.order_sync"}, worker="w")  # a worker holds the three order syncs
    order_sync_request(link=link, bc_order_id=4)

    samples = scrape()

    expected = {"bc.order_sync": (1, 3), "bc.push": (1, 0)}
    assert len(claim.items) == 3
    counted = {kind: (due, running) for kind, due, running in work_counts()}
    assert {kind: counted[kind] for kind in expected} == expected
    assert set(counted.values()) - set(expected.values()) <= {(0, 0)}  # every other kind, at 0
    for kind, (due, running) in expected.items():
        assert (samples("pos_work_due", kind=kind), samples("pos_work_running", kind=kind)) == (due, running)


def test_historical_import_progress_is_read_from_its_rows(scrape, retailer):
    link = factories.StoreLinkFactory(retailer=retailer, store_hash="imp001")
    running = factories.HistoricalImportFactory(
        link=link, state=ImportState.RUNNING, total=200, seen=50, imported=40, skipped=6, already_imported=3, failed=1
    )
    now = timezone.now()
    recent = factories.HistoricalImportFactory(
        link=link, state=ImportState.COMPLETED, total=10, seen=10, finished_at=now - timedelta(minutes=10)
    )
    old = factories.HistoricalImportFactory(
        link=link, state=ImportState.COMPLETED, total=10, seen=10, finished_at=now - timedelta(hours=2)
    )

    samples = scrape()

    ratio = "pos_historical_import_progress_ratio"
    assert samples(ratio, store="imp001", **{"import": str(running.pk)}) == 0.25
    assert samples(ratio, store="imp001", **{"import": str(recent.pk)}) == 1.0
    assert (ratio, frozenset({"store": "imp001", "import": str(old.pk)}.items())) not in samples
    orders = "pos_historical_import_orders"
    counts = {"total": 200, "seen": 50, "imported": 40, "skipped": 6, "already_imported": 3, "failed": 1}
    for count, value in counts.items():
        assert samples(orders, store="imp001", count=count, **{"import": str(running.pk)}) == value


def test_order_sync_failures_count_by_reason_code_and_outcome(scrape, sandbox, live_link, bc_client):
    retried = sandbox.store.place_order(status_id=11, lines=1).id
    gone = sandbox.store.place_order(status_id=11, lines=1).id
    sandbox.store.faults.add(Fault("error", endpoint="get_order", path_contains=f"/orders/{retried}", status=503))
    sandbox.store.faults.add(Fault("error", endpoint="get_order", path_contains=f"/orders/{gone}", status=404))
    before = scrape()

    for order_id in (retried, gone):
        sync_order(live_link, order_id)

    moved = scrape() - before
    failures = "pos_failures_total"
    assert moved(failures, kind="order_sync", reason="bigcommerce_error", outcome="retrying") == 1
    assert moved(failures, kind="order_sync", reason="order_not_found", outcome="attention") == 1


def test_every_failure_event_counted_is_a_sync_log_event():
    assert set(FAILURE_EVENTS) <= {event.code for event in Event.all()}


# ---------------------------------------------------------------- BigCommerce API calls


@pytest.mark.sandbox(quota=500, window_ms=120_000)
def test_api_calls_count_by_templated_endpoint_and_status_with_the_stores_quota(scrape, sandbox, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    before = scrape()

    bc_client.get_order(order_id)
    first = scrape()
    bc_client.get_order(order_id)
    bc_client.list_refunds(order_id)
    second = scrape()

    calls = "pos_bigcommerce_requests_total"
    get_order = {"endpoint": "/v2/orders/{id}", "method": "GET", "status": "200"}
    refunds = {"endpoint": "/v3/orders/{id}/payment_actions/refunds", "method": "GET", "status": "200"}
    assert first(calls, **get_order) - before(calls, **get_order) == 1
    assert second(calls, **get_order) - before(calls, **get_order) == 2
    assert second(calls, **refunds) - before(calls, **refunds) == 1
    duration = "pos_bigcommerce_request_duration_seconds_count"
    assert second(duration, endpoint="/v2/orders/{id}") - before(duration, endpoint="/v2/orders/{id}") == 2
    store = sandbox.store_hash
    assert second("pos_bigcommerce_quota", store=store) == 500
    assert (
        second("pos_bigcommerce_quota_remaining", store=store)
        == first("pos_bigcommerce_quota_remaining", store=store) - 2
    )
    endpoints = {dict(labels).get("endpoint", "") for _, labels in second}
    assert not [e for e in endpoints if re.search(r"/\d+(/|$)", e)]  # no order id became a label


def test_429s_count_per_store_and_calls_without_an_answer_count_as_failed(scrape, sandbox, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sandbox.store.faults.add(Fault("rate_limit", endpoint="get_order", times=1, reset_ms=20))
    before = scrape()

    bc_client.get_order(order_id)  # a 429, waited out, then the order
    sandbox.store.faults.add(Fault("drop", endpoint="get_order", times=1))
    with pytest.raises(ApiUnavailable, match="connection failed"):
        bc_client.get_order(order_id)

    after = scrape()
    store = sandbox.store_hash
    calls = "pos_bigcommerce_requests_total"
    limited = {"endpoint": "/v2/orders/{id}", "method": "GET", "status": "429"}
    failed = {"endpoint": "/v2/orders/{id}", "method": "GET", "status": "failed"}
    assert (
        after("pos_bigcommerce_rate_limited_total", store=store)
        - before("pos_bigcommerce_rate_limited_total", store=store)
        == 1
    )
    assert after(calls, **limited) - before(calls, **limited) == 1
    assert after(calls, **failed) - before(calls, **failed) == 1


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/v2/orders/105", "/v2/orders/{id}"),
        ("/v2/orders/105/products", "/v2/orders/{id}/products"),
        ("/v3/catalog/products/7/variants/81", "/v3/catalog/products/{id}/variants/{id}"),
        ("/v3/inventory/adjustments/absolute", "/v3/inventory/adjustments/absolute"),
        ("/v2/orders", "/v2/orders"),
    ],
)
def test_endpoints_are_templated_so_no_id_becomes_a_label(path, endpoint):
    assert endpoint_template(path) == endpoint


# ---------------------------------------------------------------- several processes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_what_a_worker_process_counts_shows_in_the_web_scrape(scrape, sandbox, live_link, rq_workers):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    get_order = {"endpoint": "/v2/orders/{id}", "method": "GET", "status": "200"}
    before = scrape()

    order_sync_request(link=live_link, bc_order_id=order_id)  # committed at once: no transaction here
    rq_workers(1, ("webhooks",))  # another process: it syncs the order

    after = scrape()
    assert OrderSync.objects.get(bc_order_id=order_id).state == OrderSyncState.IMPORTED
    assert (
        after("pos_bigcommerce_requests_total", **get_order) - before("pos_bigcommerce_requests_total", **get_order)
        == 1
    )
    # Counted from the sync's request, whoever made it (here no webhook: a request as reconciliation makes).
    assert after("pos_webhook_to_sale_seconds_count") - before("pos_webhook_to_sale_seconds_count") == 1


# ---------------------------------------------------------------- the Grafana dashboard


def test_every_metric_the_dashboard_queries_is_exposed_by_a_scrape(scrape, retailer):
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = {name for query in queries for name in re.findall(r"\b(?:pos|rq)_[a-z0-9_]+", query)}
    # One of each event, so that every labelled series exists in this process's files.
    webhook_received("queued")
    webhook_rejected("unknown_secret")
    WEBHOOK_TO_SALE.observe(1.5)
    sync_log_observe(event="sync_failed", reason="order_not_found")
    headers = RateLimitHeaders(requests_left=140, reset_ms=1000, window_ms=30000, quota=150)
    bigcommerce_call_observe(
        store="dash01", method="GET", path="/v2/orders/1", status=429, seconds=0.2, headers=headers
    )
    factories.HistoricalImportFactory(link__retailer=retailer, state=ImportState.RUNNING, total=4, seen=1)
    worker = django_rq.get_worker("webhooks")
    worker.register_birth()  # a live worker, as RQ records it in Redis

    exposed = scrape().names()
    worker.register_death()

    assert len(queries) >= 15
    assert used - exposed == set()
    assert {
        "pos_work_due",
        "pos_webhook_to_sale_seconds_bucket",
        "pos_bigcommerce_quota_remaining",
        "rq_workers",
    } <= used
