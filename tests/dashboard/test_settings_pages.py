"""Settings pages over HTTP: the overview, Settings › Fulfilment, and Settings › BigCommerce (link form and its
specific errors, status panel, places, payment-method and location mappings, webhooks, unlink), for admins,
staff (read-only, 403 on every change) and other retailers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from integration.choices import LinkState
from integration.models import OutletLocation, PaymentMethodMap, StoreLink
from integration.services.link import HOOK_SCOPES, hooks_check
from pos.choices import AuditAction
from pos.models import AuditEntry
from sandbox.faults import Fault
from tests import factories

pytestmark = pytest.mark.django_db

SETTINGS = reverse("dashboard:settings")
PAGE = reverse("dashboard:settings_bigcommerce")
LINK = reverse("dashboard:settings_bigcommerce_link")
UNLINK = reverse("dashboard:settings_bigcommerce_unlink")


def _url(action: str) -> str:
    return reverse(f"dashboard:settings_bigcommerce_{action}")


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _link_data(sandbox, places, **overrides) -> dict:
    return {
        "store_hash": sandbox.store_hash,
        "access_token": sandbox.access_token,
        "outlet": places["outlet"].pk,
        "register": places["register"].pk,
        "default_payment_type": places["default_payment_type"].pk,
        "catalog_accepted": "on",  # past the catalog match report (tests/dashboard/test_catalog_match_page.py)
        **overrides,
    }


@pytest.fixture
def post_link(admin_client, bc_settings, sandbox, places, django_capture_on_commit_callbacks):
    def post(**overrides):
        with django_capture_on_commit_callbacks(execute=True):
            return admin_client.post(LINK, _link_data(sandbox, places, **overrides), follow=True)

    return post


# ---------------------------------------------------------------- the overview and Settings › Fulfilment


def test_the_overview_has_the_bigcommerce_and_fulfilment_sections(admin_client):
    response = admin_client.get(SETTINGS)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="settings-bigcommerce"' in html and 'data-testid="settings-fulfilment"' in html
    assert "Link a store" in html
    assert f'href="{SETTINGS}"' in html  # the nav entry appears once the page exists


def test_an_admin_allows_unpaid_fulfilments_and_it_is_audited(admin_client, retailer):
    response = admin_client.post(
        reverse("dashboard:settings_fulfillment"), {"allow_unpaid_fulfillment": "on"}, follow=True
    )

    retailer.refresh_from_db()
    assert retailer.allow_unpaid_fulfillment is True
    assert "can now be completed while a balance is owing" in _messages(response)[0]
    audit = AuditEntry.objects.get(action=AuditAction.SETTINGS_CHANGED)
    assert audit.detail == {"setting": "allow_unpaid_fulfillment", "value": True}
    admin_client.post(reverse("dashboard:settings_fulfillment"), {})
    retailer.refresh_from_db()
    assert retailer.allow_unpaid_fulfillment is False


def test_an_admin_has_refunded_items_returned_to_stock_and_it_is_audited(admin_client, retailer):
    assert 'name="restock_refunded_items"' in admin_client.get(SETTINGS).content.decode()

    response = admin_client.post(
        reverse("dashboard:settings_fulfillment"), {"restock_refunded_items": "on"}, follow=True
    )

    retailer.refresh_from_db()
    assert (retailer.restock_refunded_items, retailer.allow_unpaid_fulfillment) == (True, False)
    assert _messages(response) == ["Items named by BigCommerce refunds from now on go back into stock."]
    audit = AuditEntry.objects.get(action=AuditAction.SETTINGS_CHANGED)
    assert audit.detail == {"setting": "restock_refunded_items", "value": True}


def test_staff_see_the_fulfilment_setting_but_cannot_change_it(staff_client, retailer):
    html = staff_client.get(SETTINGS).content.decode()

    assert 'name="allow_unpaid_fulfillment"' in html and "disabled" in html
    assert "only an admin of Acme Outdoor can change them" in html
    response = staff_client.post(reverse("dashboard:settings_fulfillment"), {"allow_unpaid_fulfillment": "on"})
    assert response.status_code == 403
    retailer.refresh_from_db()
    assert retailer.allow_unpaid_fulfillment is False


# ---------------------------------------------------------------- linking from the page


@pytest.mark.django_db(transaction=True)  # hooks are registered on commit, before the page after the redirect
def test_an_admin_links_the_sandbox_store(admin_client, bc_settings, sandbox, places, retailer):
    response = admin_client.post(LINK, _link_data(sandbox, places), follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    assert _messages(response) == ["Linked to Sandbox Outdoor Store. New orders now become sales."]
    link = StoreLink.objects.get(retailer=retailer)
    assert link.state == LinkState.ACTIVE
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)
    html = response.content.decode()
    assert f"{len(HOOK_SCOPES)} of {len(HOOK_SCOPES)} active" in html
    assert sandbox.access_token not in html  # never shown again


@pytest.mark.parametrize(
    ("overrides", "fault", "words", "kept"),
    [
        ({"access_token": "wrong"}, None, "BigCommerce rejected this access token", False),
        ({"store_hash": "zzz999"}, None, "BigCommerce has no store with the hash “zzz999”", True),
        ({}, Fault(kind="error", endpoint="list_orders", status=403), "The token lacks the “Orders” scope", True),
        ({}, Fault(kind="error", endpoint="list_products", status=403), "The token lacks the “Products” scope", True),
        ({}, Fault(kind="error", status=503), "BigCommerce could not be reached", True),
        ({}, Fault(kind="rate_limit", endpoint="get_store", reset_ms=20_000), "is rate-limiting this store", True),
    ],
    ids=["token", "hash", "orders-scope", "products-scope", "unreachable", "rate-limited"],
)
def test_each_credential_problem_shows_its_own_message(post_link, sandbox, overrides, fault, words, kept):
    if fault:
        sandbox.store.faults.add(fault)

    response = post_link(**overrides)

    assert response.status_code == 200
    html = response.content.decode()
    assert words in html
    # A token BigCommerce refused is not kept; any other failure keeps it for the next attempt, never in the page.
    assert response.context["link_form"].token_kept is kept
    assert ("The token of your last attempt is kept" in html) is kept
    assert sandbox.access_token not in html
    assert not StoreLink.objects.exists()
    assert sandbox.store.hooks == {}


def test_a_missing_field_is_shown_on_the_form(post_link):
    response = post_link(store_hash="")

    assert response.context["link_form"].errors["store_hash"]
    assert not StoreLink.objects.exists()


def test_production_shows_why_the_public_url_cannot_receive_webhooks(admin_client, bc_settings):
    bc_settings.BIGCOMMERCE_WEBHOOKS_REQUIRE_HTTPS = True
    bc_settings.PUBLIC_BASE_URL = "http://pos.example.com"

    html = admin_client.get(PAGE).content.decode()

    assert 'data-testid="public-url-problem"' in html
    assert "only delivers webhooks to HTTPS on port 443" in html


def test_a_different_store_asks_for_the_confirmation_that_states_the_consequences(post_link, retailer):
    old = factories.StoreLinkFactory(retailer=retailer, state=LinkState.UNLINKED, store_hash="oldstore")
    factories.ProductLinkFactory(link=old)

    refused = post_link()
    linked = post_link(confirm_different_store="on")

    html = refused.content.decode()
    assert "create new products and customers" in html
    assert 'name="confirm_different_store"' in html
    assert "Relinking this store reuses them" in html
    assert linked.redirect_chain == [(PAGE, 302)]
    assert StoreLink.objects.filter(retailer=retailer, state=LinkState.ACTIVE).exclude(pk=old.pk).exists()


def test_a_failed_attempt_keeps_the_token_encrypted_on_the_server_for_the_next(
    admin_client, post_link, sandbox, places, retailer
):
    harbour = factories.OutletFactory(retailer=retailer, name="Harbour")

    refused = post_link(outlet=harbour.pk)  # the register is not in that outlet
    session_value = str(admin_client.session.get("bigcommerce_link_token"))
    linked = post_link(access_token="")

    assert "is not in the outlet “Harbour”" in refused.content.decode()
    assert sandbox.access_token not in refused.content.decode() and sandbox.access_token not in session_value
    assert linked.redirect_chain == [(PAGE, 302)]
    assert StoreLink.objects.get(retailer=retailer).access_token == sandbox.access_token
    assert "bigcommerce_link_token" not in admin_client.session


def test_a_kept_token_expires(admin_client, post_link, retailer):
    harbour = factories.OutletFactory(retailer=retailer, name="Harbour")
    with time_machine.travel(datetime(2026, 5, 1, 9, 0, tzinfo=UTC), tick=False):
        post_link(outlet=harbour.pk)
    with time_machine.travel(datetime(2026, 5, 1, 9, 16, tzinfo=UTC), tick=False):
        response = post_link(access_token="")

    assert response.context["link_form"].errors["access_token"]
    assert not StoreLink.objects.exists()


def test_relinking_defaults_to_the_last_store_and_its_places_without_the_different_store_warning(
    admin_client, retailer, outlet, register
):
    online = factories.RegisterFactory(outlet=outlet, name="Web")
    card = factories.PaymentTypeFactory(retailer=retailer, name="Card")
    old = factories.StoreLinkFactory(
        retailer=retailer,
        state=LinkState.UNLINKED,
        store_hash="abc123",
        outlet=outlet,
        register=online,
        default_payment_type=card,
    )
    factories.ProductLinkFactory(link=old)

    response = admin_client.get(PAGE)

    form = response.context["link_form"]
    assert (form["store_hash"].value(), form["register"].value(), form["default_payment_type"].value()) == (
        "abc123",
        online.pk,
        card.pk,
    )
    html = response.content.decode()
    assert 'data-testid="different-store-warning"' not in html
    assert "Relinking this store reuses them" in html


def test_the_link_form_offers_active_registers_tagged_with_their_outlet_and_names_every_scope(
    admin_client, retailer, outlet, register
):
    factories.RegisterFactory(outlet=outlet, name="Retired", active=False)
    closed = factories.OutletFactory(retailer=retailer, name="Closed", active=False)
    factories.RegisterFactory(outlet=closed, name="Closed till")

    html = admin_client.get(PAGE).content.decode()

    assert re.search(rf'<option value="{register.pk}"[^>]* data-outlet="{outlet.pk}"', html)
    assert 'data-narrowed-by="outlet"' in html
    assert "Retired" not in html and "Closed till" not in html
    assert "Orders, Products and Inventory modify" in html


def test_linking_a_store_in_another_currency_warns(post_link, retailer):
    retailer.currency = "EUR"
    retailer.save()

    response = post_link()

    assert any("sells in USD" in m for m in _messages(response))


# ---------------------------------------------------------------- the linked page


@pytest.fixture
def linked(link_sandbox):
    return link_sandbox()


def test_the_status_panel_shows_hooks_last_webhook_last_order_and_queue(admin_client, linked):

    response = admin_client.get(PAGE)

    status = response.context["status"]
    assert (status.hooks_active, status.queue_depth) == (len(HOOK_SCOPES), 0)
    html = response.content.decode()
    for testid in ("hooks", "last-webhook", "last-order", "queue-depth"):
        assert f'data-testid="{testid}"' in html
    assert "Re-register webhooks" in html and "Unlink…" in html


def test_the_status_panel_says_when_hooks_deliver_to_another_link(admin_client, linked, sandbox, other_retailer):
    # Another retailer's live link took the hooks over (what a second link of the same store once did).
    other = factories.StoreLinkFactory(retailer=other_retailer)
    for hook in sandbox.store.hooks.values():
        sandbox.store.update_hook(hook.id, {"headers": {"X-Pos-Webhook-Auth": f"{other.pk}:{other.webhook_secret}"}})
    hooks_check(link=linked)

    response = admin_client.get(PAGE)

    status = response.context["status"]
    assert (status.hooks_active, status.hooks_elsewhere, status.hooks_ok) == (0, len(HOOK_SCOPES), False)
    assert f"{len(HOOK_SCOPES)} of this store's webhooks now deliver to another link" in response.content.decode()


def test_the_linked_page_styles_every_select_and_tells_staff_why_it_is_greyed(client, admin_user, staff_user, linked):
    factories.PaymentMethodMapFactory(link=linked, method="PayPal")

    client.force_login(admin_user)
    admin_html = client.get(PAGE).content.decode()
    client.force_login(staff_user)
    staff_html = client.get(PAGE).content.decode()

    selects = re.findall(r"<select[^>]*>", admin_html)
    assert selects and all("form-select" in tag for tag in selects), selects
    assert 'data-testid="read-only-note"' in staff_html and "only an admin of Acme Outdoor" in staff_html


def test_the_status_panel_refreshes_alone_over_htmx(admin_client, linked):
    response = admin_client.get(PAGE, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card mb-3" id="status"')
    assert "<html" not in html


def test_staff_see_the_page_read_only(staff_client, linked):
    response = staff_client.get(PAGE)

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["settings_form"].fields["outlet"].disabled
    assert "Re-register webhooks" not in html and "Unlink…" not in html and "Save mapping" not in html


@pytest.mark.parametrize(
    "action", ["link", "update", "payment_methods", "locations", "hooks"], ids=lambda a: f"POST {a}"
)
def test_staff_cannot_change_anything(staff_client, linked, action):
    assert staff_client.post(_url(action), {}).status_code == 403


def test_staff_cannot_unlink(staff_client, linked):
    assert staff_client.get(UNLINK).status_code == 403
    assert staff_client.post(UNLINK).status_code == 403
    assert StoreLink.objects.get().state == LinkState.ACTIVE


def test_another_retailer_never_sees_the_link(client, linked, other_retailer):
    admin = factories.UserFactory(username="olga")
    factories.MembershipFactory(user=admin, retailer=other_retailer, role="admin")
    client.force_login(admin)

    response = client.get(PAGE)

    assert response.context["link"] is None
    assert linked.store_hash not in response.content.decode()
    assert client.post(_url("hooks")).status_code == 404
    client.post(UNLINK)
    assert StoreLink.objects.get().state == LinkState.ACTIVE


def test_the_admin_changes_where_sales_are_booked(admin_client, linked, retailer):
    shop = factories.OutletFactory(retailer=retailer, name="Shop")
    till = factories.RegisterFactory(outlet=shop, name="Till")

    response = admin_client.post(
        _url("update"),
        {"outlet": shop.pk, "register": till.pk, "default_payment_type": linked.default_payment_type_id},
        follow=True,
    )

    linked.refresh_from_db()
    assert (linked.outlet, linked.register) == (shop, till)
    assert "Saved." in _messages(response)[0]


@pytest.mark.parametrize("choice", ["pickup_outlet", "linked_outlet"])
def test_the_admin_chooses_whose_stock_pickups_take(admin_client, linked, choice):
    StoreLink.objects.filter(pk=linked.pk).update(pickup_stock="pickup_outlet" if choice == "linked_outlet" else "")
    page = admin_client.get(PAGE).content.decode()
    assert "Pickup orders take stock from" in page and "The outlet mapped to the pickup location" in page
    places = {"outlet": linked.outlet_id, "register": linked.register_id}

    response = admin_client.post(
        _url("update"),
        {**places, "default_payment_type": linked.default_payment_type_id, "pickup_stock": choice},
        follow=True,
    )

    linked.refresh_from_db()
    assert linked.pickup_stock == choice
    assert "Saved." in _messages(response)[0]
    assert f'<option value="{choice}" selected>' in admin_client.get(PAGE).content.decode()


def test_a_register_of_another_outlet_is_refused_on_the_form(admin_client, linked, retailer):
    till = factories.RegisterFactory(outlet=factories.OutletFactory(retailer=retailer, name="Shop"), name="Till")

    response = admin_client.post(
        _url("update"),
        {"outlet": linked.outlet_id, "register": till.pk, "default_payment_type": linked.default_payment_type_id},
    )

    assert "is not in the outlet" in response.content.decode()
    linked.refresh_from_db()
    assert linked.register != till


def test_payment_methods_seen_so_far_are_mapped(admin_client, linked, retailer):
    paypal_type = factories.PaymentTypeFactory(retailer=retailer, name="PayPal")
    paypal = factories.PaymentMethodMapFactory(link=linked, method="PayPal")
    card = factories.PaymentMethodMapFactory(link=linked, method="Credit Card")
    page = admin_client.get(PAGE).content.decode()
    assert "PayPal" in page and "Credit Card" in page and "Default (Card)" in page

    response = admin_client.post(
        _url("payment_methods"), {f"method_{paypal.pk}": paypal_type.pk, f"method_{card.pk}": ""}, follow=True
    )

    assert dict(PaymentMethodMap.objects.values_list("method", "payment_type")) == {
        "PayPal": paypal_type.pk,
        "Credit Card": None,
    }
    assert "Saved 1 payment method mapping(s)." in _messages(response)


def test_no_payment_method_yet_says_what_happens(admin_client, linked):
    html = admin_client.get(PAGE).content.decode()

    assert 'data-testid="no-payment-methods"' in html


def test_outlets_are_mapped_to_the_stores_locations(admin_client, linked, retailer, outlet):
    warehouse = factories.OutletFactory(retailer=retailer, name="Warehouse")
    page = admin_client.get(PAGE).content.decode()
    assert "Default location (location 1)" in page and "Warehouse Nord (location 2)" in page

    response = admin_client.post(
        _url("locations"), {f"outlet_{outlet.pk}": "1", f"outlet_{warehouse.pk}": "2"}, follow=True
    )

    assert set(OutletLocation.objects.values_list("outlet", "location_id")) == {(outlet.pk, 1), (warehouse.pk, 2)}
    assert "Saved which BigCommerce location" in _messages(response)[0]


def test_one_location_for_two_outlets_is_refused(admin_client, linked, retailer, outlet):
    warehouse = factories.OutletFactory(retailer=retailer, name="Warehouse")

    response = admin_client.post(_url("locations"), {f"outlet_{outlet.pk}": "2", f"outlet_{warehouse.pk}": "2"})

    assert "A BigCommerce location can follow one outlet only." in response.content.decode()
    assert not OutletLocation.objects.exists()


def test_locations_bigcommerce_cannot_list_are_explained(admin_client, linked, sandbox):
    sandbox.store.faults.add(Fault(kind="error", endpoint="list_locations", status=500))

    html = admin_client.get(PAGE).content.decode()

    assert 'data-testid="locations-error"' in html


def test_reregistering_brings_back_deleted_hooks(admin_client, linked, sandbox):
    sandbox.store.hooks.clear()

    response = admin_client.post(_url("hooks"), follow=True)

    assert "Webhooks registered again" in _messages(response)[0]
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)


def test_the_page_query_count_does_not_grow_with_mappings(
    admin_client, linked, retailer, django_assert_max_num_queries
):
    def add(n):
        for i in range(n):
            factories.PaymentMethodMapFactory(link=linked, method=f"Method {len(PaymentMethodMap.objects.all())}-{i}")
            factories.OutletFactory(retailer=retailer)

    add(2)
    with django_assert_max_num_queries(16) as few:  # 16: the orders waiting are counted in the database
        admin_client.get(PAGE)
    add(20)
    with django_assert_max_num_queries(len(few)):
        admin_client.get(PAGE)


# ---------------------------------------------------------------- unlinking


def test_the_unlink_page_explains_unlinking_and_relinking(admin_client, linked):
    html = admin_client.get(UNLINK).content.decode()

    assert "we delete our webhooks in your store" in html
    assert "every sale already imported, every product and customer mapping" in html
    assert "no product, customer or sale is created twice" in html
    assert "this store's mappings are archived, not reused" in html


def test_unlink_then_relink_the_same_store_without_duplicates(
    admin_client, linked, sandbox, places, retailer, django_capture_on_commit_callbacks
):
    product_link = factories.ProductLinkFactory(link=linked)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(UNLINK, follow=True)
    assert "Syncing stopped" in _messages(response)[0]
    assert sandbox.store.hooks == {}
    page = admin_client.get(PAGE).content.decode()
    assert "Linked before" in page and "1 product and 0 customers mapped" in page

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(LINK, _link_data(sandbox, places))

    assert StoreLink.objects.get().pk == linked.pk
    assert StoreLink.objects.get().state == LinkState.ACTIVE
    assert list(StoreLink.objects.get().product_links.all()) == [product_link]
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)


def test_the_unlink_page_without_a_link_says_there_is_nothing_to_unlink(admin_client):
    assert "nothing to unlink" in admin_client.get(UNLINK).content.decode()
