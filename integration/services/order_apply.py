"""Applying fetched BigCommerce orders to the POS: the heart of the link.

`orders_apply` takes orders already fetched from BigCommerce (one for a live sync, a page of 250 for a historical
import) and applies everything in one transaction: the OrderSync rows are locked, each order's outcome is
decided from the status table, then customers, products, sales and lines, payments and refunds, stock moves,
fulfilments and log entries are written in a fixed number of statements whatever the number of orders or lines.

Exactly once: OrderSync rows are locked for the whole transaction (two workers on one order run one after the
other), a fetched copy older than what was applied is ignored, every stock movement has a source key derived from
link, order and line, and stock is moved to reach the *desired* net for each line (minus the quantity for a closed
sale, nothing for a voided one) computed against the ledger itself. Replays, retries and duplicate deliveries
therefore move nothing, an edited order moves only the difference, and a void gives the stock back once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integration.bc_types import (
    Address,
    Order,
    OrderProduct,
    PickupConsignment,
    Refund,
    ShippingConsignment,
    Transaction,
)
from integration.choices import ErrorCode, OrderSyncState, PickupStock, Reason
from integration.models import OrderSync, OutletLocation, PaymentMethodMap, StoreLink
from integration.services.catalog_resolve import (
    LineRef,
    Resolution,
    products_resolve,
    service_products_ensure,
)
from integration.services.customers import CustomerMatch, CustomerRef, customers_resolve
from integration.services.synclog import Event, sync_log_build, sync_log_save
from integration.status_table import (
    AUTHORIZED_PAYMENT_STATUSES,
    PAID_PAYMENT_STATUSES,
    BcStatus,
    Outcome,
    UnknownStatusError,
    status_for,
)
from pos.choices import Channel, PaymentKind, ProductKind, SaleStatus
from pos.db import bulk_update_rows, insert_rows_missing, new_row
from pos.models import PaymentType, Product, Sale
from pos.services.fulfillment import OnlineFulfillmentSpec, fulfillments_follow_online_sales
from pos.services.sales import (
    LineSpec,
    OriginalAmounts,
    PaymentSpec,
    ReturnSpec,
    SaleSpec,
    SaleWritten,
    Totals,
    sales_write,
)

logger = logging.getLogger("integration.sync")

# Orders our own POS channel placed in BigCommerce (none today) carry this external_source; never import them.
POS_EXTERNAL_SOURCE = "pos-backoffice"
ORDER_PAYMENT_ID = "bc-order-payment"
CHARGE_KINDS = (
    ("shipping", ProductKind.SHIPPING),
    ("handling", ProductKind.HANDLING),
    ("wrapping", ProductKind.WRAPPING),
)


class Mode(StrEnum):
    LIVE = "live"  # webhooks, reconciliation, retries: orders placed before the link are not imported
    IMPORT = "import"  # a historical import run, enabled by support


@dataclass(frozen=True)
class FetchedOrder:
    """An order as just fetched from BigCommerce, with its refunds when the order has any."""

    order: Order
    refunds: Sequence[Refund] | None = None  # None: not fetched, keep the refunds already recorded
    deleted_product_ids: frozenset[int] = frozenset()
    refund_requests: int = 0  # OrderSync.refund_requests when the order was fetched
    # The gateway's V3 transactions, when they were read this time (None: not read, see `transactions_due`).
    transactions: Sequence[Transaction] | None = None
    transaction_requests: int = 0  # OrderSync.transaction_requests when the order was fetched


@dataclass(frozen=True)
class ApplyOptions:
    mode: Mode = Mode.LIVE
    adjust_stock: bool = True  # historical imports may leave stock alone


class Kind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    SKIP_STATUS = "skip_status"
    STALE = "stale"
    HISTORICAL = "historical"
    FROM_POS = "from_pos"
    ATTENTION = "attention"


@dataclass
class Plan:
    fetched: FetchedOrder
    sync: OrderSync
    kind: Kind
    status: BcStatus | None = None
    sale: Sale | None = None
    reason: Reason | None = None
    reason_detail: str = ""
    previous_status_id: int | None = None
    voided_now: bool = False
    # Applied, but someone must look (goods already handed over changed): (reason, detail).
    attention_after_apply: tuple[Reason, str] | None = None
    new_lines: list = field(default_factory=list)
    # Units of the order's (transactional) currency per unit of the retailer's; None: the same currency.
    rate: Decimal | None = None

    @property
    def order(self) -> Order:
        return self.fetched.order


@dataclass(frozen=True)
class OrderOutcome:
    bc_order_id: int
    kind: str
    state: str
    sale_id: int | None


# What a historical import does not log order by order: the page's summary entry counts them.
IMPORT_SUMMARISED = frozenset(
    {
        Event.ORDER_IMPORTED,
        Event.ORDER_UPDATED,
        Event.ORDER_UNCHANGED,
        Event.ORDER_STALE,
        Event.ORDER_SKIPPED,
        Event.ORDER_HISTORICAL,
        Event.ORDER_FROM_POS,
        Event.ORDER_VOIDED,
        Event.ORDER_EDITED,
        Event.ORDER_REFUNDED,
        Event.ORDER_SHIPPED,
        Event.ORDER_RESTOCKED,
        Event.CUSTOMER_CREATED,
        Event.CUSTOMER_MATCHED,
    }
)


@dataclass
class _Batch:
    link: StoreLink
    options: ApplyOptions
    now: object
    plans: list[Plan]
    logs: list = field(default_factory=list)
    # BigCommerce location id -> (outlet id, outlet name), when pickups take the stock of the location's outlet.
    pickup_outlets: dict[int, tuple[int, str]] = field(default_factory=dict)
    # A historical import's orders per payment method not mapped yet: one warning per method and page.
    unmapped: dict[str, list[int]] = field(default_factory=dict)
    line_refs: dict[int, LineRef] = field(default_factory=dict)  # by id() of the order line

    def line_ref(self, item: OrderProduct) -> LineRef:
        """The line's product reference, made once per line whoever asks (resolving, mapping, logging)."""
        ref = self.line_refs.get(id(item))
        if ref is None:
            ref = self.line_refs[id(item)] = _line_ref(item)
        return ref

    def log(self, event, plan: Plan | None = None, **params) -> None:
        if self.options.mode == Mode.IMPORT and event in IMPORT_SUMMARISED:
            return  # the historical import writes one entry per page instead (failures keep theirs)
        self.logs.append(sync_log_build(link=self.link, event=event, order_sync=plan.sync if plan else None, **params))

    def log_unmapped(self, plan: Plan, method: str) -> None:
        """A payment method not mapped yet: said per order by a live sync, per method and page by an import."""
        if self.options.mode != Mode.IMPORT:
            payment_type = str(self.link.default_payment_type)
            self.log(Event.PAYMENT_METHOD_UNMAPPED, plan, method=method, payment_type=payment_type)
            return
        self.unmapped.setdefault(method, []).append(plan.order.id)

    def log_unmapped_summary(self) -> None:
        payment_type = str(self.link.default_payment_type)
        for method, orders in sorted(self.unmapped.items()):
            self.log(
                Event.PAYMENT_METHOD_UNMAPPED_ORDERS,
                data={"method": method, "orders": len(orders)},
                method=method,
                count=len(orders),
                first=min(orders),
                last=max(orders),
                payment_type=payment_type,
            )


