"""Login throttling: too many failed sign-ins for a username or from an address locks it out for a while.

Failures count against the identity Django signs in with, not the text typed: the sign-in form strips the
username and NFKC-normalises it (`UsernameField`, like `AbstractBaseUser.normalize_username`), so "ａ-staff",
"𝐚-staff" and "ª-staff" all sign in as "a-staff" and must all use up a-staff's attempts. Case is folded on top
(a stricter count than Django's case-sensitive lookup, never a looser one).

Counters live in the cache (Redis), each with the time its window ends, read from the clock: Redis expires the
counters at the same moment, and a test can move the clock instead of waiting. If Redis is unreachable the
throttle fails open and says so in the log: refusing every merchant's sign-in because a cache is down would be
worse than a brief gap in throttling.
"""

from __future__ import annotations

import hashlib
import logging
import time
import unicodedata

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

IP_ALLOWANCE_FACTOR = 4
# Longer names cannot sign in (the username column holds 150); normalising megabytes would only cost CPU.
MAX_USERNAME_CHARS = 300


def login_identity(username: str) -> str:
    """The account a sign-in with `username` would reach, as the throttle counts it: stripped and NFKC-normalised
    as Django's sign-in form does, then case-folded (and normalised again, as folding can un-normalise)."""
    name = unicodedata.normalize("NFKC", username.strip()[:MAX_USERNAME_CHARS])
    return unicodedata.normalize("NFKC", name.casefold())


def _keys(username: str, ip: str) -> list[str]:
    user_digest = hashlib.sha256(login_identity(username).encode()).hexdigest()[:32]
    return [f"login-fail:user:{user_digest}", f"login-fail:ip:{ip}"]


def _until(key: str) -> str:
    return f"{key}:until"


def _live_counts(keys: list[str]) -> dict[str, int | None]:
    """Each key's failures in its current window; None when the key holds a window that has ended by the clock
    (Redis has not expired it yet only when clocks disagree: a test's controlled clock, or skew). A counter whose
    end is not written yet (the first failure is being recorded) is live."""
    values = cache.get_many([*keys, *map(_until, keys)])
    now = time.time()
    counts: dict[str, int | None] = {}
    for key in keys:
        until = values.get(_until(key))
        if key not in values:
            counts[key] = 0
        elif until is not None and now >= float(until):
            counts[key] = None
        else:
            counts[key] = int(values[key])
    return counts


def login_throttle_is_locked(*, username: str, ip: str) -> bool:
    """True when the username or the address has used up its failed attempts in the current window."""
    user_key, ip_key = _keys(username, ip)
    try:
        counts = _live_counts([user_key, ip_key])
    except Exception:  # noqa: BLE001 - any cache failure: fail open, but say so
        logger.warning("login throttle unavailable (cache unreachable); allowing the attempt")
        return False
    limit = settings.LOGIN_THROTTLE_ATTEMPTS
    # An address (an office, a shop's wifi) is shared by several people: it gets a larger allowance.
    return (counts[user_key] or 0) >= limit or (counts[ip_key] or 0) >= limit * IP_ALLOWANCE_FACTOR


def login_throttle_record_failure(*, username: str, ip: str) -> None:
    window = settings.LOGIN_THROTTLE_WINDOW_SECONDS
    keys = _keys(username, ip)
    try:
        ended = [key for key, count in _live_counts(keys).items() if count is None]
        if ended:
            cache.delete_many([*ended, *map(_until, ended)])
        for key in keys:
            if cache.add(key, 1, timeout=window):
                cache.set(_until(key), time.time() + window, timeout=window)
                continue
            cache.incr(key)
    except Exception:  # noqa: BLE001
        logger.warning("login throttle unavailable (cache unreachable); failure not counted")


def login_throttle_reset(*, username: str, ip: str) -> None:
    user_key = _keys(username, ip)[0]
    try:
        cache.delete_many([user_key, _until(user_key)])
    except Exception:  # noqa: BLE001
        logger.warning("login throttle unavailable (cache unreachable)")
