"""Fault injection per endpoint: added latency, 429s, 5xx, timeouts, malformed bodies and dropped connections.

A fault matches requests by endpoint name (see `app.ROUTES`, e.g. "get_order", or "*"), method and an optional
path fragment ("/orders/105"); it lets `skip` matching requests through, then affects the next `times` (None:
until cleared), each with `probability` (1: every one; 0.2: a random fifth, for drills). Kinds:

| kind | effect |
|---|---|
| `latency` | waits `latency_ms`, then answers normally |
| `rate_limit` | a 429; with the rate-limit headers (`reset_ms`) or, with `reset_ms` None, without (platform load) |
| `error` | `status` (500, 502, 503, 403...) with BigCommerce's V2 or V3 error body |
| `timeout` | holds the request `seconds` before answering, so the client's read timeout fires |
| `malformed` | 200 with `body`: "truncated" JSON, "html", "wrong_shape" (valid JSON, wrong type) or "empty" |
| `drop` | closes the connection without an answer |
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields

KINDS = ("latency", "rate_limit", "error", "timeout", "malformed", "drop")
MALFORMED_BODIES = ("truncated", "html", "wrong_shape", "empty")


@dataclass(slots=True)
class Fault:
    kind: str
    endpoint: str = "*"
    method: str = "*"
    path_contains: str = ""
    times: int | None = None
    skip: int = 0
    status: int = 500
    latency_ms: int = 0
    seconds: float = 5.0
    body: str = "truncated"
    reset_ms: int | None = 1000
    probability: float = 1.0

    def __post_init__(self):
        if not 0 <= self.probability <= 1:
            raise ValueError("probability must be between 0 and 1")
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.kind == "malformed" and self.body not in MALFORMED_BODIES:
            raise ValueError(f"unknown malformed body {self.body!r}; one of {', '.join(MALFORMED_BODIES)}")

    @classmethod
    def from_dict(cls, data: dict) -> Fault:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        return cls(**data)

    def as_dict(self) -> dict:
        return asdict(self)

    def matches(self, endpoint: str, method: str, path: str) -> bool:
        return (
            self.endpoint in ("*", endpoint)
            and self.method in ("*", method)
            and (not self.path_contains or self.path_contains in path)
        )


class FaultInjector:
    """The active faults. Thread-safe: the server answers requests on many threads."""

    def __init__(self):
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._random = random.Random(0)

    def add(self, fault: Fault | None = None, **kwargs) -> Fault:
        fault = fault or Fault(**kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, endpoint: str, method: str, path: str) -> tuple[Fault | None, Fault | None]:
        """The (latency, failure) faults that apply to this request; counts it against each."""
        latency = failure = None
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(endpoint, method, path):
                    continue
                if fault.kind == "latency" and latency is not None or fault.kind != "latency" and failure is not None:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.probability < 1 and self._random.random() >= fault.probability:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                if fault.kind == "latency":
                    latency = fault
                else:
                    failure = fault
        return latency, failure
