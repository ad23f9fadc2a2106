"""Settings for bench/webhook_intake.py's gunicorn: the production settings, plus a URLconf with a bare view.

Not part of the product: the bare view exists only here, so the benchmark can compare the webhook intake with
the cheapest answer the same Django stack (middleware included) can give.
"""

from __future__ import annotations

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench._intake_urls"
