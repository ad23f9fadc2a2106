"""Login throttling: too many failed sign-ins for a username or from an address locks it out for a while.

Counters live in the cache (Redis). If Redis is unreachable the throttle fails open and says so in the log:
refusing every merchant's sign-in because a cache is down would be worse than a brief gap in throttling.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

IP_ALLOWANCE_FACTOR = 4


def _keys(username: str, ip: str) -> list[str]:
    user_digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:user:{user_digest}", f"login-fail:ip:{ip}"]


def login_throttle_is_locked(*, username: str, ip: str) -> bool:
    """True when the username or the address has used up its failed attempts in the current window."""
    try:
        counts = cache.get_many(_keys(username, ip))
    except Exception:  # noqa: BLE001 - any cache failure: fail open, but say so
        logger.warning("login throttle unavailable (cache unreachable); allowing the attempt")
        return False
    user_key, ip_key = _keys(username, ip)
    limit = settings.LOGIN_THROTTLE_ATTEMPTS
    # An address (an office, a shop's wifi) is shared by several people: it gets a larger allowance.
    return int(counts.get(user_key, 0)) >= limit or int(counts.get(ip_key, 0)) >= limit * IP_ALLOWANCE_FACTOR


def login_throttle_record_failure(*, username: str, ip: str) -> None:
    window = settings.LOGIN_THROTTLE_WINDOW_SECONDS
    try:
        for key in _keys(username, ip):
            if cache.add(key, 1, timeout=window):
                continue
            cache.incr(key)
    except Exception:  # noqa: BLE001
        logger.warning("login throttle unavailable (cache unreachable); failure not counted")


def login_throttle_reset(*, username: str, ip: str) -> None:
    try:
        cache.delete(_keys(username, ip)[0])
    except Exception:  # noqa: BLE001
        logger.warning("login throttle unavailable (cache unreachable)")