# ---------------------------------------------------------------- entry point


def orders_apply(*, link: StoreLink, fetched: Sequence[FetchedOrder], options: ApplyOptions) -> list[OrderOutcome]:
    """Apply fetched orders to the POS in one transaction (see the module docstring). Returns one outcome each."""
    now = timezone.now()
    with transaction.atomic():
        syncs = _lock_order_syncs(link, [f.order.id for f in fetched], now)
        sales = {s.pk: s for s in Sale.objects.filter(pk__in=[s.sale_id for s in syncs.values() if s.sale_id])}
        batch = _Batch(link, options, now, [], pickup_outlets=_pickup_outlets(link))
        for f in _latest_per_order(fetched):
            sync = syncs[f.order.id]
            batch.plans.append(_decide(link, sync, sales.get(sync.sale_id), f, options))
        _apply_sales(batch)
        _record(batch)
    return [OrderOutcome(p.order.id, p.kind, p.sync.state, p.sync.sale_id) for p in batch.plans]


def _pickup_outlets(link: StoreLink) -> dict[int, tuple[int, str]]:
    """The outlets pickups take their stock from, by BigCommerce location (one query, only when the link's
    setting asks for it; otherwise every online order takes the linked outlet's stock)."""
    if link.pickup_stock != PickupStock.PICKUP_OUTLET:
        return {}
    rows = OutletLocation.objects.filter(link=link, outlet__active=True).values_list(
        "location_id", "outlet_id", "outlet__name"
    )
    return {location_id: (outlet_id, name) for location_id, outlet_id, name in rows}


def _stock_outlet(batch: _Batch, order: Order) -> tuple[int, str] | None:
    """The outlet (id, name) whose stock a new sale takes when it is not the linked outlet: a pickup collected at
    a BigCommerce location mapped to another outlet, with the link's setting on. None: the linked outlet."""
    pickups = order.consignments.pickups if order.consignments else ()
    location = pickups[0].location if pickups else None
    outlet = batch.pickup_outlets.get(location.id) if location is not None and location.id is not None else None
    return outlet if outlet is not None and outlet[0] != batch.link.outlet_id else None


def _latest_per_order(fetched: Sequence[FetchedOrder]) -> list[FetchedOrder]:
    latest: dict[int, FetchedOrder] = {}
    for f in fetched:
        if f.order.id not in latest or f.order.date_modified >= latest[f.order.id].order.date_modified:
            latest[f.order.id] = f
    return list(latest.values())


def _lock_order_syncs(link: StoreLink, order_ids: list[int], now) -> dict[int, OrderSync]:
    """Ensure a row per order and lock them all, in id order so two batches cannot deadlock. The rows usually
    exist (a sync's request created them): then this is the one locking read."""
    rows = OrderSync.objects.select_for_update().filter(link=link, bc_order_id__in=order_ids).order_by("pk")
    locked = {row.bc_order_id: row for row in rows}
    if len(locked) < len(set(order_ids)):
        insert_rows_missing(
            OrderSync,
            [
                new_row(OrderSync, link=link, bc_order_id=oid, created_at=now)
                for oid in sorted(set(order_ids) - locked.keys())
            ],
        )
        locked = {row.bc_order_id: row for row in rows.all()}
    return locked


