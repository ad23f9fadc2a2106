"""factory-boy factories for every model. Related rows share one retailer unless told otherwise."""

from __future__ import annotations

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from integration import models as integration_models
from integration.choices import OrderSyncState
from pos import models
from pos.choices import Channel, FulfillmentType, MovementReason, PaymentKind, ProductKind, Role


class UserFactory(DjangoModelFactory):
    class Meta:
        model = models.User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-correct-horse")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805 - factory-boy's signature
        if create:
            obj.save()


class RetailerFactory(DjangoModelFactory):
    class Meta:
        model = models.Retailer

    name = factory.Sequence(lambda n: f"Retailer {n}")
    slug = factory.Sequence(lambda n: f"retailer-{n}")
    currency = "USD"
    time_zone = "UTC"


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = models.Membership

    user = factory.SubFactory(UserFactory)
    retailer = factory.SubFactory(RetailerFactory)
    role = Role.STAFF


class AuditEntryFactory(DjangoModelFactory):
    class Meta:
        model = models.AuditEntry

    retailer = factory.SubFactory(RetailerFactory)
    actor = factory.SubFactory(UserFactory)
    action = "support_switch"


class OutletFactory(DjangoModelFactory):
    class Meta:
        model = models.Outlet

    retailer = factory.SubFactory(RetailerFactory)
    name = factory.Sequence(lambda n: f"Outlet {n}")


class RegisterFactory(DjangoModelFactory):
    class Meta:
        model = models.Register

    outlet = factory.SubFactory(OutletFactory)
    retailer = factory.SelfAttribute("outlet.retailer")
    name = factory.Sequence(lambda n: f"Register {n}")


