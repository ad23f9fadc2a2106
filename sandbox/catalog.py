"""The sandbox's reference data, deterministic from a seed: statuses, payment methods, coupons, addresses (many
with non-ASCII names), customers, the product catalog (variants with options, some products without SKU) and
inventory locations."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from sandbox.records import UNITS, CustomerRecord, Option, ProductRecord, VariantRecord

# BigCommerce's order statuses: id -> (name, description, sort order), from the Orders V2 reference.
STATUSES: dict[int, tuple[str, str, int]] = {
    0: ("Incomplete", "Shopper reached the payment page but did not complete the transaction.", 0),
    1: ("Pending", "Customer started the checkout process but did not complete it.", 1),
    2: ("Shipped", "Order has been shipped, but receipt has not been confirmed.", 8),
    3: ("Partially Shipped", "Only some items in the order have been shipped.", 6),
    4: ("Refunded", "Seller has used the Refund action.", 11),
    5: ("Cancelled", "Seller has cancelled an order.", 9),
    6: ("Declined", "Seller has marked the order as declined.", 10),
    7: ("Awaiting Payment", "Customer has completed checkout, but payment has yet to be confirmed.", 2),
    8: ("Awaiting Pickup", "Order has been pulled and is awaiting customer pickup.", 5),
    9: ("Awaiting Shipment", "Order has been pulled and packaged, awaiting collection by a shipping provider.", 4),
    10: ("Completed", "Client has paid and their order is complete.", 7),
    11: ("Awaiting Fulfillment", "Customer has completed the checkout process and payment has been confirmed.", 3),
    12: ("Manual Verification Required", "Order on hold while some aspect needs manual confirmation.", 13),
    13: ("Disputed", "Customer has initiated a dispute resolution process for the transaction.", 12),
    14: ("Partially Refunded", "Seller has partially refunded the order.", 14),
}


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    """How an order was paid: the order's `payment_method` label and what its V3 transactions say."""

    label: str
    gateway: str
    method: str
    offline_name: str = ""  # transactions' `offline.display_name`
    custom_name: str = ""  # transactions' `custom.payment_method`


PAYMENT_METHODS = (
    PaymentMethod("Credit Card", "braintree", "credit_card"),
    PaymentMethod("Test Payment Gateway", "testgateway", "credit_card"),
    PaymentMethod("PayPal", "paypalexpress", "electronic_wallet"),
    PaymentMethod("Cash on Delivery", "cod", "offline", offline_name="Cash on Delivery"),
    PaymentMethod("Bank Deposit", "bankdeposit", "offline", offline_name="Bank Deposit"),
    PaymentMethod("Store Credit", "storecredit", "store_credit"),
    PaymentMethod("Manual", "custom", "custom", custom_name="Manual"),
)
COUPONS = ("SAVE10", "WELCOME5", "ÉTÉ-2025", "VIP15")
ORDER_SOURCES = ("www", "manual", "external", "iphone", "checkout_api")

FIRST_NAMES = (
    "Anna", "José", "Zoë", "Łukasz", "Søren", "Chloé", "Björn", "Mei", "Ngozi", "Oğuz", "Renée", "François",
    "Jürgen", "Ana María", "Siobhán", "Dmitrij", "Aiko", "Priya", "Tom", "Grace", "Émile", "Ingrid", "Ravi", "Yūki",
)  # fmt: skip
LAST_NAMES = (
    "García", "Müller", "Nguyễn", "O'Brien", "Smith", "Ødegaard", "Kowalczyk", "Dubois", "Rossi", "Yılmaz",
    "Tanaka", "Ivanović", "Brown", "Núñez", "Schäfer", "Kim", "山田", "Jones", "Lefèvre", "Åström",
)  # fmt: skip
STREETS = ("Main Street", "Rue de la Paix", "Königsallee", "Calle Mayor", "Via Roma", "Øster Allé", "High Street")
CITIES = (
    ("Austin", "Texas", "78701", "United States", "US"),
    ("Lyon", "Auvergne-Rhône-Alpes", "69002", "France", "FR"),
    ("Düsseldorf", "Nordrhein-Westfalen", "40212", "Germany", "DE"),
    ("Madrid", "Madrid", "28013", "Spain", "ES"),
    ("København", "Hovedstaden", "2100", "Denmark", "DK"),
    ("Manchester", "Greater Manchester", "M1 1AE", "United Kingdom", "GB"),
    ("Sydney", "New South Wales", "2000", "Australia", "AU"),
)
COMPANIES = ("", "", "", "Acme Pty Ltd", "Café Olé SARL", "Nordlicht GmbH")

