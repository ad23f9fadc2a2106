from __future__ import annotations

from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "integration"
    verbose_name = "BigCommerce link"
