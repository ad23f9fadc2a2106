"""gunicorn's settings for production: `gunicorn -c config/gunicorn.conf.py` (README, "Production").

gunicorn's ASGI worker (an asyncio event loop per process) serves `config.asgi:application`. A client that sends
its request slowly holds a connection, not a worker: the loop keeps answering everyone else while it waits, and
Django runs a view only once the whole body is in. With the sync worker each slow client held one of the workers
for as long as it liked, so as many slow clients as workers took the site down (issue 16; figures from
bench/drill_slow_clients.py in bench/README.md).

Bounds on slow clients: config/gunicorn_worker.py gives a connection GUNICORN_HEADER_TIMEOUT seconds (10) for its
first request's headers, and `keepalive` closes a connection idle between requests; `timeout` is the longest
wait for the next piece of a body, and config/request_limits.py gives the whole body REQUEST_BODY_TIMEOUT_SECONDS
and REQUEST_MAX_BODY_BYTES; the `limit_request_*` settings bound the request line and headers' size. Open
connections are not capped here (each costs a socket, not a worker): a reverse proxy or the firewall caps them
per client (README).

Environment: PORT (8000), WEB_CONCURRENCY (worker processes, default 2: one per core), GUNICORN_TIMEOUT (30),
GUNICORN_HEADER_TIMEOUT (10), FORWARDED_ALLOW_IPS (addresses of your proxies, default 127.0.0.1).
"""

from __future__ import annotations

import os

wsgi_app = "config.asgi:application"
# gunicorn's ASGI worker ("asgi"), with a deadline for a connection's first headers (config/gunicorn_worker.py).
worker_class = "config.gunicorn_worker.ASGIWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]

# Seconds: a worker silent this long is restarted; for a request body, the longest wait for its next piece.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# Django has no lifespan handler; asyncio's own loop (uvloop is not installed).
asgi_lifespan = "off"
asgi_loop = "asyncio"

forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
