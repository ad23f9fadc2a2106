"""BigCommerce's JSON shapes, rendered from the sandbox's records.

V2 (orders, store): money as 4-decimal strings, dates in RFC 2822 (UTC), sub-resources as `{url, resource}`
links, consignments inlined when asked (at most 50 lines per consignment, then BigCommerce's `__warning__`).
V3: money as JSON numbers, ISO 8601 dates, hooks with UNIX timestamps. Every shape validates against the
OpenAPI files in `../shared/bigcommerce/openapi/` (the tests check it); order-product objects carry only the
keys the schema allows, because it says `additionalProperties: false`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING

from sandbox.amounts import OrderTotals
from sandbox.catalog import LOCATIONS, ORDER_SOURCES, STATUSES
from sandbox.records import (
    AUTH_CAPTURED,
    AUTH_HELD,
    AUTH_VOIDED,
    LineRecord,
    OrderRecord,
    money,
    number,
    rate_text,
    split_tax,
)
from sandbox.store import address_id, pickup_id, shipping_slots

if TYPE_CHECKING:
    from sandbox.store import SandboxStore

INLINE_LINE_LIMIT = 50
INLINE_WARNING = (
    "Not all line items of this consignment are returned with this response, only 50 are included. "
    "Please use the `/v2/orders/{order_id}/products` endpoint to fetch all line items."
)
PAYMENT_STATUS = {0: "", 1: "pending", 4: "refunded", 5: "void", 6: "declined", 7: "pending", 12: "held for review"}
PAYMENT_STATUS[14] = "partially refunded"
# The payment status of an order whose status leaves it to the gateway, by `OrderRecord.authorized`.
AUTH_PAYMENT_STATUS = {0: "captured", AUTH_HELD: "authorized", AUTH_CAPTURED: "captured", AUTH_VOIDED: "void"}


def rfc2822(seconds: int) -> str:
    return format_datetime(datetime.fromtimestamp(seconds, tz=UTC))


def iso8601(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


def _link(base: str, resource: str) -> dict:
    return {"url": f"{base}{resource}", "resource": resource}


def _address(store: SandboxStore, index: int) -> dict:
    a = store.addresses[index]
    return {
        "first_name": a.first_name,
        "last_name": a.last_name,
        "company": a.company,
        "street_1": a.street_1,
        "street_2": a.street_2,
        "city": a.city,
        "state": a.state,
        "zip": a.zip,
        "country": a.country,
        "country_iso2": a.country_iso2,
        "phone": a.phone,
        "email": a.email,
    }


# ---------------------------------------------------------------- V2 orders


def order(
    store: SandboxStore, record: OrderRecord, base: str, *, consignments: bool = False, fees: bool = False
) -> dict:
    """`GET /v2/orders/{id}`; with `consignments`, the `include=consignments,consignments.line_items` form, with
    `fees` the `include=fees` one (else `fees` is a `{url, resource}` link). An order in another currency than the
    store's has its amounts in that (transactional) currency, `default_currency_code`, and the rate from the
    store's default in `store_default_to_transactional_exchange_rate`, as Multi-Currency stores answer."""
    totals = store.totals(record)
    currency = store.order_currency(record)
    method = store.payment_method(record)
    status = STATUSES[record.status_id][0]
    resource = f"/orders/{record.id}"
    body = {
        "id": record.id,
        "customer_id": record.customer_id,
        "date_created": rfc2822(record.created),
        "date_modified": rfc2822(record.modified),
        "date_shipped": rfc2822(record.shipped_at) if record.shipped_at else "",
        "status_id": record.status_id,
        "status": status,
        "custom_status": status,
        "subtotal_ex_tax": money(totals.subtotal.ex),
        "subtotal_inc_tax": money(totals.subtotal.inc),
        "subtotal_tax": money(totals.subtotal.tax),
        "base_shipping_cost": money(record.shipping),
        "shipping_cost_ex_tax": money(totals.shipping.ex),
        "shipping_cost_inc_tax": money(totals.shipping.inc),
        "shipping_cost_tax": money(totals.shipping.tax),
        "shipping_cost_tax_class_id": 2,
        "base_handling_cost": money(record.handling),
        "handling_cost_ex_tax": money(totals.handling.ex),
        "handling_cost_inc_tax": money(totals.handling.inc),
        "handling_cost_tax": money(totals.handling.tax),
        "handling_cost_tax_class_id": 2,
        "base_wrapping_cost": money(sum(li.wrapping for li in record.lines)),
        "wrapping_cost_ex_tax": money(totals.wrapping.ex),
        "wrapping_cost_inc_tax": money(totals.wrapping.inc),
        "wrapping_cost_tax": money(totals.wrapping.tax),
        "wrapping_cost_tax_class_id": 3,
        "total_ex_tax": money(totals.total.ex),
        "total_inc_tax": money(totals.total.inc),
        "total_tax": money(totals.total.tax),
        "is_tax_inclusive_pricing": record.tax_inclusive,
        "items_total": sum(li.quantity for li in record.lines),
        "items_shipped": sum(li.shipped for li in record.lines),
        "payment_method": method.label,
        "payment_provider_id": "",
        "payment_status": PAYMENT_STATUS.get(record.status_id, AUTH_PAYMENT_STATUS[record.authorized]),
        # Documented as unreliable ("always returns 0"): clients must sum the V3 refunds instead.
        "refunded_amount": money(0),
        "order_is_digital": False,
        "store_credit_amount": money(record.store_credit),
        "gift_certificate_amount": money(record.gift_certificate),
        "ip_address": "",
        "ip_address_v6": "",
        "geoip_country": "",
        "geoip_country_iso2": "",
        "currency_id": 1 if currency == store.settings.currency else 2,
        "currency_code": currency,
        # The display currency's rate: "always 1" for orders made through the API, here too.
        "currency_exchange_rate": "1.0000000000",
        "default_currency_id": 1 if currency == store.settings.currency else 2,
        "default_currency_code": currency,
        "store_default_currency_code": store.settings.currency,
        "store_default_to_transactional_exchange_rate": rate_text(store.order_rate(record)),
        "staff_notes": store.texts[record.staff_notes],
        "customer_message": store.texts[record.message],
        # The discount other than the coupon: BigCommerce's `discount_amount` does not include `coupon_discount`.
        "discount_amount": money(record.discount),
        "coupon_discount": money(record.coupon_amount),
        "shipping_address_count": len(shipping_slots(record)),
        "is_deleted": record.archived,
        "ebay_order_id": "0",
        "cart_id": store.cart_id(record.id),
        "billing_address": {**_address(store, record.billing), "form_fields": []},
        "is_email_opt_in": False,
        "credit_card_type": None,
        "order_source": ORDER_SOURCES[record.source],
        "channel_id": record.channel_id,
        "external_source": None,
        "products": _link(base, f"{resource}/products"),
        "shipping_addresses": _link(base, f"{resource}/shippingaddresses"),
        "coupons": _link(base, f"{resource}/coupons"),
        "fees": _fees(record, totals) if fees else _link(base, f"{resource}/fees"),
        "external_id": None,
        "external_merchant_id": None,
        "tax_provider_id": "BasicTaxProvider",
        "customer_locale": "en",
        "external_order_id": "",
    }
    if consignments and not record.without_consignments:
        # Without `include`, BigCommerce's documented examples carry no `consignments` key at all (nor does an
        # order placed with `without_consignments`: the spec's own example of an order has none).
        body["consignments"] = _consignments(store, record, totals)
    return body


