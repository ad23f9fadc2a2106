#!/usr/bin/env bash
# `make test`: run the whole suite. Uses PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set or found on
# 127.0.0.1 (5432, 6379); otherwise SQLite and the embedded Redis, skipping PostgreSQL-only tests (and saying so).
# Under CI=true a missing PostgreSQL or Chromium is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
port_open() { "$PY" - "$1" "$2" <<'PYEOF'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PYEOF
}
if [ -z "${DATABASE_URL:-}" ] && port_open 127.0.0.1 5432; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/pos"
fi
if [ -z "${REDIS_URL:-}" ] && port_open 127.0.0.1 6379; then
  export REDIS_URL="redis://127.0.0.1:6379/0"
fi
echo "database: ${DATABASE_URL:-SQLite under var/ (PostgreSQL-only tests will be skipped)}"
echo "redis:    ${REDIS_URL:-embedded (started by the test session)}"
if [ "${CI:-}" = "true" ] && [ -z "${DATABASE_URL:-}" ]; then
  echo "CI needs PostgreSQL: none on 127.0.0.1:5432 and DATABASE_URL unset" >&2; exit 1
fi
mkdir -p var
# Two test processes (pytest-xdist): most tests wait on PostgreSQL, Redis, HTTP or a browser, so two share the
# machine well. TEST_WORKERS=0 runs everything in this one process. The reliability drills (tests/drills: real
# worker processes, hundreds of webhooks) are part of the run: they count events and assert outcomes, and their
# timeouts only bound a hang, so a loaded machine makes them slower, not red.
exec .venv/bin/pytest --create-db -n "${TEST_WORKERS:-2}" "$@"
