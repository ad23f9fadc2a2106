"""Fixtures for the staff pages: a linked store with sales in store and online, failing orders and a sync log
that reads like a real week (the browser tests take the README screenshots from it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from integration.choices import ErrorCode, OrderSyncState
from integration.models import OrderSync, StoreLink, SyncLogEntry
from integration.services.synclog import Event
from pos.choices import Channel, FulfillmentState, PaymentKind, PaymentState, SaleStatus
from pos.models import Customer, Outlet, Register, Retailer, Sale
from tests import factories

HOOKS = [
    {"scope": scope, "id": 9000 + i, "is_active": True}
    for i, scope in enumerate(
        (
            "store/order/archived",
            "store/order/created",
            "store/order/refund/created",
            "store/order/statusUpdated",
            "store/order/updated",
        )
    )
]


@dataclass
class Shop:
    """What `shop` built: the retailer's link, places, customers, sales and order syncs, by name."""

    retailer: Retailer
    link: StoreLink
    outlet: Outlet
    register: Register
    till: Register
    customers: dict[str, Customer] = field(default_factory=dict)
    sales: dict[str, Sale] = field(default_factory=dict)
    syncs: dict[str, OrderSync] = field(default_factory=dict)


def online_sale(shop: Shop, *, order_id: int, invoice: int, customer: Customer | None, when, **fields) -> Sale:
    """An imported BigCommerce order: sale, a line, its payment, its sync row and the log line that imported it."""
    sale = factories.SaleFactory(
        retailer=shop.retailer,
        outlet=shop.outlet,
        register=shop.register,
        customer=customer,
        channel=Channel.BIGCOMMERCE,
        external_order_id=str(order_id),
        invoice_number=invoice,
        sale_date=when,
        bc_status_id=fields.pop("bc_status_id", 11),
        bc_status_label=fields.pop("bc_status_label", "Awaiting Fulfillment"),
        payment_state=fields.pop("payment_state", PaymentState.PAID),
        **fields,
    )
    factories.SaleLineFactory(sale=sale, name="Trail Runner Shoe", sku="TRS-001")
    if sale.payment_state != PaymentState.UNPAID:
        factories.SalePaymentFactory(
            sale=sale,
            payment_type=shop.link.default_payment_type,
            amount=sale.total_inc_tax,
            paid_at=when,
            method_label="Credit Card",
            external_id=f"tx{order_id}",
        )
        Sale.objects.filter(pk=sale.pk).update(amount_paid=sale.total_inc_tax)
        sale.amount_paid = sale.total_inc_tax
    sync = factories.OrderSyncFactory(
        link=shop.link, bc_order_id=order_id, state=OrderSyncState.IMPORTED, sale=sale, bc_status_id=sale.bc_status_id
    )
    log(shop, Event.ORDER_IMPORTED, order_id, when, sync=sync, invoice=sale.invoice_number, status=sale.bc_status_label)
    return sale


def failing_sync(shop: Shop, *, order_id: int, reason, state=OrderSyncState.NEEDS_ATTENTION, when, attempts=1):
    """An order that could not sync, with its reason, attempts and the log line that said so."""
    message = reason.describe("42" if reason is ErrorCode.UNKNOWN_STATUS else "HTTP 503")
    sync = factories.OrderSyncFactory(
        link=shop.link,
        bc_order_id=order_id,
        state=state,
        attempts=attempts,
        last_attempt_at=when,
        last_error_code=reason.code,
        last_error_message=message,
        next_retry_at=when + timedelta(minutes=10) if state == OrderSyncState.RETRYING else None,
    )
    event = Event.SYNC_RETRYING if state == OrderSyncState.RETRYING else Event.SYNC_FAILED
    next_try = f"{when + timedelta(minutes=10):%H:%M:%S} UTC"
    log(
        shop,
        event,
        order_id,
        when,
        sync=sync,
        message=message,
        fix=reason.fix,
        attempt=attempts,
        max_attempts=6,
        next_try=next_try,
    )
    OrderSync.objects.filter(pk=sync.pk).update(updated_at=when)
    return sync


def log(shop: Shop, event, order_id, when, *, sync=None, **params) -> SyncLogEntry:
    class _Safe(dict):
        def __missing__(self, key):
            return "…"

    return factories.SyncLogEntryFactory(
        link=shop.link,
        order_sync=sync,
        bc_order_id=order_id,
        level=event.level,
        event=event.code,
        message=event.template.format_map(_Safe(order=order_id, **params)),
        created_at=when,
    )


