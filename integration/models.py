"""The BigCommerce link: the store link, the webhook inbox, per-order sync state, the readable sync log,
historical imports, and the mappings from BigCommerce ids to POS rows.

Mappings hang off the StoreLink row. Relinking the same store reactivates the same row, so every mapping (and
every stock source key, which embeds the link id) is reused and nothing is duplicated. Linking a different store
creates a new row; the old row, with its mappings, stays as an archive and is never used again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from integration.choices import (
    BcItemKind,
    DriftReason,
    ImportState,
    LinkKind,
    LinkState,
    LogLevel,
    OrderSyncState,
    PickupStock,
)
from integration.fields import EncryptedTextField
from pos.models import Customer, Outlet, PaymentType, Product, Register, Retailer, Sale, TenantManager, TenantQuerySet


class LinkScopedQuerySet(TenantQuerySet):
    """Rows that belong to a retailer through their store link."""

    retailer_field = "link__retailer"


class StoreLink(models.Model):
    """A retailer's link to one BigCommerce store (one active link per retailer)."""

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="store_links")
    kind = models.CharField(max_length=12, choices=LinkKind.choices, default=LinkKind.API_ACCOUNT)
    state = models.CharField(max_length=10, choices=LinkState.choices, default=LinkState.ACTIVE)
    store_hash = models.CharField(max_length=64)
    store_id = models.CharField(max_length=32, blank=True, help_text="BigCommerce's numeric store id (webhooks)")
    store_name = models.CharField(max_length=255, blank=True)
    store_domain = models.CharField(max_length=255, blank=True)
    store_currency = models.CharField(max_length=3, blank=True)
    access_token = EncryptedTextField()
    scopes = models.TextField(blank=True, help_text="OAuth scopes granted (app installs)")
    api_base_url = models.URLField(blank=True, help_text="Blank: BIGCOMMERCE_API_URL")
    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    register = models.ForeignKey(Register, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    default_payment_type = models.ForeignKey(
        PaymentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A pickup order collected at a location mapped to another outlet takes that outlet's stock, when chosen.
    pickup_stock = models.CharField(max_length=16, choices=PickupStock.choices, default=PickupStock.LINKED_OUTLET)
    # Sent back by BigCommerce in a custom header on every webhook delivery of this link.
    webhook_secret = EncryptedTextField(blank=True)
    # [{"scope": "store/order/created", "id": 123, "is_active": true}, ...]
    hooks = models.JSONField(default=list, blank=True)
    hooks_checked_at = models.DateTimeField(null=True, blank=True)
    # Reconciliation lists orders modified since this instant (minus an overlap window).
    reconcile_cursor = models.DateTimeField(null=True, blank=True)
    last_reconciled_at = models.DateTimeField(null=True, blank=True)
    last_webhook_at = models.DateTimeField(null=True, blank=True)
    last_order_synced_at = models.DateTimeField(null=True, blank=True)
    # Orders placed before this instant are historical: imported only by a historical import.
    linked_at = models.DateTimeField(default=timezone.now)
    linked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    unlinked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["retailer", "store_hash"], name="storelink_unique_store_per_retailer"),
            models.UniqueConstraint(
                fields=["retailer"], condition=~Q(state=LinkState.UNLINKED), name="storelink_one_live_per_retailer"
            ),
            # A store is linked to one retailer at a time (support moves it: integration.services.link).
            models.UniqueConstraint(
                fields=["store_hash"], condition=~Q(state=LinkState.UNLINKED), name="storelink_one_live_per_store"
            ),
        ]
        indexes = [models.Index(fields=["store_hash", "state"]), models.Index(fields=["store_id", "state"])]

    def __str__(self) -> str:
        return f"{self.store_name or self.store_hash} ({self.get_state_display()})"

    @property
    def is_active(self) -> bool:
        return self.state == LinkState.ACTIVE

    @property
    def api_url(self) -> str:
        """The link's own API base URL in development (BIGCOMMERCE_LINK_API_URLS), else BIGCOMMERCE_API_URL."""
        own = self.api_base_url if settings.BIGCOMMERCE_LINK_API_URLS else ""
        return (own or settings.BIGCOMMERCE_API_URL).rstrip("/")

    @property
    def control_panel_url(self) -> str:
        return f"https://store-{self.store_hash}.mybigcommerce.com/manage"

    def control_panel_order_url(self, order_id: int | str) -> str:
        """The order's page in the store's BigCommerce control panel."""
        return f"{self.control_panel_url}/orders/{order_id}"