# ---------------------------------------------------------------- deciding


def _decide(link: StoreLink, sync: OrderSync, sale: Sale | None, fetched: FetchedOrder, options: ApplyOptions) -> Plan:
    """What to do with one order. Pure: reads the order, its sync row and its sale; writes nothing."""
    order = fetched.order
    plan = Plan(fetched, sync, Kind.ATTENTION, sale=sale)
    if sync.bc_date_modified and order.date_modified < sync.bc_date_modified:
        plan.kind = Kind.STALE
        return plan
    if (order.external_source or "").lower() == POS_EXTERNAL_SOURCE:
        plan.kind = Kind.FROM_POS
        return plan
    try:
        plan.status = status_for(order.status_id)
    except UnknownStatusError as exc:
        plan.reason, plan.reason_detail = ErrorCode.UNKNOWN_STATUS, str(exc.status_id)
        return plan
    if sale is None and options.mode == Mode.LIVE and order.date_created < link.linked_at:
        plan.kind = Kind.HISTORICAL
        return plan
    plan.rate, problem = order_exchange_rate(order, retailer_currency=link.retailer.currency)
    if problem:
        plan.reason, plan.reason_detail = ErrorCode.CURRENCY_MISMATCH, problem
        return plan
    if plan.status.outcome == Outcome.SKIP:
        plan.kind = Kind.SKIP_STATUS
        return plan
    if sale is not None and sale.status == SaleStatus.VOIDED and plan.status.outcome == Outcome.CLOSED:
        plan.reason, plan.reason_detail = ErrorCode.VOIDED_REVIVED, plan.status.label
        return plan
    plan.kind = Kind.UPDATE if sale is not None else Kind.CREATE
    return plan


# ---------------------------------------------------------------- sales, lines, payments, stock


def _apply_sales(batch: _Batch) -> None:
    """Map each order to the POS sales service's input and let it write the sales (one writer of sales)."""
    plans = [p for p in batch.plans if p.kind in (Kind.CREATE, Kind.UPDATE)]
    if not plans:
        return
    link = batch.link
    resolution = _resolve_products(batch, plans)
    customers = _resolve_customers(batch, [p for p in plans if p.kind == Kind.CREATE])
    payment_types = _payment_types(link, plans)
    specs = [_sale_spec(batch, p, resolution, customers.get(id(p)), payment_types) for p in plans]
    as_set = batch.options.mode == Mode.IMPORT  # a page of 250 orders: the writer's batch form
    written = sales_write(retailer_id=link.retailer_id, specs=specs, now=batch.now, as_set=as_set)
    for plan, result in zip(plans, written, strict=True):
        plan.sale, plan.previous_status_id, plan.voided_now, plan.new_lines = (
            result.sale,
            result.previous_bc_status_id,
            result.voided_now,
            result.new_lines,
        )
        _log_sale_changes(batch, plan, result, payment_types)
    _follow_fulfillments(batch, plans)


def _sale_spec(
    batch: _Batch,
    plan: Plan,
    resolution: Resolution,
    match: CustomerMatch | None,
    payment_types: dict[str, PaymentType | None],
) -> SaleSpec:
    order, link = plan.order, batch.link
    voided = plan.status.outcome == Outcome.VOIDED
    elsewhere = _stock_outlet(batch, order) if plan.sale is None else None
    if elsewhere is not None:
        location = order.consignments.pickups[0].location
        batch.log(Event.ORDER_PICKUP_OUTLET, plan, location=location.name or location.id, outlet=elsewhere[1])
    spec = SaleSpec(
        sale=plan.sale,
        outlet_id=elsewhere[0] if elsewhere is not None else link.outlet_id,
        register_id=link.register_id,
        channel=Channel.BIGCOMMERCE,
        external_order_id=str(order.id),
        customer=match.customer if match else None,
        sale_date=order.date_created,
        currency=link.retailer.currency[:3],
        staff_note=order.staff_notes or "",
        customer_note=order.customer_message or "",
        status=SaleStatus.VOIDED if voided else SaleStatus.CLOSED,
        void_reason=f"{plan.status.label} in BigCommerce",
        bc_status_id=plan.status.id,
        bc_status_label=order.status or plan.status.label,
        totals=Totals(
            ex_tax=order.total_ex_tax,
            tax=order.total_tax,
            inc_tax=order.total_inc_tax,
            discount=(order.discount_amount or Decimal("0")) + (order.coupon_discount or Decimal("0")),
        ),
        lines=_lines(batch, plan, resolution),
        payments=_payments(batch, plan, payment_types),
        returns=_returns(plan) if link.retailer.restock_refunded_items else (),
        moves_stock=batch.options.adjust_stock,
        source_prefix=f"bc:{link.pk}:{order.id}",
        stock_note=f"BigCommerce order {order.id}",
    )
    return sale_spec_converted(spec, currency=order.default_currency_code, rate=plan.rate) if plan.rate else spec