def build_shop(retailer: Retailer) -> Shop:
    now = timezone.now()
    outlet = factories.OutletFactory(retailer=retailer, name="Downtown")
    online = factories.RegisterFactory(retailer=retailer, outlet=outlet, name="Online")
    till = factories.RegisterFactory(retailer=retailer, outlet=outlet, name="Main till")
    link = factories.StoreLinkFactory(
        retailer=retailer,
        store_name="Acme Outdoor Store",
        store_hash="acme42",
        outlet=outlet,
        register=online,
        hooks=HOOKS,
        last_webhook_at=now - timedelta(minutes=3),
        last_order_synced_at=now - timedelta(minutes=3),
        last_reconciled_at=now - timedelta(minutes=2),
    )
    shop = Shop(retailer=retailer, link=link, outlet=outlet, register=online, till=till)
    people = [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing"), ("Katherine", "Johnson")]
    for first, last in people:
        shop.customers[first.lower()] = factories.CustomerFactory(
            retailer=retailer, first_name=first, last_name=last, email=f"{first.lower()}@example.com"
        )
    shop.sales["ada"] = online_sale(
        shop,
        order_id=5001,
        invoice=1049,
        customer=shop.customers["ada"],
        when=now - timedelta(minutes=9),
        total_inc_tax=Decimal("129.00"),
    )
    fulfillment = factories.FulfillmentFactory(
        sale=shop.sales["ada"],
        retailer=retailer,
        state=FulfillmentState.PICKING,
        shipping_method="Ground (3-5 days)",
        shipping_address={"street_1": "12 Analytical Way", "city": "London", "zip": "N1 9GU", "country": "UK"},
    )
    factories.FulfillmentLineFactory(
        fulfillment=fulfillment, sale_line=shop.sales["ada"].lines.get(), quantity=1, picked=1
    )
    factories.FulfillmentEventFactory(fulfillment=fulfillment, action="picking started", message="1 of 1 picked")
    shop.sales["grace"] = online_sale(
        shop,
        order_id=5002,
        invoice=1048,
        customer=shop.customers["grace"],
        when=now - timedelta(days=1, hours=1),
        total_inc_tax=Decimal("64.50"),
        bc_status_id=14,
        bc_status_label="Partially Refunded",
        payment_state=PaymentState.PARTIALLY_REFUNDED,
        amount_refunded=Decimal("18.00"),
    )
    factories.SalePaymentFactory(
        sale=shop.sales["grace"],
        payment_type=link.default_payment_type,
        kind=PaymentKind.REFUND,
        amount=Decimal("-18.00"),
        method_label="Credit Card",
    )
    shop.sales["alan"] = online_sale(
        shop,
        order_id=5003,
        invoice=1047,
        customer=shop.customers["alan"],
        when=now - timedelta(days=2),
        status=SaleStatus.VOIDED,
        bc_status_id=5,
        bc_status_label="Cancelled",
        payment_state=PaymentState.UNPAID,
    )
    for day in range(3, 12):
        online_sale(
            shop, order_id=5000 + 10 * day, invoice=1049 - day, customer=None, when=now - timedelta(days=day, hours=3)
        )
    shop.sales["till"] = factories.SaleFactory(
        retailer=retailer,
        outlet=outlet,
        register=till,
        invoice_number=1050,
        customer=shop.customers["katherine"],
        sale_date=now - timedelta(minutes=5),
        payment_state=PaymentState.PAID,
        total_inc_tax=Decimal("34.00"),
        amount_paid=Decimal("34.00"),
    )
    shop.syncs["gone"] = failing_sync(
        shop, order_id=6001, reason=ErrorCode.ORDER_NOT_FOUND, when=now - timedelta(hours=5)
    )
    shop.syncs["status"] = failing_sync(
        shop, order_id=6002, reason=ErrorCode.UNKNOWN_STATUS, when=now - timedelta(hours=3), attempts=1
    )
    shop.syncs["busy"] = failing_sync(
        shop,
        order_id=6003,
        reason=ErrorCode.BIGCOMMERCE_ERROR,
        state=OrderSyncState.RETRYING,
        when=now - timedelta(minutes=20),
        attempts=2,
    )
    log(shop, Event.RECONCILE_MISSED, None, now - timedelta(hours=6), missed=1, orders="5002")
    factories.WebhookEventFactory(
        link=link, resource_id=5001, scope="store/order/created", received_at=now - timedelta(minutes=9, seconds=5)
    )
    return shop


@pytest.fixture
def history_shop(retailer) -> Shop:
    """The Acme Outdoor retailer with a linked store, a fortnight of sales and three failing orders."""
    return build_shop(retailer)
