"""The POS records: the retailer (tenant) and everything it owns.

Every top-level row carries its retailer, and every manager offers `for_retailer(retailer)`, so a page or a job
that starts from the current retailer cannot reach another tenant's rows. Child rows (sale lines, payments,
fulfilment lines and events) are reached through their parent.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from pos.choices import (
    AuditAction,
    Channel,
    FulfillmentAction,
    FulfillmentState,
    FulfillmentType,
    MovementReason,
    PaymentKind,
    PaymentState,
    ProductKind,
    Role,
    SaleStatus,
    WritebackState,
)

MONEY = {"max_digits": 14, "decimal_places": 4, "default": Decimal("0")}


class TenantQuerySet(models.QuerySet):
    """The default path for every query a page or job makes: start from the retailer."""

    retailer_field = "retailer"

    def for_retailer(self, retailer):
        return self.filter(**{self.retailer_field: retailer})


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    pass


class User(AbstractUser):
    """A person who signs in. Merchants reach retailers through memberships; support users reach any retailer."""

    is_support = models.BooleanField(
        default=False,
        help_text="Platform support: may switch to any retailer (every switch is logged) and use the support console.",
    )


class Retailer(models.Model):
    """A merchant account: the tenant. Owns outlets, catalog, customers, sales and one BigCommerce link."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code of the retailer's money.")
    time_zone = models.CharField(max_length=64, default="UTC", help_text="Pages show local time; storage is UTC.")
    allow_unpaid_fulfillment = models.BooleanField(
        default=False, help_text="Allow completing a fulfilment while the sale still has a balance owing."
    )
    restock_refunded_items = models.BooleanField(
        default=False,
        help_text="Items a refund names (a BigCommerce refund of items) go back into the sale's outlet's stock.",
    )
    # "Import all orders" is off until support enables it (audited in AuditEntry, shown in the support console).
    historical_import_enabled = models.BooleanField(default=False)
    historical_import_changed_at = models.DateTimeField(null=True, blank=True)
    historical_import_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    historical_import_reason = models.TextField(blank=True)
    # The last invoice number handed out; incremented under the row lock (see pos.services.sales).
    last_invoice_number = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role at one retailer."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.STAFF)
    # A deactivated member keeps their history (sales rung up, audit entries) but cannot act for the retailer.
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "retailer"], name="membership_unique_user_retailer")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.retailer} ({self.role})"


class AuditEntry(models.Model):
    """Who did what, when and why, for actions support and admins must be able to account for."""

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="audit_entries", null=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    action = models.CharField(max_length=40, choices=AuditAction.choices)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    objects = TenantManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor} at {self.created_at:%Y-%m-%d %H:%M}"


class Outlet(models.Model):
    """A shop (or warehouse) that holds stock and has registers."""

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="outlets")
    name = models.CharField(max_length=120)
    address = models.TextField(blank=True)
    # Inactive outlets keep their sales and stock history; their registers cannot sell.
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantManager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["retailer", "name"], name="outlet_unique_name")]

    def __str__(self) -> str:
        return self.name


class Register(models.Model):
    """A till at an outlet. Online sales are booked on the register chosen in the link settings."""

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="registers")
    outlet = models.ForeignKey(Outlet, on_delete=models.CASCADE, related_name="registers")
    name = models.CharField(max_length=120)
    active = models.BooleanField(default=True)

    objects = TenantManager()

    class Meta:
        ordering = ["outlet__name", "name"]
        constraints = [models.UniqueConstraint(fields=["outlet", "name"], name="register_unique_name")]

    def __str__(self) -> str:
        return f"{self.outlet.name} / {self.name}"