def _resolve_products(batch: _Batch, plans: list[Plan]) -> Resolution:
    refs = [batch.line_ref(item) for p in plans for item in p.order.products]
    deleted = set().union(*(p.fetched.deleted_product_ids for p in plans))
    resolution = products_resolve(link=batch.link, refs=refs, deleted_product_ids=deleted)
    for product in resolution.created:
        batch.log(
            Event.PRODUCT_CREATED,
            name=product.name,
            sku=product.sku or "no SKU",
            bc_order_id=_first_order_with(batch, plans, product, resolution),
        )
    for product in resolution.placeholders:
        batch.log(
            Event.PLACEHOLDER_CREATED,
            name=product.name,
            bc_order_id=_first_order_with(batch, plans, product, resolution),
        )
    kinds = {kind for p in plans for attr, kind in CHARGE_KINDS if _charge(p.order, attr)[2]}
    kinds |= {ProductKind.FEE for p in plans if _fees(p.order)}
    service, created = service_products_ensure(retailer_id=batch.link.retailer_id, kinds=kinds)
    for product in created:
        batch.log(Event.SERVICE_PRODUCT_CREATED, name=product.name, kind=product.get_kind_display().lower())
    resolution.products.update({("charge", kind): product for kind, product in service.items()})
    return resolution


def _first_order_with(batch: _Batch, plans: list[Plan], product: Product, resolution: Resolution) -> int | None:
    for p in plans:
        for item in p.order.products:
            if resolution.products.get(batch.line_ref(item).key) is product:
                return p.order.id
    return None


def _line_ref(item: OrderProduct) -> LineRef:
    return LineRef(
        bc_product_id=item.product_id or 0,
        bc_variant_id=item.variant_id or 0,
        sku=item.sku,
        name=_line_name(item),
        base_price=item.base_price,
    )


def _line_name(item: OrderProduct) -> str:
    options = ", ".join(
        f"{o.display_name}: {o.display_value}" for o in item.product_options if o.display_name and o.display_value
    )
    return f"{item.name} ({options})" if options else item.name


def _charge(order: Order, attr: str) -> tuple[Decimal, Decimal, Decimal]:
    """(ex tax, tax, inc tax) of a shipping / handling / wrapping charge."""
    ex = getattr(order, f"{attr}_cost_ex_tax")
    inc = getattr(order, f"{attr}_cost_inc_tax")
    return ex, getattr(order, f"{attr}_cost_tax"), inc


def _fees(order: Order) -> list:
    """The order's fees (`include=fees`) that charge something."""
    return [fee for fee in order.fees or () if fee.cost_inc_tax or fee.cost_ex_tax]


def _lines(batch: _Batch, plan: Plan, resolution: Resolution) -> list[LineSpec]:
    lines = []
    for item in plan.order.products:
        ref = batch.line_ref(item)
        lines.append(
            LineSpec(
                key=str(item.id),
                product=resolution.products[ref.key],
                name=ref.name,
                sku=item.sku or "",
                quantity=max(int(item.quantity), 0),
                unit_price_ex_tax=item.price_ex_tax,
                unit_price_inc_tax=item.price_inc_tax,
                discount=item.discount_total,
                total_ex_tax=item.total_ex_tax,
                total_tax=item.total_tax,
                total_inc_tax=item.total_inc_tax,
            )
        )
    for attr, kind in CHARGE_KINDS:
        ex, tax, inc = _charge(plan.order, attr)
        if not inc and not ex:
            continue
        product = resolution.products[("charge", kind)]
        lines.append(LineSpec(attr, product, product.name, 1, ex, inc, ex, tax, inc))
    for fee in _fees(plan.order):
        # An order fee is a charge like shipping: a line of the retailer's fee product, named as the merchant
        # named it, keyed by BigCommerce's fee id so an edited fee updates its line.
        product = resolution.products[("charge", ProductKind.FEE)]
        ex, tax, inc = fee.cost_ex_tax, fee.cost_tax, fee.cost_inc_tax
        lines.append(LineSpec(f"fee-{fee.id}", product, fee.name[:255], 1, ex, inc, ex, tax, inc))
    return lines


def _resolve_customers(batch: _Batch, plans: list[Plan]) -> dict[int, CustomerMatch | None]:
    refs = []
    for plan in plans:
        billing = plan.order.billing_address
        refs.append(
            CustomerRef(
                bc_customer_id=plan.order.customer_id or 0,
                email=billing.email or "",
                first_name=billing.first_name or "",
                last_name=billing.last_name or "",
                company=billing.company or "",
                phone=billing.phone or "",
                address=_address(billing),
            )
        )
    matches = customers_resolve(link=batch.link, refs=refs)
    for plan, match in zip(plans, matches, strict=True):
        if match is None:
            continue
        if match.how == "created":
            batch.log(Event.CUSTOMER_CREATED, plan, customer=str(match.customer))
        else:
            how = "BigCommerce customer id" if match.how == "linked" else "same email"
            batch.log(Event.CUSTOMER_MATCHED, plan, customer=str(match.customer), how=how)
    return {id(p): m for p, m in zip(plans, matches, strict=True)}


_ADDRESS_FIELDS = tuple(f.name for f in fields(Address))


def _address(address: Address | None) -> dict[str, str]:
    """An address as stored on a customer or a fulfilment: its fields (all text). Not `asdict`, which deep-copies
    each value (a page of orders maps some 500 addresses)."""
    if address is None:
        return {}
    return {name: getattr(address, name) for name in _ADDRESS_FIELDS}