def _fees(record: OrderRecord, totals: OrderTotals) -> list[dict]:
    """The order's fees as `include=fees` inlines them (`orderFees_Resp`): the schema's `cost_ex_tax` spelling."""
    if not record.fee:
        return []
    return [
        {
            "id": record.id * 10 + 1,
            "type": "custom_fee",
            "display_name_customer": "Package protection",
            "display_name_merchant": "Package protection fee",
            "source": "v2",
            "base_cost": money(record.fee),
            "cost_ex_tax": money(totals.fee.ex),
            "cost_inc_tax": money(totals.fee.inc),
            "cost_tax": money(totals.fee.tax),
            "tax_class_id": None,
        }
    ]


def _destinations(store: SandboxStore, record: OrderRecord) -> list[dict]:
    """The order's shipping destinations with their lines and costs (as ints). Shipping and handling are split
    evenly between two destinations, the first taking the remainder."""
    slots = shipping_slots(record)
    rows = []
    for slot in slots:
        shares = {}
        for name, amount in (("cost", record.shipping), ("handling", record.handling)):
            share = amount // len(slots) + (amount % len(slots) if slot == 0 else 0)
            shares[name] = (share, *split_tax(share, record.tax_inclusive, store.settings.tax_rate_bp))
        rows.append(
            {
                "slot": slot,
                "id": address_id(record.id, slot),
                "address": _address(store, record.ship_address if slot == 0 else record.ship_address2),
                "lines": [li for li in record.lines if li.slot == slot],
                "costs": shares,
            }
        )
    return rows


