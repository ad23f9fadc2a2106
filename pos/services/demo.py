"""The demo retailer that `make run` creates: two outlets, registers, payment types, a catalog with stock (the
demo sandbox store's SKUs, so its online orders match), an admin, a staff and a support login.

Idempotent: running it again finds what exists and creates nothing twice (stock is received through the ledger
with fixed source keys, so levels never double); what online orders sold low is restocked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from pos.choices import MovementReason, Role
from pos.models import InventoryLevel, Membership, Outlet, PaymentType, Product, Register, Retailer, User
from pos.services.stock import StockMove, stock_move_many

DEMO_SLUG = "demo-outfitters"
PAYMENT_TYPES = ("Cash", "Credit card", "BigCommerce", "PayPal", "Bank transfer", "Store credit")
DEMO_PASSWORDS = {"demo-admin": "demo-admin-pass", "demo-staff": "demo-staff-pass", "demo-support": "demo-support-pass"}

# The demo catalog: the sandbox store's items (`sandbox.catalog.PRODUCTS`, one product per variant, the same SKU
# and price), so the demo's online orders match their POS products, except its web-only items (the Alpes guide,
# the sunglasses and the gift card envelope, which has no SKU), whose first orders show how the link creates a
# product for review. Two products are sold in the shop only. A test keeps this list and the sandbox's in step.
CATALOG = [
    ("Trail Running Shoe (Size: 40, Colour: Blue)", "TRS-40-BLUE", "119.00", "59.50"),
    ("Trail Running Shoe (Size: 40, Colour: Red)", "TRS-40-RED", "124.00", "59.50"),
    ("Trail Running Shoe (Size: 41, Colour: Blue)", "TRS-41-BLUE", "119.00", "59.50"),
    ("Trail Running Shoe (Size: 41, Colour: Red)", "TRS-41-RED", "124.00", "59.50"),
    ("Trail Running Shoe (Size: 42, Colour: Blue)", "TRS-42-BLUE", "119.00", "59.50"),
    ("Trail Running Shoe (Size: 42, Colour: Red)", "TRS-42-RED", "124.00", "59.50"),
    ("Trail Running Shoe (Size: 43, Colour: Blue)", "TRS-43-BLUE", "119.00", "59.50"),
    ("Trail Running Shoe (Size: 43, Colour: Red)", "TRS-43-RED", "124.00", "59.50"),
    ("Merino Beanie – Grün", "BEANIE", "24.50", "12.25"),
    ("Café Mug 350 ml", "MUG-350", "12.00", "6.00"),
    ("Down Jacket (Size: S)", "DJ-S", "249.00", "124.50"),
    ("Down Jacket (Size: M)", "DJ-M", "249.00", "124.50"),
    ("Down Jacket (Size: L)", "DJ-L", "249.00", "124.50"),
    ("Down Jacket (Size: XL)", "DJ-XL", "249.00", "124.50"),
    ("Water Bottle 1 L (Colour: Steel)", "BOTTLE-1L-STEEL", "18.90", "9.45"),
    ("Water Bottle 1 L (Colour: Black)", "BOTTLE-1L-BLACK", "18.90", "9.45"),
    ("Headlamp 400 lm", "HL-400", "39.95", "19.98"),
    ("Wool Socks (Size: 36-38)", "SOCK-36-38", "14.00", "7.00"),
    ("Wool Socks (Size: 39-41)", "SOCK-39-41", "14.00", "7.00"),
    ("Wool Socks (Size: 42-44)", "SOCK-42-44", "14.00", "7.00"),
    ("Camping Stove", "STOVE", "89.00", "44.50"),
    ("Rain Poncho (Colour: Yellow)", "PONCHO-YELLOW", "29.00", "14.50"),
    ("Rain Poncho (Colour: Olive)", "PONCHO-OLIVE", "29.00", "14.50"),
    ("Rain Poncho (Colour: Navy)", "PONCHO-NAVY", "29.00", "14.50"),
    ("Tent 2P", "TENT-2P", "329.00", "164.50"),
    ("Sleeping Bag −5 °C (Zip: Left)", "SB-5-LEFT", "159.00", "79.50"),
    ("Sleeping Bag −5 °C (Zip: Right)", "SB-5-RIGHT", "159.00", "79.50"),
    ("Trekking Poles", "POLES", "64.00", "32.00"),
    ("Energy Bar Box (Flavour: Chocolate)", "BAR-12-CHOCOLATE", "19.99", "9.99"),
    ("Energy Bar Box (Flavour: Peanut)", "BAR-12-PEANUT", "19.99", "9.99"),
    ("Energy Bar Box (Flavour: Berry)", "BAR-12-BERRY", "19.99", "9.99"),
    ("First Aid Kit", "FAK", "34.00", "17.00"),
    ("Compass", "COMPASS", "22.00", "11.00"),
    ("Insulated Flask (Colour: Steel)", "FLASK-STEEL", "32.50", "16.25"),
    ("Insulated Flask (Colour: Sage)", "FLASK-SAGE", "32.50", "16.25"),
    ("Fleece Jacket (Size: S, Colour: Grey)", "FLEECE-S-GREY", "79.00", "39.50"),
    ("Fleece Jacket (Size: S, Colour: Rust)", "FLEECE-S-RUST", "84.00", "39.50"),
    ("Fleece Jacket (Size: M, Colour: Grey)", "FLEECE-M-GREY", "79.00", "39.50"),
    ("Fleece Jacket (Size: M, Colour: Rust)", "FLEECE-M-RUST", "84.00", "39.50"),
    ("Fleece Jacket (Size: L, Colour: Grey)", "FLEECE-L-GREY", "79.00", "39.50"),
    ("Fleece Jacket (Size: L, Colour: Rust)", "FLEECE-L-RUST", "84.00", "39.50"),
    ("Dry Bag 20 L", "DRY-20", "27.00", "13.50"),
    ("Carabiner Set", "CARA", "15.00", "7.50"),
    # Sold in the shop only.
    ("Trail Map Set", "TMS-009", "12.00", "3.00"),
    ("Sun Hat", "SH-011", "32.00", "10.00"),
]
# The sandbox store's items the demo POS does not sell: each one's first online order creates it (for review).
WEB_ONLY_SKUS = ("BOOK-ALP", "SUN", "")
# Opening stock per outlet (the online register's outlet first). At `make run`'s start, a product the demo's online
# orders brought below RESTOCK_BELOW in an outlet is received up to its opening level again, so stock stays positive.
OPENING_STOCK = {"Downtown": 120, "Warehouse": 40}
RESTOCK_BELOW = 30


@dataclass(frozen=True)
class DemoLogins:
    retailer: Retailer
    logins: dict[str, str]


@transaction.atomic
def demo_retailer_ensure(*, now: datetime | None = None) -> DemoLogins:
    """Create (or find) the demo retailer and its people, places and stock; restock what sold low."""
    now = now or timezone.now()
    retailer, _ = Retailer.objects.get_or_create(
        slug=DEMO_SLUG, defaults={"name": "Demo Outfitters", "currency": "USD", "time_zone": "America/New_York"}
    )
    outlets = []
    for name in ("Downtown", "Warehouse"):
        outlet, _ = Outlet.objects.get_or_create(retailer=retailer, name=name)
        outlets.append(outlet)
        for register_name in ("Main till", "Online") if name == "Downtown" else ("Dock till",):
            Register.objects.get_or_create(retailer=retailer, outlet=outlet, name=register_name)
    for payment in PAYMENT_TYPES:
        PaymentType.objects.get_or_create(retailer=retailer, name=payment)
    products = []
    for name, sku, price, cost in CATALOG:
        product, _ = Product.objects.get_or_create(
            retailer=retailer,
            sku=sku,
            defaults={"name": name, "retail_price": Decimal(price), "supply_price": Decimal(cost)},
        )
        products.append(product)
    stock_move_many(retailer_id=retailer.pk, moves=_opening_and_restock(retailer, outlets, products, now=now))
    for username, role in (("demo-admin", Role.ADMIN), ("demo-staff", Role.STAFF)):
        user = _user(username)
        Membership.objects.get_or_create(user=user, retailer=retailer, defaults={"role": role})
    # Support, and platform staff of this development install: the Django admin and the RQ dashboard.
    support = _user("demo-support")
    if not (support.is_support and support.is_staff and support.is_superuser):
        support.is_support = support.is_staff = support.is_superuser = True
        support.save(update_fields=["is_support", "is_staff", "is_superuser"])
    return DemoLogins(retailer=retailer, logins=DEMO_PASSWORDS)


def _opening_and_restock(retailer: Retailer, outlets: list[Outlet], products: list[Product], *, now) -> list:
    """Opening stock once per product and outlet; then, for a product below RESTOCK_BELOW, a delivery up to the
    opening level again (one per product, outlet and hour: the source key says which)."""
    levels = {
        (level.product_id, level.outlet_id): level.on_hand
        for level in InventoryLevel.objects.filter(retailer=retailer, product__in=products, outlet__in=outlets)
    }
    hour = now.strftime("%Y%m%d%H")
    moves = []
    for product in products:
        for outlet in outlets:
            opening = OPENING_STOCK[outlet.name]
            on_hand = levels.get((product.pk, outlet.pk))
            prefix = f"demo:{retailer.pk}:{product.pk}:{outlet.pk}"
            if on_hand is None:
                moves.append(_received(product, outlet, opening, f"{prefix}:opening", "Opening stock"))
            elif on_hand < RESTOCK_BELOW:
                moves.append(_received(product, outlet, opening - on_hand, f"{prefix}:restock:{hour}", "Delivery"))
    return moves


def _received(product: Product, outlet: Outlet, quantity: int, source_key: str, note: str) -> StockMove:
    return StockMove(
        product_id=product.pk,
        outlet_id=outlet.pk,
        quantity=quantity,
        reason=MovementReason.RECEIVED,
        source_key=source_key,
        note=note,
    )


def _user(username: str) -> User:
    user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
    if created:
        user.set_password(DEMO_PASSWORDS[username])
        user.save(update_fields=["password"])
    return user
