"""The per-store BigCommerce rate limiter, coordinated through Redis so N workers together stay inside the quota.

BigCommerce gives each store one quota per window (e.g. 150 requests per 30 s), shared by every app and every
worker, and reports it on each response: `X-Rate-Limit-Requests-Quota`, `-Requests-Left`, `-Time-Window-Ms`,
`-Time-Reset-Ms`. The limiter keeps, per store hash, in Redis:

- what the newest response said: quota, window, requests left and when the window resets (absolute, Redis time);
- the requests granted but not answered yet (a sorted set of tickets, so a crashed worker's claims expire).

A request may start while `left - in flight - reserve > 0`. `reserve` is 0 for live traffic (webhook syncs,
pushes) and a fraction of the quota for bulk traffic (historical imports), so an import never starves live
syncs. Counting in-flight requests against `left` is conservative: a request the server already counted is
also still in flight until its response is observed; the error is at most the number in flight.

On a 429, every worker stops until the reset the server announced (`X-Rate-Limit-Time-Reset-Ms`); a 429 without
the headers (platform load) backs off exponentially, shared too. A wait longer than `max_wait` raises
`ApiRateLimited` so the job can reschedule instead of holding a worker. If Redis fails, calls go on
uncoordinated (BigCommerce's own 429s still protect the store) and a warning is logged.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from redis.exceptions import RedisError

from integration.exceptions import ApiRateLimited

logger = logging.getLogger(__name__)


class Priority(StrEnum):
    LIVE = "live"
    BULK = "bulk"


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """The four rate-limit headers of one response (None when a header is absent or unreadable)."""

    requests_left: int | None
    reset_ms: int | None
    window_ms: int | None
    quota: int | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitHeaders | None:
        """None when the response carries none of them (unlimited plans, platform-load 429s, errors)."""
        values = [_int_header(headers, f"X-Rate-Limit-{name}") for name in _HEADER_NAMES]
        return None if all(v is None for v in values) else cls(*values)

    @property
    def complete(self) -> bool:
        return None not in (self.requests_left, self.reset_ms, self.window_ms, self.quota)


_HEADER_NAMES = ("Requests-Left", "Time-Reset-Ms", "Time-Window-Ms", "Requests-Quota")


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(float(headers[name]))
    except (KeyError, TypeError, ValueError):
        return None


# Grant up to ARGV[6] requests at once (tickets ARGV[1]..":"..i), as many as the quota allows now. Returns
# {granted, wait_ms, known}: how long until the first ticket not granted might be (0 if all were), and whether that
# is a known moment (the window's end, a 429's reset: 1) or a probe's guess while the quota is unknown (0).
# `acquire` asks for one.
_ACQUIRE_MANY = """
local state, claims = KEYS[1], KEYS[2]
local prefix, claim_ttl, reserve_fraction, probe_limit, key_ttl, wanted =
    ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', claims, '-inf', now - claim_ttl)
local s = redis.call('HMGET', state, 'quota', 'window', 'left', 'reset_at', 'blocked_until', 'headerless')
local quota, window, left, reset_at = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), tonumber(s[4])
local blocked_until = tonumber(s[5])
if blocked_until and now < blocked_until then
    return {0, blocked_until - now, 1}
end
local in_flight = redis.call('ZCARD', claims)
local allowed, wait
local known = 1
if not quota or not window or not left or not reset_at then
    if s[6] == '1' then
        allowed = wanted
    else
        allowed, wait, known = math.max(probe_limit - in_flight, 0), 50, 0
    end
else
    if now >= reset_at then
        reset_at = reset_at + (math.floor((now - reset_at) / window) + 1) * window
        left = quota
        redis.call('HSET', state, 'left', left, 'reset_at', reset_at)
    end
    local reserve = math.ceil(quota * reserve_fraction)
    allowed, wait = math.max(left - in_flight - reserve, 0), math.max(reset_at - now, 1)
