"""Django admin for support: find a retailer's records quickly; the ledger and audit log are read-only."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from pos import models


@admin.register(models.User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (*BaseUserAdmin.fieldsets, ("Support", {"fields": ("is_support",)}))
    list_display = ("username", "email", "is_support", "is_staff", "is_active")
    list_filter = ("is_support", "is_staff", "is_active")


class MembershipInline(admin.TabularInline):
    model = models.Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(models.Retailer)
class RetailerAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "currency", "time_zone", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(models.Outlet)
class OutletAdmin(admin.ModelAdmin):
    list_display = ("name", "retailer")
    list_filter = ("retailer",)
    search_fields = ("name",)


@admin.register(models.Register)
class RegisterAdmin(admin.ModelAdmin):
    list_display = ("name", "outlet", "retailer")
    list_filter = ("retailer",)


@admin.register(models.PaymentType)
class PaymentTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "retailer", "active")
    list_filter = ("retailer", "active")


@admin.register(models.Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "sku", "kind", "retail_price", "active", "tracks_inventory", "created_by_link", "retailer")
    list_filter = ("retailer", "kind", "active", "created_by_link", "needs_review")
    search_fields = ("name", "sku")


@admin.register(models.InventoryLevel)
class InventoryLevelAdmin(admin.ModelAdmin):
    list_display = ("product", "outlet", "on_hand", "updated_at")
    list_filter = ("retailer", "outlet")
    search_fields = ("product__name", "product__sku")
    readonly_fields = ("on_hand",)  # only the stock service changes levels


@admin.register(models.InventoryMovement)
class InventoryMovementAdmin(admin.ModelAdmin):
    list_display = ("created_at", "product", "outlet", "quantity", "reason", "source_key")
    list_filter = ("retailer", "reason")
    search_fields = ("source_key", "product__name", "product__sku")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("__str__", "email", "phone", "retailer", "created_by_link")
    list_filter = ("retailer", "created_by_link")
    search_fields = ("first_name", "last_name", "email_normalized", "phone")


class SaleLineInline(admin.TabularInline):
    model = models.SaleLine
    extra = 0
    raw_id_fields = ("product",)


class SalePaymentInline(admin.TabularInline):
    model = models.SalePayment
    extra = 0


@admin.register(models.Sale)
class SaleAdmin(admin.ModelAdmin):
    list_display = (
        "invoice_number",
        "retailer",
        "channel",
        "external_order_id",
        "sale_date",
        "status",
        "payment_state",
        "total_inc_tax",
    )
    list_filter = ("retailer", "channel", "status", "payment_state")
    search_fields = ("=invoice_number", "=external_order_id")
    raw_id_fields = ("customer",)
    inlines = [SaleLineInline, SalePaymentInline]


class FulfillmentLineInline(admin.TabularInline):
    model = models.FulfillmentLine
    extra = 0


class FulfillmentEventInline(admin.TabularInline):
    model = models.FulfillmentEvent
    extra = 0
    readonly_fields = ("created_at", "actor", "action", "message", "data")


@admin.register(models.Fulfillment)
class FulfillmentAdmin(admin.ModelAdmin):
    list_display = ("sale", "type", "state", "writeback_state", "created_at", "retailer")
    list_filter = ("retailer", "type", "state", "writeback_state")
    raw_id_fields = ("sale",)
    inlines = [FulfillmentLineInline, FulfillmentEventInline]


@admin.register(models.AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "actor", "retailer", "reason")
    list_filter = ("action", "retailer")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
