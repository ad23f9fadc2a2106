"""Django admin for support. Secrets (token, webhook secret) are never displayed."""

from __future__ import annotations

from django.contrib import admin

from integration import models


@admin.register(models.StoreLink)
class StoreLinkAdmin(admin.ModelAdmin):
    list_display = ("retailer", "store_hash", "store_name", "state", "kind", "last_webhook_at", "last_order_synced_at")
    list_filter = ("state", "kind")
    search_fields = ("store_hash", "store_name", "retailer__name")
    exclude = ("access_token", "webhook_secret")
    readonly_fields = ("hooks", "reconcile_cursor", "last_webhook_at", "last_order_synced_at", "linked_at")


@admin.register(models.WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "scope", "resource_id", "link")
    list_filter = ("scope",)
    search_fields = ("=resource_id", "hash")
    readonly_fields = [f.name for f in models.WebhookEvent._meta.fields]


@admin.register(models.OrderSync)
class OrderSyncAdmin(admin.ModelAdmin):
    list_display = ("bc_order_id", "link", "state", "attempts", "last_error_code", "updated_at")
    list_filter = ("state", "last_error_code")
    search_fields = ("=bc_order_id",)
    raw_id_fields = ("sale",)


@admin.register(models.SyncLogEntry)
class SyncLogEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "retailer", "bc_order_id", "level", "event", "message")
    list_filter = ("level", "event")
    search_fields = ("=bc_order_id", "message")


@admin.register(models.HistoricalImport)
class HistoricalImportAdmin(admin.ModelAdmin):
    list_display = ("link", "state", "seen", "total", "imported", "skipped", "failed", "created_at")
    list_filter = ("state",)


@admin.register(models.ProductLink)
class ProductLinkAdmin(admin.ModelAdmin):
    list_display = ("bc_product_id", "bc_variant_id", "bc_sku", "product", "link")
    search_fields = ("=bc_product_id", "bc_sku", "product__name")
    raw_id_fields = ("product",)


@admin.register(models.CustomerLink)
class CustomerLinkAdmin(admin.ModelAdmin):
    list_display = ("bc_customer_id", "customer", "link")
    raw_id_fields = ("customer",)


@admin.register(models.PaymentMethodMap)
class PaymentMethodMapAdmin(admin.ModelAdmin):
    list_display = ("method", "payment_type", "link", "last_seen_at")


@admin.register(models.OutletLocation)
class OutletLocationAdmin(admin.ModelAdmin):
    list_display = ("outlet", "location_id", "location_label", "link")


@admin.register(models.AppInstall)
class AppInstallAdmin(admin.ModelAdmin):
    list_display = ("store_hash", "installer_email", "installed_at", "uninstalled_at", "link", "claimed_at")
    search_fields = ("store_hash", "installer_email")
    exclude = ("access_token",)
    readonly_fields = ("store_hash", "scopes", "installed_at", "uninstalled_at", "link", "claimed_at", "claimed_by")


@admin.register(models.StockPushState)
class StockPushStateAdmin(admin.ModelAdmin):
    list_display = ("product_link", "outlet", "last_pushed_level", "last_location_id", "dirty_since", "pushed_at")
    list_filter = ("link",)
    raw_id_fields = ("product_link",)


@admin.register(models.PricePushState)
class PricePushStateAdmin(admin.ModelAdmin):
    list_display = ("product_link", "last_pushed_price", "dirty_since", "pushed_at", "last_error")
    list_filter = ("link",)
    raw_id_fields = ("product_link",)


@admin.register(models.AttentionDigest)
class AttentionDigestAdmin(admin.ModelAdmin):
    list_display = ("day", "retailer", "orders", "recipients", "sent_at")
    list_filter = ("day",)
    raw_id_fields = ("retailer",)