class WebhookEvent(models.Model):
    """One accepted webhook delivery, stored before the 200 is returned. Unique on BigCommerce's `hash`."""

    link = models.ForeignKey(StoreLink, on_delete=models.CASCADE, related_name="webhook_events")
    hash = models.CharField(max_length=128)
    scope = models.CharField(max_length=100)
    resource_id = models.BigIntegerField(null=True, blank=True, help_text="The order id, for order scopes")
    payload = models.JSONField()
    delivery_id = models.CharField(max_length=128, blank=True, help_text="Standard Webhooks `webhook-id`")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "hash"], name="webhookevent_unique_hash")]

    def __str__(self) -> str:
        return f"{self.scope} #{self.resource_id} ({self.hash[:8]})"


# What the Failed orders page lists: orders failing now, and those staff sent back for a retry that has not
# finished yet (pending with the last error still on them; a successful sync clears it). One definition, shared
# by the query and the partial index that serves it, so PostgreSQL can prove the index applies.
ON_FAILED_LIST = Q(state__in=OrderSyncState.failed_states()) | (
    Q(state=OrderSyncState.PENDING) & ~Q(last_error_code="")
)


class OrderSyncQuerySet(LinkScopedQuerySet):
    def needing_attention(self):
        return self.filter(state__in=OrderSyncState.failed_states())

    def on_failed_list(self):
        return self.filter(ON_FAILED_LIST)


class OrderSync(models.Model):
    """Where one BigCommerce order stands: the row the sync locks to apply it, and what the Failed orders page shows.
    Whether a sync of it is waiting or running is its `bc.order_sync` work row (`work.models.WorkItem`)."""

    link = models.ForeignKey(StoreLink, on_delete=models.CASCADE, related_name="order_syncs")
    bc_order_id = models.BigIntegerField()
    state = models.CharField(max_length=16, choices=OrderSyncState.choices, default=OrderSyncState.PENDING)
    sale = models.OneToOneField(Sale, on_delete=models.SET_NULL, null=True, blank=True, related_name="order_sync")
    attempts = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error_code = models.CharField(max_length=40, blank=True)
    last_error_message = models.TextField(blank=True)
    # What was last applied: a fetched order older than this is ignored.
    bc_date_modified = models.DateTimeField(null=True, blank=True)
    bc_status_id = models.PositiveSmallIntegerField(null=True, blank=True)
    bc_date_created = models.DateTimeField(null=True, blank=True)
    # Refunds are read from BigCommerce only when something says they changed: a refund webhook, a staff retry or
    # reconciliation counts up `refund_requests`; `refunds_read` is the count the last read saw (None: never read).
    refund_requests = models.PositiveIntegerField(default=0, db_default=0)
    refunds_read = models.PositiveIntegerField(null=True, blank=True)
    # The gateway's transactions (V3) are read only when they can have changed: a transaction webhook counts up
    # `transaction_requests`, or the order's payment status moved on from an authorisation (`bc_payment_status`,
    # as last applied). `transactions_read` is the count the last read saw (None: never read, the payment status
    # alone says what was paid).
    bc_payment_status = models.CharField(max_length=32, blank=True, default="", db_default="")
    transaction_requests = models.PositiveIntegerField(default=0, db_default=0)
    transactions_read = models.PositiveIntegerField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    resolution_note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = models.Manager.from_queryset(OrderSyncQuerySet)()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "bc_order_id"], name="ordersync_unique_order")]
        indexes = [
            models.Index(fields=["link", "state", "-updated_at"], name="ordersync_state_idx"),
            models.Index(
                fields=["next_retry_at"], condition=Q(state=OrderSyncState.RETRYING), name="ordersync_retry_idx"
            ),
            models.Index(fields=["link", "-updated_at", "-id"], condition=ON_FAILED_LIST, name="ordersync_failed_idx"),
        ]

    def __str__(self) -> str:
        return f"Order {self.bc_order_id} ({self.get_state_display()})"