class PaymentType(models.Model):
    """How a sale was paid: "Cash", "Credit card", "BigCommerce", "PayPal"..."""

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="payment_types")
    name = models.CharField(max_length=80)
    active = models.BooleanField(default=True)

    objects = TenantManager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["retailer", "name"], name="paymenttype_unique_name")]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """A thing (or a charge) the retailer sells. The POS is the system of record for its price and stock."""

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=255)
    # NULL means "no SKU": unique per retailer only when present.
    sku = models.CharField(max_length=255, null=True, blank=True)
    kind = models.CharField(max_length=12, choices=ProductKind.choices, default=ProductKind.STANDARD)
    retail_price = models.DecimalField(**MONEY)
    supply_price = models.DecimalField(**MONEY)
    active = models.BooleanField(default=True)
    tracks_inventory = models.BooleanField(default=True)
    created_by_link = models.BooleanField(default=False, help_text="Created by the BigCommerce link from an order.")
    needs_review = models.BooleanField(default=False, help_text="Created by the link and not yet reviewed.")
    # Set when this product was merged into another (see pos.services.catalog.product_merge); it is then inactive.
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_from", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["retailer", "sku"], condition=Q(sku__isnull=False), name="product_unique_sku_when_present"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=ProductKind.service_kinds()) | Q(tracks_inventory=False),
                name="product_service_kinds_never_track_stock",
            ),
            models.UniqueConstraint(
                fields=["retailer", "kind"],
                condition=Q(kind__in=ProductKind.service_kinds()),
                name="product_one_service_product_per_kind",
            ),
        ]
        indexes = [models.Index(fields=["retailer", "kind"]), models.Index(fields=["retailer", "needs_review"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})" if self.sku else self.name

    def save(self, *args, **kwargs):
        # Blank SKUs are stored as NULL so they stay out of the per-retailer unique index.
        if self.sku is not None:
            self.sku = self.sku.strip() or None
        super().save(*args, **kwargs)


class InventoryLevel(models.Model):
    """On-hand stock of a product at an outlet: always the sum of its InventoryMovement rows."""

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="inventory_levels")
    outlet = models.ForeignKey(Outlet, on_delete=models.CASCADE, related_name="inventory_levels")
    on_hand = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "outlet"], name="inventorylevel_unique")]

    def __str__(self) -> str:
        return f"{self.product} @ {self.outlet}: {self.on_hand}"


