"""The kinds of background work, each declared once: its queue, priority, batch, lease, retry policy and handler.

A kind is declared by the code that causes the work (`pos` declares "stock moved", `integration` "order sync")
and handled by the code that does it (`integration` handles "stock moved" by pushing levels to BigCommerce), so
the POS records what happened without importing the link. Work of a kind nobody handles is finished at once.

One function turns an exception into a `Failure` (a reason code, a sentence, whether it is worth retrying):
`failure_for`, which the link extends with its own errors (`set_classifier`). Each kind's `RetryPolicy` then says
what happens: try again after a backoff, or give up and wait for a new request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from work.models import WorkItem

QUEUE_WEBHOOKS = "webhooks"
QUEUE_DEFAULT = "default"
QUEUE_IMPORTS = "imports"
QUEUES = (QUEUE_WEBHOOKS, QUEUE_DEFAULT, QUEUE_IMPORTS)


@dataclass(frozen=True)
class Failure:
    """Why a run failed: a code for filters and logs, a sentence for people, and whether to try again."""

    code: str
    message: str
    retryable: bool
    retry_after: timedelta | None = None  # at least this long before the next try (a rate limit's reset)
    detail: str = ""  # what the error itself said, for the domain's own sentence


INTERNAL_FAILURE_CODE = "internal_error"
WORKER_LOST_CODE = "worker_lost"


def _default_classifier(exc: BaseException) -> Failure | None:
    return None


_classifier: Callable[[BaseException], Failure | None] = _default_classifier


def set_classifier(classifier: Callable[[BaseException], Failure | None]) -> None:
    """Install the function that knows the product's own errors (the link's `ErrorCode.for_exception`)."""
    global _classifier
    _classifier = classifier


class WorkerLost(Exception):
    """Every run of an item ended without finishing: its worker stopped (killed, its machine lost) each time."""


def failure_for(exc: BaseException) -> Failure:
    """The one mapping from an exception to a failure. Anything the classifier does not know is an error on our
    side: worth a few retries (a deadlock, a restarted database), then someone must look."""
    if isinstance(exc, WorkerLost):
        return Failure(
            WORKER_LOST_CODE, "its worker stopped before it finished, every time it ran", retryable=False, detail=""
        )
    known = _classifier(exc)
    if known is not None:
        return known
    name = exc.__class__.__name__
    return Failure(INTERNAL_FAILURE_CODE, f"an error on our side ({name})", retryable=True, detail=name)


@dataclass(frozen=True)
class RetryPolicy:
    """What a kind does after a failed run: wait `backoff[attempt - 1]` (the last one repeats) and try again, up to
    `max_attempts` runs (None: never give up), unless the failure is permanent. `delays` overrides the wait for a
    reason code (a rejected token is retried hourly by pushes, say)."""

    backoff: tuple[timedelta, ...] = (
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(minutes=30),
        timedelta(hours=1),
    )
    max_attempts: int | None = 6
    delays: dict[str, timedelta] = field(default_factory=dict)
    retry_codes: frozenset[str] = frozenset()  # permanent failures this kind retries anyway

    def next_delay(self, failure: Failure, attempts: int) -> timedelta | None:
        """How long until the next try after `attempts` runs, or None to give up."""
        if not (failure.retryable or failure.code in self.retry_codes):
            return None
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return None
        delay = self.delays.get(failure.code) or self.backoff[min(max(attempts, 1), len(self.backoff)) - 1]
        if failure.retry_after is not None:
            delay = max(delay, failure.retry_after)
        return delay


class Result:
    """What a handler says about one item besides raising: done, or (periodic kinds) done and never again."""

    DONE = "done"
    STOP = "stop"


@dataclass(frozen=True)
class Deferred:
    """What a handler says about an item it did not run (what it needs cannot serve it now: its store's API quota
    is spent until its window ends): due again at `until`, as if it had never been claimed: no attempt counted, no
    error recorded, its place in the queue by its new due time. The worker is free at once for other work.

    With `queue_waits`, the rest of its queue (the same kind and store) due before `until` waits with it: what
    could not serve this item cannot serve those either, and without it every worker free to take the queue would
    claim its backlog batch after batch only to give each back, until the time came."""

    until: datetime
    queue_waits: bool = False


@dataclass(frozen=True)
class Attempt:
    """A failed run as the kernel decided it, for the kind's `on_failure` to record in its own words."""

    item: WorkItem
    failure: Failure
    retry_at: Any  # datetime of the next try, or None: gave up


Handler = Callable[[Sequence["WorkItem"]], dict[int, Any] | None]


@dataclass
class Kind:
    """One kind of background work. `handler(items)` runs a batch of one shard's items and returns
    `{item.id: Result.DONE | Result.STOP | Deferred | exception}` (missing ids are done); raising fails the whole
    batch.
    `on_failure(attempts)` records failed runs in the domain's own rows, in the kernel's transaction."""

    name: str
    queue: str = QUEUE_DEFAULT
    priority: int = 5
    batch: int = 1
    lease: timedelta = timedelta(seconds=60)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    handler: Handler | None = None
    on_failure: Callable[[Sequence[Attempt]], None] | None = None
    # Periodic kinds run again `every` after each run (at the time of day `at`, UTC, when given); `seed()` names
    # the (key, shard) pairs that must exist.
    every: timedelta | None = None
    at: time | None = None
    seed: Callable[[], Iterable[tuple[str, int | None]]] | None = None
    # Run the handler and the kernel's bookkeeping in one transaction (handlers that make no remote call).
    atomic: bool = False

    def __post_init__(self) -> None:
        if self.queue not in QUEUES:
            raise ValueError(f"unknown queue {self.queue!r} for {self.name}")

    def next_run(self, now: datetime) -> datetime:
        """When a periodic kind runs next after a run ending `now`."""
        if self.at is None:
            return now + self.every
        moment = now.replace(hour=self.at.hour, minute=self.at.minute, second=0, microsecond=0)
        return moment if moment > now else moment + timedelta(days=1)

    def first_run(self, now: datetime) -> datetime:
        """When a periodic kind's new row first runs: at once, or at its time of day."""
        return now if self.at is None else self.next_run(now)


_kinds: dict[str, Kind] = {}


def declare(name: str, **options) -> Kind:
    """Declare a kind (once; declaring it again with the same options returns it)."""
    kind = Kind(name=name, **options)
    existing = _kinds.get(name)
    if existing is not None:
        if existing.queue != kind.queue or existing.priority != kind.priority:
            raise ValueError(f"work kind {name} declared twice with different queues or priorities")
        return existing
    _kinds[name] = kind
    return kind


def handle(
    kind: Kind | str,
    handler: Handler,
    *,
    retry: RetryPolicy | None = None,
    on_failure: Callable[[Sequence[Attempt]], None] | None = None,
    **options,
) -> Kind:
    """Attach the handler (and its retry policy and options) to a declared kind."""
    declared = get(kind.name if isinstance(kind, Kind) else kind)
    declared.handler = handler
    declared.on_failure = on_failure
    if retry is not None:
        declared.retry = retry
    for name, value in options.items():
        if not hasattr(declared, name):
            raise TypeError(f"unknown work kind option {name}")
        setattr(declared, name, value)
    return declared


def get(name: str) -> Kind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"no work kind named {name!r}") from None


def kinds(queues: Iterable[str] | None = None) -> list[Kind]:
    """Declared kinds, of these queues (default: all), by priority."""
    wanted = set(queues) if queues is not None else set(QUEUES)
    return sorted((k for k in _kinds.values() if k.queue in wanted), key=lambda k: (k.priority, k.name))
