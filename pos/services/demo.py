"""The demo retailer that `make run` creates: two outlets, registers, a catalog with stock, an admin and a staff login.

Idempotent: running it again finds what exists and creates nothing twice (stock is received through the ledger
with fixed source keys, so levels never double).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from pos.choices import MovementReason, Role
from pos.models import Membership, Outlet, PaymentType, Product, Register, Retailer, User
from pos.services.stock import StockMove, stock_move_many

DEMO_SLUG = "demo-outfitters"
DEMO_PASSWORDS = {"demo-admin": "demo-admin-pass", "demo-staff": "demo-staff-pass", "demo-support": "demo-support-pass"}

CATALOG = [
    ("Trail Runner Shoe", "TRS-001", "129.00", "58.00"),
    ("Merino Crew Sock", "MCS-002", "18.00", "6.50"),
    ("Packable Rain Jacket", "PRJ-003", "149.00", "61.00"),
    ("Insulated Bottle 750ml", "IB-004", "34.00", "11.00"),
    ("Headlamp 400lm", "HL-005", "45.00", "17.50"),
    ("Trekking Poles (pair)", "TP-006", "89.00", "33.00"),
    ("Dry Bag 20L", "DB-007", "29.00", "9.00"),
    ("Camp Mug", "CM-008", "16.00", "4.20"),
    ("Trail Map Set", "TMS-009", "12.00", "3.00"),
    ("Down Vest", "DV-010", "119.00", "47.00"),
    ("Sun Hat", "SH-011", "32.00", "10.00"),
    ("First Aid Kit", "FAK-012", "38.00", "14.00"),
]


@dataclass(frozen=True)
class DemoLogins:
    retailer: Retailer
    logins: dict[str, str]


@transaction.atomic
def demo_retailer_ensure() -> DemoLogins:
    """Create (or find) the demo retailer and its people, places and stock."""
    retailer, _ = Retailer.objects.get_or_create(
        slug=DEMO_SLUG, defaults={"name": "Demo Outfitters", "currency": "USD", "time_zone": "America/New_York"}
    )
    outlets = []
    for name in ("Downtown", "Warehouse"):
        outlet, _ = Outlet.objects.get_or_create(retailer=retailer, name=name)
        outlets.append(outlet)
        for register_name in ("Main till", "Online") if name == "Downtown" else ("Dock till",):
            Register.objects.get_or_create(retailer=retailer, outlet=outlet, name=register_name)
    for payment in ("Cash", "Credit card", "BigCommerce", "PayPal"):
        PaymentType.objects.get_or_create(retailer=retailer, name=payment)
    moves = []
    for name, sku, price, cost in CATALOG:
        product, _ = Product.objects.get_or_create(
            retailer=retailer,
            sku=sku,
            defaults={"name": name, "retail_price": Decimal(price), "supply_price": Decimal(cost)},
        )
        for outlet, quantity in zip(outlets, (25, 60), strict=True):
            moves.append(
                StockMove(
                    product_id=product.pk,
                    outlet_id=outlet.pk,
                    quantity=quantity,
                    reason=MovementReason.RECEIVED,
                    source_key=f"demo:{retailer.pk}:{product.pk}:{outlet.pk}:opening",
                    note="Opening stock",
                )
            )
    stock_move_many(retailer_id=retailer.pk, moves=moves)
    for username, role in (("demo-admin", Role.ADMIN), ("demo-staff", Role.STAFF)):
        user = _user(username)
        Membership.objects.get_or_create(user=user, retailer=retailer, defaults={"role": role})
    support = _user("demo-support")
    if not support.is_support:
        support.is_support = True
        support.save(update_fields=["is_support"])
    return DemoLogins(retailer=retailer, logins=DEMO_PASSWORDS)


def _user(username: str) -> User:
    user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
    if created:
        user.set_password(DEMO_PASSWORDS[username])
        user.save(update_fields=["password"])
    return user
