"""Which BigCommerce products exist: a per-link cache of catalog product ids in Redis.

The sync must tell a product it has never seen from one BigCommerce deleted (which becomes a placeholder). Asking
the catalog for every order with a first-seen product would add an API call to most orders of a newly linked
store; instead the whole catalog's ids are read once (250 per call, as the link's `bc.catalog_ids` work when the
store is linked and daily after), and only products missing from that list are asked about. A product deleted
since the last refresh is, until the next one, taken as existing: it is then created as a normal product for
review rather than a placeholder (the order still syncs either way). Without the cache (Redis flushed, first
minutes of a link) the sync simply asks, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from redis.exceptions import RedisError

from integration.models import StoreLink
from work import kernel
from work.bell import redis_connection

logger = logging.getLogger("integration.catalog")

CATALOG_IDS = "bc.catalog_ids"
TTL_SECONDS = 26 * 3600  # refreshed daily; the margin covers a late refresh
CHUNK = 1000


def _key(link_id: int) -> str:
    return f"bc:catalog-ids:{link_id}"


def catalog_ids_refresh(*, link: StoreLink, client) -> int:
    """Read every product id of the store's catalog into the cache. Returns how many."""
    ids = list(client.iter_product_ids())
    conn = redis_connection()
    staging = f"{_key(link.pk)}:staging"
    pipe = conn.pipeline()
    pipe.delete(staging)
    for start in range(0, len(ids), CHUNK):
        pipe.sadd(staging, *ids[start : start + CHUNK])
    if ids:
        pipe.rename(staging, _key(link.pk))
    else:
        pipe.delete(_key(link.pk))
        pipe.sadd(_key(link.pk), 0)  # an empty catalog is still a known catalog
    pipe.expire(_key(link.pk), TTL_SECONDS)
    pipe.execute()
    return len(ids)


def catalog_ids_missing(*, link: StoreLink, ids: Iterable[int]) -> list[int]:
    """Of `ids`, those the cache does not show as existing (all of them when there is no cache yet; a refresh
    is then requested)."""
    ids = sorted(set(ids))
    if not ids:
        return []
    try:
        conn = redis_connection()
        if not conn.exists(_key(link.pk)):
            # Before the next order syncs (its priority): the orders behind it need no catalog call of their own.
            catalog_ids_request(link=link)
            return ids
        known = conn.smismember(_key(link.pk), ids)
    except RedisError as exc:
        logger.warning("catalog id cache unavailable (%s); asking BigCommerce", exc)
        return ids
    return [i for i, present in zip(ids, known, strict=True) if not present]


def catalog_ids_cover(*, link: StoreLink, ids: Iterable[int]) -> bool:
    """Whether the cache shows every one of `ids` as existing (False without a cache, or if Redis fails: the
    caller then asks as `catalog_ids_missing` says). One Redis round trip."""
    ids = sorted(set(ids))
    if not ids:
        return True
    try:
        return all(redis_connection().smismember(_key(link.pk), ids))
    except RedisError:
        return False


def catalog_ids_add(*, link: StoreLink, ids: Iterable[int]) -> None:
    """Record products seen to exist (only into an existing cache: a partial list must not pass for a full one)."""
    ids = list(ids)
    if not ids:
        return
    try:
        conn = redis_connection()
        if conn.exists(_key(link.pk)):
            conn.sadd(_key(link.pk), *ids)
    except RedisError:
        pass


def catalog_ids_request(*, link: StoreLink) -> None:
    """Ask for the link's catalog ids to be read now (it is periodic work: it then runs daily)."""
    kernel.request(CATALOG_IDS, link.pk, shard=link.retailer_id)