def _payment_types(link: StoreLink, plans: list[Plan]) -> dict[str, PaymentType | None]:
    """Payment method (as BigCommerce names it) → mapped POS payment type (None: use the default). Methods seen
    for the first time are recorded so the settings page can offer them for mapping."""
    methods = {_method(p.order) for p in plans} | {label for p in plans for label, _, _ in _other_tenders(p.order)}
    methods -= {""}
    if not methods:
        return {}
    known = {
        row.method: row.payment_type
        for row in PaymentMethodMap.objects.filter(link=link, method__in=methods).select_related("payment_type")
    }
    new = sorted(methods - known.keys())
    if new:  # rare: a store has a handful of methods (a write only the first time each one is seen)
        now = timezone.now()
        PaymentMethodMap.objects.bulk_create(
            [PaymentMethodMap(link=link, method=m, first_seen_at=now, last_seen_at=now) for m in new],
            ignore_conflicts=True,
        )
        rows = PaymentMethodMap.objects.filter(link=link, method__in=new).select_related("payment_type")
        known.update((row.method, row.payment_type) for row in rows)
    return known


def _payments(batch: _Batch, plan: Plan, payment_types: dict[str, PaymentType | None]) -> list[PaymentSpec]:
    """What the customer paid, as BigCommerce has it: store credit and gift certificates each as a payment of their
    own, the rest through the order's payment method: taken (captured) or only authorised so far; each refund as
    a negative payment. Refunds not re-read this time (`refunds` None) are not listed, and the sales service keeps
    the ones recorded."""
    order = plan.order
    method = _method(order)
    payment_type = payment_types.get(method) or batch.link.default_payment_type
    status = (order.payment_status or "").lower()
    settled = status in PAID_PAYMENT_STATUSES or status in AUTHORIZED_PAYMENT_STATUSES
    tenders = _other_tenders(order) if settled else []
    wanted = []
    for label, amount, external_id in tenders:
        wanted.append(
            PaymentSpec(
                payment_type=payment_types.get(label) or batch.link.default_payment_type,
                amount=amount,
                paid_at=order.date_created,
                method_label=label,
                external_id=external_id,
            )
        )
    transactions = plan.fetched.transactions
    if transactions is not None:
        wanted += _gateway_from_transactions(transactions, payment_type, method)
    elif plan.sync.transactions_read is None and settled:
        # Never read: the payment status says it (what store credit and gift certificates left, taken or held).
        gateway = order.total_inc_tax - sum((amount for _, amount, _ in tenders), Decimal(0))
        if gateway > 0:
            authorised = status in AUTHORIZED_PAYMENT_STATUSES
            wanted.append(
                PaymentSpec(
                    payment_type=payment_type,
                    kind=PaymentKind.AUTHORISATION if authorised else PaymentKind.PAYMENT,
                    amount=gateway,
                    paid_at=order.date_created,
                    method_label=method,
                    external_id=ORDER_PAYMENT_ID,
                )
            )
    # Read before and not this time: the gateway's payments recorded from them stay as they are.
    for refund in plan.fetched.refunds or ():
        # What went back to the customer: payments BigCommerce declined were not refunded.
        amount = refund.refunded_amount if refund.payments else refund.total_amount
        if amount > 0:
            wanted.append(
                PaymentSpec(
                    payment_type=payment_type,
                    kind=PaymentKind.REFUND,
                    amount=-amount,
                    paid_at=refund.created or batch.now,
                    method_label=method,
                    external_id=f"bc-refund-{refund.id}",
                )
            )
    return wanted


# Transactions of tenders recorded from the order's own fields (`_other_tenders`), not the gateway's.
TENDER_METHODS = frozenset({"store_credit", "gift_certificate"})


def _gateway_from_transactions(
    transactions: Sequence[Transaction], payment_type: PaymentType, method: str
) -> list[PaymentSpec]:
    """The gateway's payments as its V3 transactions have them: each capture (or purchase: authorised and captured
    at once) a payment, the first under the id the payment status used before transactions were read (so the two
    never count twice), the others under their transaction id; and the authorisation, as the amount still held
    (authorised, less what was captured or voided since): a void leaves nothing held, so the sale owes again.
    Failed transactions and refunds (read from the V3 refunds) are left out."""
    ok = [
        t for t in transactions if (t.status or "ok").lower() == "ok" and (t.method or "").lower() not in TENDER_METHODS
    ]

    def total(*events: str) -> Decimal:
        return sum((t.amount for t in ok if (t.event or "").lower() in events), Decimal(0))

    taken = sorted(
        (t for t in ok if (t.event or "").lower() in ("capture", "purchase")),
        key=lambda t: (t.date_created is None, t.date_created, t.id),
    )
    wanted = [
        PaymentSpec(
            payment_type=payment_type,
            amount=t.amount,
            paid_at=t.date_created or timezone.now(),
            method_label=method,
            external_id=ORDER_PAYMENT_ID if k == 0 else f"bc-txn-{t.id}",
        )
        for k, t in enumerate(taken)
    ]
    authorised = total("authorization")
    if authorised > 0:
        held = max(authorised - total("capture", "void"), Decimal(0))
        first = min((t.date_created for t in ok if t.date_created), default=None)
        wanted.append(
            PaymentSpec(
                payment_type=payment_type,
                kind=PaymentKind.AUTHORISATION,
                amount=held,
                paid_at=first or timezone.now(),
                method_label=method,
                external_id=ORDER_PAYMENT_ID,
            )
        )
    return wanted