class InventoryMovement(models.Model):
    """One change of stock. Append-only; its unique source key makes every replay a no-op."""

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="movements")
    quantity = models.BigIntegerField(help_text="Signed: negative takes stock out.")
    reason = models.CharField(max_length=12, choices=MovementReason.choices)
    source_key = models.CharField(max_length=200, unique=True)
    sale = models.ForeignKey("Sale", on_delete=models.SET_NULL, null=True, blank=True, related_name="movements")
    # The sale line this movement belongs to (the line's external id, or its position for an in-store sale); blank
    # for movements of no sale line. The sales service nets a line's movements by it.
    line_key = models.CharField(max_length=64, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantManager()

    class Meta:
        indexes = [models.Index(fields=["product", "outlet", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.quantity:+d} {self.product} @ {self.outlet} ({self.reason})"


class Customer(models.Model):
    """A buyer. Matched by the normalised email; details of an existing customer are never overwritten by a sync."""

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="customers")
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    company = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    email_normalized = models.CharField(max_length=254, blank=True, editable=False)
    phone = models.CharField(max_length=50, blank=True)
    address = models.JSONField(default=dict, blank=True, help_text="Billing address: street_1, city, zip, country...")
    created_by_link = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [models.Index(fields=["retailer", "email_normalized"])]

    def __str__(self) -> str:
        return self.full_name or self.email or f"Customer {self.pk}"

    def save(self, *args, **kwargs):
        self.email = (self.email or "").strip()
        self.email_normalized = self.normalize_email(self.email)
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @staticmethod
    def normalize_email(email: str | None) -> str:
        """Lower-case and trimmed; the form used to match customers across channels."""
        return (email or "").strip().lower()


class SaleQuerySet(TenantQuerySet):
    def online(self):
        return self.filter(channel=Channel.BIGCOMMERCE)


class Sale(models.Model):
    """A sale, in store or online. Online sales carry the BigCommerce order id and status beside the POS status."""

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="sales")
    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="sales")
    register = models.ForeignKey(Register, on_delete=models.PROTECT, related_name="sales")
    customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="sales")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=12, choices=Channel.choices, default=Channel.IN_STORE)
    external_order_id = models.CharField(max_length=64, blank=True)
    invoice_number = models.PositiveBigIntegerField()
    sale_date = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=8, choices=SaleStatus.choices, default=SaleStatus.CLOSED)
    payment_state = models.CharField(max_length=20, choices=PaymentState.choices, default=PaymentState.UNPAID)
    bc_status_id = models.PositiveSmallIntegerField(null=True, blank=True)
    bc_status_label = models.CharField(max_length=100, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    # An online order paid in another currency than the retailer's: that currency, the order's rate (units of it
    # per unit of the retailer's currency) and the order's own totals in it. The amounts above are converted.
    original_currency = models.CharField(max_length=3, blank=True)
    exchange_rate = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    original_total_ex_tax = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    original_total_tax = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    original_total_inc_tax = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    original_discount_total = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    total_ex_tax = models.DecimalField(**MONEY)
    total_tax = models.DecimalField(**MONEY)
    total_inc_tax = models.DecimalField(**MONEY)
    discount_total = models.DecimalField(**MONEY)
    amount_paid = models.DecimalField(**MONEY, help_text="Sum of payments received (refunds not deducted).")
    amount_refunded = models.DecimalField(**MONEY, help_text="Sum of refunds given back (a positive amount).")
    # False for sales imported by a historical import run without "adjust stock": no edit, void or refund of such a
    # sale ever moves stock, because its sale never did.
    stock_moved = models.BooleanField(default=True)
    customer_note = models.TextField(blank=True)
    staff_note = models.TextField(blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = models.Manager.from_queryset(SaleQuerySet)()

    class Meta:
        ordering = ["-sale_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["retailer", "invoice_number"], name="sale_unique_invoice_number"),
            models.UniqueConstraint(
                fields=["retailer", "channel", "external_order_id"],
                condition=~Q(external_order_id=""),
                name="sale_unique_external_order",
            ),
        ]
        # Sales history reads one page along (sort key, id); each filter that can be selective has an index
        # ending in the date order, so a rare value is found without walking the whole history.
        indexes = [
            models.Index(fields=["retailer", "-sale_date", "-id"], name="sale_history_idx"),
            models.Index(fields=["retailer", "status", "-sale_date"], name="sale_status_idx"),
            models.Index(fields=["retailer", "channel", "-sale_date"], name="sale_channel_idx"),
            models.Index(fields=["retailer", "payment_state", "-sale_date", "-id"], name="sale_payment_idx"),
            models.Index(fields=["retailer", "bc_status_id", "-sale_date", "-id"], name="sale_bc_status_idx"),
            models.Index(fields=["outlet", "-sale_date", "-id"], name="sale_outlet_idx"),
            models.Index(fields=["register", "-sale_date", "-id"], name="sale_register_idx"),
            models.Index(fields=["retailer", "total_inc_tax", "id"], name="sale_total_idx"),
        ]

    def __str__(self) -> str:
        return f"Sale #{self.invoice_number}"

    @property
    def fulfillment(self) -> Fulfillment | None:
        """The sale's first fulfilment (its only one unless the order ships to several addresses), or None.
        Reads `fulfillments` prefetched when they are."""
        return next(iter(self.fulfillments.all()), None)

    @property
    def balance(self) -> Decimal:
        """What the customer still owes (never negative)."""
        if self.status == SaleStatus.VOIDED:
            return Decimal("0")
        return max(self.total_inc_tax - self.amount_paid, Decimal("0"))


class SaleLine(models.Model):
    """One line of a sale. Name and SKU are copied so history reads right after a product changes."""

    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="sale_lines")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=255)
    sku = models.CharField(max_length=255, blank=True)
    quantity = models.IntegerField(default=1)
    unit_price_ex_tax = models.DecimalField(**MONEY)
    unit_price_inc_tax = models.DecimalField(**MONEY)
    discount = models.DecimalField(**MONEY)
    total_ex_tax = models.DecimalField(**MONEY)
    total_tax = models.DecimalField(**MONEY)
    total_inc_tax = models.DecimalField(**MONEY)
    # The line's key within its sale (LineSpec.key): BigCommerce's order-product id, a charge's name ("shipping"),
    # or the position of an in-store line. Blank on in-store lines written before sales had one writer.
    external_line_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"


class SalePayment(models.Model):
    """Money in (positive) or out (refund, negative) for a sale."""

    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="payments")
    payment_type = models.ForeignKey(PaymentType, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=PaymentKind.choices, default=PaymentKind.PAYMENT)
    amount = models.DecimalField(max_digits=14, decimal_places=4)
    paid_at = models.DateTimeField(default=timezone.now)
    method_label = models.CharField(max_length=100, blank=True, help_text="The payment method as BigCommerce names it.")
    external_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["paid_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sale", "kind", "external_id"], condition=~Q(external_id=""), name="salepayment_unique_external"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} ({self.payment_type})"