def _destination_fields(record: OrderRecord, destination: dict, fmt) -> dict:
    lines = destination["lines"]
    (base, ex, inc, tax), (h_base, h_ex, h_inc, h_tax) = destination["costs"]["cost"], destination["costs"]["handling"]
    return {
        "id": destination["id"],
        **destination["address"],
        "form_fields": [],
        "items_total": sum(li.quantity for li in lines),
        "items_shipped": sum(li.shipped for li in lines),
        "shipping_method": "Flat Rate" if record.shipping else "Free Shipping",
        "base_cost": fmt(base),
        "cost_ex_tax": fmt(ex),
        "cost_inc_tax": fmt(inc),
        "cost_tax": fmt(tax),
        "cost_tax_class_id": 2,
        "base_handling_cost": fmt(h_base),
        "handling_cost_ex_tax": fmt(h_ex),
        "handling_cost_inc_tax": fmt(h_inc),
        "handling_cost_tax": fmt(h_tax),
        "handling_cost_tax_class_id": 2,
        "shipping_zone_id": 1,
        "shipping_zone_name": "Worldwide",
    }


def _inline_lines(store: SandboxStore, record: OrderRecord, lines: list[LineRecord], amounts: dict, target: dict):
    """Up to 50 inline lines, then BigCommerce's `__warning__` (undocumented; bigcommerce/docs#960)."""
    target["line_items"] = [order_product(store, record, li, amounts[li.id]) for li in lines[:INLINE_LINE_LIMIT]]
    if len(lines) > INLINE_LINE_LIMIT:
        target["__warning__"] = {"message": INLINE_WARNING}
    return target


def _consignments(store: SandboxStore, record: OrderRecord, totals: OrderTotals) -> dict:
    amounts = dict(zip((li.id for li in record.lines), totals.lines, strict=True))
    shipping = []
    for destination in _destinations(store, record):
        consignment = _destination_fields(record, destination, number)
        resource = f"/orders/{record.id}/shipping_addresses/{destination['id']}/shipping_quotes"
        consignment["shipping_quotes"] = {"url": "", "resource": resource}
        shipping.append(_inline_lines(store, record, destination["lines"], amounts, consignment))
    pickups = []
    if record.pickup:
        location_id, code, label = LOCATIONS[record.pickup_location_index]
        pickup = {
            "id": pickup_id(record.id),
            "pickup_method_id": 1,
            "pickup_method_display_name": "Pick up in store",
            "collection_instructions": "Bring your order number to the counter.",
            "collection_time_description": "Ready within 2 hours",
            "location": {
                "id": location_id,
                "name": label,
                "code": code,
                "address_line_1": "12 Königsallee",
                "address_line_2": "",
                "city": "Düsseldorf",
                "state": "Nordrhein-Westfalen",
                "postal_code": "40212",
                "country_alpha2": "DE",
                "email": "store@example.com",
                "phone": "+49 211 1234",
            },
        }
        pickups.append(_inline_lines(store, record, record.lines, amounts, pickup))
    return {"shipping": shipping, "pickups": pickups, "downloads": [], "email": {"gift_certificates": []}}


