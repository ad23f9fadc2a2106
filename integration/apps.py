from __future__ import annotations

from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "integration"
    verbose_name = "BigCommerce link"

    def ready(self) -> None:
        # The link follows the POS's stock and prices; `pos` sends the signals and never imports `integration`.
        from integration import receivers
        from pos.signals import product_changed, stock_changed

        stock_changed.connect(receivers.stock_changed_receiver, dispatch_uid="integration.push.stock")
        product_changed.connect(receivers.product_changed_receiver, dispatch_uid="integration.push.product")