# Tenders BigCommerce records beside the payment method (orders.v2 `store_credit_amount`,
# `gift_certificate_amount`): (method label for mapping, the order's field).
OTHER_TENDERS = (("Store credit", "store_credit_amount"), ("Gift certificate", "gift_certificate_amount"))


def _other_tenders(order: Order) -> list[tuple[str, Decimal, str]]:
    """(label, amount, external id) of the store credit and gift certificates that paid part of the order."""
    tenders = []
    for label, attr in OTHER_TENDERS:
        amount = getattr(order, attr) or Decimal("0")
        if amount > 0:
            tenders.append((label, amount, f"bc-{attr.removesuffix('_amount').replace('_', '-')}"))
    return tenders


def _method(order: Order) -> str:
    return (order.payment_method or "").strip()[:100]


# ---------------------------------------------------------------- orders in another currency


CENT = Decimal("0.01")


def order_exchange_rate(order: Order, *, retailer_currency: str) -> tuple[Decimal | None, str]:
    """(rate, problem) of an order paid in another currency than the retailer's. The rate is BigCommerce's
    `store_default_to_transactional_exchange_rate` (units of the order's `default_currency_code`, the currency the
    shopper paid in, per unit of the store's default), usable only when the store's default currency is the
    retailer's. (None, "") for an order in the retailer's currency; (None, why) when it cannot be converted.
    `currency_exchange_rate` is the *display* currency's rate and says nothing about the amounts."""
    currency = (order.default_currency_code or "").upper()
    retailer_currency = retailer_currency.upper()
    if not currency or currency == retailer_currency:
        return None, ""
    base = (order.store_default_currency_code or "").upper()
    if base and base != retailer_currency:
        return None, f"{currency}, and the store's default currency ({base}) is not this retailer's"
    rate = order.store_default_to_transactional_exchange_rate
    if rate is None or rate <= 0:
        return None, f"{currency} with no usable exchange rate ({rate if rate is not None else 'none given'})"
    return rate, ""


def _to_retailer(amount: Decimal, rate: Decimal) -> Decimal:
    """An amount of the order's currency in the retailer's: divided by the rate, to the cent, halves up."""
    return (amount / rate).quantize(CENT, rounding=ROUND_HALF_UP)


def sale_spec_converted(spec: SaleSpec, *, currency: str, rate: Decimal) -> SaleSpec:
    """The sale of an order paid in another currency, in the retailer's currency at the order's own rate, with the
    original currency, rate and totals kept beside it. The rounding rule, in this one place:

    1. every amount is divided by the rate and rounded to the cent, halves up;
    2. the sale's total including tax and its tax are converted so (the ex-tax total is their difference), and so
       is its discount;
    3. each line's total including tax and its tax are converted so (its ex-tax total their difference), then
       the cents that rounding the lines one by one gained or lost against the converted sale totals go to the
       line of the largest amount, so the lines add up to the sale as they did in the order's currency;
    4. payments and refunds are converted so; when the payments (or authorisations) covered the order's total, the
       cents rounding left over go to the largest, so a fully paid order is exactly paid.
    """
    totals = spec.totals
    inc, tax, discount = (_to_retailer(x, rate) for x in (totals.inc_tax, totals.tax, totals.discount))
    converted_totals = Totals(ex_tax=inc - tax, tax=tax, inc_tax=inc, discount=discount)
    lines = [
        dataclasses.replace(
            line,
            unit_price_ex_tax=_to_retailer(line.unit_price_ex_tax, rate),
            unit_price_inc_tax=_to_retailer(line.unit_price_inc_tax, rate),
            discount=_to_retailer(line.discount, rate),
            total_inc_tax=_to_retailer(line.total_inc_tax, rate),
            total_tax=_to_retailer(line.total_tax, rate),
        )
        for line in spec.lines
    ]
    if lines:
        # What the lines left over from the sale in the order's currency (its discount, or nothing), converted.
        rest_inc = _to_retailer(sum((li.total_inc_tax for li in spec.lines), Decimal(0)) - totals.inc_tax, rate)
        rest_tax = _to_retailer(sum((li.total_tax for li in spec.lines), Decimal(0)) - totals.tax, rate)
        gap_inc = inc + rest_inc - sum((li.total_inc_tax for li in lines), Decimal(0))
        gap_tax = tax + rest_tax - sum((li.total_tax for li in lines), Decimal(0))
        biggest = max(range(len(lines)), key=lambda k: (abs(spec.lines[k].total_inc_tax), -k))
        line = lines[biggest]
        lines[biggest] = dataclasses.replace(
            line, total_inc_tax=line.total_inc_tax + gap_inc, total_tax=line.total_tax + gap_tax
        )
    lines = [dataclasses.replace(li, total_ex_tax=li.total_inc_tax - li.total_tax) for li in lines]
    payments = [dataclasses.replace(p, amount=_to_retailer(p.amount, rate)) for p in spec.payments]
    taken = [k for k, p in enumerate(spec.payments) if p.kind != PaymentKind.REFUND]
    if taken and sum(spec.payments[k].amount for k in taken) == totals.inc_tax:
        # Paid (or held) in full in the order's currency: in full in the retailer's, the largest taking the cents.
        largest = max(taken, key=lambda k: (spec.payments[k].amount, -k))
        rest = inc - sum(payments[k].amount for k in taken)
        payments[largest] = dataclasses.replace(payments[largest], amount=payments[largest].amount + rest)
    return dataclasses.replace(
        spec,
        totals=converted_totals,
        lines=lines,
        payments=payments,
        original=OriginalAmounts(currency=currency.upper()[:3], rate=rate, totals=totals),
    )