def order_product(store: SandboxStore, record: OrderRecord, line: LineRecord, amounts) -> dict:
    """One order line (`GET /v2/orders/{id}/products`, and inlined in consignments)."""
    product = store.products[line.product_id]
    variant = store.variants[line.variant_id]
    discounts = []
    code = store.coupon_code(record)
    if amounts.coupon_share:
        discounts.append(
            {
                "id": "coupon",
                "amount": money(amounts.coupon_share),
                "name": f"Coupon {code}",
                "code": code,
                "target": "order",
            }
        )
    if amounts.discount_share:
        discounts.append(
            {
                "id": "manual-discount",
                "amount": money(amounts.discount_share),
                "name": "Manual Discount",
                "code": None,
                "target": "order",
            }
        )
    return {
        "id": line.id,
        "order_id": record.id,
        "product_id": line.product_id,
        "variant_id": line.variant_id,
        "order_pickup_method_id": pickup_id(record.id) if record.pickup else 0,
        "order_address_id": 0 if record.pickup else address_id(record.id, line.slot),
        "name": product.name,
        "name_customer": product.name,
        "name_merchant": product.name,
        "sku": variant.sku,
        "upc": "",
        "type": "physical",
        "base_price": money(line.unit_price),
        "price_ex_tax": money(amounts.unit.ex),
        "price_inc_tax": money(amounts.unit.inc),
        "price_tax": money(amounts.unit.tax),
        "base_total": money(line.unit_price * line.quantity),
        "total_ex_tax": money(amounts.total.ex),
        "total_inc_tax": money(amounts.total.inc),
        "total_tax": money(amounts.total.tax),
        "weight": "1.0000",
        "width": "0.0000",
        "height": "0.0000",
        "depth": "0.0000",
        "quantity": line.quantity,
        "base_cost_price": money(product.cost_price),
        "cost_price_inc_tax": money(product.cost_price),
        "cost_price_ex_tax": money(product.cost_price),
        "cost_price_tax": money(0),
        "is_refunded": line.refunded > 0,
        "quantity_refunded": line.refunded,
        "refund_amount": money(0),
        "return_id": 0,
        "wrapping_id": 1 if line.wrapping else 0,
        "wrapping_name": "Gift wrap" if line.wrapping else None,
        "base_wrapping_cost": money(line.wrapping),
        "wrapping_cost_ex_tax": money(amounts.wrapping.ex),
        "wrapping_cost_inc_tax": money(amounts.wrapping.inc),
        "wrapping_cost_tax": money(amounts.wrapping.tax),
        "wrapping_message": "Happy birthday! 🎂" if line.wrapping else "",
        "quantity_shipped": line.shipped,
        "event_name": None,
        "event_date": None,
        "fixed_shipping_cost": money(0),
        "ebay_item_id": "",
        "ebay_transaction_id": "",
        "option_set_id": 1 if variant.options else None,
        "parent_order_product_id": None,
        "is_bundled_product": False,
        "bin_picking_number": "",
        "external_id": None,
        "brand": product.brand,
        "applied_discounts": discounts,
        "product_options": [
            {
                "id": line.id * 10 + k,
                "option_id": option.option_id,
                "order_product_id": line.id,
                "product_option_id": option.option_id,
                "display_name": option.display_name,
                "display_name_customer": option.display_name,
                "display_name_merchant": option.display_name,
                "display_value": option.label,
                "display_value_customer": option.label,
                "display_value_merchant": option.label,
                "value": str(option.value_id),
                "type": "Multiple choice",
                "name": option.display_name,
                "display_style": "Rectangle",
            }
            for k, option in enumerate(variant.options)
        ],
        "configurable_fields": [],
        "gift_certificate_id": None,
        "discounted_total_inc_tax": money(amounts.total.inc - amounts.coupon_share - amounts.discount_share),
    }


def order_products(store: SandboxStore, record: OrderRecord) -> list[dict]:
    totals = store.totals(record)
    return [order_product(store, record, li, la) for li, la in zip(record.lines, totals.lines, strict=True)]


def shipping_addresses(store: SandboxStore, record: OrderRecord, base: str) -> list[dict]:
    """`GET /v2/orders/{id}/shipping_addresses` (empty for pickup orders)."""
    rows = []
    for destination in _destinations(store, record):
        row = {**_destination_fields(record, destination, money), "order_id": record.id}
        row["shipping_quotes"] = _link(base, f"/orders/{record.id}/shipping_addresses/{row['id']}/shipping_quotes")
        rows.append(row)
    return rows