end
local granted = math.min(allowed, wanted)
for i = 1, granted do
    redis.call('ZADD', claims, now, prefix .. ':' .. i)
end
if granted > 0 then
    redis.call('PEXPIRE', claims, key_ttl)
end
if granted >= wanted then
    return {granted, 0, known}
end
return {granted, wait, known}
"""

# Give back tickets granted but never used (a batch that needed fewer calls than it reserved).
_RELEASE = """
return redis.call('ZREM', KEYS[1], unpack(ARGV))
"""

# Record one response: frees its ticket and folds its rate-limit headers into the shared state.
_OBSERVE = """
local state, claims = KEYS[1], KEYS[2]
local ticket, key_ttl = ARGV[1], tonumber(ARGV[2])
local left_h, reset_h, window_h, quota_h = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local headerless_ok, unanswered = ARGV[7], ARGV[8]
redis.call('ZREM', claims, ticket)
if unanswered == '1' then
    -- No response (timeout, connection dropped): the server may well have counted the request, so count it too.
    if redis.call('HEXISTS', state, 'left') == 1 then
        redis.call('HINCRBY', state, 'left', -1)
    end
    return 0
end
if headerless_ok == '1' then
    redis.call('HSET', state, 'headerless', '1')
    redis.call('PEXPIRE', state, key_ttl)
    return 0
end
if not left_h or not reset_h or not window_h or not quota_h then
    return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local new_reset = now + reset_h
local s = redis.call('HMGET', state, 'left', 'reset_at')
local left, reset_at = tonumber(s[1]), tonumber(s[2])
local tolerance = window_h / 2
if not left or not reset_at or new_reset > reset_at + tolerance then
    -- First observation, or a response from a newer window: it replaces what we knew.
    left, reset_at = left_h, new_reset
elseif new_reset >= reset_at - tolerance then
    -- Same window: responses arrive out of order, so the lowest count and the latest reset win.
    left, reset_at = math.min(left, left_h), math.max(reset_at, new_reset)
end
redis.call('HSET', state, 'quota', quota_h, 'window', window_h, 'left', left, 'reset_at', reset_at)
redis.call('HDEL', state, 'backoff', 'headerless')
redis.call('PEXPIRE', state, key_ttl)
return 0
"""

# A 429: nobody sends until the reset (or a shared, growing backoff when the server gave no reset).
_BLOCK = """
local state = KEYS[1]
local reset_ms, base_ms, cap_ms, key_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait
if reset_ms then
    wait = reset_ms
    redis.call('HSET', state, 'left', 0, 'reset_at', now + reset_ms)
else
    local level = redis.call('HINCRBY', state, 'backoff', 1)
    wait = math.min(base_ms * 2 ^ (level - 1), cap_ms)
end
local until_ms = now + wait
local current = tonumber(redis.call('HGET', state, 'blocked_until'))
if not current or current < until_ms then
    redis.call('HSET', state, 'blocked_until', until_ms)
