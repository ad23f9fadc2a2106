"""The durable-work kernel on its own: requests, claims, leases, finishing, retries, fairness, periodic work."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from work import bell, kernel, registry
from work.models import QueueHead, WorkItem
from work.registry import Failure, Result, RetryPolicy

pytestmark = pytest.mark.django_db


class Flaky(Exception):
    pass


class Broken(Exception):
    pass


def _classify(exc):
    if isinstance(exc, Flaky):
        return Failure("flaky", "it failed, and may not next time", retryable=True)
    if isinstance(exc, Broken):
        return Failure("broken", "it cannot work", retryable=False)
    return None


@pytest.fixture
def kinds(monkeypatch):
    """Kinds of test work whose handler does what the test tells it; removed after the test."""
    monkeypatch.setattr(registry, "_kinds", {})
    monkeypatch.setattr(registry, "_classifier", _classify)
    ran: list[tuple[str, list[str]]] = []
    behaviour: dict[str, object] = {}
    recorded: list = []

    def handler_for(name):
        def handler(items):
            ran.append((name, [i.key for i in items]))
            outcome = behaviour.get(name)
            if callable(outcome):
                return outcome(items)
            if isinstance(outcome, BaseException):
                raise outcome
            return None

        return handler

    def make(name, **options):
        registry.declare(name, **{k: v for k, v in options.items() if k in ("queue", "priority")})
        rest = {k: v for k, v in options.items() if k not in ("queue", "priority")}
        return registry.handle(name, handler_for(name), on_failure=recorded.extend, **rest)

    make.ran = ran
    make.behaviour = behaviour
    make.recorded = recorded
    return make


def _row(name, key) -> WorkItem:
    return WorkItem.objects.get(kind=name, key=str(key))


def test_a_request_is_one_due_row_and_requests_while_it_waits_are_absorbed(kinds):
    kinds("t.sync")
    kernel.request("t.sync", 7, shard=1)
    kernel.request("t.sync", 7, shard=1)
    row = _row("t.sync", 7)
    assert WorkItem.objects.count() == 1
    assert row.requested == 2 and row.due_at <= timezone.now() and row.state == "due"


def test_drain_runs_due_work_in_batches_of_one_shard_and_deletes_what_it_finished(kinds):
    kinds("t.sync", batch=2)
    for key in range(5):
        kernel.request("t.sync", key, shard=1)
    kernel.request("t.sync", 99, shard=2)
    assert kernel.drain() == 6
    assert WorkItem.objects.count() == 0
    assert all(len(keys) <= 2 for _, keys in kinds.ran)
    assert ["99"] in [keys for _, keys in kinds.ran]


def test_work_due_later_waits_until_then(kinds):
    kinds("t.push")
    kernel.request("t.push", 1, shard=1, due=timezone.now() + timedelta(seconds=5))
    assert kernel.drain() == 0
    with time_machine.travel(timezone.now() + timedelta(seconds=6)):
        assert kernel.drain() == 1


def test_an_earlier_request_brings_waiting_work_forward_a_later_one_does_not_delay_it(kinds):
    kinds("t.push")
    soon = timezone.now() + timedelta(seconds=5)
    kernel.request("t.push", 1, shard=1, due=soon)
    kernel.request("t.push", 1, shard=1, due=soon + timedelta(seconds=5))
    assert _row("t.push", 1).due_at == soon
    kernel.request("t.push", 1, shard=1)
    assert _row("t.push", 1).due_at < soon


def test_a_request_while_the_work_runs_is_never_lost(kinds):
    """The lost wake-up: a request that lands between the claim and the finish keeps the work due."""
    kinds("t.sync")
    kernel.request("t.sync", 7, shard=1)

    def meanwhile(items):
        kernel.request("t.sync", 7, shard=1)  # a second webhook, while the first sync runs

    kinds.behaviour["t.sync"] = meanwhile
    claim = kernel.claim()
    kernel.run(claim)
    row = _row("t.sync", 7)
    assert row.state == "due" and row.lease_until is None and row.attempts == 0

    kinds.behaviour.clear()
    assert kernel.drain() == 1
    assert not WorkItem.objects.exists()


def test_claimed_work_is_not_claimed_twice_and_a_lapsed_lease_is_claimed_again(kinds):
    kinds("t.sync", lease=timedelta(seconds=30))
    kernel.request("t.sync", 1, shard=1)
    first = kernel.claim(worker="a")
    assert first is not None and kernel.claim(worker="b") is None
    # Worker a dies: nothing extends its lease.
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        second = kernel.claim(worker="b")
        assert second is not None and second.items[0].attempts == 2
        kernel.run(first)  # a's late finish changes nothing: b holds the work
        assert _row("t.sync", 1).claimed_by == "b"
        kernel.run(second)
    assert not WorkItem.objects.exists()


def test_a_transient_failure_is_retried_after_the_backoff_then_given_up(kinds):
    kinds("t.sync", retry=RetryPolicy(backoff=(timedelta(seconds=10), timedelta(seconds=60)), max_attempts=3))
    kinds.behaviour["t.sync"] = Flaky()
    kernel.request("t.sync", 1, shard=1)
    start = timezone.now()
    assert kernel.drain() == 1
    row = _row("t.sync", 1)
    assert row.state == "due" and row.attempts == 1 and row.last_error_code == "flaky"
    assert timedelta(seconds=10) <= row.due_at - start <= timedelta(seconds=12)
    kernel.request("t.sync", 1, shard=1)  # a webhook while it backs off does not bring the retry forward
    assert _row("t.sync", 1).due_at == row.due_at
    with time_machine.travel(row.due_at + timedelta(seconds=1)):
        kernel.drain()
        row = _row("t.sync", 1)
        assert row.attempts == 2 and row.due_at - timezone.now() > timedelta(seconds=55)
    with time_machine.travel(row.due_at + timedelta(seconds=1)):
        kernel.drain()
    row = _row("t.sync", 1)
    assert row.state == "failed" and row.attempts == 3 and row.due_at is None
    assert [a.retry_at is None for a in kinds.recorded] == [False, False, True]


def test_a_permanent_failure_gives_up_at_once_and_a_new_request_starts_afresh(kinds):
    kinds("t.sync")
    kinds.behaviour["t.sync"] = {0: None}
    kinds.behaviour["t.sync"] = lambda items: {items[0].pk: Broken()}
    kernel.request("t.sync", 1, shard=1)
    kernel.drain()
    assert _row("t.sync", 1).state == "failed"
    kinds.behaviour.clear()
    kernel.request("t.sync", 1, shard=1)
    row = _row("t.sync", 1)
    assert row.state == "due" and row.attempts == 0 and row.failed_at is None
    assert kernel.drain() == 1


def test_a_staff_retry_resets_the_backoff(kinds):
    kinds("t.sync")
    kinds.behaviour["t.sync"] = Flaky()
    kernel.request("t.sync", 1, shard=1)
    kernel.drain()
    kinds.behaviour.clear()
    kernel.request("t.sync", 1, shard=1, reset=True)
    assert _row("t.sync", 1).attempts == 0
    assert kernel.drain() == 1


def test_an_item_whose_worker_died_every_time_is_given_up_not_run_again(kinds):
    kinds("t.sync", lease=timedelta(seconds=5), retry=RetryPolicy(max_attempts=2))
    kernel.request("t.sync", 1, shard=1)
    kernel.claim(worker="doomed")  # claimed, then the worker is killed: the lease lapses
    with time_machine.travel(timezone.now() + timedelta(seconds=6)):
        kernel.claim(worker="doomed")  # again
        with time_machine.travel(timezone.now() + timedelta(seconds=6)):
            assert kernel.drain() == 1
    row = _row("t.sync", 1)
    assert row.state == "failed" and row.last_error_code == registry.WORKER_LOST_CODE
    assert kinds.ran == []


def test_live_work_goes_before_import_pages(kinds):
    kinds("t.import", queue="imports", priority=9)
    kinds("t.sync", queue="webhooks", priority=0)
    kernel.request("t.import", 1, shard=1, due=timezone.now() - timedelta(minutes=5))
    kernel.request("t.sync", 1, shard=2)
    kernel.drain()
    assert [name for name, _ in kinds.ran] == ["t.sync", "t.import"]


def test_a_quiet_store_is_served_while_a_busy_store_has_a_backlog(kinds):
    kinds("t.sync", batch=10)
    old = timezone.now() - timedelta(minutes=1)
    kernel.request_many("t.sync", [(f"noisy-{n}", 1, None) for n in range(100)], due=old)
    kernel.request("t.sync", "quiet", shard=2)
    first = kernel.claim(worker="a")
    assert first.items[0].shard == 1  # the oldest work first...
    second = kernel.claim(worker="b")
    assert [i.key for i in second.items] == ["quiet"]  # ...but the next worker serves the store nobody serves


def test_at_most_the_shard_concurrency_of_workers_serve_one_store(kinds, settings):
    settings.WORK_SHARD_CONCURRENCY = 2
    kinds("t.sync", batch=1)
    kernel.request_many("t.sync", [(n, 1, None) for n in range(10)])
    assert kernel.claim(worker="a") and kernel.claim(worker="b")
    assert kernel.claim(worker="c") is None


def test_a_drain_that_frees_a_store_at_its_cap_rings_the_queue_its_other_work_waits_on(kinds, settings, redis_conn):
    """Two workers on a store's order syncs; a bell for its stock push finds the store at its cap and is spent.
    When a sync worker's drain ends, the push's queue is rung again: with bells only, the push would wait forever."""
    settings.WORK_SHARD_CONCURRENCY = 2
    kinds("t.sync", queue="webhooks", batch=1)
    kinds("t.push", queue="default")
    kernel.request_many("t.sync", [("o1", 7, None), ("o2", 7, None)])
    kernel.request("t.push", "p", shard=7)
    assert kernel.claim(("webhooks",), worker="b")  # another worker holds the store's second sync
    spent: list[int] = []
    # While worker "a" runs the first sync, the push's bell reaches worker "c": the store has its two workers.
    kinds.behaviour["t.sync"] = lambda items: spent.append(kernel.drain(("default",), worker="c")) and None
    redis_conn.flushdb()

    assert kernel.drain(("webhooks",), worker="a") == 1

    assert spent == [0]
    assert _row("t.push", "p").lease_until is None  # still waiting, and now a bell says so:
    assert bell.get_queue("default").count == 1


def test_periodic_work_runs_again_after_its_interval_and_stops_when_told(kinds):
    kinds("t.reconcile", every=timedelta(minutes=5), seed=lambda: [("1", 1), ("2", 2)])
    assert kernel.ensure_periodic() == 2
    assert kernel.ensure_periodic() == 0
    assert kernel.drain() == 2
    row = _row("t.reconcile", 1)
    assert row.state == "due" and row.due_at > timezone.now() + timedelta(minutes=4)
    kinds.behaviour["t.reconcile"] = lambda items: {i.pk: Result.STOP for i in items}
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert kernel.drain() == 2
    assert not WorkItem.objects.exists()


def test_a_periodic_failure_is_recorded_and_the_next_run_still_comes(kinds):
    kinds("t.reconcile", every=timedelta(minutes=5), seed=lambda: [("1", 1)])
    kinds.behaviour["t.reconcile"] = Broken()
    kernel.ensure_periodic()
    kernel.drain()
    row = _row("t.reconcile", 1)
    assert row.state == "due" and row.last_error_code == "broken" and row.due_at > timezone.now()


def test_an_atomic_kind_rolls_back_its_work_with_a_failed_run(kinds):
    from pos.models import Retailer

    def create_then_fail(items):
        Retailer.objects.create(name="Half done", slug="half")
        raise Broken()

    kinds("t.event", atomic=True)
    kinds.behaviour["t.event"] = create_then_fail
    kernel.request("t.event", kernel.event_key(), shard=None)
    kernel.drain()
    assert not Retailer.objects.filter(slug="half").exists()
    assert WorkItem.objects.get().state == "failed"


def test_work_nobody_handles_is_finished_at_once(kinds):
    registry.declare("t.unheard")
    kernel.request("t.unheard", 1, shard=None)
    assert kernel.drain() == 1
    assert not WorkItem.objects.exists()


def test_one_bell_per_queue_per_transaction(kinds, monkeypatch):
    rung: list[list[str]] = []
    monkeypatch.setattr(bell, "ring", lambda queues: rung.append(list(queues)))
    kinds("t.sync", queue="webhooks")
    kinds("t.push", queue="default")
    with transaction.atomic():
        for n in range(50):
            kernel.request("t.sync", n, shard=1)
        kernel.request("t.push", 1, shard=1)
        assert rung == []  # nothing before the commit
    # pytest-django's test transaction never commits: run what would run at commit.
    assert rung == [] or rung == [["default", "webhooks"]]


def test_bells_waiting_on_a_queue_are_capped(redis_conn, settings):
    settings.WORK_BELL_CAP = 3
    assert sum(bell.ring(["webhooks"]) for _ in range(10)) == 3
    bell.taken("webhooks")
    assert bell.ring(["webhooks"]) == 1


def test_the_counts_per_kind(kinds):
    kinds("t.sync")
    kernel.request_many("t.sync", [(n, 1, None) for n in range(3)])
    kernel.claim(worker="a")
    assert kernel.counts() == [("t.sync", 2, 1, 0)]


def test_a_quiet_stores_work_runs_before_a_backlog_drains_with_one_worker(kinds):
    kinds("t.sync", batch=10)
    old = timezone.now() - timedelta(minutes=1)
    kernel.request_many("t.sync", [(f"noisy-{n}", 1, None) for n in range(100)], due=old)
    kernel.request("t.sync", "quiet", shard=2)
    assert kernel.drain() == 101
    batches = [keys for _, keys in kinds.ran]
    assert batches[1] == ["quiet"]  # one batch of the backlog, then the store with one new order
    assert len(batches) == 11 and WorkItem.objects.count() == 0


def test_stores_are_served_in_turn_least_recently_served_first(kinds):
    kinds("t.sync", batch=2)
    old = timezone.now() - timedelta(minutes=1)
    for shard in (1, 2, 3):
        kernel.request_many("t.sync", [(f"{shard}-{n}", shard, None) for n in range(4)], due=old)
    kernel.request("t.sync", "4-0", shard=4)  # the newest work, from a store never served
    kernel.drain()
    shards = [int(keys[0].split("-")[0]) for _, keys in kinds.ran]
    assert shards == [1, 2, 3, 4, 1, 2, 3]


@pytest.mark.postgres
def test_a_claim_takes_the_batch_in_one_statement_then_moves_the_queue_head(kinds, django_assert_num_queries):
    kinds("t.sync", batch=5)
    kernel.request_many("t.sync", [(n, 7, None) for n in range(8)])
    head = QueueHead.objects.get(kind="t.sync", shard=7)
    assert head.ready_at is not None and head.served_at is None  # the request made the queue due
    with django_assert_num_queries(1):  # the function: the claim and the head's move
        batch = kernel.claim(worker="a")
    assert len(batch.items) == 5 and {i.shard for i in batch.items} == {7}
    head.refresh_from_db()
    assert head.served_at is not None and head.ready_at == min(
        WorkItem.objects.filter(lease_until__isnull=True).values_list("due_at", flat=True)
    )
    assert WorkItem.objects.filter(claimed_by="a", lease_until__isnull=False).count() == 5
    kernel.claim(worker="b")
    head.refresh_from_db()
    assert head.ready_at is None  # nothing left due: off the line


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_in_autocommit_is_one_statement_committed_when_it_returns(kinds):
    """No BEGIN, no COMMIT, no planner settings of its own: the function call is the claim's transaction. When it
    returns, the leases are committed (another worker sees the rows taken), the queue's advisory lock is released
    and the planner settings are back to the session's."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    kinds("t.sync", batch=5)
    kernel.request_many("t.sync", [(n, 7, None) for n in range(3)])
    assert connection.get_autocommit()
    with CaptureQueriesContext(connection) as captured:  # Django logs BEGIN and COMMIT here too, when it sends them
        batch = kernel.claim(worker="a")
    assert [q["sql"].split("(")[0] for q in captured.captured_queries] == ["SELECT * FROM work_claim"]
    assert len(batch.items) == 3

    def seen_elsewhere():
        from django.db import connections

        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM work_workitem WHERE claimed_by = 'a' AND lease_until IS NOT NULL")
                leased = cursor.fetchone()[0]
                cursor.execute("SELECT pg_try_advisory_xact_lock(work_queue_lock('t.sync', 7))")
                return leased, cursor.fetchone()[0]
        finally:
            connections.close_all()

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(seen_elsewhere).result(timeout=30) == (3, True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('enable_bitmapscan')")
        assert cursor.fetchone() == ("on", "on")


@pytest.mark.postgres
def test_the_head_moves_to_the_due_time_of_the_work_the_claim_left(kinds):
    kinds("t.sync", batch=5)
    later = timezone.now() + timedelta(minutes=10)
    kernel.request_many("t.sync", [(n, 7, None) for n in range(3)])
    kernel.request("t.sync", "later", shard=7, due=later)
    head = QueueHead.objects.get(kind="t.sync", shard=7)
    assert head.ready_at <= timezone.now()  # due now: the three
    batch = kernel.claim(worker="a")
    assert sorted(i.key for i in batch.items) == ["0", "1", "2"]
    head.refresh_from_db()
    assert head.ready_at == later  # off the line until the work left is due...
    assert kernel.claim(worker="b") is None
    kernel.run(batch)
    with time_machine.travel(later + timedelta(seconds=1), tick=False):
        assert [i.key for i in kernel.claim(worker="b").items] == ["later"]  # ...then served
    head.refresh_from_db()
    assert head.ready_at is None


@pytest.mark.postgres
def test_the_claim_function_is_the_text_its_newest_migration_was_written_for():
    """The database keeps the claim function its migrations created: a change to `work.claim_sql` needs a new
    migration that runs the text again (see that module)."""
    import importlib
    import pkgutil

    from work import claim_sql, migrations

    written_for = [
        module.CLAIM_FUNCTION_SHA256
        for module in (
            importlib.import_module(f"work.migrations.{name}")
            for _, name, _ in sorted(pkgutil.iter_modules(migrations.__path__))
        )
        if hasattr(module, "CLAIM_FUNCTION_SHA256")
    ]
    assert written_for[-1] == claim_sql.CLAIM_FUNCTION_SHA256, "work.claim_sql changed: add a migration that runs it"


def test_a_store_with_one_new_order_is_served_next_behind_a_20000_row_backlog(kinds):
    kinds("t.sync", batch=50)
    old = timezone.now() - timedelta(minutes=10)
    kernel.request_many("t.sync", [(f"noisy-{n}", 1, None) for n in range(20_000)], due=old)
    assert len(kernel.claim(worker="a").items) == 50  # the flash sale is being served...
    kernel.request("t.sync", "quiet", shard=2)  # ...when a quiet store's order comes in
    claims = 0
    while True:
        batch = kernel.claim(worker="b")
        claims += 1
        if batch.items[0].shard == 2:
            break
    assert claims == 1 and [i.key for i in batch.items] == ["quiet"]
    assert WorkItem.objects.filter(due_at__isnull=False).count() == 20_000 - 50  # the backlog barely moved


@pytest.mark.postgres
def test_what_a_claim_reads_does_not_grow_with_the_backlog(kinds):
    kinds("t.sync", batch=50)
    read = {}
    for backlog in (200, 20_000):
        WorkItem.objects.all().delete()
        old = timezone.now() - timedelta(minutes=10)
        kernel.request_many("t.sync", [(f"noisy-{n}", 1, None) for n in range(backlog)], due=old)
        kernel.request_many("t.sync", [(f"quiet-{shard}", shard, None) for shard in range(2, 22)])
        read[backlog] = _rows_read_by_a_claim()
    # The batch through the queue's index, again by id to lease it, and the next due row for the head; a short
    # queue may be read whole instead (the planner's choice when that is cheaper).
    assert read[20_000] <= read[200] and read[20_000] == 50 + 50 + 1


def _rows_read_by_a_claim() -> int:
    """Rows of the work table the claim's statements read (auto_explain's plans of the claim, rolled back; with the
    statistics autovacuum keeps)."""
    from django.db import connection

    from tests.plans import plans, rows_read

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {WorkItem._meta.db_table}, {QueueHead._meta.db_table}")
    with plans(connection) as found, transaction.atomic():
        kernel.claim(worker="measure")
        transaction.set_rollback(True)
    return rows_read(found, WorkItem._meta.db_table)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_work_written_by_a_transaction_still_open_is_not_hidden_by_a_claim(kinds):
    """The head moves later only when no transaction writing to its queue is open: otherwise a row the claim cannot
    see yet would be left behind a head that says nothing is due."""
    import threading

    from django.db import connections

    kinds("t.sync", batch=10)
    kernel.request("t.sync", "early", shard=1)
    requested, release = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                kernel.request("t.sync", "late", shard=1)
                requested.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    assert requested.wait(30)
    assert [i.key for i in kernel.claim(worker="a").items] == ["early"]  # "late" is not committed yet
    release.set()
    thread.join(30)
    assert [i.key for i in kernel.claim(worker="a").items] == ["late"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rows_another_worker_locked_are_skipped_not_waited_for(kinds):
    kinds("t.sync", batch=2)
    kernel.request_many("t.sync", [(n, 1, None) for n in range(3)])
    with transaction.atomic():
        locked = list(WorkItem.objects.select_for_update().filter(key__in=["0", "1"]))
        assert len(locked) == 2
        other = _other_connection_claim()
    assert [i.key for i in other.items] == ["2"]


def _other_connection_claim():
    """A claim from another thread (its own database connection), as another worker's would be."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def claim():
        try:
            return kernel.claim(worker="other")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(claim).result(timeout=30)


def test_an_import_step_can_ask_whether_live_work_of_its_store_waits(kinds):
    kinds("t.import", queue="imports", priority=9)
    kinds("t.sync", queue="webhooks", priority=0)
    kernel.request("t.import", 1, shard=1)
    kernel.request("t.sync", 5, shard=2)
    assert not kernel.waiting(shard=1, before_priority=9)  # another store's orders: not this step's business
    kernel.request("t.sync", 6, shard=1)
    assert kernel.waiting(shard=1, before_priority=9)
    assert kernel.claim(only={"t.sync"}, worker="a") and kernel.claim(only={"t.sync"}, worker="b")
    assert not kernel.waiting(shard=1, before_priority=9)  # taken by a worker: nothing waits


def test_a_long_step_gives_way_to_another_stores_live_work_once_no_idle_worker_took_it(kinds, settings):
    """Another store's live work counts once it has waited longer than the grace (an idle worker's bell takes it
    first when there is one) and only while its store is below its cap of workers (else no worker can serve it)."""
    settings.WORK_SHARD_CONCURRENCY = 1
    kinds("t.import", queue="imports", priority=9)
    kinds("t.sync", queue="webhooks", priority=0)
    kernel.request("t.import", 1, shard=1)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        kernel.request("t.sync", 5, shard=2)
        kernel.request("t.sync", 6, shard=2)
        assert not kernel.waiting(shard=1, before_priority=9, others_after=0.25)  # just due: a bell's to take
    with time_machine.travel(start + timedelta(seconds=0.2), tick=False):
        assert not kernel.waiting(shard=1, before_priority=9, others_after=0.25)
    with time_machine.travel(start + timedelta(seconds=0.3), tick=False):
        assert kernel.waiting(shard=1, before_priority=9, others_after=0.25)  # no idle worker took it
        assert not kernel.waiting(shard=1, before_priority=9)  # (its own store's only, as before)
        assert not kernel.waiting(shard=1, before_priority=0, others_after=0.25)  # nothing before priority 0
        taken = kernel.claim(only={"t.sync"}, worker="a")
        assert [i.key for i in taken.items] == ["5"]  # store 2 is at its cap of one worker: 6 cannot be served
        assert not kernel.waiting(shard=1, before_priority=9, others_after=0.25)
        kernel.run(taken)
        assert kernel.waiting(shard=1, before_priority=9, others_after=0.25)  # below its cap again: 6 counts


def test_an_idle_worker_learns_when_work_requested_for_later_falls_due(kinds):
    kinds("t.sync", queue="webhooks", priority=0)
    kinds("t.push", queue="default")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert kernel.next_due() is None
        kernel.request("t.sync", 1, shard=1, due=start + timedelta(seconds=1))  # a settling order sync
        kernel.request("t.push", 2, shard=1, due=start + timedelta(seconds=0.5))
        kernel.request("t.sync", 3, shard=2)  # due now: the drain's, not the wait's
        assert kernel.next_due(["webhooks"]) == start + timedelta(seconds=1)
        assert kernel.next_due() == start + timedelta(seconds=0.5)
        assert kernel.drain(["webhooks"]) == 1
    with time_machine.travel(start + timedelta(seconds=0.7), tick=False):
        assert kernel.next_due(["default"], after=start) == start + timedelta(seconds=0.5)  # due since it looked
        assert kernel.next_due(["default"]) is None
        assert kernel.next_due(["webhooks"]) == start + timedelta(seconds=1)


@pytest.mark.parametrize("seed", range(12))
def test_property_random_backlogs_are_served_exactly_once_by_priority_and_in_turn(kinds, seed):
    """Random stores, backlogs, batch sizes and ages; one worker. Every item runs exactly once; priorities never go
    back up; and within a priority a store is served again only after every other store that had work of that
    priority waiting was served once."""
    rng = random.Random(seed)
    kinds("t.sync", priority=0, batch=rng.randint(1, 4))
    kinds("t.import", queue="imports", priority=9, batch=1)
    now = timezone.now()
    wanted: dict[str, list[str]] = {"t.sync": [], "t.import": []}
    for shard in range(1, rng.randint(2, 7) + 1):
        for name in ("t.sync", "t.import"):
            keys = [f"{shard}:{name}:{n}" for n in range(rng.choice([0, 1, 2, 5, 13, 30]))]
            for key in keys:
                kernel.request(name, key, shard=shard, due=now - timedelta(seconds=rng.randint(1, 600)))
            wanted[name] += keys
    left = {(name, int(k.split(":")[0])): 0 for name, keys in wanted.items() for k in keys}
    for name, keys in wanted.items():
        for key in keys:
            left[(name, int(key.split(":")[0]))] += 1
    served: list[tuple[int, int, set[int]]] = []  # (priority, shard, shards with work of that priority waiting)
    while (batch := kernel.claim()) is not None:
        shard = batch.items[0].shard
        waiting = {s for (name, s), n in left.items() if n and name == batch.kind.name}
        assert {i.shard for i in batch.items} == {shard} and shard in waiting
        served.append((batch.kind.priority, shard, waiting))
        kernel.run(batch)
        left[(batch.kind.name, shard)] -= len(batch.items)
    ran = [key for _, keys in kinds.ran for key in keys]
    assert sorted(ran) == sorted(wanted["t.sync"] + wanted["t.import"])  # exactly once
    priorities = [p for p, _, _ in served]
    assert priorities == sorted(priorities)  # live work before every import page
    for i, (priority, shard, waiting) in enumerate(served):
        later = [j for j in range(i + 1, len(served)) if served[j][:2] == (priority, shard)]
        if later:
            between = {s for p, s, _ in served[i + 1 : later[0]] if p == priority}
            assert waiting - {shard} <= between, f"store {shard} served twice before {waiting - between - {shard}}"


@pytest.mark.parametrize("seed", range(6))
def test_property_no_store_ever_has_more_workers_than_its_cap(kinds, settings, seed):
    """Random claims and finishes by several workers: at no time do more than WORK_SHARD_CONCURRENCY workers hold
    one store's work, and a worker finds nothing only when every store with due work is at its cap."""
    rng = random.Random(seed)
    settings.WORK_SHARD_CONCURRENCY = cap = rng.randint(1, 3)
    kinds("t.sync", batch=rng.randint(1, 3))
    for shard in range(1, rng.randint(2, 5) + 1):
        kernel.request_many("t.sync", [(f"{shard}-{n}", shard, None) for n in range(rng.randint(1, 20))])
    holding: dict[str, kernel.Claim] = {}
    workers = [f"w{n}" for n in range(rng.randint(2, 8))]
    while WorkItem.objects.exists():
        worker = rng.choice(workers)
        if worker in holding:
            kernel.run(holding.pop(worker))
            continue
        batch = kernel.claim(worker=worker)
        per_shard = Counter(c.items[0].shard for c in holding.values())
        if batch is None:
            due = set(WorkItem.objects.filter(lease_until__isnull=True).values_list("shard", flat=True))
            assert all(per_shard[s] >= cap for s in due)
            continue
        holding[worker] = batch
        per_shard[batch.items[0].shard] += 1
        assert max(per_shard.values()) <= cap