def order_count(store: SandboxStore, counts) -> dict:
    statuses = [
        {
            "id": status_id,
            "name": name,
            "system_label": name,
            "custom_label": name,
            "system_description": description,
            "count": counts.get(status_id, 0),
            "sort_order": sort_order,
        }
        for status_id, (name, description, sort_order) in sorted(STATUSES.items(), key=lambda s: s[1][2])
    ]
    return {"statuses": statuses, "count": sum(counts.values())}


def shipment(store: SandboxStore, record: OrderRecord, row) -> dict:
    slot = row.order_address_id - address_id(record.id, 0)
    return {
        "id": row.id,
        "order_id": record.id,
        "customer_id": record.customer_id,
        "order_address_id": row.order_address_id,
        "date_created": rfc2822(row.created),
        "tracking_number": row.tracking_number,
        "merchant_shipping_cost": money(0),
        "shipping_method": "Flat Rate",
        "comments": row.comments,
        "shipping_provider": row.shipping_provider,
        "tracking_carrier": row.tracking_carrier,
        "tracking_link": "",
        "billing_address": _address(store, record.billing),
        "shipping_address": _address(store, record.ship_address if slot == 0 else record.ship_address2),
        "items": [{"order_product_id": i, "product_id": p, "quantity": q} for i, p, q in row.items],
        "shipping_provider_display_name": row.shipping_provider or "Custom",
        "generated_tracking_link": "",
    }


def store_info(store: SandboxStore) -> dict:
    s = store.settings
    return {
        "id": s.store_hash,
        "account_uuid": "8d4d492f-17a1-4d95-b396-e1c5720815a5",
        "domain": f"{s.store_hash}.example.com",
        "secure_url": f"https://{s.store_hash}.example.com",
        "control_panel_base_url": f"https://store-{s.store_hash}.mybigcommerce.com",
        "status": "live",
        "name": s.name,
        "first_name": "Sandy",
        "last_name": "Box",
        "address": "12 Königsallee, Düsseldorf",
        "country": "Germany",
        "country_code": "DE",
        "phone": "+49 211 1234",
        "admin_email": "admin@example.com",
        "order_email": "orders@example.com",
        "favicon_url": "",
        "timezone": {
            "name": "Europe/Berlin",
            "raw_offset": 3600,
            "dst_offset": 7200,
            "dst_correction": True,
            "date_format": {"display": "jS M Y", "export": "M jS Y", "extended_display": "M jS Y @ g:i A"},
        },
        "language": "en",
        "currency": s.currency,
        "currency_symbol": "$" if s.currency == "USD" else s.currency,
        "decimal_separator": ".",
        "thousands_separator": ",",
        "decimal_places": 2,
        "currency_symbol_location": "left",
        "weight_units": "kg",
        "dimension_units": "Centimeters",
        "dimension_decimal_places": 2,
        "dimension_decimal_token": ".",
        "dimension_thousands_token": ",",
        "plan_name": s.plan_name,
        "plan_level": s.plan_name,
        "plan_is_trial": False,
        "industry": "Sports & Outdoors",
        "logo": [],
        "is_price_entered_with_tax": s.tax_inclusive,
        "store_id": s.store_id,
        "default_channel_id": 1,
        "default_site_id": 1000,
        "active_comparison_modules": [],
        "features": {
            "stencil_enabled": True,
            "sitewidehttps_enabled": True,
            "facebook_catalog_id": "",
            "checkout_type": "optimized",
            "wishlists_enabled": False,
            "graphql_storefront_api_enabled": True,
            "shopper_consent_tracking_enabled": False,
            "multi_storefront_enabled": False,
            "storefront_limits": {"active": 1, "total_including_inactive": 1},
        },
    }


# ---------------------------------------------------------------- V3


