"""Every API request the sandbox served, so tests and benchmarks can count calls (per endpoint, per order).

The recent requests are kept in full (a bounded deque); counts per endpoint are exact however many there were.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass

_ORDER_IN_PATH = re.compile(r"/orders/(\d+)(?:/|$)")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    at: float  # UNIX seconds
    method: str
    path: str
    query: str
    endpoint: str
    status: int
    duration_ms: float

    @property
    def order_id(self) -> int | None:
        match = _ORDER_IN_PATH.search(self.path)
        return int(match.group(1)) if match else None

    def as_dict(self) -> dict:
        return {**asdict(self), "order_id": self.order_id}


class RequestLog:
    """Thread-safe log of served requests."""

    def __init__(self, maxlen: int = 200_000):
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._counts[record.endpoint] += 1

    def records(self, *, endpoint: str | None = None, order_id: int | None = None) -> list[RequestRecord]:
        with self._lock:
            records = list(self._records)
        return [
            r
            for r in records
            if (endpoint is None or r.endpoint == endpoint) and (order_id is None or r.order_id == order_id)
        ]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        """How many requests were served."""
        with self._lock:
            return sum(self._counts.values())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._counts.clear()