def _returns(plan: Plan) -> list[ReturnSpec]:
    """The items BigCommerce's refunds name (V3 refund items of type PRODUCT: an order product id and a quantity),
    to go back into stock once each (the retailer's setting). A refund of an amount names no items."""
    returns = []
    for refund in plan.fetched.refunds or ():
        for item in refund.items or ():
            if (item.item_type or "").upper() == "PRODUCT" and item.item_id and item.quantity:
                returns.append(ReturnSpec(f"{refund.id}-{item.item_id}", str(item.item_id), int(item.quantity)))
    return returns


def _log_sale_changes(
    batch: _Batch, plan: Plan, result: SaleWritten, payment_types: dict[str, PaymentType | None]
) -> None:
    sale = result.sale
    unmapped = {p.method_label for p in result.new_payments if p.kind != PaymentKind.REFUND}
    for method in sorted(m for m in unmapped if payment_types.get(m) is None):
        batch.log_unmapped(plan, method or "(none)")
    if result.line_changes:
        batch.log(Event.ORDER_EDITED, plan, invoice=sale.invoice_number, detail="; ".join(result.line_changes))
    if result.new_refunds:
        batch.log(Event.ORDER_REFUNDED, plan, amount=f"{result.new_refunds:.2f}", invoice=sale.invoice_number)
    if result.returned:
        batch.log(
            Event.ORDER_RESTOCKED,
            plan,
            detail=", ".join(result.returned),
            outlet=sale.outlet.name if sale.outlet_id != batch.link.outlet_id else batch.link.outlet.name,
            invoice=sale.invoice_number,
        )


def _follow_fulfillments(batch: _Batch, plans: list[Plan]) -> None:
    specs = []
    for plan in plans:
        specs.extend(_fulfillment_specs(plan))
    report = fulfillments_follow_online_sales(specs=specs, as_set=batch.options.mode == Mode.IMPORT)
    for plan in plans:
        sale = plan.sale
        if sale.pk in report.sent and (plan.kind == Kind.UPDATE or not plan.status.shipped):
            batch.log(Event.ORDER_SHIPPED, plan, detail=report.sent[sale.pk], invoice=sale.invoice_number)
        if sale.pk in report.edited_after_completion:
            detail, shipped_changed = report.edited_after_completion[sale.pk]
            batch.log(Event.ORDER_EDITED_AFTER_FULFILMENT, plan, detail=detail, invoice=sale.invoice_number)
            if shipped_changed:
                plan.attention_after_apply = (ErrorCode.EDITED_AFTER_FULFILMENT, detail)


def _fulfillment_specs(plan: Plan) -> list[OnlineFulfillmentSpec]:
    """One spec per consignment of the order (each shipping address, each pickup), each holding the lines
    BigCommerce puts in it; an order with one consignment (or none, awaiting pickup) is fulfilled as a whole."""
    order = plan.order
    shipping = order.consignments.shipping if order.consignments else ()
    pickups = order.consignments.pickups if order.consignments else ()
    if not shipping and not pickups and not plan.status.pickup:
        return []
    common = {
        "sale": plan.sale,
        "already_shipped": plan.status.shipped,
        "sent": {str(item.id): item.quantity_shipped or 0 for item in order.products},
        "new_sale": plan.kind == Kind.CREATE,
        "lines": plan.new_lines,
    }
    consignments: list[tuple[str, ShippingConsignment | PickupConsignment]] = [
        *((f"shipping:{c.id}", c) for c in shipping),
        *((f"pickup:{c.id}", c) for c in pickups),
    ]
    if not consignments:  # Awaiting Pickup, and BigCommerce names no pickup consignment
        return [
            OnlineFulfillmentSpec(
                pickup=True, shipping_address={}, external_address_id="", shipping_method="", **common
            )
        ]
    several = len(consignments) > 1
    held = {key: frozenset(str(li.id) for li in c.line_items or ()) for key, c in consignments}
    # The first consignment also takes the goods no consignment names (they shipped with it before).
    elsewhere = frozenset().union(*(held[key] for key, _ in consignments[1:]))
    specs = []
    for index, (key, consignment) in enumerate(consignments):
        if several and index == 0:
            line_keys = frozenset(str(item.id) for item in order.products) - elsewhere
        else:
            line_keys = held[key] if several else None
        address = consignment.address if isinstance(consignment, ShippingConsignment) else None
        specs.append(
            OnlineFulfillmentSpec(
                pickup=address is None,
                shipping_address=_address(address),
                external_address_id=str(consignment.id) if address is not None else "",
                shipping_method=((consignment.shipping_method or "") if address is not None else "")[:200],
                consignment=key,
                line_keys=line_keys,
                first=index == 0,
                **common,
            )
        )
    return specs


# ---------------------------------------------------------------- recording the outcome


