"""Typed BigCommerce values: Decimal money, aware UTC dates, int ids, lenient to new fields, strict on missing ones."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import json
from decimal import Decimal
from pathlib import Path

import pytest

from integration import bc_types
from integration.exceptions import ApiBadResponse, ApiParseError
from tests.integration.bigcommerce_openapi import SHARED, example_responses

WEBHOOK_SAMPLES = sorted((SHARED / "webhook-samples").glob("*.json"))


def _order_example() -> dict:
    return dict(example_responses("orders.v2.oas2.yml", "/orders/{order_id}", "get"))["200 Response"]


def _line_example() -> dict:
    return dict(example_responses("orders.v2.oas2.yml", "/orders/{order_id}/products", "get"))["200 response"][0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("62.6793", Decimal("62.6793")),
        ("8", Decimal("8")),
        (5.1, Decimal("5.1")),  # a float JSON number: via its shortest text, never its binary value
        (Decimal("0.1"), Decimal("0.1")),
        (37, Decimal("37")),
    ],
)
def test_money_is_an_exact_decimal(value, expected):
    assert bc_types.to_money(value) == expected
    assert str(bc_types.to_money(value)) == str(expected)


@pytest.mark.parametrize("value", [None, True, "abc", "NaN", [], "Infinity"])
def test_what_is_not_money_is_refused(value):
    with pytest.raises((ValueError, ArithmeticError)):
        bc_types.to_money(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 05 Mar 2019 21:40:11 +0000", dt.datetime(2019, 3, 5, 21, 40, 11, tzinfo=dt.UTC)),
        ("Thu, 20 Apr 2017 11:32:00 -0400", dt.datetime(2017, 4, 20, 15, 32, tzinfo=dt.UTC)),
        ("2018-05-08T15:06:12+00:00", dt.datetime(2018, 5, 8, 15, 6, 12, tzinfo=dt.UTC)),
        ("2022-06-16T18:44:15+02:00", dt.datetime(2022, 6, 16, 16, 44, 15, tzinfo=dt.UTC)),
        ("2024-01-01T00:00:00Z", dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        (1561488106, dt.datetime(2019, 6, 25, 18, 41, 46, tzinfo=dt.UTC)),
        ("", None),
    ],
)
def test_dates_become_aware_utc_datetimes(value, expected):
    parsed = bc_types.to_datetime(value)

    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == dt.timedelta(0)


def test_ids_sent_as_strings_become_ints():
    assert bc_types.to_id("250") == 250
    assert bc_types.to_id(250) == 250
    with pytest.raises(ValueError):
        bc_types.to_id("12a")


def test_an_order_parses_typed_and_ignores_fields_it_does_not_know():
    data = {**_order_example(), "a_field_added_next_year": {"nested": True}}

    order = bc_types.Order.from_api(data)

    assert order.id == 218
    assert order.customer_id == 11 and not order.is_guest
    assert order.total_inc_tax == Decimal("69.8400")
    assert order.subtotal_ex_tax == Decimal("62.6793")
    assert order.discount_amount == Decimal("5.0000")
    assert order.date_modified == dt.datetime(2019, 3, 11, 15, 17, 25, tzinfo=dt.UTC)
    assert order.date_shipped is None
    assert order.default_currency_code == "USD"
    assert order.billing_address.name == "Jane Doe"
    assert order.consignments is None
    with pytest.raises(bc_types.LineItemsNotIncluded):
        _ = order.products


@pytest.mark.parametrize("field", ["id", "status_id", "date_created", "date_modified", "total_inc_tax"])
def test_a_missing_required_field_names_the_field_and_the_order(field):
    data = _order_example()
    del data[field]

    with pytest.raises(ApiParseError) as error:
        bc_types.Order.from_api(data)

    assert error.value.field == field
    assert error.value.resource == ("order ?" if field == "id" else "order 218")
    assert field in str(error.value)


def test_an_unreadable_value_is_a_parse_error_not_a_crash():
    data = {**_order_example(), "total_inc_tax": "sixty-nine"}

    with pytest.raises(ApiParseError) as error:
        bc_types.Order.from_api(data)

    assert error.value.field == "total_inc_tax"
    assert "unreadable" in str(error.value)


def test_a_body_that_is_not_an_object_is_a_bad_response():
    with pytest.raises(ApiBadResponse):
        bc_types.Order.from_api(["not", "an", "order"])


def test_inlined_consignments_give_the_lines_and_tell_when_bigcommerce_cut_them():
    line = _line_example()
    data = {
        **_order_example(),
        "consignments": {
            "shipping": [
                {"id": 51, "first_name": "Jane", "cost_inc_tax": Decimal("5.1"), "line_items": [line]},
                {
                    "id": 52,
                    "line_items": [{**line, "id": 66, "order_address_id": 52}],
                    "__warning__": {"message": "Not all line items of this consignment are returned"},
                },
            ],
            "pickups": [],
            "downloads": [],
            "email": {"gift_certificates": []},
        },
    }

    order = bc_types.Order.from_api(data)

    assert [li.id for li in order.products] == [65, 66]
    assert order.consignments.truncated
    assert order.consignments.shipping[0].cost_inc_tax == Decimal("5.1")
    assert not order.consignments.shipping[0].truncated and order.consignments.shipping[1].truncated


def test_consignments_with_line_item_links_only_do_not_pretend_to_have_lines():
    data = {
        **_order_example(),
        "consignments": {"shipping": [{"id": 51, "line_items": [{"url": "u", "resource": "r"}]}]},
    }

    order = bc_types.Order.from_api(data)

    assert not order.consignments.line_items_inlined
    with pytest.raises(bc_types.LineItemsNotIncluded):
        _ = order.products


def test_an_order_line_has_its_discounts_options_and_variant():
    line = bc_types.OrderProduct.from_api({**_line_example(), "variant_id": 345})

    assert line.variant_id == 345
    assert line.sku == "S-ORAN"
    assert line.price_inc_tax == Decimal("65.2300")
    assert line.discount_total == Decimal("1.5900")
    assert line.applied_discounts[0].target == "order"
    assert (line.product_options[0].display_name, line.product_options[0].display_value) == ("Size", "S")


def test_a_line_without_variant_id_has_none():
    assert bc_types.OrderProduct.from_api(_line_example()).variant_id is None


def test_a_transaction_order_id_string_becomes_an_int_and_amounts_stay_exact():
    transaction = bc_types.Transaction.from_api(
        {
            "id": 85926313,
            "order_id": "121",
            "event": "purchase",
            "method": "offline",
            "amount": Decimal("81.884"),
            "currency": "USD",
            "gateway": "cod",
            "status": "ok",
            "date_created": "2018-05-08T15:06:12+00:00",
            "offline": {"display_name": "Cash on Delivery"},
        }
    )

    assert transaction.order_id == 121
    assert transaction.amount == Decimal("81.884")
    assert transaction.method_label == "Cash on Delivery"


def test_a_refund_sums_the_payments_that_went_through():
    refund = bc_types.Refund.from_api(
        {
            "id": 12,
            "order_id": 180,
            "created": "2022-06-16T16:44:15+00:00",
            "total_amount": 50,
            "total_tax": 5,
            "payments": [
                {"id": 13, "provider_id": "storecredit", "amount": 30, "offline": True, "is_declined": False},
                {"id": 14, "provider_id": "braintree", "amount": 20, "offline": False, "is_declined": True},
            ],
            "items": [{"item_type": "PRODUCT", "item_id": 87, "quantity": 1}],
        }
    )

    assert refund.total_amount == Decimal("50")
    assert refund.refunded_amount == Decimal("30")
    assert refund.items[0].quantity == 1 and refund.items[0].requested_amount is None


@pytest.mark.parametrize("sample", WEBHOOK_SAMPLES, ids=lambda p: Path(p).stem)
def test_every_webhook_sample_parses_with_an_int_store_id(sample):
    callback = bc_types.WebhookCallback.from_api(json.loads(sample.read_text()))

    assert callback.store_id == 1025646
    assert callback.created_at.tzinfo is not None
    if callback.scope.startswith(("store/order/", "store/shipment/")):
        assert callback.order_id in (250, 251)
    if callback.scope == "store/order/statusUpdated":
        assert (callback.previous_status_id, callback.new_status_id) == (0, 11)


def test_null_reads_as_the_default_and_a_zero_reference_as_none():
    data = {**_order_example(), "external_id": None, "customer_message": None, "discount_amount": None}
    line = {**_line_example(), "variant_id": 0, "order_pickup_method_id": 0, "sku": None, "applied_discounts": None}

    order = bc_types.Order.from_api(data)
    line = bc_types.OrderProduct.from_api(line)

    assert (order.external_id, order.customer_message, order.discount_amount) == ("", "", Decimal("0"))
    assert (line.variant_id, line.order_pickup_method_id, line.sku, line.applied_discounts) == (None, None, "", ())


def test_null_in_a_field_without_a_default_is_missing():
    with pytest.raises(ApiParseError) as error:
        bc_types.Order.from_api({**_order_example(), "total_inc_tax": None})

    assert (error.value.field, error.value.resource) == ("total_inc_tax", "order 218")
    assert str(error.value) == "order 218: field 'total_inc_tax' is missing"


def test_a_number_sent_for_text_is_written_out():
    order = bc_types.Order.from_api({**_order_example(), "payment_provider_id": 12345, "external_id": 7})

    assert (order.payment_provider_id, order.external_id) == ("12345", "7")


def _order_with_lines(*lines: dict) -> dict:
    consignment = {"id": 51, "first_name": "Jane", "zip": "12345", "line_items": list(lines)}
    return {**_order_example(), "consignments": {"shipping": [consignment], "pickups": []}}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"quantity": -2}, "quantity", "unreadable ('-2')"),
        ({"quantity": "1.5"}, "quantity", "unreadable ('1.5')"),
        ({"total_inc_tax": "NaN"}, "total_inc_tax", "unreadable ('NaN')"),
        ({"price_ex_tax": "1E+400"}, "price_ex_tax", "unreadable ('1E+400')"),
        ({"name": None}, "name", "missing"),
    ],
)
def test_a_bad_line_inside_the_consignments_names_the_line_and_its_order(change, field, reason):
    line = _line_example()
    data = _order_with_lines(line, {**line, "id": 66, **change})
    del data["consignments"]["shipping"][0]["line_items"][1]["order_id"]  # a line that does not say its order

    with pytest.raises(ApiParseError) as error:
        bc_types.Order.from_api(data)

    assert (error.value.field, error.value.resource) == (field, "order 218 line 66")
    assert str(error.value) == f"order 218 line 66: field '{field}' is {reason}"


def test_a_bad_value_in_a_nested_object_names_where_it_is():
    data = {**_order_example(), "billing_address": {"first_name": ["not", "text"]}}

    with pytest.raises(ApiParseError) as error:
        bc_types.Order.from_api(data)

    assert (error.value.field, error.value.resource) == ("first_name", "order 218 billing address")


def test_an_empty_required_date_says_so():
    with pytest.raises(ApiParseError) as error:
        bc_types.Order.from_api({**_order_example(), "date_modified": ""})

    assert str(error.value) == "order 218: field 'date_modified' is empty"


def test_a_consignment_that_is_not_an_object_is_a_bad_response():
    data = {**_order_example(), "consignments": {"shipping": ["not an object"]}}

    with pytest.raises(ApiBadResponse) as error:
        bc_types.Order.from_api(data)

    assert not isinstance(error.value, ApiParseError)
    assert str(error.value).startswith("order 218 shipping consignment ?: expected a JSON object")


def test_a_shipping_consignment_has_its_own_address():
    order = bc_types.Order.from_api(_order_with_lines(_line_example()))

    consignment = order.consignments.shipping[0]
    assert (consignment.address.first_name, consignment.address.zip) == ("Jane", "12345")


def test_values_are_frozen_dataclasses_that_replace_and_asdict_handle():
    order = bc_types.Order.from_api(_order_with_lines(_line_example()))

    changed = dataclasses.replace(order, status_id=21)

    assert changed.status_id == 21 and changed.date_modified == order.date_modified
    assert changed.products == order.products
    assert dataclasses.asdict(order.billing_address)["first_name"] == "Jane"
    with pytest.raises(dataclasses.FrozenInstanceError):
        order.status_id = 5


@pytest.mark.parametrize(
    "text",
    [
        "Tue, 05 Mar 2019 21:40:11 +0000",
        "Thu, 20 Apr 2017 11:32:00 -0400",
        "Sat, 31 Dec 2022 23:59:59 +0530",
        "Mon, 1 Jan 2024 00:00:00 +0000",
        "Wed, 29 Feb 2024 12:00:00 -1200",
        "Tue, 05 Mar 2019 21:40:11 GMT",
        "Tue, 05 Mar 2019 21:40:11 +0000 (UTC)",
    ],
)
def test_rfc2822_dates_read_as_the_email_parser_reads_them(text):
    expected = email.utils.parsedate_to_datetime(text).astimezone(dt.UTC)

    assert bc_types.to_datetime(text) == expected
    assert bc_types.to_datetime(text).tzinfo == dt.UTC


@pytest.mark.parametrize("text", ["Tue, 31 Feb 2019 21:40:11 +0000", "Tue, 05 Mar 2019 25:40:11 +0000", "yesterday"])
def test_an_impossible_rfc2822_date_is_refused(text):
    with pytest.raises((ValueError, TypeError)):
        bc_types.to_datetime(text)


def test_order_fees_are_read_under_both_spellings_of_their_ex_tax_amount():
    # BigCommerce's own example order: fee 1 says `cost_exc_tax`, fee 2 `cost_ex_tax` (the schema's spelling).
    order = bc_types.Order.from_api(_order_example())

    assert [(f.id, f.name, f.cost_ex_tax, f.cost_tax, f.cost_inc_tax) for f in order.fees] == [
        (1, "A Fee", Decimal("12.3000"), Decimal("0.0000"), Decimal("12.3000")),
        (2, "B Fee", Decimal("4.0000"), Decimal("8.0000"), Decimal("12.0000")),
    ]


def test_order_fees_sent_as_a_link_are_not_fees():
    data = {**_order_example(), "fees": {"url": "https://api.bigcommerce.com/x/v2/orders/218/fees", "resource": "/x"}}

    assert bc_types.Order.from_api(data).fees is None


def test_a_fee_without_its_amount_names_the_fee_and_the_order():
    data = _order_example()
    data["fees"] = [{k: v for k, v in data["fees"][1].items() if k != "cost_ex_tax"}]

    with pytest.raises(ApiParseError) as caught:
        bc_types.Order.from_api(data)

    assert "cost_ex_tax" in str(caught.value) and "order 218 fee 2" in str(caught.value)