class PaymentTypeFactory(DjangoModelFactory):
    class Meta:
        model = models.PaymentType

    retailer = factory.SubFactory(RetailerFactory)
    name = factory.Sequence(lambda n: f"Payment type {n}")


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = models.Product

    retailer = factory.SubFactory(RetailerFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    kind = ProductKind.STANDARD
    retail_price = Decimal("19.9900")
    supply_price = Decimal("8.5000")
    tracks_inventory = True


class InventoryLevelFactory(DjangoModelFactory):
    class Meta:
        model = models.InventoryLevel

    product = factory.SubFactory(ProductFactory)
    retailer = factory.SelfAttribute("product.retailer")
    outlet = factory.SubFactory(OutletFactory, retailer=factory.SelfAttribute("..retailer"))
    on_hand = 0


class InventoryMovementFactory(DjangoModelFactory):
    class Meta:
        model = models.InventoryMovement

    product = factory.SubFactory(ProductFactory)
    retailer = factory.SelfAttribute("product.retailer")
    outlet = factory.SubFactory(OutletFactory, retailer=factory.SelfAttribute("..retailer"))
    quantity = 1
    reason = MovementReason.ADJUSTMENT
    source_key = factory.Sequence(lambda n: f"test:movement:{n}")


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = models.Customer

    retailer = factory.SubFactory(RetailerFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")


class SaleFactory(DjangoModelFactory):
    class Meta:
        model = models.Sale

    retailer = factory.SubFactory(RetailerFactory)
    outlet = factory.SubFactory(OutletFactory, retailer=factory.SelfAttribute("..retailer"))
    register = factory.SubFactory(
        RegisterFactory, outlet=factory.SelfAttribute("..outlet"), retailer=factory.SelfAttribute("..retailer")
    )
    channel = Channel.IN_STORE
    invoice_number = factory.Sequence(lambda n: n + 1)
    total_ex_tax = Decimal("10.0000")
    total_tax = Decimal("1.0000")
    total_inc_tax = Decimal("11.0000")


class SaleLineFactory(DjangoModelFactory):
    class Meta:
        model = models.SaleLine

    sale = factory.SubFactory(SaleFactory)
    product = factory.SubFactory(ProductFactory, retailer=factory.SelfAttribute("..sale.retailer"))
    name = factory.SelfAttribute("product.name")
    sku = factory.LazyAttribute(lambda o: o.product.sku or "")
    quantity = 1
    unit_price_ex_tax = Decimal("10.0000")
    unit_price_inc_tax = Decimal("11.0000")
    total_ex_tax = Decimal("10.0000")
    total_tax = Decimal("1.0000")
    total_inc_tax = Decimal("11.0000")


class SalePaymentFactory(DjangoModelFactory):
    class Meta:
        model = models.SalePayment

    sale = factory.SubFactory(SaleFactory)
    payment_type = factory.SubFactory(PaymentTypeFactory, retailer=factory.SelfAttribute("..sale.retailer"))
    kind = PaymentKind.PAYMENT
    amount = Decimal("11.0000")


class FulfillmentFactory(DjangoModelFactory):
    class Meta:
        model = models.Fulfillment

    sale = factory.SubFactory(
        SaleFactory, channel=Channel.BIGCOMMERCE, external_order_id=factory.Sequence(lambda n: str(100 + n))
    )
    retailer = factory.SelfAttribute("sale.retailer")
    type = FulfillmentType.DELIVERY


class FulfillmentLineFactory(DjangoModelFactory):
    class Meta:
        model = models.FulfillmentLine

    fulfillment = factory.SubFactory(FulfillmentFactory)
    sale_line = factory.SubFactory(SaleLineFactory, sale=factory.SelfAttribute("..fulfillment.sale"))
    quantity = factory.SelfAttribute("sale_line.quantity")


class FulfillmentEventFactory(DjangoModelFactory):
    class Meta:
        model = models.FulfillmentEvent

    fulfillment = factory.SubFactory(FulfillmentFactory)
    action = "created"


# ---------------------------------------------------------------- the BigCommerce link


class StoreLinkFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.StoreLink

    retailer = factory.SubFactory(RetailerFactory)
    store_hash = factory.Sequence(lambda n: f"store{n:04d}")
    store_id = factory.Sequence(lambda n: str(1000000 + n))
    store_name = factory.Sequence(lambda n: f"Store {n}")
    store_currency = "USD"
    access_token = factory.Sequence(lambda n: f"token-{n:032d}")
    webhook_secret = factory.Sequence(lambda n: f"whsec-{n:032d}")
    outlet = factory.SubFactory(OutletFactory, retailer=factory.SelfAttribute("..retailer"))
    register = factory.SubFactory(
        RegisterFactory, outlet=factory.SelfAttribute("..outlet"), retailer=factory.SelfAttribute("..retailer")
    )
    default_payment_type = factory.SubFactory(
        PaymentTypeFactory, retailer=factory.SelfAttribute("..retailer"), name="BigCommerce"
    )


class WebhookEventFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.WebhookEvent

    link = factory.SubFactory(StoreLinkFactory)
    hash = factory.Sequence(lambda n: f"{n:040x}")
    scope = "store/order/created"
    resource_id = factory.Sequence(lambda n: 100 + n)
    payload = factory.LazyAttribute(lambda o: {"scope": o.scope, "data": {"type": "order", "id": o.resource_id}})


class OrderSyncFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.OrderSync

    link = factory.SubFactory(StoreLinkFactory)
    bc_order_id = factory.Sequence(lambda n: 100 + n)
    state = OrderSyncState.PENDING


class SyncLogEntryFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.SyncLogEntry

    link = factory.SubFactory(StoreLinkFactory)
    retailer = factory.SelfAttribute("link.retailer")
    event = "imported"
    message = "Order imported."


class HistoricalImportFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.HistoricalImport

    link = factory.SubFactory(StoreLinkFactory)


class ProductLinkFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.ProductLink

    link = factory.SubFactory(StoreLinkFactory)
    product = factory.SubFactory(ProductFactory, retailer=factory.SelfAttribute("..link.retailer"))
    bc_product_id = factory.Sequence(lambda n: 1 + n)
    bc_variant_id = factory.Sequence(lambda n: 1000 + n)


class CustomerLinkFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.CustomerLink

    link = factory.SubFactory(StoreLinkFactory)
    customer = factory.SubFactory(CustomerFactory, retailer=factory.SelfAttribute("..link.retailer"))
    bc_customer_id = factory.Sequence(lambda n: 1 + n)


class PaymentMethodMapFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.PaymentMethodMap

    link = factory.SubFactory(StoreLinkFactory)
    method = factory.Sequence(lambda n: f"Method {n}")


class OutletLocationFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.OutletLocation

    link = factory.SubFactory(StoreLinkFactory)
    outlet = factory.SelfAttribute("link.outlet")
    location_id = 1


class AppInstallFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.AppInstall

    store_hash = factory.Sequence(lambda n: f"app{n:04d}")
    access_token = factory.Sequence(lambda n: f"app-token-{n:032d}")
    scopes = "store_v2_orders store_v2_products_read_only"


class StockPushStateFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.StockPushState

    product_link = factory.SubFactory(ProductLinkFactory)
    link = factory.SelfAttribute("product_link.link")
    outlet = factory.SelfAttribute("link.outlet")


class PricePushStateFactory(DjangoModelFactory):
    class Meta:
        model = integration_models.PricePushState

    product_link = factory.SubFactory(ProductLinkFactory)
    link = factory.SelfAttribute("product_link.link")
