"""BigCommerce's calls into the product: webhooks (and, with the app install, the OAuth callbacks)."""

from __future__ import annotations

from django.urls import path

from integration import webhooks

app_name = "integration"

urlpatterns = [
    path("webhooks/bigcommerce/", webhooks.bigcommerce_webhook, name="webhook"),
]
