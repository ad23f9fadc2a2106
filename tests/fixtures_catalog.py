"""Fixtures for the catalog, stock and sell pages: a small shop with stock, a link-created product, a cash till."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from pos.choices import MovementReason
from pos.models import Outlet, PaymentType, Product, Register
from pos.services.stock import StockMove, stock_move_many
from tests import factories


@dataclass
class Shop:
    outlet: Outlet
    backroom: Outlet
    shoe: Product
    sock: Product
    from_link: Product
    cash: PaymentType
    # The counter's register (the `register` fixture is the link's online register, never used for counter sales).
    till: Register


def receive(product: Product, outlet: Outlet, quantity: int, key: str) -> None:
    """Put stock on the shelf through the ledger, as the tests' starting point."""
    stock_move_many(
        retailer_id=product.retailer_id,
        moves=[StockMove(product.pk, outlet.pk, quantity, MovementReason.RECEIVED, key)],
    )


@pytest.fixture
def shop(retailer, outlet, register) -> Shop:
    backroom = factories.OutletFactory(retailer=retailer, name="Warehouse")
    shoe = factories.ProductFactory(retailer=retailer, name="Trail Shoe", sku="TS-1", retail_price=Decimal("129.00"))
    sock = factories.ProductFactory(retailer=retailer, name="Merino Sock", sku="MS-2", retail_price=Decimal("18.00"))
    link = factories.StoreLinkFactory(retailer=retailer, outlet=outlet, register=register)
    from_link = factories.ProductFactory(
        retailer=retailer, name="Trail shoe (BC)", sku="BC-TS", created_by_link=True, needs_review=True
    )
    factories.ProductLinkFactory(link=link, product=from_link, bc_product_id=501)
    receive(shoe, outlet, 10, "fixture:shoe:main")
    receive(shoe, backroom, 4, "fixture:shoe:back")
    receive(sock, outlet, 2, "fixture:sock:main")
    receive(from_link, outlet, 3, "fixture:bc:main")
    cash = factories.PaymentTypeFactory(retailer=retailer, name="Cash")
    till = factories.RegisterFactory(outlet=outlet, retailer=retailer, name="Till 1")
    return Shop(outlet=outlet, backroom=backroom, shoe=shoe, sock=sock, from_link=from_link, cash=cash, till=till)
