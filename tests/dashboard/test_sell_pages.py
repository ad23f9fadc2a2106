"""The Sell screen and the receipt."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from pos.choices import Channel, MovementReason, PaymentState, SaleStatus
from pos.models import InventoryLevel, InventoryMovement, Sale
from tests import factories

pytestmark = pytest.mark.django_db

SELL = "dashboard:sell"


def _post(client, register, **data):
    return client.post(reverse(SELL), {"register": register.pk, "token": data.pop("token", "tok-1"), **data})


@pytest.fixture
def till(shop):
    """The counter's register (the `register` fixture is the link's online register)."""
    return shop.till


def _cart(response) -> list[tuple[str, int]]:
    return [(line.product.name, line.quantity) for line in response.context["lines"]]


def test_with_one_register_the_screen_opens_on_it(staff_client, shop, till):
    response = staff_client.get(reverse(SELL))

    assert response.context["register"] == till
    assert "The sale is empty" in response.content.decode()


def test_with_several_registers_the_cashier_picks_one_and_it_is_remembered(staff_client, shop, till):
    other = factories.RegisterFactory(outlet=shop.backroom, retailer=shop.backroom.retailer, name="Back till")

    picker = staff_client.get(reverse(SELL))
    chosen = staff_client.get(reverse(SELL), {"register": other.pk})
    again = staff_client.get(reverse(SELL))

    assert "register" not in picker.context and "Start selling" in picker.content.decode()
    assert chosen.context["register"] == other
    assert again.context["register"] == other


def test_a_scanned_sku_is_added_and_scanned_again_adds_one_more(staff_client, shop, till):
    first = _post(staff_client, till, q="TS-1", sell_action="add")
    second = _post(staff_client, till, q="TS-1", sell_action="add", product=[shop.shoe.pk], quantity=["1"])

    assert _cart(first) == [("Trail Shoe", 1)]
    assert _cart(second) == [("Trail Shoe", 2)]
    assert second.context["total"] == Decimal("258.0000")


def test_a_name_search_lists_matches_to_pick_from(staff_client, shop, till):
    listed = _post(staff_client, till, q="trail", sell_action="add")
    picked = _post(staff_client, till, add_product=shop.shoe.pk)

    assert [p.name for p in listed.context["matches"]] == ["Trail Shoe", "Trail shoe (BC)"]
    assert _cart(listed) == []
    assert _cart(picked) == [("Trail Shoe", 1)]


def test_quantities_update_and_lines_are_removed(staff_client, shop, till):
    cart = {"product": [shop.shoe.pk, shop.sock.pk], "quantity": ["3", "2"]}

    updated = _post(staff_client, till, sell_action="update", **cart)
    removed = _post(staff_client, till, remove_product=shop.shoe.pk, **cart)
    zeroed = _post(staff_client, till, sell_action="update", product=[shop.shoe.pk], quantity=["0"])

    assert _cart(updated) == [("Trail Shoe", 3), ("Merino Sock", 2)]
    assert _cart(removed) == [("Merino Sock", 2)]
    assert _cart(zeroed) == []


def test_an_unknown_search_says_so(staff_client, shop, till):
    response = _post(staff_client, till, q="zzz", sell_action="add")

    assert response.context["errors"] == ["No active product matches “zzz”."]


def test_htmx_gets_the_form_region_only(staff_client, shop, till):
    response = staff_client.post(
        reverse(SELL), {"register": till.pk, "q": "TS-1", "sell_action": "add"}, headers={"HX-Request": "true"}
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<form id="sell-form"') and "<nav" not in html


def test_completing_a_sale_records_it_moves_stock_once_and_shows_the_receipt(staff_client, shop, till, staff_user):
    response = _post(
        staff_client,
        till,
        sell_action="complete",
        product=[shop.shoe.pk, shop.sock.pk],
        quantity=["1", "2"],
        payment_type=shop.cash.pk,
        amount="",
    )

    sale = Sale.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:sale_receipt", args=[sale.pk])
    assert (sale.channel, sale.status, sale.payment_state, sale.user) == (
        Channel.IN_STORE,
        SaleStatus.CLOSED,
        PaymentState.PAID,
        staff_user,
    )
    assert sale.total_inc_tax == Decimal("165.0000")
    assert InventoryLevel.objects.get(product=shop.shoe, outlet=shop.outlet).on_hand == 9
    assert InventoryLevel.objects.get(product=shop.sock, outlet=shop.outlet).on_hand == 0

    # the same form posted again (a double click) shows the same receipt and sells nothing more
    again = _post(staff_client, till, sell_action="complete", product=[shop.shoe.pk], quantity=["1"])
    assert again["Location"] == response["Location"]
    assert Sale.objects.count() == 1
    assert InventoryMovement.objects.filter(reason=MovementReason.SALE).count() == 2

    receipt = staff_client.get(response["Location"])
    html = receipt.content.decode()
    assert f"#{sale.invoice_number}" in html and "Trail Shoe" in html and "165.00" in html and "Cash" in html


def test_a_partial_payment_leaves_a_balance_on_the_receipt(staff_client, shop, till):
    response = _post(
        staff_client,
        till,
        sell_action="complete",
        product=[shop.sock.pk],
        quantity=["1"],
        payment_type=shop.cash.pk,
        amount="10",
    )

    sale = Sale.objects.get()
    assert sale.payment_state == PaymentState.PARTIALLY_PAID
    assert staff_client.get(response["Location"]).context["sale"].balance == Decimal("8.0000")


def test_htmx_completion_redirects_the_browser_to_the_receipt(staff_client, shop, till):
    response = staff_client.post(
        reverse(SELL),
        {
            "register": till.pk,
            "sell_action": "complete",
            "product": [shop.sock.pk],
            "quantity": ["1"],
            "payment_type": shop.cash.pk,
        },
        headers={"HX-Request": "true"},
    )

    assert response["HX-Redirect"] == reverse("dashboard:sale_receipt", args=[Sale.objects.get().pk])


@pytest.mark.parametrize(
    ("cart", "amount", "message"),
    [
        ({}, "", "Add at least one product to the sale."),
        ({"quantity": ["1"]}, "500", "more than the sale total"),
        ({"quantity": ["1"]}, "ten", "Enter the amount paid as a number"),
    ],
)
def test_refused_sales_keep_the_cart_and_say_why(staff_client, shop, till, cart, amount, message):
    if cart:
        cart["product"] = [shop.sock.pk]

    response = _post(staff_client, till, sell_action="complete", payment_type=shop.cash.pk, amount=amount, **cart)

    assert response.status_code == 200
    assert message in " ".join(response.context["errors"])
    assert _cart(response) == ([("Merino Sock", 1)] if cart else [])
    assert not Sale.objects.exists()


def test_an_inactive_product_in_the_cart_is_refused(staff_client, shop, till):
    shop.sock.active = False
    shop.sock.save()

    response = _post(staff_client, till, sell_action="complete", product=[shop.sock.pk], quantity=["1"])

    assert "is inactive and cannot be sold" in response.context["errors"][0]
    assert not Sale.objects.exists()


def test_another_retailers_register_and_products_are_refused(staff_client, shop, till, other_retailer):
    foreign_register = factories.RegisterFactory(outlet=factories.OutletFactory(retailer=other_retailer))
    foreign_product = factories.ProductFactory(retailer=other_retailer)

    assert _post(staff_client, foreign_register, q="x").status_code == 404
    response = _post(staff_client, till, sell_action="update", product=[foreign_product.pk], quantity=["1"])
    assert _cart(response) == []


def test_the_receipt_of_another_retailers_sale_is_404(staff_client, other_retailer):
    sale = factories.SaleFactory(retailer=other_retailer)

    assert staff_client.get(reverse("dashboard:sale_receipt", args=[sale.pk])).status_code == 404


def test_the_receipt_query_count_does_not_grow_with_its_lines(staff_client, retailer, django_assert_num_queries):
    sale = factories.SaleFactory(retailer=retailer)
    factories.SaleLineFactory(sale=sale)
    url = reverse("dashboard:sale_receipt", args=[sale.pk])
    staff_client.get(url)
    with django_assert_num_queries(7) as few:
        staff_client.get(url)
    factories.SaleLineFactory.create_batch(20, sale=sale)
    factories.SalePaymentFactory.create_batch(3, sale=sale)
    with django_assert_num_queries(len(few)):
        staff_client.get(url)


def test_selling_more_than_the_outlet_holds_warns_and_still_sells(staff_client, shop, till):
    cart = {"product": [shop.sock.pk, shop.shoe.pk], "quantity": ["3", "2"]}  # 2 socks and 10 shoes on the shelf

    response = _post(staff_client, till, sell_action="update", **cart)

    html = response.content.decode()
    assert [line.product.name for line in response.context["below_zero"]] == ["Merino Sock"]
    assert "2 in stock at Main Street: selling 3 takes it below zero." in html
    assert "1 product will go below zero stock at Main Street." in html
    sold = _post(staff_client, till, sell_action="complete", payment_type=shop.cash.pk, **cart)
    assert sold.status_code == 302


def test_the_sell_screen_and_the_receipt_say_the_same_about_tax(staff_client, shop, till):
    screen = _post(staff_client, till, q="TS-1", sell_action="add").content.decode()
    sold = _post(
        staff_client, till, sell_action="complete", payment_type=shop.cash.pk, product=[shop.shoe.pk], quantity=["1"]
    )
    receipt = staff_client.get(sold["Location"]).content.decode()

    assert "no tax added" in screen and "prices include tax" not in screen
    assert 'data-testid="receipt-tax">no tax added<' in receipt and "Subtotal (ex tax)" not in receipt


def test_a_receipt_with_tax_shows_the_subtotal_and_the_tax(staff_client, shop, till):
    sale = factories.SaleFactory(retailer=shop.outlet.retailer, outlet=shop.outlet, register=till)

    receipt = staff_client.get(reverse("dashboard:sale_receipt", args=[sale.pk])).content.decode()

    assert "Subtotal (ex tax)" in receipt and ">1.00<" in receipt


def test_an_inactive_register_cannot_sell_even_when_posted(staff_client, shop, till):
    till.active = False
    till.save()

    response = _post(staff_client, till, sell_action="complete", product=[shop.shoe.pk], quantity=["1"])

    assert response.status_code == 404
