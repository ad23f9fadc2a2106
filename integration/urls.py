"""BigCommerce's calls into the product: webhooks (and, with the app install, the OAuth callbacks)."""

from __future__ import annotations

from django.urls import path

from integration import app_callbacks, webhooks

app_name = "integration"

urlpatterns = [
    path("webhooks/bigcommerce/", webhooks.bigcommerce_webhook, name="webhook"),
    path("bigcommerce/auth", app_callbacks.app_auth, name="app_auth"),
    path("bigcommerce/load", app_callbacks.app_load, name="app_load"),
    path("bigcommerce/uninstall", app_callbacks.app_uninstall, name="app_uninstall"),
]
