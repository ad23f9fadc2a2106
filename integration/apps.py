from __future__ import annotations

from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "integration"
    verbose_name = "BigCommerce link"

    def ready(self) -> None:
        # The kinds of background work the link declares, and its handlers of what the POS records (the POS
        # declares those and never imports the link).
        from integration import kinds, receivers
        from pos.signals import product_merging

        kinds.register()
        product_merging.connect(receivers.product_merging_receiver, dispatch_uid="integration.product_merging")
