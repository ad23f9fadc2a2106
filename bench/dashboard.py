"""Dashboard pages at scale: server time of Sales history, Failed orders and the Sync log on PostgreSQL.

Generates a retailer with N sales (default 100,000; `--full`: 1,000,000) in generate_series statements (no ORM
row by row), 10% as many customers, fulfilments for online sales, their order syncs, 50,000 failing order syncs,
a sync log, and a second retailer so every query really filters by tenant. Then it times each scenario with
Django's test client (the whole request in process: middleware, tenancy, selectors, templates; no network) and
prints p50 / p95 / max in milliseconds and the queries per request, at two page sizes to show the count does not
move. Goal: p95 <= 150 ms.

    .venv/bin/python bench/dashboard.py [--full]

Its database is BENCH_DATABASE_URL's name plus `_dashboard` (default pos_bench_dashboard), created if missing and
reused between runs while it holds the requested size (`--rebuild` forces new data); BENCH_REDIS_URL as the
other benchmarks. Never point them at a database whose data you want to keep.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from datetime import timedelta
from zoneinfo import ZoneInfo

from _common import setup_django, sibling_database

# Its own database beside BENCH_DATABASE_URL's (the other benchmarks drop theirs each run): the data is kept.
DASHBOARD_DATABASE_URL = sibling_database("dashboard")
GOAL_MS = 150
RUNS = 25
WARMUP = 3
FAILED_SYNCS = 50_000
FIRST_NAMES = [
    "Ada", "Alan", "Grace", "Katherine", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Donald", "Radia",
    "John", "Mary", "James", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William",
    "Susan", "Richard", "Jessica", "Joseph", "Sarah", "Thomas", "Karen", "Chris", "Nancy", "Daniel", "Lisa", "Paul",
    "Betty", "Mark", "Sandra", "Steven", "Ashley", "Andrew", "Emily", "Kevin", "Donna", "Brian", "Michelle",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker",
    "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Lovelace", "Hopper", "Turing", "Knuth",
]  # fmt: skip


def setup() -> None:
    warnings.filterwarnings("ignore", message="No directory at", module="django.core.handlers.base")
    setup_django(fresh=False, database_url=DASHBOARD_DATABASE_URL)
    from django.conf import settings

    settings.DEBUG = False  # no query log, production template loading
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


# ---------------------------------------------------------------- data


def build(sales: int) -> None:
    """Fresh data: the demo-sized places and people through the ORM, the volume through generate_series."""
    from django.db import connection

    from integration.models import StoreLink
    from pos.choices import Role
    from pos.models import Membership, Outlet, PaymentType, Register, Retailer, User

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE pos_retailer, pos_user, integration_storelink, pos_sale, pos_customer, integration_ordersync, "
            "integration_synclogentry, pos_fulfillment CASCADE"
        )
    started = time.perf_counter()
    retailers = []
    for slug, share in (("bench", 1.0), ("bench-other", 0.1)):
        retailer = Retailer.objects.create(name=f"Retailer {slug}", slug=slug, time_zone="America/New_York")
        outlets = [Outlet.objects.create(retailer=retailer, name=f"Outlet {i}") for i in range(5)]
        registers = [
            Register.objects.create(retailer=retailer, outlet=o, name=f"Register {j}") for o in outlets for j in (1, 2)
        ]
        payment = PaymentType.objects.create(retailer=retailer, name="BigCommerce")
        link = StoreLink.objects.create(
            retailer=retailer,
            store_hash=f"{slug.replace('-', '')}1",
            access_token="bench-token",
            outlet=outlets[0],
            register=registers[0],
            default_payment_type=payment,
            hooks=[{"scope": "store/order/created", "id": 1, "is_active": True}],
        )
        retailers.append((retailer, registers, link, int(sales * share), int(FAILED_SYNCS * share)))
    user = User.objects.create_user("bench-admin", "bench@example.com", "bench-pass")
    Membership.objects.create(user=user, retailer=retailers[0][0], role=Role.ADMIN)
    with connection.cursor() as cur:
        for retailer, registers, link, count, failed in retailers:
            _bulk(cur, retailer.pk, [(r.pk, r.outlet_id) for r in registers], link.pk, count, failed)
    # What autovacuum does to a live database: statistics, and the visibility map index-only scans rely on.
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    elapsed = time.perf_counter() - started
    print(f"generated {sales:,} sales (+{int(sales * 0.1):,} for a second retailer) in {elapsed:.0f} s")


def _bulk(cur, retailer_id: int, registers: list[tuple[int, int]], link_id: int, sales: int, failed: int) -> None:
    customers = max(sales // 10, 100)
    cur.execute(
        """
        INSERT INTO pos_customer (retailer_id, first_name, last_name, company, email, email_normalized, phone, address,
                                  created_by_link, created_at, updated_at)
        SELECT %(r)s, f, l, '', f || '.' || l || g || '@example.com', lower(f || '.' || l || g || '@example.com'), '',
               '{}'::jsonb, false, now(), now()
        FROM (SELECT g, (%(first)s::text[])[1 + g %% cardinality(%(first)s::text[])] AS f,
                     (%(last)s::text[])[1 + (g * 7) %% cardinality(%(last)s::text[])] AS l
              FROM generate_series(1, %(n)s::bigint) g) names
        """,
        {"r": retailer_id, "n": customers, "first": FIRST_NAMES, "last": LAST_NAMES},
    )
    cur.execute("SELECT min(id) FROM pos_customer WHERE retailer_id = %s", [retailer_id])
    first_customer = cur.fetchone()[0]
    register_ids = [r for r, _ in registers]
    outlet_ids = [o for _, o in registers]
    # 40% online; 3% voided; ~70% with a customer; three years of history, newest first by g.
    cur.execute(
        """
        INSERT INTO pos_sale (retailer_id, outlet_id, register_id, customer_id, user_id, channel, external_order_id,
            invoice_number, sale_date, status, payment_state, bc_status_id, bc_status_label, currency, total_ex_tax,
            total_tax, total_inc_tax, discount_total, amount_paid, amount_refunded, stock_moved, customer_note,
            staff_note, voided_at, void_reason, created_at, updated_at, original_currency)
        SELECT %(r)s, (%(outlets)s::bigint[])[1 + g %% 10], (%(registers)s::bigint[])[1 + g %% 10],
               CASE WHEN g %% 10 < 7 THEN %(c0)s + (g * 7919) %% %(customers)s END, NULL,
               CASE WHEN online THEN 'bigcommerce' ELSE 'in_store' END,
               CASE WHEN online THEN (100000 + g)::text ELSE '' END,
               g, now() - (g::float8 / %(n)s * 1095) * interval '1 day',
               CASE WHEN voided THEN 'voided' ELSE 'closed' END,
               CASE WHEN g %% 50 = 1 THEN 'unpaid' WHEN g %% 97 = 2 THEN 'partially_refunded' ELSE 'paid' END,
               CASE WHEN voided AND online THEN 5 WHEN online THEN (ARRAY[10, 11, 2, 9, 7, 14])[1 + g %% 6] END,
               CASE WHEN voided AND online THEN 'Cancelled' WHEN online THEN (ARRAY['Completed',
                    'Awaiting Fulfillment', 'Shipped', 'Awaiting Shipment', 'Awaiting Payment',
                    'Partially Refunded'])[1 + g %% 6] ELSE '' END,
               'USD', total, round(total * 0.1, 4), round(total * 1.1, 4), 0, round(total * 1.1, 4), 0, true, '', '',
               CASE WHEN voided THEN now() END, '', now(), now(), ''
        FROM (SELECT g, g %% 5 < 2 AS online, g %% 33 = 0 AS voided, ((g * 37) %% 50000) / 100.0 + 5 AS total
              FROM generate_series(1, %(n)s::bigint) g) s
        """,
        {
            "r": retailer_id,
            "n": sales,
            "outlets": outlet_ids,
            "registers": register_ids,
            "c0": first_customer,
            "customers": customers,
        },
    )
    cur.execute(
        """
        INSERT INTO pos_fulfillment (retailer_id, sale_id, type, state, shipping_address, external_address_id,
            shipping_method, tracking_number, carrier, version, writeback_state, writeback_error, created_at,
            updated_at)
        SELECT retailer_id, id, 'delivery',
               CASE WHEN status = 'voided' THEN 'cancelled'
                    ELSE (ARRAY['completed', 'completed', 'completed', 'new', 'picking', 'packed'])[1 + id %% 6] END,
               '{}'::jsonb, '', 'Ground', '', '', 1, 'none', '', sale_date, sale_date
        FROM pos_sale WHERE retailer_id = %s AND channel = 'bigcommerce'
        """,
        [retailer_id],
    )
    cur.execute(
        """
        INSERT INTO integration_ordersync (link_id, bc_order_id, state, sale_id, attempts, last_error_code,
            last_error_message, resolution_note, created_at, updated_at, last_attempt_at)
        SELECT %s, external_order_id::bigint, 'imported', id, 0, '', '', '', sale_date, sale_date, sale_date
        FROM pos_sale WHERE retailer_id = %s AND channel = 'bigcommerce'
        """,
        [link_id, retailer_id],
    )
    cur.execute(
        """
        INSERT INTO integration_ordersync (link_id, bc_order_id, state, attempts, last_error_code, last_error_message,
            resolution_note, created_at, updated_at, last_attempt_at, next_retry_at)
        SELECT %(link)s, 10000000 + g, CASE WHEN g %% 4 = 0 THEN 'retrying' ELSE 'needs_attention' END, 1 + g %% 6,
               (ARRAY['order_not_found', 'unknown_status', 'currency_mismatch', 'bigcommerce_error',
                      'credentials_rejected'])[1 + g %% 5],
               'Order ' || (10000000 + g) || ' could not be synced (bench).', '', at, at, at,
               CASE WHEN g %% 4 = 0 THEN at + interval '10 minutes' END
        FROM (SELECT g, now() - g * interval '1 minute' AS at FROM generate_series(1, %(n)s::bigint) g) f
        """,
        {"link": link_id, "n": failed},
    )
    cur.execute(
        """
        INSERT INTO integration_synclogentry (retailer_id, link_id, bc_order_id, level, event, message, data,
                                              created_at)
        SELECT %(r)s, %(link)s, 100000 + g, CASE WHEN g %% 20 = 0 THEN 'error' ELSE 'info' END,
               CASE WHEN g %% 20 = 0 THEN 'sync_failed' ELSE (ARRAY['order_imported', 'order_updated',
                    'customer_matched', 'product_created'])[1 + g %% 4] END,
               'Order ' || (100000 + g) || ': bench entry.', '{}'::jsonb, now() - g * interval '20 seconds'
        FROM generate_series(1, %(n)s::bigint) g
        """,
        {"r": retailer_id, "link": link_id, "n": sales},
    )


def data_size() -> int:
    from pos.models import Retailer, Sale

    retailer = Retailer.objects.filter(slug="bench").first()
    return Sale.objects.filter(retailer=retailer).count() if retailer else 0


# ---------------------------------------------------------------- timing


def cursor_at(depth: float, sort: str = "-date") -> str:
    """A keyset cursor pointing `depth` (0..1) of the way through the bench retailer's sales, in `sort` order."""
    from pos.keyset import _encode
    from pos.models import Retailer, Sale
    from pos.selectors import SALE_SORTS

    key, descending = SALE_SORTS[sort]
    sales = Sale.objects.filter(retailer=Retailer.objects.get(slug="bench"))
    row = sales.order_by(f"-{key}" if descending else key, "-pk" if descending else "pk").values(key, "pk")[
        int(sales.count() * depth)
    ]
    return _encode(row[key], row["pk"])


