"""gunicorn's settings for production: `gunicorn -c config/gunicorn.conf.py` (README, "Production").

gunicorn's ASGI worker (an asyncio event loop per process) serves `config.asgi:application`. A client that sends
its request slowly holds a connection, not a worker: the loop keeps answering everyone else while it waits, and
Django runs a view only once the whole body is in. With the sync worker each slow client held one of the workers
for as long as it liked, so as many slow clients as workers took the site down (issue 16; figures from
bench/drill_slow_clients.py in bench/README.md).

Bounds on slow clients: `timeout` is the longest wait for the next piece of a body; config/request_limits.py
gives the whole body REQUEST_BODY_TIMEOUT_SECONDS and REQUEST_MAX_BODY_BYTES; `keepalive` closes idle
connections; the `limit_request_*` settings bound the request line and headers. gunicorn's ASGI worker has no
deadline for the headers themselves: a client sending them slowly holds only a connection, and a reverse proxy
in front (README) bounds that with client_header_timeout.

Environment: PORT (8000), WEB_CONCURRENCY (worker processes, default 2: one per core), GUNICORN_TIMEOUT (30),
FORWARDED_ALLOW_IPS (addresses of your proxies, default 127.0.0.1).
"""

from __future__ import annotations

import os

wsgi_app = "config.asgi:application"
worker_class = "asgi"
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
