"""HTTP load generators for bench/webhook_intake.py: wrk with a Lua script (preferred), or Python threads.

Both POST thin BigCommerce order webhooks with a unique `hash` and order id per request (and per `run` number)
for a fixed time over a fixed number of connections (closed loop: each connection sends its next request when
the answer arrives), and return the same figures: requests completed, 2xx answers, errors, requests per
second, p50 / p99 in ms.

The Python generator runs in its own process (`python bench/_loadgen.py URL ...`, JSON on stdout), so it never
shares this process's interpreter lock with what it measures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

WRK_SCRIPT = r"""
-- A thin BigCommerce webhook per request, unique hash and order id; counts 2xx answers per thread.
local threads, next_id = {}, 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  run, store_id = tonumber(args[1]), args[2]
  sent, ok = 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[3] ~= "" then wrk.headers["X-Pos-Webhook-Auth"] = args[3] end
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"scope":"store/order/created","store_id":"%s","data":{"type":"order","id":%d},' ..
    '"hash":"r%d-%d-%d","created_at":%d,"producer":"stores/bench"}',
    store_id, (run * 100 + tid) * 10000000 + sent, run, tid, sent, os.time())
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 end
end

function done(summary, latency, requests)
  local accepted = 0
  for _, thread in ipairs(threads) do accepted = accepted + thread:get("ok") end
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests":%d,"ok":%d,"errors":%d,"seconds":%f,"p50_ms":%f,"p99_ms":%f,"max_ms":%f}\n',
    summary.requests, accepted, e.connect + e.read + e.write + e.timeout + e.status,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""


@dataclass
class LoadResult:
    generator: str
    requests: int  # answers received
    ok: int  # 2xx answers
    errors: int  # non-2xx answers, connection errors, timeouts
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def load(
    url: str, *, seconds: float, connections: int, run: int, store_id: str, auth: str = "", generator: str = "auto"
) -> LoadResult:
    """POST webhooks to `url` for `seconds` over `connections` connections, from another process."""
    if generator == "wrk" or (generator == "auto" and have_wrk()):
        return _wrk(url, seconds=seconds, connections=connections, run=run, store_id=store_id, auth=auth)
    command = [sys.executable, __file__, url, "--seconds", str(seconds), "--connections", str(connections)]
    command += ["--run", str(run), "--store-id", store_id, "--auth", auth]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120)
    return LoadResult(**json.loads(done.stdout))


def _wrk(url: str, *, seconds: float, connections: int, run: int, store_id: str, auth: str) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        threads = min(2, connections)
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
        command += ["-s", script.name, url, "--", str(run), store_id, auth]
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    finally:
        Path(script.name).unlink()
    line = next(line for line in done.stdout.splitlines() if line.startswith("WRK-JSON "))
    return LoadResult(generator="wrk", **json.loads(line.removeprefix("WRK-JSON ")))


# ---------------------------------------------------------------- the Python generator (its own process)


def _python_load(url: str, *, seconds: float, connections: int, run: int, store_id: str, auth: str) -> LoadResult:
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json", **({"X-Pos-Webhook-Auth": auth} if auth else {})}
    latencies: list[list[float]] = [[] for _ in range(connections)]
    counts = [[0, 0] for _ in range(connections)]  # ok, errors
    stop = time.perf_counter() + seconds

    def connection(k: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        sent = 0
        while time.perf_counter() < stop:
            sent += 1
            body = json.dumps(
                {
                    "scope": "store/order/created",
                    "store_id": store_id,
                    "data": {"type": "order", "id": (run * 100 + k + 1) * 10_000_000 + sent},
                    "hash": f"r{run}-{k}-{sent}",
                    "created_at": int(time.time()),
                    "producer": "stores/bench",
                }
            )
            started = time.perf_counter()
            try:
                conn.request("POST", parts.path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                counts[k][1] += 1
                conn.close()
                continue
            latencies[k].append((time.perf_counter() - started) * 1000)
            counts[k][0 if 200 <= response.status < 300 else 1] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=connection, args=(k,)) for k in range(connections)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(value for per in latencies for value in per)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0

    return LoadResult(
        generator="python",
        requests=len(ordered),
        ok=sum(ok for ok, _ in counts),
        errors=sum(errors for _, errors in counts),
        seconds=elapsed,
        p50_ms=pct(50),
        p99_ms=pct(99),
        max_ms=ordered[-1] if ordered else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="POST webhooks for a while; print the figures as JSON")
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--run", type=int, default=0, help="makes hashes and order ids unique across runs")
    parser.add_argument("--store-id", default="1")
    parser.add_argument("--auth", default="")
    args = parser.parse_args()
    result = _python_load(
        args.url,
        seconds=args.seconds,
        connections=args.connections,
        run=args.run,
        store_id=args.store_id,
        auth=args.auth,
    )
    payload = asdict(result)
    print(json.dumps(payload))


if __name__ == "__main__":
    main()
