"""The Catalog pages: list, create and edit, product detail, review queue, accept and merge."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from integration.models import ProductLink
from pos.choices import AuditAction, ProductKind
from pos.models import AuditEntry, InventoryLevel, Product
from tests import factories
from tests.fixtures_catalog import receive

pytestmark = pytest.mark.django_db


def _names(response) -> list[str]:
    return [p.name for p in response.context["page_obj"].object_list]


# ---------------------------------------------------------------- list


def test_the_catalog_lists_the_retailers_products_with_on_hand_totals(staff_client, shop, other_retailer):
    factories.ProductFactory(retailer=other_retailer, name="Someone else's")

    response = staff_client.get(reverse("dashboard:catalog"))

    assert response.status_code == 200
    assert _names(response) == ["Merino Sock", "Trail Shoe", "Trail shoe (BC)"]
    totals = {p.name: p.on_hand_total for p in response.context["page_obj"].object_list}
    assert totals == {"Merino Sock": 2, "Trail Shoe": 14, "Trail shoe (BC)": 3}
    html = response.content.decode()
    assert "Someone else" not in html
    assert reverse("dashboard:product_create") not in html  # staff cannot create


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "ms-2"}, ["Merino Sock"]),
        ({"q": "trail"}, ["Trail Shoe", "Trail shoe (BC)"]),
        ({"linked": "yes"}, ["Trail shoe (BC)"]),
        ({"linked": "no"}, ["Merino Sock", "Trail Shoe"]),
        ({"review": "yes"}, ["Trail shoe (BC)"]),
        ({"active": "no"}, []),
        ({"kind": "shipping"}, []),
        ({"sort": "-on_hand"}, ["Trail Shoe", "Trail shoe (BC)", "Merino Sock"]),
        ({"sort": "price"}, ["Merino Sock", "Trail shoe (BC)", "Trail Shoe"]),
    ],
)
def test_the_catalog_searches_filters_and_sorts(staff_client, shop, params, expected):
    assert _names(staff_client.get(reverse("dashboard:catalog"), params)) == expected


def test_a_product_of_an_unlinked_store_does_not_count_as_linked(staff_client, shop):
    unlinked = factories.StoreLinkFactory(retailer=shop.shoe.retailer, state="unlinked", default_payment_type=None)
    shop.from_link.bc_links.update(link=unlinked)

    assert _names(staff_client.get(reverse("dashboard:catalog"), {"linked": "yes"})) == []


def test_the_catalog_search_answers_htmx_with_the_results_region_only(staff_client, shop):
    response = staff_client.get(reverse("dashboard:catalog"), {"q": "sock"}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="results">')
    assert "Merino Sock" in html and "<nav" not in html


def test_the_catalog_says_what_to_do_when_empty(admin_client, retailer):
    html = admin_client.get(reverse("dashboard:catalog")).content.decode()

    assert "The catalog is empty" in html and reverse("dashboard:product_create") in html


def test_the_catalog_query_count_does_not_grow_with_the_page(admin_client, retailer, outlet, django_assert_num_queries):
    link = factories.StoreLinkFactory(retailer=retailer, outlet=outlet)

    def add(n):
        for product in factories.ProductFactory.create_batch(n, retailer=retailer):
            factories.ProductLinkFactory(link=link, product=product)
            receive(product, outlet, 3, f"q:{product.pk}")

    add(2)
    admin_client.get(reverse("dashboard:catalog"))  # warm the session and caches
    with django_assert_num_queries(7) as few:
        admin_client.get(reverse("dashboard:catalog"))
    add(40)
    with django_assert_num_queries(len(few)):
        response = admin_client.get(reverse("dashboard:catalog"))
    assert len(response.context["page_obj"].object_list) == 42


# ---------------------------------------------------------------- create and edit


def test_an_admin_creates_a_product(admin_client, retailer, admin_user):
    response = admin_client.post(
        reverse("dashboard:product_create"),
        {
            "name": "Camp Mug",
            "sku": "CM-8",
            "kind": "standard",
            "retail_price": "16.00",
            "supply_price": "4.20",
            "active": "on",
            "tracks_inventory": "on",
        },
    )

    product = Product.objects.get(sku="CM-8")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:product_detail", args=[product.pk])
    assert (product.retailer, product.retail_price, product.active) == (retailer, Decimal("16.0000"), True)
    assert AuditEntry.objects.get(action=AuditAction.PRODUCT_CREATED).actor == admin_user


def test_a_taken_sku_and_a_tracked_charge_show_as_field_errors(admin_client, shop):
    response = admin_client.post(
        reverse("dashboard:product_create"),
        {
            "name": "Ship",
            "sku": "TS-1",
            "kind": "shipping",
            "retail_price": "5",
            "supply_price": "0",
            "tracks_inventory": "on",
        },
    )

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["sku"] == ["SKU “TS-1” is already used by “Trail Shoe”. Each product needs its own SKU."]
    assert "never track stock" in form.errors["tracks_inventory"][0]
    assert not Product.objects.filter(name="Ship").exists()


def test_negative_prices_are_refused_by_the_form(admin_client, retailer):
    response = admin_client.post(
        reverse("dashboard:product_create"),
        {"name": "Mug", "kind": "standard", "retail_price": "-1", "supply_price": "0"},
    )

    assert "retail_price" in response.context["form"].errors
    assert not Product.objects.exists()


def test_placeholder_is_not_offered_for_new_products(admin_client, retailer):
    kinds = [
        value
        for value, _ in admin_client.get(reverse("dashboard:product_create")).context["form"].fields["kind"].choices
    ]

    assert ProductKind.PLACEHOLDER not in kinds


def test_an_admin_edits_the_price_through_product_update(admin_client, shop):
    url = reverse("dashboard:product_edit", args=[shop.shoe.pk])
    form = admin_client.get(url).context["form"]
    data = {name: value for name, value in form.initial.items() if value not in (None, False)}

    response = admin_client.post(url, {**data, "retail_price": "119.00", "active": "on", "tracks_inventory": "on"})

    assert response.status_code == 302
    shop.shoe.refresh_from_db()
    assert shop.shoe.retail_price == Decimal("119.0000")
    entry = AuditEntry.objects.get(action=AuditAction.PRODUCT_UPDATED)
    assert entry.detail["changes"] == {"retail_price": ["129.0000", "119.00"]}


def test_staff_may_not_create_edit_accept_or_merge(staff_client, shop):
    pk = shop.from_link.pk
    assert staff_client.get(reverse("dashboard:product_create")).status_code == 403
    assert staff_client.post(reverse("dashboard:product_edit", args=[pk]), {"name": "x"}).status_code == 403
    assert staff_client.post(reverse("dashboard:product_accept", args=[pk])).status_code == 403
    assert staff_client.post(reverse("dashboard:product_merge", args=[pk]), {"into": shop.shoe.pk}).status_code == 403
    shop.from_link.refresh_from_db()
    assert shop.from_link.needs_review is True and shop.from_link.merged_into is None


# ---------------------------------------------------------------- detail


def test_the_product_page_shows_stock_per_outlet_and_the_history_of_one_outlet(staff_client, shop):
    url = reverse("dashboard:product_detail", args=[shop.shoe.pk])

    response = staff_client.get(url, {"outlet": shop.backroom.pk})

    stock = {o.name: o.on_hand for o in response.context["outlets"]}
    assert stock == {"Main Street": 10, "Warehouse": 4}
    assert response.context["on_hand_total"] == 14
    assert [(m.outlet.name, m.quantity) for m in response.context["page_obj"].object_list] == [("Warehouse", 4)]
    html = response.content.decode()
    assert reverse("dashboard:stock_adjust") not in html  # staff do not adjust


def test_the_history_is_paginated_with_constant_queries(staff_client, shop, django_assert_num_queries):
    url = reverse("dashboard:product_detail", args=[shop.shoe.pk])
    staff_client.get(url)
    with django_assert_num_queries(10) as few:
        staff_client.get(url)
    for i in range(60):
        receive(shop.shoe, shop.outlet, 1, f"many:{i}")
    with django_assert_num_queries(len(few)):
        response = staff_client.get(url)
    assert len(response.context["page_obj"].object_list) == 50
    assert response.context["page_obj"].paginator.count == 62


def test_another_retailers_product_is_404(admin_client, other_retailer):
    product = factories.ProductFactory(retailer=other_retailer)

    assert admin_client.get(reverse("dashboard:product_detail", args=[product.pk])).status_code == 404
    assert admin_client.post(reverse("dashboard:product_merge", args=[product.pk])).status_code == 404


# ---------------------------------------------------------------- review queue


def test_the_review_queue_lists_link_created_products(staff_client, shop):
    response = staff_client.get(reverse("dashboard:product_review"))

    assert _names(response) == ["Trail shoe (BC)"]
    row = response.context["page_obj"].object_list[0]
    assert row.on_hand_total == 3
    assert [link.bc_product_id for link in row.bc_links.all()] == [501]
    assert "An admin reviews these" in response.content.decode()


def test_an_admin_accepts_a_product(admin_client, shop):
    response = admin_client.post(reverse("dashboard:product_accept", args=[shop.from_link.pk]))

    assert response.status_code == 302
    shop.from_link.refresh_from_db()
    assert shop.from_link.needs_review is False
    assert _names(admin_client.get(reverse("dashboard:product_review"))) == []


def test_the_merge_page_finds_targets_by_search_and_leaves_out_the_product_itself(admin_client, shop):
    response = admin_client.get(reverse("dashboard:product_merge", args=[shop.from_link.pk]), {"q": "trail"})

    assert [p.name for p in response.context["candidates"]] == ["Trail Shoe"]


def test_the_merge_page_says_the_chosen_products_price_goes_to_bigcommerce(admin_client, shop):
    linked = admin_client.get(reverse("dashboard:product_merge", args=[shop.from_link.pk]), {"q": "trail"})
    unlinked = admin_client.get(reverse("dashboard:product_merge", args=[shop.sock.pk]), {"q": "trail"})

    html = linked.content.decode()
    assert 'data-testid="merge-price-push"' in html and "replacing the price your web store shows now" in html
    assert "BigCommerce will then sell it at USD 129.00." in html
    assert 'data-testid="merge-price-push"' not in unlinked.content.decode()


def test_an_admin_merges_a_link_created_product(admin_client, shop):
    response = admin_client.post(reverse("dashboard:product_merge", args=[shop.from_link.pk]), {"into": shop.shoe.pk})

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:product_detail", args=[shop.shoe.pk])
    assert ProductLink.objects.get(bc_product_id=501).product == shop.shoe
    assert InventoryLevel.objects.get(product=shop.shoe, outlet=shop.outlet).on_hand == 13
    shop.from_link.refresh_from_db()
    assert (shop.from_link.merged_into, shop.from_link.active) == (shop.shoe, False)
    page = admin_client.get(response["Location"]).content.decode()
    assert "Merged “Trail shoe (BC)” into “Trail Shoe”" in page


def test_a_refused_merge_says_why(admin_client, shop):
    shop.shoe.active = False
    shop.shoe.save()

    response = admin_client.post(
        reverse("dashboard:product_merge", args=[shop.from_link.pk]), {"into": shop.shoe.pk}, follow=True
    )

    assert "inactive" in response.content.decode()
    assert ProductLink.objects.get(bc_product_id=501).product == shop.from_link