# (name, SKU stem or "" for none, price, brand, options: ((option name, (labels...)), ...))
PRODUCTS = (
    ("Trail Running Shoe", "TRS", 119_00, "Stride", (("Size", ("40", "41", "42", "43")), ("Colour", ("Blue", "Red")))),
    ("Merino Beanie – Grün", "BEANIE", 24_50, "Nordlicht", ()),
    ("Café Mug 350 ml", "MUG-350", 12_00, "Café Olé", ()),
    ("Down Jacket", "DJ", 249_00, "Stride", (("Size", ("S", "M", "L", "XL")),)),
    ("Water Bottle 1 L", "BOTTLE-1L", 18_90, "Hydra", (("Colour", ("Steel", "Black")),)),
    ("Headlamp 400 lm", "HL-400", 39_95, "Lumen", ()),
    ("Handmade Soap (unlabelled)", "", 6_50, "Local", ()),
    ("Gift Card Envelope", "", 1_00, "Local", ()),
    ("Wool Socks", "SOCK", 14_00, "Nordlicht", (("Size", ("36-38", "39-41", "42-44")),)),
    ("Camping Stove", "STOVE", 89_00, "Hydra", ()),
    ("Rain Poncho", "PONCHO", 29_00, "Stride", (("Colour", ("Yellow", "Olive", "Navy")),)),
    ("Tent 2P", "TENT-2P", 329_00, "Hydra", ()),
    ("Sleeping Bag −5 °C", "SB-5", 159_00, "Nordlicht", (("Zip", ("Left", "Right")),)),
    ("Trekking Poles", "POLES", 64_00, "Stride", ()),
    ("Energy Bar Box", "BAR-12", 19_99, "Fuel", (("Flavour", ("Chocolate", "Peanut", "Berry")),)),
    ("Map Case", "", 9_90, "Local", (("Size", ("A5", "A4")),)),
    ("First Aid Kit", "FAK", 34_00, "Lumen", ()),
    ("Compass", "COMPASS", 22_00, "Lumen", ()),
    ("Insulated Flask", "FLASK", 32_50, "Hydra", (("Colour", ("Steel", "Sage")),)),
    ("Fleece Jacket", "FLEECE", 79_00, "Nordlicht", (("Size", ("S", "M", "L")), ("Colour", ("Grey", "Rust")))),
    ("Dry Bag 20 L", "DRY-20", 27_00, "Hydra", ()),
    ("Sunglasses", "SUN", 59_00, "Stride", ()),
    ("Carabiner Set", "CARA", 15_00, "Lumen", ()),
    ("Paperback Guide: Alpes", "BOOK-ALP", 21_00, "Éditions", ()),
)  # fmt: skip
# Products deleted from the catalog after orders were placed (their order lines stay).
DELETED_PRODUCT_INDEXES = (6, 15)

LOCATIONS = (
    (1, "BC-LOCATION-1", "Default location"),
    (2, "WAREHOUSE-NORD", "Warehouse Nord"),
)

FIRST_PRODUCT_ID, FIRST_VARIANT_ID, FIRST_CUSTOMER_ID = 111, 501, 1
ADDRESS_POOL_SIZE = 400


@dataclass(frozen=True, slots=True)
class AddressRecord:
    first_name: str
    last_name: str
    company: str
    street_1: str
    street_2: str
    city: str
    state: str
    zip: str
    country: str
    country_iso2: str
    phone: str
    email: str


def build_addresses(rng: random.Random) -> list[AddressRecord]:
    """The address pool: names from many languages, their emails ASCII (as mail systems still want)."""
    addresses = []
    for i in range(ADDRESS_POOL_SIZE):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, state, postcode, country, iso2 = rng.choice(CITIES)
        folded = unicodedata.normalize("NFKD", f"{first}.{last}".lower().replace("ø", "o").replace("ł", "l"))
        local = "".join(c for c in folded if c.isascii() and (c.isalnum() or c == ".")).strip(".")
        addresses.append(
            AddressRecord(
                first_name=first,
                last_name=last,
                company=rng.choice(COMPANIES),
                street_1=f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
                street_2=rng.choice(("", "", "Apt 4", "2. OG")),
                city=city,
                state=state,
                zip=postcode,
                country=country,
                country_iso2=iso2,
                phone=f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
                email=f"{local or 'customer'}.{i}@example.com",
            )
        )
    return addresses


def build_catalog(created: int) -> list[ProductRecord]:
    """The products, each with its variants (a product without options has one base variant)."""
    products = []
    variant_id = FIRST_VARIANT_ID
    option_id, value_id = 10, 100
    for index, (name, stem, price, brand, options) in enumerate(PRODUCTS):
        product = ProductRecord(
            id=FIRST_PRODUCT_ID + index,
            name=name,
            sku=stem,
            price=price * UNITS // 100,
            cost_price=price * UNITS // 200,
            brand=brand,
            created=created,
            modified=created,
        )
        if not options:
            product.variants.append(VariantRecord(variant_id, product.id, stem, None))
            variant_id += 1
        else:
            option_values: list[list[Option]] = []
            for option_name, labels in options:
                option_values.append(
                    [Option(option_id, option_name, value_id + k, label) for k, label in enumerate(labels)]
                )
                option_id += 1
                value_id += len(labels)
            combos: list[tuple[Option, ...]] = [()]
            for values in option_values:
                combos = [(*combo, value) for combo in combos for value in values]
            for k, combo in enumerate(combos):
                # Products without a SKU have variants without one too (the "no SKU" lines of real stores).
                sku = f"{stem}-{'-'.join(o.label.upper() for o in combo)}" if stem else ""
                surcharge = k % 2 * UNITS * 5 if len(combo) > 1 else 0
                product.variants.append(
                    VariantRecord(
                        variant_id, product.id, sku, product.price + surcharge if surcharge else None, combo, variant_id
                    )
                )
                variant_id += 1
        products.append(product)
    return products


def build_customers(rng: random.Random, count: int, created: int) -> list[CustomerRecord]:
    """Registered customers, each owning one address of the pool (their name and email)."""
    return [
        CustomerRecord(
            id=FIRST_CUSTOMER_ID + i,
            address=i,
            created=created - rng.randint(0, 400) * 86_400,
            modified=created,
            group_id=rng.choice((0, 0, 1)),
        )
        for i in range(count)
    ]
