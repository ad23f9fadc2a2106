from __future__ import annotations

from django.apps import AppConfig


class PosConfig(AppConfig):
    name = "pos"
    verbose_name = "POS"