def scenarios() -> list[tuple[str, str, dict]]:
    from django.utils import timezone

    from integration.models import OrderSync
    from pos.models import Customer, Outlet, Register, Retailer

    retailer = Retailer.objects.get(slug="bench")
    outlet = Outlet.objects.filter(retailer=retailer).order_by("pk").last()
    register = Register.objects.filter(retailer=retailer).order_by("pk")[3]
    customer = Customer.objects.filter(retailer=retailer).order_by("pk")[len(FIRST_NAMES) * 3]
    failing = OrderSync.objects.filter(link__retailer=retailer, state="needs_attention").order_by("pk").last()
    pages = OrderSync.objects.for_retailer(retailer).on_failed_list().count() // 50
    sales, failed, log = "/sales/", "/failed-orders/", "/sync-log/"
    today = timezone.localdate(timezone=ZoneInfo(retailer.time_zone))
    week = {"date_from": str(today - timedelta(days=400)), "date_to": str(today - timedelta(days=394))}
    return [
        ("sales: first page", sales, {}),
        ("sales: 200 per page", sales, {"per_page": 200}),
        ("sales: deep page (90%)", sales, {"after": cursor_at(0.9)}),
        ("sales: previous from deep", sales, {"before": cursor_at(0.5)}),
        ("sales: voided", sales, {"status": "voided"}),
        ("sales: online, paid", sales, {"channel": "bigcommerce", "payment_state": "paid"}),
        ("sales: unpaid", sales, {"payment_state": "unpaid"}),
        ("sales: one outlet", sales, {"outlet": outlet.pk}),
        ("sales: one register", sales, {"register": register.pk}),
        ("sales: fulfilment new", sales, {"fulfillment_state": "new"}),
        ("sales: no fulfilment", sales, {"fulfillment_state": "none"}),
        ("sales: BC status Cancelled", sales, {"bc_status": 5}),
        ("sales: one week", sales, week),
        ("sales: week + online + outlet", sales, {**week, "channel": "bigcommerce", "outlet": outlet.pk}),
        ("sales: sort by total", sales, {"sort": "-total"}),
        ("sales: sort by total, deep", sales, {"sort": "-total", "after": cursor_at(0.8, "-total")}),
        ("sales: oldest first", sales, {"sort": "date"}),
        ("sales: search invoice #", sales, {"q": "777777"}),
        ("sales: search order #", sales, {"q": "100123"}),
        ("sales: search last name", sales, {"q": "lovel"}),
        ("sales: search first + last", sales, {"q": f"{customer.first_name} {customer.last_name[:3]}"}),
        ("sales: search email", sales, {"q": customer.email_normalized[:12]}),
        ("sales: search, no match", sales, {"q": "zzyzx"}),
        ("sales: search + voided", sales, {"q": "smith", "status": "voided"}),
        ("failed: first page", failed, {}),
        ("failed: 100 per page", failed, {"per_page": 100}),
        ("failed: deep page", failed, {"page": int(pages * 0.9)}),
        ("failed: needs attention", failed, {"state": "needs_attention"}),
        ("failed: one reason", failed, {"reason": "unknown_status"}),
        ("failed: order #", failed, {"order": failing.bc_order_id}),
        ("failed: last try this week", failed, {"date_from": str(today - timedelta(days=7))}),
        ("sync log: first page", log, {}),
        ("sync log: errors", log, {"level": "error"}),
        ("sync log: one event", log, {"event": "product_created"}),
        ("sync log: order #", log, {"order": 100321}),
        ("sync log: deep page", log, {"after": _log_cursor(0.9)}),
    ]  # fmt: skip


