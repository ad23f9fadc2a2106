"""The product's URLconf plus two bench-only views (never in the product's URLconf):

- `POST /__bench__/bare/`: read the body, answer 200: what the same Django stack costs doing no work at all;
- `POST /__bench__/floor/`: read the body, one `INSERT` of it and its commit, one Redis push, answer 200: the
  least any durable intake can do (the delivery is on disk before the answer, and a worker is told).
"""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as product_urlpatterns

BARE_PATH = "__bench__/bare/"
FLOOR_PATH = "__bench__/floor/"
FLOOR_TABLE = "bench_intake_floor"
FLOOR_LIST = "bench:intake:floor"
FLOOR_DDL = f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (id bigserial PRIMARY KEY, body text NOT NULL)"

_redis = None


@csrf_exempt
@require_POST
def bare(request):
    request.read(64 * 1024)
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_POST
def floor(request):
    global _redis
    body = request.read(64 * 1024).decode()
    with connection.cursor() as cursor:  # autocommit: the statement is its own transaction, committed here
        cursor.execute(f"INSERT INTO {FLOOR_TABLE} (body) VALUES (%s) RETURNING id", [body])
        row_id = cursor.fetchone()[0]
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL)
    _redis.rpush(FLOOR_LIST, row_id)
    return JsonResponse({"status": "ok"})


urlpatterns = [path(BARE_PATH, bare), path(FLOOR_PATH, floor), *product_urlpatterns]
