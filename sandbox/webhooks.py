"""The webhook deliverer: POSTs BigCommerce's thin callbacks to the hooks registered through the API.

Each event becomes one delivery per active hook whose scope matches (`store/order/*` matches every order
event). The body is shaped exactly like BigCommerce's samples (`scope`, `store_id` as a string, `data`, `hash`,
`created_at`, `producer`); the hook's custom headers are sent with it, plus Standard Webhooks headers
(`webhook-id`, `webhook-timestamp`, `webhook-signature` signed with the app's client secret).

A delivery that fails (no 2xx, or no answer) is retried on `retry_schedule`, BigCommerce's 60 s ... 24 h
shortened to seconds; when the schedule is exhausted the hook is deactivated, as BigCommerce does. On request,
every delivery is sent twice (`duplicates`, same hash and webhook-id) and deliveries are released in reverse
order after a short hold (`out_of_order`).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from sandbox.store import SandboxStore

logger = logging.getLogger(__name__)

DEFAULT_RETRY_SCHEDULE = (1.0, 3.0, 5.0, 10.0, 15.0)


@dataclass(slots=True)
class Delivery:
    hook_id: int
    body: bytes
    event_id: str
    scope: str
    resource_id: int | None
    attempt: int = 1
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    at: float
    hook_id: int
    scope: str
    resource_id: int | None
    event_id: str
    attempt: int
    status: int | None
    error: str
    duplicate: bool

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def scope_matches(hook_scope: str, scope: str) -> bool:
    return hook_scope == scope or (hook_scope.endswith("/*") and scope.startswith(hook_scope[:-1]))


class WebhookDeliverer:
    """A background thread sending deliveries when they are due. `emit` never blocks on the network."""

    def __init__(self, store: SandboxStore, *, timeout: float = 5.0):
        self.store = store
        self.timeout = timeout
        self.retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
        self.duplicates = False
        self.out_of_order = False
        self.hold_seconds = 0.3
        self.attempts: deque[DeliveryAttempt] = deque(maxlen=10_000)
        self._queue: list[tuple[float, int, Delivery]] = []
        self._held: list[Delivery] = []
        self._held_since = 0.0
        self._sending = 0
        self._seq = itertools.count()
        # Event hashes are unique across restarts too, as BigCommerce's are: a receiver that remembers the hashes
        # of a previous run (the demo's database) must not take a new event for a duplicate.
        self._salt = uuid.uuid4().hex
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._local = threading.local()  # a requests session per sender thread
        self.senders = 1

    # ------------------------------------------------------------ producing

    def emit(self, scope: str, data: dict, *, resource_id: int | None = None) -> None:
        """Queue `scope` with `data` for every active hook listening to it."""
        hooks = [h for h in self.store.hooks.values() if h.is_active and scope_matches(h.scope, scope)]
        if not hooks:
            return
        created_at = int(time.time())
        digest = hashlib.sha1(
            f"{scope}|{json.dumps(data, sort_keys=True)}|{self._salt}|{next(self._seq)}".encode()
        ).hexdigest()
        payload = {
            "scope": scope,
            "store_id": str(self.store.settings.store_id),
            "data": data,
            "hash": digest,
            "created_at": created_at,
            "producer": f"stores/{self.store.settings.store_hash}",
        }
        body = json.dumps(payload, ensure_ascii=False).encode()
        with self._cond:
            for hook in hooks:
                copies = [False, True] if self.duplicates else [False]
                for duplicate in copies:
                    delivery = Delivery(hook.id, body, f"msg_{digest[:24]}", scope, resource_id, duplicate=duplicate)
                    if self.out_of_order:
                        if not self._held:
                            self._held_since = time.monotonic()
                        self._held.append(delivery)
                    else:
                        self._push(delivery, 0.05 if duplicate else 0.0)
            self._cond.notify_all()

    def _push(self, delivery: Delivery, delay: float) -> None:
        heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), delivery))

    # ------------------------------------------------------------ running

    def start(self) -> None:
        """Start the sender threads (`senders` of them: deliveries go out that many at a time, as BigCommerce
        sends a busy store's callbacks concurrently)."""
        with self._cond:
            self._stopping = False
            while len(self._threads) < self.senders:
                thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._threads.append(thread)
                thread.start()

    def set_senders(self, count: int) -> None:
        """Deliver `count` at a time from now on (more threads start at once if it runs; fewer take effect at
        the next start)."""
        if count < 1:
            raise ValueError("senders must be at least 1")
        self.senders = count
        if self._threads:
            self.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def clear(self) -> None:
        """Drop every pending delivery and the attempt log (a reset)."""
        with self._cond:
            self._queue.clear()
            self._held.clear()
            self.attempts.clear()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued, held or being sent; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._held or self._sending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = time.monotonic()
                if self._held and now - self._held_since >= self.hold_seconds:
                    for delivery in reversed(self._held):
                        self._push(delivery, 0.0)
                    self._held.clear()
                if not self._queue or self._queue[0][0] > now:
                    due = self._queue[0][0] - now if self._queue else 0.5
                    self._cond.wait(min(due, 0.05 if self._held else 0.5))
                    continue
                _, _, delivery = heapq.heappop(self._queue)
                self._sending += 1
            try:
                self._deliver(delivery)
            finally:
                with self._cond:
                    self._sending -= 1
                    self._cond.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        hook = self.store.hooks.get(delivery.hook_id)
        if hook is None or not hook.is_active:
            return
        status, error = None, ""
        try:
            session = getattr(self._local, "session", None)
            if session is None:
                session = self._local.session = requests.Session()
            response = session.post(
                hook.destination,
                data=delivery.body,
                headers=self._headers(hook.headers, delivery),
                timeout=self.timeout,
            )
            status = response.status_code
        except requests.RequestException as exc:
            error = exc.__class__.__name__
        attempt = DeliveryAttempt(
            time.time(),
            hook.id,
            delivery.scope,
            delivery.resource_id,
            delivery.event_id,
            delivery.attempt,
            status,
            error,
            delivery.duplicate,
        )
        self.attempts.append(attempt)
        if attempt.ok:
            return
        logger.info("sandbox webhook %s to %s failed (%s)", delivery.scope, hook.destination, status or error)
        if delivery.attempt <= len(self.retry_schedule):
            delay = self.retry_schedule[delivery.attempt - 1]
            delivery.attempt += 1
            with self._cond:
                self._push(delivery, delay)
        else:
            self.store.deactivate_hook(hook.id)

    def _headers(self, custom: dict[str, str], delivery: Delivery) -> dict[str, str]:
        timestamp = str(int(time.time()))
        key = self.store.settings.client_secret.encode()
        signed = f"{delivery.event_id}.{timestamp}.".encode() + delivery.body
        signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return {
            **custom,
            "Content-Type": "application/json",
            "User-Agent": "BigCommerce sandbox webhooks",
            "webhook-id": delivery.event_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": f"v1,{signature}",
        }
