"""Prometheus metrics of the BigCommerce link, and the scrape behind `GET /metrics`.

Counted where they happen (one call each, at a clear point of the code):

- `pos_webhooks_received_total{outcome}`: accepted deliveries (queued, duplicate, ignored_scope), and
  `pos_webhooks_rejected_total{reason}`: refused ones by reason code (the webhook view);
- `pos_webhook_to_sale_seconds`: from the earliest webhook of an order not yet applied to the sale it created or
  updated (`webhook_to_sale_observe`, called by the sync);
- `pos_failures_total{kind,reason,outcome}`: failures the sync log records, order syncs by reason code
  (`sync_log_observe`);
- `pos_bigcommerce_requests_total{endpoint,method,status}` (path templated: `/v2/orders/{id}`),
  `pos_bigcommerce_request_duration_seconds{endpoint}`, `pos_bigcommerce_rate_limited_total{store}` (429s),
  `pos_bigcommerce_quota_remaining{store}` and `pos_bigcommerce_quota{store}` (as the latest response said): the
  API client, for every call.

Read from the database at each scrape (right whatever process did the work; `DatabaseCollector`):

- `pos_work_due{kind}` and `pos_work_running{kind}`: background work waiting / in hand (`work_counts()`);
- `pos_historical_import_progress_ratio{store,import}` and `pos_historical_import_orders{store,import,count}`:
  imports running, or finished in the last hour;
- and django-rq's own collector, read from Redis: `rq_jobs{queue,status}` and `rq_workers{name,state,queues}`
  (a worker that died is missing from it).

Several processes (gunicorn workers, RQ workers) add up through the files in `PROMETHEUS_MULTIPROC_DIR` when it is
set (prometheus_client's multiprocess mode): every process of a machine must share that directory, and it must be
emptied before they start. Without it, a scrape shows the serving process's own counts only.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

WEBHOOKS_RECEIVED = Counter(
    "pos_webhooks_received", "Webhook deliveries accepted, by what became of them.", ["outcome"]
)
WEBHOOKS_REJECTED = Counter("pos_webhooks_rejected", "Webhook deliveries refused, by reason code.", ["reason"])
WEBHOOK_TO_SALE = Histogram(
    "pos_webhook_to_sale_seconds",
    "Seconds from the request of an order's sync (its webhook) to the sale it created or updated.",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600),
)
FAILURES = Counter(
    "pos_failures",
    "Failures recorded in the sync log, by kind of work, reason code and outcome (retrying, attention, failed).",
    ["kind", "reason", "outcome"],
)
BC_REQUESTS = Counter(
    "pos_bigcommerce_requests",
    "BigCommerce API calls by templated endpoint, method and HTTP status ('failed': no response).",
    ["endpoint", "method", "status"],
)
BC_REQUEST_SECONDS = Histogram(
    "pos_bigcommerce_request_duration_seconds",
    "BigCommerce API call durations by templated endpoint.",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BC_RATE_LIMITED = Counter("pos_bigcommerce_rate_limited", "BigCommerce 429 answers, by store hash.", ["store"])
BC_QUOTA_REMAINING = Gauge(
    "pos_bigcommerce_quota_remaining",
    "Requests left in the store's current rate-limit window, as the latest response said.",
    ["store"],
    multiprocess_mode="mostrecent",
)
BC_QUOTA = Gauge(
    "pos_bigcommerce_quota",
    "Requests the store may make per rate-limit window, as the latest response said.",
    ["store"],
    multiprocess_mode="mostrecent",
)

# The sync log's failure events: event code -> (kind of work, outcome). Their reason is the order's reason code
# when the entry is about an order sync, else the event code.
FAILURE_EVENTS = {
    "sync_retrying": ("order_sync", "retrying"),
    "sync_failed": ("order_sync", "attention"),
    "import_order_failed": ("historical_import", "failed"),
    "import_failed": ("historical_import", "failed"),
    "push_retrying": ("push", "retrying"),
    "stock_push_failed": ("stock_push", "failed"),
    "stock_push_rejected": ("stock_push", "rejected"),
    "price_push_failed": ("price_push", "failed"),
    "reconcile_failed": ("reconcile", "failed"),
    "hooks_failed": ("webhook_registration", "failed"),
}
# Webhooks older than this are not looked for when measuring webhook-to-sale (the query stays on recent rows); an
# order whose earliest unapplied webhook is older counts from its earliest one within it.
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


def metrics_enabled() -> bool:
    """Whether anyone reads the metrics: work that costs a query is skipped otherwise."""
    return bool(settings.METRICS_TOKEN or os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


# ---------------------------------------------------------------- counting


def webhook_received(outcome: str) -> None:
    WEBHOOKS_RECEIVED.labels(outcome).inc()


def webhook_rejected(reason: str) -> None:
    WEBHOOKS_REJECTED.labels(reason).inc()


def endpoint_template(path: str) -> str:
    """A path with its numeric ids replaced: `/v2/orders/105/products` -> `/v2/orders/{id}/products`."""
    return _ID_SEGMENT.sub("/{id}", path)


def bigcommerce_call_observe(*, store: str, method: str, path: str, status: int | None, seconds: float, headers):
    """One BigCommerce API call: `status` None when no response came, `headers` its rate-limit headers (or None)."""
    endpoint = endpoint_template(path)
    BC_REQUESTS.labels(endpoint, method, str(status) if status is not None else "failed").inc()
    BC_REQUEST_SECONDS.labels(endpoint).observe(seconds)
    if status == 429:
        BC_RATE_LIMITED.labels(store).inc()
    if headers is not None and headers.requests_left is not None:
        BC_QUOTA_REMAINING.labels(store).set(headers.requests_left)
    if headers is not None and headers.quota is not None:
        BC_QUOTA.labels(store).set(headers.quota)


def sync_log_observe(*, event: str, reason: str) -> None:
    """A sync log entry was written: count it when it is a failure."""
    failure = FAILURE_EVENTS.get(event)
    if failure is not None:
        FAILURES.labels(failure[0], reason or event, failure[1]).inc()


def webhook_to_sale_observe(waiting_since: Iterable) -> None:
    """Observe webhook-to-sale for orders whose sale a sync just created or updated: the seconds since each order's
    sync was first requested and not yet run (its work row's `requested_at`: the webhook's own transaction
    requested it; reconciliation and staff retries count from their request)."""
    if not metrics_enabled():
        return
    now = timezone.now()
    for moment in waiting_since:
        WEBHOOK_TO_SALE.observe(max((now - moment).total_seconds(), 0.0))


# ---------------------------------------------------------------- read at scrape time


def work_counts() -> list[tuple[str, int, int]]:
    """Background work per kind: (kind, due, running), from the durable-work rows in one aggregate query, with
    every declared kind (0 when it has none). Due: waiting for a worker now or at a retry time; running: a worker
    holds it."""
    from work import kernel, registry

    counts = {kind: (due, running) for kind, due, running, _failed in kernel.counts()}
    names = sorted({*counts, *(kind.name for kind in registry.kinds())})
    return [(name, *counts.get(name, (0, 0))) for name in names]


IMPORT_COUNTS = ("total", "seen", "imported", "skipped", "already_imported", "failed")
RECENT_IMPORTS = timedelta(hours=1)


class DatabaseCollector:
    """Gauges read from the database at each scrape: work per kind, historical import progress."""

    def collect(self):
        try:
            work = work_counts()
            imports = self._imports()
        except DatabaseError as exc:
            logger.warning("metrics: database figures left out of this scrape (%s)", exc.__class__.__name__)
            return
        due = GaugeMetricFamily("pos_work_due", "Background work waiting for a worker, per kind.", labels=["kind"])
        running = GaugeMetricFamily("pos_work_running", "Background work a worker has in hand.", labels=["kind"])
        for kind, waiting, in_hand in work:
            due.add_metric([kind], waiting)
            running.add_metric([kind], in_hand)
        ratio = GaugeMetricFamily(
            "pos_historical_import_progress_ratio",
            "Share of a historical import's orders seen (running imports, and those finished in the last hour).",
            labels=["store", "import"],
        )
        orders = GaugeMetricFamily(
            "pos_historical_import_orders", "A historical import's order counts.", labels=["store", "import", "count"]
        )
        for run in imports:
            labels = [run.link.store_hash, str(run.pk)]
            ratio.add_metric(labels, min(run.seen / run.total, 1.0) if run.total else 0.0)
            for count in IMPORT_COUNTS:
                orders.add_metric([*labels, count], getattr(run, count))
        yield from (due, running, ratio, orders)

    @staticmethod
    def _imports():
        from django.db.models import Q

        from integration.choices import ImportState
        from integration.models import HistoricalImport

        recent = Q(finished_at__gte=timezone.now() - RECENT_IMPORTS)
        return list(
            HistoricalImport.objects.filter(Q(state__in=ImportState.active_states()) | recent)
            .select_related("link")
            .only("link__store_hash", *IMPORT_COUNTS)
            .order_by("pk")
        )


class QueueCollector:
    """django-rq's collector of RQ queues and workers (from Redis); a scrape goes on without it if Redis fails."""

    def collect(self):
        from django_rq.contrib.prometheus import RQCollector
        from redis.exceptions import RedisError

        try:
            families = list(RQCollector().collect())
        except RedisError as exc:
            logger.warning("metrics: queue figures left out of this scrape (%s)", exc.__class__.__name__)
            return
        yield from families


class _Forward:
    """This process's own metrics (single-process mode), forwarded into a scrape's registry."""

    def collect(self):
        return REGISTRY.collect()


def scrape() -> tuple[bytes, str]:
    """The exposition of every metric: the processes' counts (all processes of this machine in multiprocess
    mode), the database gauges and the RQ queues. Returns (body, content type)."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward())
    registry.register(DatabaseCollector())
    registry.register(QueueCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