class SyncLogEntry(models.Model):
    """A line of the readable sync timeline: per order and per link. Info entries expire; failures stay."""

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="+")
    link = models.ForeignKey(StoreLink, on_delete=models.CASCADE, null=True, blank=True, related_name="log_entries")
    order_sync = models.ForeignKey(
        OrderSync, on_delete=models.SET_NULL, null=True, blank=True, related_name="log_entries"
    )
    bc_order_id = models.BigIntegerField(null=True, blank=True)
    level = models.CharField(max_length=8, choices=LogLevel.choices, default=LogLevel.INFO)
    event = models.CharField(max_length=40)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "sync log entries"
        indexes = [
            models.Index(fields=["retailer", "-created_at"], name="synclog_retailer_idx"),
            models.Index(fields=["retailer", "bc_order_id", "-created_at"], name="synclog_order_idx"),
            models.Index(fields=["retailer", "level", "-created_at"], name="synclog_level_idx"),
            models.Index(fields=["retailer", "event", "-created_at"], name="synclog_event_idx"),
        ]

    def __str__(self) -> str:
        return f"[{self.level}] {self.event}: {self.message[:60]}"


class HistoricalImport(models.Model):
    """One run of "Import all orders": options, the dry run's figures, progress, and a resumable cursor."""

    link = models.ForeignKey(StoreLink, on_delete=models.CASCADE, related_name="historical_imports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    state = models.CharField(max_length=10, choices=ImportState.choices, default=ImportState.QUEUED)
    date_from = models.DateTimeField(null=True, blank=True)
    date_to = models.DateTimeField(null=True, blank=True)
    adjust_stock = models.BooleanField(default=False)
    preview = models.JSONField(default=dict, blank=True, help_text="The dry run's figures")
    total = models.PositiveIntegerField(default=0)
    seen = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    already_imported = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # Resume point: the next page to fetch (BigCommerce orders sorted by id within the range).
    cursor = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = models.Manager.from_queryset(LinkScopedQuerySet)()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["link"], condition=Q(state__in=ImportState.active_states()), name="historicalimport_one_active"
            )
        ]

    def __str__(self) -> str:
        return f"Historical import {self.pk} ({self.get_state_display()})"


class ProductLink(models.Model):
    """A BigCommerce product variant (product id + variant id) known as a POS product."""

    link = models.ForeignKey(StoreLink, on_delete=models.CASCADE, related_name="product_links")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="bc_links")
    bc_product_id = models.BigIntegerField()
    # 0 when the line had no variant id (BigCommerce products without variants still have a base variant).
    bc_variant_id = models.BigIntegerField(default=0)
    bc_sku = models.CharField(max_length=255, blank=True)
    # Read from BigCommerce's catalog by the first push (stock and price go to the product or to the variant).
    bc_item_kind = models.CharField(max_length=8, choices=BcItemKind.choices, blank=True, default=BcItemKind.UNKNOWN)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = models.Manager.from_queryset(LinkScopedQuerySet)()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "bc_product_id", "bc_variant_id"], name="productlink_unique"),
        ]
        indexes = [models.Index(fields=["product"])]

    def __str__(self) -> str:
        return f"BC {self.bc_product_id}/{self.bc_variant_id} → {self.product}"