def transactions(store: SandboxStore, record: OrderRecord) -> list[dict]:
    """The order's payment events: a purchase unless unpaid, then a refund per refund (or a void). A payment only
    authorised at checkout is an authorization, then its capture or its void when the merchant made one."""
    method = store.payment_method(record)
    if record.status_id in (0, 1, 7):
        return []
    # Store credit and gift certificates are transactions of their own; the gateway takes the rest.
    tenders = (
        ("store_credit", "storecredit", record.store_credit),
        ("gift_certificate", "giftcertificate", record.gift_certificate),
    )
    total = store.totals(record).total.inc - sum(amount for _, _, amount in tenders)
    base = {
        "order_id": str(record.id),
        "method": method.method,
        "currency": store.order_currency(record),
        "gateway": method.gateway,
        "test": True,
        "fraud_review": record.status_id == 12,
        "offline": {"display_name": method.offline_name} if method.offline_name else None,
        "custom": {"payment_method": method.custom_name} if method.custom_name else None,
        "payment_method_id": f"{method.gateway}.{method.method}",
    }
    rows = [
        {
            **base,
            "id": record.id * 100 + 1,
            "event": "authorization" if record.authorized else "purchase",
            "amount": number(total),
            "gateway_transaction_id": f"txn-{record.id}",
            "status": "error" if record.status_id == 6 else "ok",
            "date_created": iso8601(record.created + 60),
        }
    ]
    for k, (tender, gateway, amount) in enumerate(tenders, start=50):
        if amount and record.status_id not in (5, 6):
            rows.append(
                {
                    **base,
                    "id": record.id * 100 + k,
                    "event": "purchase",
                    "method": tender,
                    "gateway": gateway,
                    "amount": number(amount),
                    "gateway_transaction_id": f"{gateway}-{record.id}",
                    "status": "ok",
                    "date_created": iso8601(record.created + 60),
                    "offline": None,
                    "custom": None,
                    "payment_method_id": f"{gateway}.{tender}",
                }
            )
    if record.authorized in (AUTH_CAPTURED, AUTH_VOIDED):
        event = "capture" if record.authorized == AUTH_CAPTURED else "void"
        rows.append({**rows[0], "id": record.id * 100 + 2, "event": event, "date_created": iso8601(record.modified)})
    if record.status_id == 5 and record.authorized != AUTH_VOIDED:
        rows.append({**rows[0], "id": record.id * 100 + 2, "event": "void", "date_created": iso8601(record.modified)})
    for k, refund in enumerate(store.refunds.get(record.id, ()), start=3):
        rows.append(
            {
                **base,
                "id": record.id * 100 + k,
                "event": "refund",
                "amount": number(refund.amount),
                "gateway_transaction_id": f"refund-{refund.id}",
                "status": "ok",
                "date_created": iso8601(refund.created),
            }
        )
    return rows


def refund(row) -> dict:
    return {
        "id": row.id,
        "order_id": row.order_id,
        "user_id": 0,
        "created": iso8601(row.created),
        "reason": row.reason,
        "total_amount": number(row.amount),
        "total_tax": number(row.tax),
        "uses_merchant_override_values": False,
        "items": [
            {
                "item_type": item_type,
                "item_id": item_id,
                # The schema allows neither as null: quantity-bound items omit the amount and vice versa.
                **({"quantity": quantity} if quantity is not None else {}),
                **({"requested_amount": number(amount)} if amount is not None else {}),
            }
            for item_type, item_id, quantity, amount in row.items
        ],
        "payments": [
            {
                "id": row.id * 10 + 1,
                "provider_id": row.provider_id,
                "amount": number(row.amount),
                "offline": row.offline,
                "is_declined": False,
                "declined_message": "",
            }
        ],
    }


def customer(store: SandboxStore, row) -> dict:
    a = store.addresses[row.address]
    return {
        "id": row.id,
        "email": a.email,
        "first_name": a.first_name,
        "last_name": a.last_name,
        "company": a.company,
        "phone": a.phone,
        "registration_ip_address": "",
        "notes": "",
        "tax_exempt_category": "",
        "customer_group_id": row.group_id,
        "date_created": iso8601(row.created),
        "date_modified": iso8601(row.modified),
        "address_count": 1,
        "attribute_count": 0,
        "authentication": {"force_password_reset": False},
        "accepts_product_review_abandoned_cart_emails": False,
        "origin_channel_id": 1,
        "channel_ids": [1],
    }


