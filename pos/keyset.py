"""Keyset ("seek") pagination for lists that grow to millions of rows.

`OFFSET 500000` makes the database walk half a million rows, and a page-number pager needs `COUNT(*)` over the
whole filtered set on every view. A keyset page instead starts where the previous one stopped: the next page is
"rows ordered by (key, id) that come after the last row shown", which an index on (key, id) answers by reading
exactly one page. The price is that pages have no numbers: links say newer / older and first page.

A cursor is an opaque, URL-safe token of the boundary row's (key, id). A tampered cursor is ignored (first page).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet


@dataclass(frozen=True)
class KeysetPage:
    """One page of a keyset-paginated list, with the cursors of its neighbours (None at either end)."""

    object_list: list[Any]
    next_cursor: str | None = None
    previous_cursor: str | None = None

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)


def _encode(value: Any, pk: int) -> str:
    raw = json.dumps([value.isoformat() if hasattr(value, "isoformat") else str(value), pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(queryset: QuerySet, key: str, cursor: str | None) -> tuple[Any, int] | None:
    if not cursor:
        return None
    try:
        raw, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return queryset.model._meta.get_field(key).to_python(raw), int(pk)
    except (ValueError, TypeError, binascii.Error, ValidationError):
        return None


def _beyond(key: str, value: Any, pk: int, *, descending: bool) -> Q:
    """Rows strictly after (value, pk) in the given direction. The first clause lets the index range start at
    the boundary; the second breaks ties on the key by id."""
    op, eq = ("lt", "lte") if descending else ("gt", "gte")
    return Q(**{f"{key}__{eq}": value}) & (Q(**{f"{key}__{op}": value}) | Q(**{key: value, f"pk__{op}": pk}))


def keyset_page(
    queryset: QuerySet,
    *,
    key: str,
    descending: bool = True,
    after: str | None = None,
    before: str | None = None,
    per_page: int = 50,
) -> KeysetPage:
    """The page of `queryset` ordered by (`key`, id) that starts after cursor `after` (or ends before cursor
    `before`; neither: the first page). One query, reading per_page + 1 rows."""
    after_key = _decode(queryset, key, after)
    before_key = None if after_key else _decode(queryset, key, before)
    backwards = before_key is not None
    forward_desc = descending != backwards
    order = [f"-{key}", "-pk"] if forward_desc else [key, "pk"]
    qs = queryset.order_by(*order)
    boundary = after_key or before_key
    if boundary is not None:
        qs = qs.filter(_beyond(key, *boundary, descending=forward_desc))
    rows = list(qs[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()
    if not rows:
        return KeysetPage(object_list=[])
    first, last = rows[0], rows[-1]
    has_next = more if not backwards else True
    has_previous = more if backwards else boundary is not None
    return KeysetPage(
        object_list=rows,
        next_cursor=_encode(getattr(last, key), last.pk) if has_next else None,
        previous_cursor=_encode(getattr(first, key), first.pk) if has_previous else None,
    )
