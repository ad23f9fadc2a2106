"""The Stock pages: levels per outlet, adjustments (admins only) and stock counts (every member)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pos.choices import MovementReason
from pos.models import InventoryLevel, InventoryMovement, Product
from tests import factories
from tests.fixtures_catalog import receive

pytestmark = pytest.mark.django_db


def _on_hand(product, outlet) -> int:
    level = InventoryLevel.objects.filter(product=product, outlet=outlet).first()
    return level.on_hand if level else 0


def _stock(response) -> dict[str, int]:
    return {p.name: p.on_hand for p in response.context["page_obj"].object_list}


# ---------------------------------------------------------------- levels


def test_the_stock_page_shows_levels_at_the_chosen_outlet(staff_client, shop, other_retailer):
    factories.ProductFactory(retailer=other_retailer, name="Someone else's")

    main = staff_client.get(reverse("dashboard:stock"), {"outlet": shop.outlet.pk})
    back = staff_client.get(reverse("dashboard:stock"), {"outlet": shop.backroom.pk})

    assert _stock(main) == {"Merino Sock": 2, "Trail Shoe": 10, "Trail shoe (BC)": 3}
    assert _stock(back) == {"Merino Sock": 0, "Trail Shoe": 4, "Trail shoe (BC)": 0}
    assert "Someone else" not in main.content.decode()


def test_low_and_negative_levels_are_filtered_and_highlighted(staff_client, shop):
    receive(shop.sock, shop.outlet, -5, "oversold")

    low = staff_client.get(reverse("dashboard:stock"), {"outlet": shop.outlet.pk, "state": "low", "low_at": 3})
    negative = staff_client.get(reverse("dashboard:stock"), {"outlet": shop.outlet.pk, "state": "negative"})

    assert _stock(low) == {"Merino Sock": -3, "Trail shoe (BC)": 3}
    assert _stock(negative) == {"Merino Sock": -3}
    html = low.content.decode()
    assert 'class="table-danger"' in html and 'class="table-warning"' in html


def test_the_stock_search_answers_htmx_with_the_results_only(staff_client, shop):
    response = staff_client.get(reverse("dashboard:stock"), {"q": "TS-1"}, headers={"HX-Request": "true"})

    assert response.content.decode().lstrip().startswith('<div id="results">')
    assert _stock(response) == {"Trail Shoe": 10}


def test_another_retailers_outlet_is_not_offered_and_is_ignored(staff_client, shop, other_retailer):
    foreign = factories.OutletFactory(retailer=other_retailer)

    response = staff_client.get(reverse("dashboard:stock"), {"outlet": foreign.pk})

    assert response.context["outlet"] == shop.outlet
    assert foreign.name not in response.content.decode()


def test_the_stock_page_without_outlets_says_so(staff_client, retailer):
    assert "There are no outlets yet" in staff_client.get(reverse("dashboard:stock")).content.decode()


def test_the_stock_page_query_count_does_not_grow_with_the_page(staff_client, shop, django_assert_num_queries):
    url = reverse("dashboard:stock")
    staff_client.get(url)
    with django_assert_num_queries(9) as few:
        staff_client.get(url)
    for product in factories.ProductFactory.create_batch(40, retailer=shop.shoe.retailer):
        receive(product, shop.outlet, 1, f"many:{product.pk}")
    with django_assert_num_queries(len(few)):
        response = staff_client.get(url)
    assert len(response.context["page_obj"].object_list) == 43


# ---------------------------------------------------------------- adjustments


def _adjust(client, product, outlet, **data):
    url = reverse("dashboard:stock_adjust")
    form = client.get(url, {"product": product.pk}).context["form"]
    payload = {
        "product": product.pk,
        "outlet": outlet.pk,
        "reason": MovementReason.RECEIVED,
        "request_key": form["request_key"].initial,
        **data,
    }
    return client.post(url, payload)


def test_an_admin_adjusts_stock_with_a_reason_and_note(admin_client, shop, admin_user):
    response = _adjust(admin_client, shop.sock, shop.outlet, delta="-2", reason="damaged", note="Moth holes")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('dashboard:product_detail', args=[shop.sock.pk])}?outlet={shop.outlet.pk}"
    assert _on_hand(shop.sock, shop.outlet) == 0
    movement = InventoryMovement.objects.filter(product=shop.sock).latest("id")
    assert (movement.quantity, movement.reason, movement.note, movement.user) == (
        -2,
        "damaged",
        "Moth holes",
        admin_user,
    )


def test_an_adjustment_posted_twice_moves_stock_once(admin_client, shop):
    url = reverse("dashboard:stock_adjust")
    key = admin_client.get(url, {"product": shop.sock.pk}).context["form"]["request_key"].initial
    data = {"product": shop.sock.pk, "outlet": shop.outlet.pk, "delta": "5", "reason": "received", "request_key": key}

    admin_client.post(url, data)
    second = admin_client.post(url, data, follow=True)

    assert _on_hand(shop.sock, shop.outlet) == 7
    assert "already saved" in second.content.decode()


def test_a_zero_adjustment_is_refused_on_the_form(admin_client, shop):
    response = _adjust(admin_client, shop.sock, shop.outlet, delta="0")

    assert response.status_code == 200
    assert "zero changes nothing" in response.context["form"].errors["delta"][0]


def test_the_adjust_page_finds_the_product_by_search(admin_client, shop):
    response = admin_client.get(reverse("dashboard:stock_adjust"), {"q": "sock"})

    assert [p.name for p in response.context["candidates"]] == ["Merino Sock"]


def test_staff_cannot_adjust_stock(staff_client, shop):
    response = staff_client.post(
        reverse("dashboard:stock_adjust"),
        {"product": shop.sock.pk, "outlet": shop.outlet.pk, "delta": "5", "reason": "received", "request_key": "k"},
    )

    assert response.status_code == 403
    assert _on_hand(shop.sock, shop.outlet) == 2


def test_adjusting_another_retailers_product_is_404(admin_client, shop, other_retailer):
    foreign = factories.ProductFactory(retailer=other_retailer)

    assert admin_client.get(reverse("dashboard:stock_adjust"), {"product": foreign.pk}).status_code == 404


# ---------------------------------------------------------------- counts


def _count(client, outlet, lines: str, confirm: bool, key: str = "count-key", note: str = ""):
    data = {"outlet": outlet.pk, "lines": lines, "note": note, "request_key": key}
    if confirm:
        data["confirm"] = "1"
    return client.post(reverse("dashboard:stock_count"), data)


def test_staff_check_a_count_before_recording_it(staff_client, shop):
    response = _count(staff_client, shop.outlet, "sku,quantity\nTS-1,12\nMS-2;2\n", confirm=False)

    preview = response.context["preview"]
    assert (preview["counted"], preview["changed"], preview["units_added"]) == (2, 1, 2)
    assert [(r["product"].name, r["on_hand"], r["counted"]) for r in preview["rows"]] == [("Trail Shoe", 10, 12)]
    assert _on_hand(shop.shoe, shop.outlet) == 10  # nothing recorded yet


def test_staff_record_a_count_and_the_differences_go_through_the_ledger(staff_client, shop, staff_user):
    lines = "TS-1\t8\nBC-TS,1\nBC-TS,1\nMS-2\n"  # tabs from a spreadsheet; a SKU twice adds up; a SKU alone is 1

    response = _count(staff_client, shop.outlet, lines, confirm=True, note="Friday count")

    assert response.status_code == 302
    assert [_on_hand(p, shop.outlet) for p in (shop.shoe, shop.from_link, shop.sock)] == [8, 2, 1]
    assert _on_hand(shop.shoe, shop.backroom) == 4
    counted = InventoryMovement.objects.filter(reason=MovementReason.COUNT)
    assert sorted(counted.values_list("quantity", flat=True)) == [-2, -1, -1]
    assert set(counted.values_list("user", "note")) == {(staff_user.pk, "Friday count")}


def test_a_count_with_unknown_skus_or_bad_quantities_records_nothing_and_says_why(staff_client, shop):
    response = _count(staff_client, shop.outlet, "TS-1,3\nNOPE,1\nMS-2,-4\nMS-2,two\n,5\n", confirm=True)

    errors = response.context["form"].errors["lines"]
    assert errors == [
        "Line 3: “-4” is not a whole number of units (0 or more).",
        "Line 4: “two” is not a whole number of units (0 or more).",
        "Line 5: the SKU is missing.",
        "No product has the SKU “NOPE”.",
    ]
    assert not InventoryMovement.objects.filter(reason=MovementReason.COUNT).exists()


def test_a_count_of_thousands_of_lines_is_recorded(staff_client, retailer, outlet, django_assert_max_num_queries):
    Product.objects.bulk_create([Product(retailer=retailer, name=f"P{i}", sku=f"P{i:05d}") for i in range(2500)])
    lines = "\n".join(f"P{i:05d},{i % 7}" for i in range(2500))

    with django_assert_max_num_queries(20):
        response = _count(staff_client, outlet, lines, confirm=True)

    assert response.status_code == 302
    assert InventoryLevel.objects.filter(outlet=outlet).count() == 2500 - 358  # every seventh counted 0 from 0
    assert _on_hand(Product.objects.get(sku="P00006"), outlet) == 6