def hook(store: SandboxStore, row) -> dict:
    return {
        "id": row.id,
        "client_id": store.settings.client_id,
        "store_hash": store.settings.store_hash,
        "scope": row.scope,
        "destination": row.destination,
        "headers": row.headers,
        "is_active": row.is_active,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def product(store: SandboxStore, row) -> dict:
    base = row.variants[0]
    tracking = "variant" if row.has_options else "product"
    inventory = sum(store.inventory.get((1, v.id), 0) for v in row.variants)
    return {
        "id": row.id,
        "name": row.name,
        "type": "physical",
        "sku": row.sku,
        "description": "",
        "weight": 1,
        "width": 0,
        "depth": 0,
        "height": 0,
        "price": number(row.price),
        "cost_price": number(row.cost_price),
        "retail_price": 0,
        "sale_price": 0,
        "map_price": 0,
        "tax_class_id": 0,
        "categories": [23],
        "brand_id": 0,
        "inventory_level": inventory,
        "inventory_warning_level": 0,
        "inventory_tracking": tracking,
        "fixed_cost_shipping_price": 0,
        "is_free_shipping": False,
        "is_visible": True,
        "is_featured": False,
        "availability": "available",
        "condition": "New",
        "date_created": iso8601(row.created),
        "date_modified": iso8601(row.modified),
        "calculated_price": number(row.price),
        "upc": "",
        "gtin": "",
        "mpn": "",
        # Null for products with options, says BigCommerce, but the schema forbids null: left out instead.
        **({} if row.has_options else {"base_variant_id": base.id}),
    }


def variant(store: SandboxStore, row) -> dict:
    product_row = store.products[row.product_id]
    price = row.price if row.price is not None else product_row.price
    body = {
        "id": row.id,
        "product_id": row.product_id,
        "sku": row.sku,
        "sku_id": row.sku_id,
        "price": number(row.price) if row.price is not None else None,
        "calculated_price": number(price),
        "sale_price": None,
        "retail_price": None,
        "cost_price": number(product_row.cost_price),
        "weight": None,
        "width": None,
        "height": None,
        "depth": None,
        "is_free_shipping": False,
        "fixed_cost_shipping_price": None,
        "purchasing_disabled": False,
        "purchasing_disabled_message": "",
        "upc": "",
        "inventory_level": store.inventory.get((1, row.id), 0),
        "inventory_warning_level": 0,
        "bin_picking_number": "",
        "mpn": "",
        "gtin": "",
        "option_values": [
            {"id": o.value_id, "label": o.label, "option_id": o.option_id, "option_display_name": o.display_name}
            for o in row.options
        ],
    }
    # The collection's schema allows no nulls (the single variant's does): unset values are left out.
    return {key: value for key, value in body.items() if value is not None}


def location_item(store: SandboxStore, location_id: int, row) -> dict:
    """An item of `GET /v3/inventory/locations/{id}/items`."""
    on_hand = store.inventory.get((location_id, row.id), 0)
    return {
        "identity": {"sku": row.sku, "variant_id": row.id, "product_id": row.product_id},
        "available_to_sell": on_hand,
        "total_inventory_onhand": on_hand,
        "settings": {"safety_stock": 0, "is_in_stock": on_hand > 0, "warning_level": 0, "bin_picking_number": ""},
    }


def location(row) -> dict:
    location_id, code, label = row
    return {
        "id": location_id,
        "code": code,
        "label": label,
        "description": "",
        "managed_by_external_source": False,
        "type_id": "PHYSICAL",
        "enabled": True,
        "time_zone": "Europe/Berlin",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "address": {
            "address1": "12 Königsallee",
            "address2": "",
            "city": "Düsseldorf",
            "state": "Nordrhein-Westfalen",
            "zip": "40212",
            "email": "store@example.com",
            "phone": "+49 211 1234",
            "geo_coordinates": {"latitude": 51.22, "longitude": 6.78},
            "country_code": "DE",
        },
        "storefront_visibility": True,
    }


def pagination(total: int, page: int, limit: int) -> dict:
    pages = max(1, -(-total // limit))
    links = {"current": f"?page={page}&limit={limit}"}
    if page > 1:
        links["previous"] = f"?page={page - 1}&limit={limit}"
    if page < pages:
        links["next"] = f"?page={page + 1}&limit={limit}"
    count = max(0, min(limit, total - (page - 1) * limit))
    return {
        "total": total,
        "count": count,
        "per_page": limit,
        "current_page": page,
        "total_pages": pages,
        "links": links,
    }