PAGE_SIZE_CHECKS = [
    ("sales history", "/sales/", {}),
    ("sales history, search", "/sales/", {"q": "smith"}),
    ("failed orders", "/failed-orders/", {}),
    ("sync log", "/sync-log/", {}),
]


def _log_cursor(depth: float) -> str:
    from integration.models import SyncLogEntry
    from pos.keyset import _encode
    from pos.models import Retailer

    entries = SyncLogEntry.objects.filter(retailer=Retailer.objects.get(slug="bench"))
    row = entries.order_by("-created_at", "-pk").values("created_at", "pk")[int(entries.count() * depth)]
    return _encode(row["created_at"], row["pk"])


def measure(client, url: str, params: dict) -> tuple[list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        response = client.get(url, params)
        assert response.status_code == 200, (url, params, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    query_count = len(queries.captured_queries)  # read now: the next request resets the connection's query log
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        client.get(url, params)
        times.append((time.perf_counter() - started) * 1000)
    return times, query_count


def queries_by_page_size(client, url: str, params: dict) -> dict[int, int]:
    """The SQL statements of one request at every page size the page offers (25 to 200 rows)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dashboard.forms import PER_PAGE_CHOICES

    counts = {}
    for size, _ in PER_PAGE_CHOICES:
        client.get(url, {**params, "per_page": size})
        with CaptureQueriesContext(connection) as queries:
            client.get(url, {**params, "per_page": size})
        counts[size] = len(queries.captured_queries)
    return counts


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[-1]


def run(only: str = "") -> int:
    from django.test import Client

    from pos.models import User

    client = Client()
    client.force_login(User.objects.get(username="bench-admin"))
    print(f"{'scenario':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
    worst = 0.0
    for name, url, params in scenarios():
        if only not in name:
            continue
        times, queries = measure(client, url, params)
        worst = max(worst, p95(times))
        flag = "" if p95(times) <= GOAL_MS else "  over goal"
        print(f"{name:34} {statistics.median(times):8.1f} {p95(times):8.1f} {max(times):8.1f} {queries:8d}{flag}")
    print(f"worst p95: {worst:.1f} ms (goal {GOAL_MS} ms: {'met' if worst <= GOAL_MS else 'NOT met'})")
    # The floor: the same page through the same stack with no row to show (a search matching nothing).
    floor, _ = measure(client, "/sales/", {"q": "zzyzx"})
    print(f"floor, Sales history with no rows: p50 {statistics.median(floor):.1f} ms, p95 {p95(floor):.1f} ms")
    for name, params in (("first page (50 rows)", {}), ("200 rows", {"per_page": 200})):
        times, _ = measure(client, "/sales/", params)
        print(
            f"sales {name}: p50 {statistics.median(times):.1f} ms, p95 {p95(times):.1f} ms "
            f"({p95(times) / p95(floor):.1f}x the floor's p95)"
        )
    print(f"load average (1 min): {os.getloadavg()[0]:.2f}")
    constant = True
    for name, url, params in PAGE_SIZE_CHECKS:
        counts = queries_by_page_size(client, url, params)
        constant &= len(set(counts.values())) == 1
        print(f"queries by page size, {name}: " + ", ".join(f"{size} rows: {n}" for size, n in counts.items()))
    print("query count independent of page size" if constant else "query count GROWS with page size")
    return 0 if constant else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1,000,000 sales (default 100,000)")
    parser.add_argument("--rebuild", action="store_true", help="generate the data even if the size matches")
    parser.add_argument("--only", default="", help="only the scenarios whose name contains this text")
    args = parser.parse_args()
    setup()
    sales = 1_000_000 if args.full else 100_000
    if args.rebuild or data_size() != sales:
        build(sales)
    else:
        print(f"reusing {sales:,} sales already in the database")
    return run(args.only)


if __name__ == "__main__":
    sys.exit(main())
