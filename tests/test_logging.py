"""The development console (DEBUG on, as `make run` runs): a refused request is one line, printed once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)

SCRIPT = """
import django
django.setup()
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseForbidden
from django.utils.log import log_response
import logging
try:
    raise PermissionDenied("Only an admin of this retailer can do this.")
except PermissionDenied as exc:
    log_response("Forbidden (Permission denied): %s", "/settings/people/", response=HttpResponseForbidden(),
                 exception=exc)
logging.getLogger("django.request").error("Internal Server Error: %s", "/boom/", exc_info=ValueError("kept"))
"""


def test_a_403_is_logged_once_without_a_traceback_while_errors_keep_theirs():
    env = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    }

    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )

    console = result.stdout + result.stderr
    assert console.count("Forbidden (Permission denied): /settings/people/") == 1, console
    assert "PermissionDenied" not in console, console
    assert console.count("Internal Server Error: /boom/") == 1, console
    assert "ValueError: kept" in console, console