class CustomerLink(models.Model):
    """A BigCommerce customer id known as a POS customer."""

    link = models.ForeignKey(StoreLink, on_delete=models.CASCADE, related_name="customer_links")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="bc_links")
    bc_customer_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = models.Manager.from_queryset(LinkScopedQuerySet)()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "bc_customer_id"], name="customerlink_unique")]

    def __str__(self) -> str:
        return f"BC customer {self.bc_customer_id} → {self.customer}"


class PaymentMethodMap(models.Model):
    """A BigCommerce payment method (as orders name it) and the POS payment type it is booked as.

    No payment type means "the link's default"; the sync log says so whenever the fallback is used.
    """

    link = models.ForeignKey(StoreLink, on_delete=models.CASCADE, related_name="payment_method_maps")
    method = models.CharField(max_length=100)
    payment_type = models.ForeignKey(PaymentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    objects = models.Manager.from_queryset(LinkScopedQuerySet)()

    class Meta:
        ordering = ["method"]
        constraints = [models.UniqueConstraint(fields=["link", "method"], name="paymentmethodmap_unique")]

    def __str__(self) -> str:
        return f"{self.method} → {self.payment_type or 'default'}"


class OutletLocation(models.Model):
    """Which BigCommerce inventory location follows which POS outlet's stock."""

    link = models.ForeignKey(StoreLink, on_delete=models.CASCADE, related_name="outlet_locations")
    outlet = models.ForeignKey(Outlet, on_delete=models.CASCADE, related_name="+")
    location_id = models.PositiveIntegerField()
    location_label = models.CharField(max_length=255, blank=True)

    objects = models.Manager.from_queryset(LinkScopedQuerySet)()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "outlet"], name="outletlocation_unique_outlet"),
            models.UniqueConstraint(fields=["link", "location_id"], name="outletlocation_unique_location"),
        ]

    def __str__(self) -> str:
        return f"{self.outlet} → location {self.location_id}"


class AppInstall(models.Model):
    """A single-click app install: BigCommerce's token for one store, until a merchant admin claims it.

    The auth callback records it (one row per store; a reinstall or a re-authorisation replaces the token). A
    signed-in merchant admin claims it for their retailer, which links the store with the install's token; the
    uninstall callback unlinks it. The token is encrypted at rest like a link's.
    """

    store_hash = models.CharField(max_length=64, unique=True)
    access_token = EncryptedTextField()
    scopes = models.TextField(blank=True)
    installer_email = models.EmailField(blank=True)
    installer_bc_user_id = models.BigIntegerField(null=True, blank=True)
    owner_email = models.EmailField(blank=True)
    installed_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    uninstalled_at = models.DateTimeField(null=True, blank=True)
    # The link that claimed it last (kept after an unlink, for the record).
    link = models.ForeignKey(StoreLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="app_installs")
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")

    def __str__(self) -> str:
        return f"App install for store {self.store_hash}"

    @property
    def is_installed(self) -> bool:
        return self.uninstalled_at is None

    @property
    def claimed_link(self) -> StoreLink | None:
        """The live link using this install, if any."""
        return self.link if self.link is not None and self.link.state != LinkState.UNLINKED else None


