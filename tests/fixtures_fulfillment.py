"""Fixtures for fulfilment tests: online sales with their fulfilment, and a fake BigCommerce for the write-back.

The fake stands in for `BigCommerceClient` at the narrow boundary the write-back service uses (four calls), so
its rules can be tested case by case; the end-to-end write-back against the sandbox store is in
tests/integration/test_fulfillment_writeback_sandbox.py.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from integration import exceptions as integration_exceptions
from integration.client import BigCommerceClient
from pos.choices import Channel, FulfillmentType, ProductKind
from pos.models import Fulfillment, Product, SaleLine, User
from pos.services.fulfillment import (
    LineQuantities,
    fulfillment_complete,
    fulfillment_create_for_sale,
    fulfillment_record_quantities,
)
from tests import factories

SHIPPING_ADDRESS = {
    "first_name": "Jane",
    "last_name": "Doe",
    "street_1": "555 East Street",
    "city": "Austin",
    "state": "Texas",
    "zip": "78108",
    "country": "United States",
}


@dataclass
class ApiErrors:
    """The BigCommerce API errors (real or stand-in) and a way to build one."""

    module: types.ModuleType

    def make(self, name: str, detail: str = "", **attrs) -> Exception:
        error = getattr(self.module, name)(detail)
        for attr, value in attrs.items():
            setattr(error, attr, value)
        return error


@pytest.fixture
def bigcommerce_api() -> ApiErrors:
    return ApiErrors(integration_exceptions)


@dataclass
class FakeBigCommerce:
    """A BigCommerce store as the write-back sees it: records shipments and status changes; raises queued errors."""

    shipments: list[dict] = field(default_factory=list)
    statuses: list[tuple[int, int]] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)  # raised by the next calls, one each, in order
    links: list = field(default_factory=list)  # the store links clients were made for
    addresses: dict[int, int] = field(default_factory=dict)  # order-product id → order address id (default 51)

    def _next_error(self) -> None:
        if self.errors:
            raise self.errors.pop(0)

    def create_shipment(
        self,
        order_id: int,
        *,
        order_address_id: int,
        items: list[dict[str, int]],
        tracking_number: str = "",
        tracking_carrier: str = "",
        shipping_provider: str = "",
        comments: str = "",
    ) -> dict:
        self._next_error()
        self.shipments.append(
            {
                "order_id": order_id,
                "order_address_id": order_address_id,
                "items": items,
                "tracking_number": tracking_number,
                "tracking_carrier": tracking_carrier,
                "shipping_provider": shipping_provider,
                "comments": comments,
            }
        )
        return types.SimpleNamespace(id=len(self.shipments), order_id=order_id)

    def list_shipments(self, order_id: int) -> list[types.SimpleNamespace]:
        self._next_error()
        return [
            types.SimpleNamespace(id=number, order_address_id=s["order_address_id"], comments=s["comments"])
            for number, s in enumerate(self.shipments, start=1)
            if s["order_id"] == order_id
        ]

    def list_order_products(self, order_id: int) -> list[types.SimpleNamespace]:
        """The order's lines as BigCommerce has them: the sale's lines, at address 51, minus what was shipped."""
        self._next_error()
        shipped: dict[int, int] = {}
        for shipment in self.shipments:
            if shipment["order_id"] == order_id:
                for item in shipment["items"]:
                    shipped[item["order_product_id"]] = shipped.get(item["order_product_id"], 0) + item["quantity"]
        lines = SaleLine.objects.filter(sale__external_order_id=str(order_id), external_line_id__regex=r"^[0-9]+$")
        return [
            types.SimpleNamespace(
                id=int(line.external_line_id),
                order_address_id=self.addresses.get(int(line.external_line_id), 51),
                quantity=line.quantity,
                quantity_shipped=shipped.get(int(line.external_line_id), 0),
            )
            for line in lines
        ]

    def update_order_status(self, order_id: int, status_id: int) -> dict:
        self._next_error()
        self.statuses.append((order_id, status_id))
        return {"id": order_id, "status_id": status_id}


@pytest.fixture
def fake_bigcommerce(monkeypatch, bigcommerce_api) -> FakeBigCommerce:
    """A fake store that `BigCommerceClient.for_link(link)` hands out, for tests that run the real job."""
    fake = FakeBigCommerce()

    def for_link(cls, link):
        fake.links.append(link)
        return fake

    monkeypatch.setattr(BigCommerceClient, "for_link", classmethod(for_link))
    return fake


@pytest.fixture
def make_fulfillment(register):
    """An online sale (goods lines + a shipping charge) and its fulfilment, made by the real create service."""

    def make(
        *,
        type: str = FulfillmentType.DELIVERY,
        goods: tuple[tuple[str, int], ...] = (("Tent", 2), ("Stove", 1)),
        paid: bool = True,
        order_id: str = "250",
    ) -> Fulfillment:
        retailer = register.retailer
        total = Decimal("11.0000") * (sum(q for _, q in goods) + 1)
        sale = factories.SaleFactory(
            retailer=retailer,
            outlet=register.outlet,
            register=register,
            channel=Channel.BIGCOMMERCE,
            external_order_id=order_id,
            total_inc_tax=total,
            amount_paid=total if paid else Decimal("0"),
            customer=factories.CustomerFactory(retailer=retailer, first_name="Jane", last_name="Doe"),
        )
        for position, (name, quantity) in enumerate(goods):
            factories.SaleLineFactory(
                sale=sale,
                position=position,
                product=factories.ProductFactory(retailer=retailer, name=name),
                name=name,
                quantity=quantity,
                external_line_id=str(6500 + position),
            )
        shipping, _ = Product.objects.get_or_create(
            retailer=retailer, kind=ProductKind.SHIPPING, defaults={"name": "Shipping", "tracks_inventory": False}
        )
        factories.SaleLineFactory(
            sale=sale, position=99, product=shipping, name="Shipping", external_line_id="shipping:51"
        )
        return fulfillment_create_for_sale(
            sale=sale,
            type=type,
            shipping_address=SHIPPING_ADDRESS if type == FulfillmentType.DELIVERY else None,
            external_address_id="51" if type == FulfillmentType.DELIVERY else "",
            shipping_method="Flat rate",
        )

    return make


def fulfil_everything(fulfillment: Fulfillment, user: User) -> Fulfillment:
    """Record every line picked, packed and fulfilled in full (through the service)."""
    return fulfillment_record_quantities(
        fulfillment=fulfillment,
        quantities={
            line.pk: LineQuantities(line.quantity, line.quantity, line.quantity) for line in fulfillment.lines.all()
        },
        expected_version=fulfillment.version,
        acting_user=user,
    )


def complete(fulfillment: Fulfillment, user: User) -> Fulfillment:
    """Fulfil everything and complete (through the services); the write-back is then pending."""
    fulfillment = fulfil_everything(fulfillment, user)
    return fulfillment_complete(fulfillment=fulfillment, expected_version=fulfillment.version, acting_user=user)
