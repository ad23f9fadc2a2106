"""Logging filters the settings' LOGGING uses."""

from __future__ import annotations

import logging


class ForbiddenWithoutTraceback(logging.Filter):
    """A 403 is the product refusing a request on purpose (a role, a missing CSRF token): Django logs it with the
    PermissionDenied's traceback, which says nothing more than the one line. Keep the line, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
