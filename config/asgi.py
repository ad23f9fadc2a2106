"""ASGI entry point, the one production serves: `gunicorn -c config/gunicorn.conf.py` (see that file and README).

Served over ASGI, each request's (synchronous) Django code runs in a thread of its own, so a connection kept per
thread would leak: Django's docs say to disable persistent connections under ASGI and pool them instead, which
DATABASE_POOL does (on here unless set; see config/settings.py).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_POOL", "1")

from config.request_limits import RequestBodyLimits  # noqa: E402 - after the environment is set

application = RequestBodyLimits(get_asgi_application())