class PushState(models.Model):
    """What BigCommerce was last told about one linked item, and whether it must be told again.

    A change marks the row dirty (`dirty_since`, `version` + 1) in one statement; the push job reads dirty rows,
    sends what differs from what was last pushed, then stores `pushed_version` = the version it read and clears
    `dirty_since` only where `version` still equals it. So a change that lands while a push is in flight keeps
    its row dirty for the next push, and nothing is lost or sent twice. `last_error` says why BigCommerce refused
    the item last; `attempts` counts how often it was looked up again because BigCommerce tracks it otherwise.
    """

    link = models.ForeignKey(StoreLink, on_delete=models.CASCADE, related_name="+")
    product_link = models.ForeignKey(ProductLink, on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField(default=1)
    pushed_version = models.PositiveIntegerField(default=0)
    dirty_since = models.DateTimeField(null=True, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = models.Manager.from_queryset(LinkScopedQuerySet)()

    class Meta:
        abstract = True


class StockPushState(PushState):
    """One linked item's stock at one outlet: the level last pushed to the BigCommerce location of that outlet."""

    outlet = models.ForeignKey(Outlet, on_delete=models.CASCADE, related_name="+")
    last_pushed_level = models.IntegerField(null=True, blank=True)
    last_location_id = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product_link", "outlet"], name="stockpushstate_unique_item_outlet")
        ]
        indexes = [
            models.Index(
                fields=["link", "dirty_since"], condition=Q(dirty_since__isnull=False), name="stockpush_dirty_idx"
            )
        ]

    def __str__(self) -> str:
        return f"Stock of {self.product_link_id} at outlet {self.outlet_id} (last pushed {self.last_pushed_level})"


class PricePushState(PushState):
    """One linked item's price: the retail price last pushed to its BigCommerce product or variant."""

    last_pushed_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product_link"], name="pricepushstate_unique_item")]
        indexes = [
            models.Index(
                fields=["link", "dirty_since"], condition=Q(dirty_since__isnull=False), name="pricepush_dirty_idx"
            )
        ]

    def __str__(self) -> str:
        return f"Price of {self.product_link_id} (last pushed {self.last_pushed_price})"


class StockDriftCorrection(models.Model):
    """A stock level BigCommerce had wrong, found by the drift read-back and set back to the POS's level.

    The POS is the system of record; a level edited in BigCommerce's control panel would otherwise stay wrong until
    the item's next change in the POS. Each row says what BigCommerce had, what the POS had (and sent), and why they
    differed; the drift report page lists them.
    """

    link = models.ForeignKey(StoreLink, on_delete=models.CASCADE, related_name="drift_corrections")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    outlet = models.ForeignKey(Outlet, on_delete=models.CASCADE, related_name="+")
    location_id = models.PositiveIntegerField()
    bc_product_id = models.BigIntegerField()
    bc_variant_id = models.BigIntegerField(default=0)
    bc_level = models.IntegerField(help_text="Units on hand BigCommerce had")
    pos_level = models.IntegerField(help_text="Units on hand in the POS (negative levels are sent as 0)")
    sent_level = models.IntegerField(help_text="The level sent back to BigCommerce")
    last_sent_level = models.IntegerField(null=True, blank=True, help_text="What the POS had sent before, if known")
    reason = models.CharField(max_length=16, choices=DriftReason.choices)
    found_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = models.Manager.from_queryset(LinkScopedQuerySet)()

    class Meta:
        ordering = ["-found_at", "-id"]
        indexes = [models.Index(fields=["link", "-found_at", "-id"], name="stockdrift_link_found_idx")]

    def __str__(self) -> str:
        return f"Drift of {self.product_id} at location {self.location_id}: {self.bc_level} → {self.sent_level}"


class AttentionDigest(models.Model):
    """A daily digest of orders needing attention, sent to a retailer's admins: one row per retailer and local day.

    The row is the "already sent today" mark: it is written in the transaction that sends the email, so a failed
    send leaves no row (the next run tries again) and a second run the same day, even a concurrent one, finds it.
    """

    retailer = models.ForeignKey(Retailer, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(help_text="The retailer's local day the digest was sent for")
    orders = models.PositiveIntegerField(help_text="Orders needing attention the digest reported")
    recipients = models.PositiveIntegerField()
    sent_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantManager()

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["retailer", "day"], name="attentiondigest_unique_day")]

    def __str__(self) -> str:
        return f"Digest of {self.retailer_id} for {self.day} ({self.orders} orders)"