def _record(batch: _Batch) -> None:
    """Update every OrderSync row and write the log entries, in a fixed number of statements."""
    now = batch.now
    imported = False
    for plan in batch.plans:
        sync, order = plan.sync, plan.order
        if plan.kind == Kind.STALE:
            batch.log(Event.ORDER_STALE, plan)
            continue
        sync.last_attempt_at = now
        sync.bc_status_id = order.status_id if 0 <= order.status_id < 32768 else None
        sync.bc_date_created = order.date_created
        if plan.kind == Kind.ATTENTION:
            _set_attention(sync, plan.reason, plan.reason_detail, now)
            batch.log(Event.SYNC_FAILED, plan, message=sync.last_error_message, fix=plan.reason.fix)
            continue
        sync.bc_date_modified = order.date_modified
        # An edit after fulfilment stays on Failed orders until staff resolve it, whatever syncs after it.
        late_edit = sync.state == OrderSyncState.NEEDS_ATTENTION and (
            sync.last_error_code == ErrorCode.EDITED_AFTER_FULFILMENT.code
        )
        kept = (sync.last_error_code, sync.last_error_message)
        sync.attempts, sync.next_retry_at, sync.last_error_code, sync.last_error_message = 0, None, "", ""
        if plan.fetched.refunds is not None:
            sync.refunds_read = max(sync.refunds_read or 0, plan.fetched.refund_requests)
        if plan.fetched.transactions is not None:
            sync.transactions_read = max(sync.transactions_read or 0, plan.fetched.transaction_requests)
        sync.bc_payment_status = (order.payment_status or "")[:32]
        if plan.kind in (Kind.CREATE, Kind.UPDATE):
            was_imported = sync.state == OrderSyncState.IMPORTED and sync.sale_id == plan.sale.pk
            sync.state, sync.sale = OrderSyncState.IMPORTED, plan.sale
            if plan.attention_after_apply:
                reason, detail = plan.attention_after_apply
                _set_attention(sync, reason, detail, now)
            elif late_edit:
                sync.state = OrderSyncState.NEEDS_ATTENTION
                sync.last_error_code, sync.last_error_message = kept
            imported = True
            if plan.kind == Kind.CREATE:
                event = Event.ORDER_VOIDED if plan.sale.status == SaleStatus.VOIDED else Event.ORDER_IMPORTED
                batch.log(event, plan, invoice=plan.sale.invoice_number, status=plan.status.label)
            elif plan.voided_now:
                batch.log(Event.ORDER_VOIDED, plan, invoice=plan.sale.invoice_number, status=plan.status.label)
            elif plan.previous_status_id != plan.status.id:
                batch.log(
                    Event.ORDER_UPDATED,
                    plan,
                    invoice=plan.sale.invoice_number,
                    detail=f"status now {plan.status.label}",
                )
            elif was_imported and not any(e.order_sync_id == sync.pk for e in batch.logs):
                batch.log(Event.ORDER_UNCHANGED, plan)
        elif plan.sale is not None:  # an imported order whose status went back to Pending / Incomplete
            Sale.objects.filter(pk=plan.sale.pk).update(bc_status_id=plan.status.id, bc_status_label=plan.status.label)
            sync.state = OrderSyncState.IMPORTED
            batch.log(
                Event.ORDER_UPDATED, plan, invoice=plan.sale.invoice_number, detail=f"status now {plan.status.label}"
            )
        else:
            if sync.state != OrderSyncState.SKIPPED or sync.bc_status_id != order.status_id:
                event = {
                    Kind.SKIP_STATUS: Event.ORDER_SKIPPED,
                    Kind.HISTORICAL: Event.ORDER_HISTORICAL,
                    Kind.FROM_POS: Event.ORDER_FROM_POS,
                }[plan.kind]
                batch.log(event, plan, status=plan.status.label if plan.status else "")
            sync.state = OrderSyncState.SKIPPED
        sync.updated_at = now
    bulk_update_rows(
        OrderSync,
        [p.sync for p in batch.plans if p.kind != Kind.STALE],
        [
            "state",
            "sale",
            "attempts",
            "next_retry_at",
            "last_error_code",
            "last_error_message",
            "bc_date_modified",
            "bc_status_id",
            "bc_date_created",
            "refunds_read",
            "transactions_read",
            "bc_payment_status",
            "last_attempt_at",
            "updated_at",
        ],
    )
    batch.log_unmapped_summary()
    sync_log_save(batch.logs)
    if imported:
        link_id = batch.link.pk
        transaction.on_commit(lambda: link_heartbeat_sync(link_id=link_id, now=now))


# The link's "last order synced" time is shown to the minute: written at most this often.
HEARTBEAT_RESOLUTION = timedelta(seconds=5)


def link_heartbeat_sync(*, link_id: int, now) -> None:
    """Record that the link synced an order: after the apply committed, in its own short statement, and only when
    the stored time is stale. Never inside the apply transaction: there it held the link's row lock while the
    batch's OrderSync rows were locked, and webhook intake (which locks an OrderSync row, then may touch the link)
    and other workers deadlocked against it."""
    StoreLink.objects.filter(
        Q(last_order_synced_at__isnull=True) | Q(last_order_synced_at__lt=now - HEARTBEAT_RESOLUTION), pk=link_id
    ).update(last_order_synced_at=now)


def _set_attention(sync: OrderSync, reason: Reason, detail: str, now) -> None:
    sync.state = OrderSyncState.NEEDS_ATTENTION
    sync.next_retry_at = None
    sync.last_error_code = reason.code
    sync.last_error_message = reason.describe(detail)
    sync.updated_at = now
