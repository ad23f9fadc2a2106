"""pos.db: `insert_rows` puts rows in as a set (ids from the sequence, COPY) exactly as bulk_create writes them;
`new_row` makes the instance the model's constructor makes; `insert_rows_missing` skips rows already there."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pos.db import insert_rows, insert_rows_missing, new_row
from pos.models import Customer, Fulfillment, FulfillmentEvent, Product, Sale, SaleLine
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

AWKWARD = "Tab\there, new\nline, back\\slash, quote ' \" and café ☕"


def _rows(model, ids, exclude=("id",)):
    rows = model.objects.filter(pk__in=ids).order_by("pk").values()
    return [{k: v for k, v in row.items() if k not in exclude} for row in rows]


def test_customers_are_written_as_bulk_create_writes_them(retailer):
    def build():
        return [
            Customer(
                retailer=retailer,
                first_name=AWKWARD,
                last_name="" if i % 2 else "Lovelace",
                email=f"c{i}@example.com",
                address={"street_1": AWKWARD, "lines": [1, 2, None], "nested": {"x": Decimal("1.5").__str__()}},
                created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            )
            for i in range(5)
        ]

    reference = Customer.objects.bulk_create(build())
    copied = insert_rows(Customer, build())

    assert all(c.pk is not None and not c._state.adding for c in copied)
    exclude = ("id", "updated_at")  # auto_now: the time of each write
    assert _rows(Customer, [c.pk for c in copied], exclude) == _rows(Customer, [c.pk for c in reference], exclude)


def test_sales_and_their_lines_go_in_with_ids_taken_up_front_and_nothing_read_back(retailer):
    outlet = factories.OutletFactory(retailer=retailer)
    register = factories.RegisterFactory(retailer=retailer, outlet=outlet)
    product = factories.ProductFactory(retailer=retailer)
    sales = [
        Sale(
            retailer=retailer,
            outlet=outlet,
            register=register,
            invoice_number=9000 + i,
            total_ex_tax=Decimal("10.1234"),
            total_tax=Decimal("0.0001"),
            total_inc_tax=Decimal("10.1235"),
            staff_note=AWKWARD,
            sale_date=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
        )
        for i in range(3)
    ]

    with CaptureQueriesContext(connection) as queries:
        insert_rows(Sale, sales)
        lines = insert_rows(
            SaleLine,
            [
                SaleLine(
                    sale_id=sale.pk,  # known before anything was read back
                    product=product,
                    position=1,
                    name=AWKWARD,
                    quantity=2,
                    unit_price_ex_tax=Decimal("5.0617"),
                    unit_price_inc_tax=Decimal("5.0618"),
                    total_ex_tax=Decimal("10.1234"),
                    total_tax=Decimal("0.0001"),
                    total_inc_tax=Decimal("10.1235"),
                )
                for sale in sales
            ],
        )

    assert len(queries) == 4  # per table: the ids, then the COPY
    assert [s.invoice_number for s in Sale.objects.filter(pk__in=[s.pk for s in sales]).order_by("invoice_number")] == [
        9000,
        9001,
        9002,
    ]
    stored = Sale.objects.get(pk=sales[0].pk)
    assert (stored.staff_note, stored.total_inc_tax, stored.sale_date) == (
        AWKWARD,
        Decimal("10.1235"),
        datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
    )
    assert {line.sale_id for line in SaleLine.objects.filter(pk__in=[x.pk for x in lines])} == {s.pk for s in sales}


def test_json_data_and_defaults_match_bulk_create(retailer):
    fulfillment = factories.FulfillmentFactory(sale__retailer=retailer, retailer=retailer)

    def build():
        return [FulfillmentEvent(fulfillment=fulfillment, action="created", message=AWKWARD, data={"a": [1, "b"]})]

    reference = FulfillmentEvent.objects.bulk_create(build())
    copied = insert_rows(FulfillmentEvent, build())

    exclude = ("id", "created_at")
    assert _rows(FulfillmentEvent, [copied[0].pk], exclude) == _rows(FulfillmentEvent, [reference[0].pk], exclude)


def test_nothing_to_insert_writes_nothing(retailer):
    with CaptureQueriesContext(connection) as queries:
        assert insert_rows(Sale, []) == []
    assert len(queries) == 0


def test_a_child_pointing_at_a_parent_inserted_since_gets_its_id(retailer):
    outlet = factories.OutletFactory(retailer=retailer)
    register = factories.RegisterFactory(retailer=retailer, outlet=outlet)
    sale = Sale(retailer=retailer, outlet=outlet, register=register, invoice_number=777)
    payment_type = factories.PaymentTypeFactory(retailer=retailer)
    from pos.models import SalePayment

    payment = SalePayment(sale=sale, payment_type=payment_type, kind="payment", amount=Decimal("1.00"))  # no id yet

    insert_rows(Sale, [sale])
    insert_rows(SalePayment, [payment])

    assert SalePayment.objects.get(pk=payment.pk).sale_id == sale.pk


def _values(obj, exclude=()):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname not in exclude}


def test_new_row_makes_the_instance_the_constructor_makes(retailer, django_assert_num_queries):
    # given a sale and a product, saved
    sale = factories.SaleFactory(retailer=retailer)
    product = factories.ProductFactory(retailer=retailer)
    line = {"sale": sale, "product": product, "position": 1, "name": AWKWARD, "quantity": 2, "external_line_id": "7"}
    line |= {"unit_price_ex_tax": Decimal("5"), "unit_price_inc_tax": Decimal("6"), "total_ex_tax": Decimal("10")}
    line |= {"total_tax": Decimal("2"), "total_inc_tax": Decimal("12")}
    # when each model is built both ways
    pairs = [
        (SaleLine(**line), new_row(SaleLine, **line)),
        (Fulfillment(retailer=retailer, sale=sale), new_row(Fulfillment, retailer=retailer, sale=sale)),
        (
            FulfillmentEvent(fulfillment_id=1, action="created", message="m"),
            new_row(FulfillmentEvent, fulfillment_id=1, action="created", message="m"),
        ),
    ]
    # then the values agree (the times are their own), the rows are new and relations need no query
    for made, fast in pairs:
        assert _values(fast, ("created_at",)) == _values(made, ("created_at",))
        assert fast._state.adding and fast._state.db is None
    with django_assert_num_queries(0):
        assert pairs[0][1].product is product and pairs[0][1].sale is sale
    assert pairs[2][1].data == {} and pairs[2][1].data is not pairs[2][0].data
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        new_row(SaleLine, colour="red")


def test_rows_made_by_new_row_are_written_as_the_constructor_s(retailer):
    fulfillment = factories.FulfillmentFactory(sale__retailer=retailer, retailer=retailer)
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    values = {"fulfillment": fulfillment, "action": "created", "message": AWKWARD, "data": {"a": [1]}, "created_at": at}

    reference = FulfillmentEvent.objects.bulk_create([FulfillmentEvent(**values)])
    copied = insert_rows(FulfillmentEvent, [new_row(FulfillmentEvent, **values)])

    assert _rows(FulfillmentEvent, [copied[0].pk]) == _rows(FulfillmentEvent, [reference[0].pk])


def test_insert_rows_missing_leaves_rows_a_unique_constraint_already_holds(retailer):
    # given a product with SKU A
    factories.ProductFactory(retailer=retailer, sku="A", name="Kept")
    rows = [
        new_row(Product, retailer=retailer, sku=sku, name=f"New {sku}", retail_price=1, supply_price=1)
        for sku in ("A", "B", "C")
    ]

    # when A, B and C are inserted unless present
    insert_rows_missing(Product, rows)

    # then A is untouched and B and C are new, in one statement whatever their number
    names = dict(Product.objects.filter(retailer=retailer).values_list("sku", "name"))
    assert names == {"A": "Kept", "B": "New B", "C": "New C"}
