"""The sync log: a readable timeline per order and per link. One place for every event's level and wording.

`sync_log(...)` writes one entry. Each event code has a level and a sentence template here, so the same thing is
always said the same way on the Sync log page, the order timeline and the Failed orders page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from config.observability import log_after_commit
from integration.choices import LogLevel, OrderSyncState
from integration.metrics import sync_log_observe
from integration.models import OrderSync, StoreLink, SyncLogEntry
from pos.db import new_row

logger = logging.getLogger("integration.sync")


@dataclass(frozen=True)
class LogEvent:
    code: str
    level: str
    template: str


def _e(code: str, level: str, template: str) -> LogEvent:
    return LogEvent(code, level, template)


class Event:
    """Every event the sync log records."""

    # orders
    ORDER_IMPORTED = _e("order_imported", LogLevel.INFO, "Order {order} imported as sale #{invoice} ({status}).")
    ORDER_UPDATED = _e(
        "order_updated", LogLevel.INFO, "Order {order} changed in BigCommerce ({detail}); sale #{invoice} updated."
    )
    ORDER_UNCHANGED = _e("order_unchanged", LogLevel.INFO, "Order {order} had no change to apply.")
    ORDER_STALE = _e(
        "order_stale", LogLevel.INFO, "Order {order}: ignored a copy older than the version already applied."
    )
    ORDER_SKIPPED = _e(
        "order_skipped",
        LogLevel.INFO,
        "Order {order} not imported: its status is {status}. It is imported when the status moves on.",
    )
    ORDER_HISTORICAL = _e(
        "order_historical",
        LogLevel.INFO,
        "Order {order} was placed before the store was linked; only a historical import brings it in.",
    )
    ORDER_VOIDED = _e(
        "order_voided",
        LogLevel.WARNING,
        "Order {order} is {status} in BigCommerce: sale #{invoice} voided and its stock returned.",
    )
    ORDER_REFUNDED = _e(
        "order_refunded", LogLevel.INFO, "Order {order}: refund of {amount} recorded on sale #{invoice}."
    )
    ORDER_EDITED_AFTER_FULFILMENT = _e(
        "order_edited_late",
        LogLevel.WARNING,
        "Order {order} was edited in BigCommerce after sale #{invoice} was fulfilled ({detail}); the fulfilment's "
        "history says so.",
    )
    ORDER_RESTOCKED = _e(
        "order_restocked",
        LogLevel.INFO,
        "Order {order}: refunded items returned to stock at {outlet} ({detail}), as the shop's settings ask; "
        "see sale #{invoice}.",
    )
    ORDER_EDITED = _e(
        "order_edited",
        LogLevel.INFO,
        "Order {order} was edited in BigCommerce; sale #{invoice} lines and stock adjusted ({detail}).",
    )
    ORDER_SHIPPED = _e(
        "order_shipped",
        LogLevel.INFO,
        "Order {order}: shipped in BigCommerce ({detail}); the fulfilment of sale #{invoice} counts them as sent, "
        "so they are not shipped again.",
    )
    ORDER_PICKUP_OUTLET = _e(
        "order_pickup_outlet",
        LogLevel.INFO,
        "Order {order} is collected at {location}: its stock is taken from {outlet}, the outlet mapped to that "
        "location, as Settings › BigCommerce asks.",
    )
    ORDER_FROM_POS = _e(
        "order_from_pos", LogLevel.INFO, "Order {order} came from this POS's own channel; not imported back."
    )
    PRODUCT_CREATED = _e(
        "product_created",
        LogLevel.INFO,
        "Order {order}: created product “{name}” ({sku}) in the POS; review it in Catalog.",
    )
    PLACEHOLDER_CREATED = _e(
        "placeholder_created",
        LogLevel.WARNING,
        "Order {order}: line “{name}” refers to a product deleted in BigCommerce; booked on a placeholder product.",
    )
    SERVICE_PRODUCT_CREATED = _e(
        "service_product_created", LogLevel.INFO, "Created the “{name}” service product for {kind} charges."
    )
    CUSTOMER_MATCHED = _e("customer_matched", LogLevel.INFO, "Order {order}: customer matched to {customer} ({how}).")
    CUSTOMER_CREATED = _e("customer_created", LogLevel.INFO, "Order {order}: new customer {customer} created.")
    PAYMENT_METHOD_UNMAPPED = _e(
        "payment_method_unmapped",
        LogLevel.WARNING,
        "Order {order}: payment method “{method}” is not mapped; booked as “{payment_type}”. "
        "Map it in Settings › BigCommerce.",
    )
    PAYMENT_METHOD_UNMAPPED_ORDERS = _e(
        "payment_method_unmapped",
        LogLevel.WARNING,
        "Payment method “{method}” is not mapped: {count} imported order(s) from {first} to {last} booked as "
        "“{payment_type}”. Map it in Settings › BigCommerce.",
    )
    SYNC_RETRYING = _e(
        "sync_retrying",
        LogLevel.WARNING,
        "Order {order}: {message} Attempt {attempt} of {max_attempts}; next try at {next_try}.",
    )
    SYNC_FAILED = _e("sync_failed", LogLevel.ERROR, "Order {order}: {message} {fix}")
    SYNC_RETRY_REQUESTED = _e("sync_retry_requested", LogLevel.INFO, "Order {order}: retry requested by {user}.")
    SYNC_RESOLVED = _e("sync_resolved", LogLevel.INFO, "Order {order} marked resolved by {user}: {note}")
    # link
    WEBHOOK_REJECTED = _e("webhook_rejected", LogLevel.WARNING, "A webhook delivery was rejected: {reason}.")
    HOOKS_REGISTERED = _e("hooks_registered", LogLevel.INFO, "Webhooks registered at BigCommerce: {scopes}.")
    HOOKS_REACTIVATED = _e(
        "hooks_reactivated",
        LogLevel.WARNING,
        "BigCommerce had deactivated {count} webhook(s); they were re-registered.",
    )
    HOOKS_FAILED = _e("hooks_failed", LogLevel.ERROR, "Webhooks could not be registered: {message}")
    RECONCILED = _e(
        "reconciled",
        LogLevel.INFO,
        "Reconciliation checked {checked} order(s) modified since {since}; {missed} needed syncing.",
    )
    RECONCILE_MISSED = _e(
        "reconcile_missed",
        LogLevel.WARNING,
        "Reconciliation found {missed} order(s) that webhooks never delivered: {orders}.",
    )
    RECONCILE_FAILED = _e("reconcile_failed", LogLevel.ERROR, "Reconciliation could not list orders: {message}")
    LINKED = _e("linked", LogLevel.INFO, "Store {store} linked by {user}.")
    UNLINKED = _e("unlinked", LogLevel.WARNING, "Store {store} unlinked by {user}; syncing stopped.")
    LINK_SETTINGS_CHANGED = _e(
        "link_settings_changed",
        LogLevel.INFO,
        "{user} changed the link settings: online sales go to {outlet}, register {register}, paid by default as "
        "“{payment_type}”; pickups take the stock of {pickup}.",
    )
    PAYMENT_METHODS_MAPPED = _e("payment_methods_mapped", LogLevel.INFO, "{user} mapped payment methods: {detail}.")
    LOCATIONS_MAPPED = _e(
        "locations_mapped", LogLevel.INFO, "{user} mapped outlets to BigCommerce locations: {detail}."
    )
    STOCK_PUSHED = _e("stock_pushed", LogLevel.INFO, "Pushed {count} stock level(s) to BigCommerce.")
    STOCK_PUSH_FAILED = _e("stock_push_failed", LogLevel.ERROR, "Stock push to BigCommerce failed: {message}")
    STOCK_PUSH_REJECTED = _e(
        "stock_push_rejected",
        LogLevel.ERROR,
        "BigCommerce refused the stock level of {name} ({sku}) at location {location}: {message} {fix}",
    )
    STOCK_PUSH_UNMAPPED = _e(
        "stock_push_unmapped",
        LogLevel.WARNING,
        "Stock of outlet {outlet} is not pushed: the store has {count} inventory locations and none is mapped to "
        "this outlet. Map one in Settings › BigCommerce.",
    )
    PRICE_PUSHED = _e("price_pushed", LogLevel.INFO, "Pushed the price of {name} ({price}) to BigCommerce.")
    PRICE_PUSH_FAILED = _e(
        "price_push_failed", LogLevel.ERROR, "Price push for {name} to BigCommerce failed: {message}"
    )
    PUSH_RETRYING = _e(
        "push_retrying",
        LogLevel.WARNING,
        "Push to BigCommerce failed: {message} {count} change(s) wait; attempt {attempt}, next try at {next_try}.",
    )
    PUSH_ITEM_GONE = _e(
        "push_item_gone",
        LogLevel.WARNING,
        "{name} ({sku}) is linked to BigCommerce product {bc_product}, which {reason}: its stock and price are "
        "not pushed. Nothing to do if that is intended; if the item was replaced in BigCommerce, the next online "
        "order of the new one links it.",
    )
    STOCK_DRIFT_CORRECTED = _e(
        "stock_drift_corrected",
        LogLevel.WARNING,
        "Stock of {name} ({sku}) at {outlet} (BigCommerce location {location}) was {bc_level} in BigCommerce but "
        "{pos_level} in the POS: {reason}. It is set back to {sent_level}. Change stock in the POS, not in "
        "BigCommerce: the POS is the system of record.",
    )
    STOCK_DRIFT_FAILED = _e(
        "stock_drift_failed",
        LogLevel.ERROR,
        "BigCommerce's stock levels could not be read back: {message} It is tried again at the next check.",
    )
    IMPORT_STARTED = _e("import_started", LogLevel.INFO, "Historical import started by {user}.")
    IMPORT_FINISHED = _e(
        "import_finished",
        LogLevel.INFO,
        "Historical import finished: {imported} imported, {skipped} skipped, {already} already imported, "
        "{failed} failed.",
    )
    IMPORT_CANCELLED = _e("import_cancelled", LogLevel.WARNING, "Historical import stopped before the end: {detail}.")
    IMPORT_FAILED = _e("import_failed", LogLevel.ERROR, "Historical import stopped: {message}")
    IMPORT_PAGE = _e(
        "import_page",
        LogLevel.INFO,
        "Historical import: orders {first} to {last} applied: {imported} imported, {skipped} skipped, {already} "
        "already imported, {failed} failed.",
    )
    IMPORT_ORDER_FAILED = _e(
        "import_order_failed",
        LogLevel.ERROR,
        "Order {order} could not be imported by the historical import: {message}. Retry it from Failed orders or "
        "contact support.",
    )

    @classmethod
    def all(cls) -> list[LogEvent]:
        return [v for v in vars(cls).values() if isinstance(v, LogEvent)]


class _SafeDict(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def sync_log_build(
    *,
    link: StoreLink,
    event: LogEvent,
    order_sync: OrderSync | None = None,
    bc_order_id: int | None = None,
    data: dict | None = None,
    **params,
) -> SyncLogEntry:
    """An unsaved entry (for callers that write many at once with `sync_log_save`)."""
    order_id = bc_order_id if bc_order_id is not None else (order_sync.bc_order_id if order_sync else None)
    message = event.template.format_map(_SafeDict(order=order_id, **params))
    # "Order 160: Order 160 was cancelled…": a failure's sentence names its order already.
    prefix = f"Order {order_id}: "
    if message.startswith(prefix + f"Order {order_id} "):
        message = message[len(prefix) :]
    return new_row(
        SyncLogEntry,
        retailer_id=link.retailer_id,
        link=link,
        order_sync=order_sync,
        bc_order_id=order_id,
        level=event.level,
        event=event.code,
        message=message,
        data=data or {},
    )


def sync_log_save(entries: list[SyncLogEntry]) -> None:
    """Write entries in one statement, and the same sentences to the Python log (never a secret) once the
    transaction commits (`log_after_commit`: never while the caller holds its locks), with the retailer, link,
    order, event and reason code as fields of the line; failures are counted in the metrics."""
    SyncLogEntry.objects.bulk_create(entries)
    lines = []
    for entry in entries:
        reason = _reason_code(entry)
        lines.append(
            (
                {LogLevel.INFO: logging.INFO, LogLevel.WARNING: logging.WARNING}.get(entry.level, logging.ERROR),
                "%s link=%s order=%s %s",
                (entry.event, entry.link_id, entry.bc_order_id, entry.message),
                {
                    "extra": {
                        "retailer": entry.retailer_id,
                        "link": entry.link_id,
                        "order": entry.bc_order_id,
                        "sync_event": entry.event,
                        "reason": reason or None,
                    }
                },
            )
        )
        sync_log_observe(event=entry.event, reason=reason)
    log_after_commit(logger, lines)


def _reason_code(entry: SyncLogEntry) -> str:
    """The failure reason code of the entry's order sync, when the entry was built with one (no query)."""
    if entry.order_sync_id is None or not SyncLogEntry.order_sync.is_cached(entry):
        return ""
    return entry.order_sync.last_error_code


def sync_log(
    *,
    link: StoreLink,
    event: LogEvent,
    order_sync: OrderSync | None = None,
    bc_order_id: int | None = None,
    data: dict | None = None,
    **params,
) -> SyncLogEntry:
    """Write one entry of the sync log."""
    entry = sync_log_build(link=link, event=event, order_sync=order_sync, bc_order_id=bc_order_id, data=data, **params)
    sync_log_save([entry])
    return entry


def sync_log_expire(*, now=None) -> int:
    """Delete info entries past the retention period. Warnings and errors stay while their order still needs
    attention; once it is imported or resolved they expire like the rest."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SYNC_LOG_RETENTION_DAYS)
    old = SyncLogEntry.objects.filter(created_at__lt=cutoff)
    still_failing = Q(order_sync__state__in=OrderSyncState.failed_states())
    deleted, _ = old.filter(Q(level=LogLevel.INFO) | ~still_failing).delete()
    return deleted
