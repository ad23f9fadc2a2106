"""Choice classes for the POS records: one place for each status, its groups and its badge colour."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    STAFF = "staff", _("Staff")


class ProductKind(models.TextChoices):
    STANDARD = "standard", _("Standard")
    SHIPPING = "shipping", _("Shipping")
    HANDLING = "handling", _("Handling")
    WRAPPING = "wrapping", _("Gift wrapping")
    FEE = "fee", _("Order fee")
    PLACEHOLDER = "placeholder", _("Placeholder (deleted in BigCommerce)")

    @classmethod
    def service_kinds(cls) -> tuple[str, ...]:
        """Kinds that are charges, not goods: they never track stock."""
        return (cls.SHIPPING, cls.HANDLING, cls.WRAPPING, cls.FEE)


class MovementReason(models.TextChoices):
    SALE = "sale", _("Sale")
    VOID = "void", _("Void")
    EDIT = "edit", _("Order edited")
    RETURN = "return", _("Refunded item returned")
    ADJUSTMENT = "adjustment", _("Adjustment")
    COUNT = "count", _("Stock count")
    RECEIVED = "received", _("Stock received")
    DAMAGED = "damaged", _("Damaged")
    LOST = "lost", _("Lost or stolen")
    IMPORT = "import", _("Historical import")
    MERGE = "merge", _("Products merged")

    @classmethod
    def adjustment_reasons(cls) -> tuple[str, ...]:
        """Reasons a person may give for a manual adjustment (counts, sales and merges have their own paths)."""
        return (cls.RECEIVED, cls.DAMAGED, cls.LOST, cls.ADJUSTMENT)


class Channel(models.TextChoices):
    IN_STORE = "in_store", _("In store")
    BIGCOMMERCE = "bigcommerce", _("BigCommerce")


class SaleStatus(models.TextChoices):
    CLOSED = "closed", _("Closed")
    VOIDED = "voided", _("Voided")

    @classmethod
    def colour(cls, value: str) -> str:
        return {cls.CLOSED: "success", cls.VOIDED: "secondary"}.get(value, "light")


class PaymentState(models.TextChoices):
    UNPAID = "unpaid", _("Unpaid")
    PARTIALLY_PAID = "partially_paid", _("Partially paid")
    PAID = "paid", _("Paid")
    AUTHORISED = "authorised", _("Authorised, not captured")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    REFUNDED = "refunded", _("Refunded")

    @classmethod
    def colour(cls, value: str) -> str:
        return {
            cls.UNPAID: "danger",
            cls.PARTIALLY_PAID: "warning",
            cls.PAID: "success",
            cls.AUTHORISED: "primary",
            cls.PARTIALLY_REFUNDED: "info",
            cls.REFUNDED: "secondary",
        }.get(value, "light")


class PaymentKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    AUTHORISATION = "authorised", _("Authorised (not captured)")
    REFUND = "refund", _("Refund")


class FulfillmentType(models.TextChoices):
    DELIVERY = "delivery", _("Delivery")
    PICKUP = "pickup", _("Pickup")


class FulfillmentState(models.TextChoices):
    NEW = "new", _("New")
    PICKING = "picking", _("Picking")
    PACKED = "packed", _("Packed")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")

    @classmethod
    def open_states(cls) -> tuple[str, ...]:
        return (cls.NEW, cls.PICKING, cls.PACKED)

    @classmethod
    def label_for(cls, value: str, fulfillment_type: str) -> str:
        """The state as staff say it for this type: a packed pickup order is "Ready for pickup"."""
        if fulfillment_type == FulfillmentType.PICKUP:
            if value == cls.PACKED:
                return str(_("Ready for pickup"))
            if value == cls.COMPLETED:
                return str(_("Collected"))
        return str(cls(value).label)

    @classmethod
    def colour(cls, value: str) -> str:
        return {
            cls.NEW: "primary",
            cls.PICKING: "info",
            cls.PACKED: "warning",
            cls.COMPLETED: "success",
            cls.CANCELLED: "secondary",
        }.get(value, "light")


class WritebackState(models.TextChoices):
    NONE = "none", _("Not needed yet")
    PENDING = "pending", _("Sending to BigCommerce")
    SUCCEEDED = "succeeded", _("Sent to BigCommerce")
    FAILED = "failed", _("Failed")

    @classmethod
    def colour(cls, value: str) -> str:
        return {cls.PENDING: "info", cls.SUCCEEDED: "success", cls.FAILED: "danger"}.get(value, "light")


class AuditAction(models.TextChoices):
    SUPPORT_SWITCH = "support_switch", _("Support switched to retailer")
    HISTORICAL_IMPORT_ENABLED = "historical_import_enabled", _("Historical import enabled")
    HISTORICAL_IMPORT_DISABLED = "historical_import_disabled", _("Historical import disabled")
    STORE_LINKED = "store_linked", _("Store linked")
    STORE_UNLINKED = "store_unlinked", _("Store unlinked")
    STORE_MOVED = "store_moved", _("Store moved to another retailer")
    PRODUCT_CREATED = "product_created", _("Product created")
    PRODUCT_UPDATED = "product_updated", _("Product updated")
    PRODUCT_ACCEPTED = "product_accepted", _("Link-created product accepted")
    PRODUCT_MERGED = "product_merged", _("Products merged")
    SETTINGS_CHANGED = "settings_changed", _("Settings changed")
    OUTLET_CREATED = "outlet_created", _("Outlet created")
    OUTLET_UPDATED = "outlet_updated", _("Outlet changed")
    REGISTER_CREATED = "register_created", _("Register created")
    REGISTER_UPDATED = "register_updated", _("Register changed")
    PAYMENT_TYPE_CREATED = "payment_type_created", _("Payment type created")
    PAYMENT_TYPE_UPDATED = "payment_type_updated", _("Payment type changed")
    PERSON_ADDED = "person_added", _("Person added")
    PERSON_ROLE_CHANGED = "person_role_changed", _("Role changed")
    PERSON_DEACTIVATED = "person_deactivated", _("Person deactivated")
    PERSON_REACTIVATED = "person_reactivated", _("Person reactivated")
    PASSWORD_EMAIL_SENT = "password_email_sent", _("Password email sent")


class FulfillmentAction(models.TextChoices):
    """Everything that can happen to a fulfilment: the transition table's keys and the history's actions."""

    CREATED = "created", _("Created")
    START_PICKING = "start_picking", _("Picking started")
    RECORD_QUANTITIES = "record_quantities", _("Quantities recorded")
    SET_TRACKING = "set_tracking", _("Tracking updated")
    COMPLETE = "complete", _("Completed")
    CANCEL = "cancel", _("Cancelled")
    RETRY_WRITEBACK = "retry_writeback", _("Write-back retried")
    SALE_VOIDED_AFTER_COMPLETION = "sale_voided_after_completion", _("Sale voided after completion")
    WRITEBACK_RETRYING = "writeback_retrying", _("Write-back will retry")
    WRITEBACK_SUCCEEDED = "writeback_succeeded", _("Sent to BigCommerce")
    WRITEBACK_FAILED = "writeback_failed", _("Write-back failed")
    ORDER_EDITED = "order_edited", _("Order edited in BigCommerce")
    SHIPPED_IN_BIGCOMMERCE = "shipped_in_bigcommerce", _("Shipped in BigCommerce")
    SHIP = "ship", _("Shipped")
    RETRY_SHIPMENT = "retry_shipment", _("Shipment write-back retried")
    READY_SENT = "ready_sent", _("BigCommerce told it is ready for pickup")


class Carrier(models.TextChoices):
    """Carriers offered as suggestions for a delivery's tracking (any other carrier code may be typed)."""

    USPS = "usps", _("USPS")
    UPS = "ups", _("UPS")
    FEDEX = "fedex", _("FedEx")
    DHL = "dhl", _("DHL")
    AUSPOST = "auspost", _("Australia Post")
    CANADAPOST = "canadapost", _("Canada Post")
    ROYALMAIL = "royalmail", _("Royal Mail")