class Fulfillment(models.Model):
    """Getting an online sale's goods to the customer: shipped (delivery) or collected (pickup).

    One per consignment of the order: an order shipped to two addresses has two, each with its own address, lines,
    state, history, shipments and write-back. `consignment` names it within its sale ("shipping:<order address
    id>", "pickup:<pickup consignment id>"); blank for a sale fulfilled as a whole (an in-store sale, an order
    with no consignments, or a fulfilment from before consignments were told apart: its sale's first one).
    """

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="fulfillments")
    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="fulfillments")
    consignment = models.CharField(max_length=80, blank=True, default="", db_default="")
    type = models.CharField(max_length=10, choices=FulfillmentType.choices, default=FulfillmentType.DELIVERY)
    state = models.CharField(max_length=10, choices=FulfillmentState.choices, default=FulfillmentState.NEW)
    shipping_address = models.JSONField(default=dict, blank=True)
    # BigCommerce's order address id, needed to create a shipment.
    external_address_id = models.CharField(max_length=64, blank=True)
    shipping_method = models.CharField(max_length=200, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True)
    carrier = models.CharField(max_length=100, blank=True)
    # Optimistic locking: every change bumps it; a change made against a stale version is refused.
    version = models.PositiveIntegerField(default=1)
    writeback_state = models.CharField(max_length=10, choices=WritebackState.choices, default=WritebackState.NONE)
    writeback_error = models.TextField(blank=True)
    writeback_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["retailer", "state", "created_at"], name="fulfillment_queue_idx")]
        constraints = [
            models.UniqueConstraint(fields=["sale", "consignment"], name="fulfillment_unique_consignment"),
        ]

    def __str__(self) -> str:
        return f"Fulfillment for {self.sale}"

    @property
    def is_pickup(self) -> bool:
        return self.type == FulfillmentType.PICKUP

    @property
    def state_label(self) -> str:
        return FulfillmentState.label_for(self.state, self.type)

    @property
    def state_colour(self) -> str:
        return FulfillmentState.colour(self.state)

    @property
    def writeback_colour(self) -> str:
        return WritebackState.colour(self.writeback_state)


class FulfillmentLine(models.Model):
    """Per sale line progress: picked, packed and fulfilled quantities (partial allowed)."""

    fulfillment = models.ForeignKey(Fulfillment, on_delete=models.CASCADE, related_name="lines")
    sale_line = models.OneToOneField(SaleLine, on_delete=models.CASCADE, related_name="fulfillment_line")
    quantity = models.IntegerField()
    picked = models.IntegerField(default=0)
    packed = models.IntegerField(default=0)
    fulfilled = models.IntegerField(default=0)

    class Meta:
        ordering = ["sale_line__position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(picked__gte=0) & Q(packed__gte=0) & Q(fulfilled__gte=0),
                name="fulfillmentline_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sale_line}: {self.fulfilled}/{self.quantity}"


class FulfillmentEvent(models.Model):
    """Append-only history of a fulfilment: every action, by whom, and what it changed."""

    fulfillment = models.ForeignKey(Fulfillment, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=40)
    message = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def action_label(self) -> str:
        return str(FulfillmentAction(self.action).label) if self.action in FulfillmentAction else self.action


class FulfillmentShipment(models.Model):
    """Goods staff shipped from the POS in one go (a partial shipment, or the rest): its lines, its tracking, and
    its write-back to BigCommerce, which sends it once as one BigCommerce shipment per order address.

    The write-back is keyed by `reference`, written into each BigCommerce shipment's comments, so a retry after a
    crash (the shipment reached BigCommerce, our record of it did not) finds it there instead of sending it again.
    """

    fulfillment = models.ForeignKey(Fulfillment, on_delete=models.CASCADE, related_name="shipments")
    number = models.PositiveIntegerField(help_text="1 for the fulfilment's first shipment, then 2, 3...")
    tracking_number = models.CharField(max_length=100, blank=True)
    carrier = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    writeback_state = models.CharField(max_length=10, choices=WritebackState.choices, default=WritebackState.NONE)
    writeback_error = models.TextField(blank=True)
    writeback_at = models.DateTimeField(null=True, blank=True)
    # The BigCommerce shipment ids it became (one per order address).
    external_ids = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["fulfillment", "number"], name="fulfillmentshipment_unique_number")
        ]

    def __str__(self) -> str:
        return f"Shipment {self.number} of {self.fulfillment}"

    @property
    def reference(self) -> str:
        """The key BigCommerce's copy carries in its comments (unique across retailers and stores)."""
        return f"POS shipment {self.fulfillment.retailer_id}-{self.pk}"

    @property
    def writeback_colour(self) -> str:
        return WritebackState.colour(self.writeback_state)


class FulfillmentShipmentLine(models.Model):
    """How many units of one fulfilment line went in a shipment."""

    shipment = models.ForeignKey(FulfillmentShipment, on_delete=models.CASCADE, related_name="lines")
    line = models.ForeignKey(FulfillmentLine, on_delete=models.CASCADE, related_name="shipment_lines")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["line__sale_line__position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "line"], name="fulfillmentshipmentline_unique_line"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="fulfillmentshipmentline_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.line}"
