#!/usr/bin/env bash
# Create .venv with Python 3.12 and install the project with its dev extras, pinned by requirements/constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
  rm -rf .venv
  "$(scripts/find_python.sh)" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=25" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e ".[dev]" 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true
.venv/bin/python -c 'import django, sys; assert django.VERSION[:2] == (6, 1), django.get_version(); print("environment ready: Django", django.get_version(), "on Python", sys.version.split()[0])'