end
redis.call('PEXPIRE', state, key_ttl)
return wait
"""


class Grant(int):
    """How many tickets a batch was granted (`StoreRateLimiter.reserved`), and `wait`: the seconds until the quota
    may grant more (0 when every ticket asked for was granted)."""

    wait: float

    def __new__(cls, granted: int, wait: float = 0.0) -> Grant:
        grant = super().__new__(cls, granted)
        grant.wait = wait
        return grant


class StoreRateLimiter:
    """Shares one store's BigCommerce quota between every worker, through Redis (keys named by store hash)."""

    #: Requests allowed in flight while the store's quota is still unknown (before any response).
    PROBE_LIMIT = 4
    #: A granted request not answered after this long is assumed dead (its worker crashed).
    CLAIM_TTL_MS = 120_000
    #: Backoff after a 429 without rate-limit headers: doubles from the base up to the cap.
    BACKOFF_BASE_MS = 1_000
    BACKOFF_CAP_MS = 60_000
    #: After a Redis failure, calls go uncoordinated this long before Redis is tried again.
    REDIS_RETRY_SECONDS = 30

    def __init__(
        self,
        store_hash: str,
        *,
        connection=None,
        max_wait: float | None = None,
        bulk_reserve: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """`max_wait` (seconds) and `bulk_reserve` (share of the quota) default to the BIGCOMMERCE_ settings."""
        self.store_hash = store_hash
        self.max_wait = settings.BIGCOMMERCE_RATE_LIMIT_MAX_WAIT if max_wait is None else max_wait
        self.bulk_reserve = settings.BIGCOMMERCE_BULK_RESERVE if bulk_reserve is None else bulk_reserve
        self._sleep = sleep
        self._connection = connection
        self._keys = (f"bc:ratelimit:{store_hash}:state", f"bc:ratelimit:{store_hash}:claims")
        self._scripts: dict[str, object] = {}
        self._redis_down_until = 0.0
        # Tickets granted ahead for a batch of calls (`reserved`), by priority; popped by `acquire`.
        self._pool: dict[Priority, deque[str]] = {Priority.LIVE: deque(), Priority.BULK: deque()}
        self._pool_lock = threading.Lock()

    # ------------------------------------------------------------ public

    def acquire(self, priority: Priority | str = Priority.LIVE) -> str:
        """Wait until the store's quota allows one more request; return its ticket for `observe`.

        Raises `ApiRateLimited` when the wait would exceed `max_wait` seconds.
        """
        pool = self._pool[Priority(priority)]
        if pool:
            with self._pool_lock:
                if pool:
                    return pool.popleft()
        prefix = uuid.uuid4().hex
        waited = 0.0
        while True:
            # Redis down: uncoordinated, not stopped.
            granted, wait_ms, _ = self._grant(prefix, 1, Priority(priority), default=(1, 0, 0))
            if granted:
                return f"{prefix}:1"
            wait = wait_ms / 1000.0
            if waited + wait > self.max_wait:
                raise ApiRateLimited(
                    f"store quota exhausted for {wait:.1f} s more ({priority} traffic)",
                    status=None,
                    reset_seconds=wait,
                )
            # A little jitter so workers released together do not all ask at the same millisecond.
            pause = wait + random.uniform(0, 0.02)
            self._sleep(pause)
            waited += pause

    @contextmanager
    def reserved(self, count: int, priority: Priority | str = Priority.LIVE, *, within: float = 0.0) -> Iterator[Grant]:
        """Take tickets for up to `count` calls about to be made, in one Redis round trip, for `acquire` to hand
        out without asking Redis again; yields how many were granted (as many as the quota allows now, perhaps
        none: the calls beyond them wait in `acquire` as usual), with `.wait`, the seconds until the quota may
        grant more: its window's end (0 when all were granted, while the quota is not known yet, or with Redis
        down). A wait no longer than `within` seconds is waited once and the rest asked for again, so a caller can
        leave the calls still not granted for later (`Grant.wait`) instead of waiting in `acquire`. Tickets left
        unused are given back at the end. Held tickets count as requests in flight, so workers together stay
        inside the quota as before."""
        priority = Priority(priority)
        granted: list[str] = []
        wait = 0.0
        if count > 1 or within:
            got = self._tickets(count, priority)
            if got is not None and got[1] and got[1] <= within:
                self._sleep(got[1])
                more = self._tickets(count - len(got[0]), priority)
                got = None if more is None else (got[0] + more[0], more[1])
            if got is not None:
                granted, wait = got
        pool = self._pool[priority]
        with self._pool_lock:
            pool.extend(granted)
        try:
            yield Grant(len(granted), wait)
        finally:
            with self._pool_lock:
                unused = set(granted).intersection(pool)
                kept = [t for t in pool if t not in unused]
                pool.clear()
                pool.extend(kept)
            if unused:
                self._run("release", *unused, default=0)

    def observe(self, ticket: str, headers: RateLimitHeaders | None, *, status: int | None) -> None:
        """Record a finished request (any outcome): frees its ticket and learns from its headers. A request that
        got no response (`status` None) still counts against the window's requests left."""
        values = (headers.requests_left, headers.reset_ms, headers.window_ms, headers.quota) if headers else (None,) * 4
        headerless_ok = headers is None and status is not None and 200 <= status < 300
        self._run(
            "observe",
            ticket,
            self._key_ttl_ms(),
            *("" if v is None else v for v in values),
            "1" if headerless_ok else "0",
            "1" if status is None else "0",
            default=0,
        )

    def rate_limited(self, headers: RateLimitHeaders | None) -> float:
        """Record a 429 and return the seconds every worker now waits before the next request."""
        reset_ms = headers.reset_ms if headers else None
        fallback = reset_ms if reset_ms is not None else self.BACKOFF_BASE_MS
        wait_ms = self._run(
            "block",
            "" if reset_ms is None else max(reset_ms, 1),
            self.BACKOFF_BASE_MS,
            self.BACKOFF_CAP_MS,
            self._key_ttl_ms(),
            default=fallback,
        )
        return float(wait_ms) / 1000.0

    def reset(self) -> None:
        """Forget what is known about the store (tests, or after a plan change)."""
        try:
            self._conn().delete(*self._keys)
        except RedisError:
            logger.warning("rate limiter: Redis unavailable, nothing to reset for store %s", self.store_hash)

    # ------------------------------------------------------------ internals

    def _tickets(self, count: int, priority: Priority) -> tuple[list[str], float] | None:
        """Up to `count` tickets as the quota allows now and the seconds until it may allow more: 0 while the quota
        is unknown (the first calls to a store are paced by `acquire`, as its probes are answered); None: Redis down."""
        prefix = uuid.uuid4().hex
        result = self._grant(prefix, count, priority, default=None)
        if result is None:
            return None
        tickets = [f"{prefix}:{i}" for i in range(1, int(result[0]) + 1)]
        return tickets, (int(result[1]) / 1000.0 if int(result[2]) else 0.0)

    def _grant(self, prefix: str, count: int, priority: Priority, *, default):
        """Up to `count` tickets (`prefix:1`...) as the quota allows now, in one round trip: (granted, wait_ms,
        known), the wait being until the first ticket not granted might be, and known 1 when that is a known moment
        (the window's end, a 429's reset), 0 for a probe's guess while the quota is unknown; `default` while Redis
        is down."""
        reserve = self.bulk_reserve if priority == Priority.BULK else 0.0
        return self._run(
            "acquire_many",
            prefix,
            self.CLAIM_TTL_MS,
            reserve,
            self.PROBE_LIMIT,
            self._key_ttl_ms(),
            count,
            default=default,
        )

    def _key_ttl_ms(self) -> int:
        return math.ceil(max(self.max_wait, 60.0) * 1000 * 4)

    def _conn(self):
        if self._connection is None:
            import django_rq

            self._connection = django_rq.get_connection("default")
        return self._connection

    def _run(self, name: str, *args, default):
        if time.monotonic() < self._redis_down_until:
            return default
        try:
            script = self._scripts.get(name)
            if script is None:
                source = {
                    "acquire_many": _ACQUIRE_MANY,
                    "release": _RELEASE,
                    "observe": _OBSERVE,
                    "block": _BLOCK,
                }[name]
                script = self._scripts[name] = self._conn().register_script(source)
            keys = {"block": self._keys[:1], "release": self._keys[1:]}.get(name, self._keys)
            result = script(keys=list(keys), args=list(args))
            return result if isinstance(result, list) else int(result)
        except RedisError as exc:
            # Do not pay Redis's connect timeouts on every API call while it is down: look again later.
            self._redis_down_until = time.monotonic() + self.REDIS_RETRY_SECONDS
            logger.warning(
                "rate limiter: Redis unavailable (%s); BigCommerce calls for store %s go uncoordinated for %d s",
                exc.__class__.__name__,
                self.store_hash,
                self.REDIS_RETRY_SECONDS,
            )
            return default
