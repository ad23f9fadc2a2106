"""Linking, relinking and unlinking a store, against the sandbox store over HTTP: the live credential check and
each thing it can say, hooks at BigCommerce, the token at rest, mappings kept and reused, outlet locations."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection
from django.utils import timezone

from integration.bc_types import Location
from integration.choices import LinkKind, LinkState
from integration.models import OutletLocation, PaymentMethodMap, StoreLink, SyncLogEntry
from integration.services.intake import AUTH_HEADER
from integration.services.link import (
    HOOK_SCOPES,
    LinkError,
    hooks_check,
    hooks_register,
    link_status,
    links_archived,
    outlet_locations_map,
    payment_methods_map,
    public_url_problem,
    store_credentials_check,
    store_link_create,
    store_link_move,
    store_link_unlink,
    store_link_update_settings,
)
from integration.services.order_sync import order_sync_request
from pos.choices import AuditAction
from pos.models import AuditEntry, PaymentType, Sale
from sandbox.faults import Fault
from tests import factories
from tests.work_helpers import sync_order
from work.models import WorkItem

pytestmark = pytest.mark.django_db


def _check(sandbox, **kwargs):
    return store_credentials_check(
        **{"store_hash": sandbox.store_hash, "access_token": sandbox.access_token, "api_url": sandbox.url, **kwargs}
    )


def _hooks_at_bigcommerce(sandbox) -> dict[str, object]:
    return {hook.scope: hook for hook in sandbox.store.hooks.values()}


# ---------------------------------------------------------------- the live check


def test_the_check_returns_what_bigcommerce_says_about_the_store(sandbox):
    check = _check(sandbox)

    assert check.store_hash == sandbox.store_hash
    assert check.store_id == str(sandbox.store.settings.store_id)
    assert check.name == "Sandbox Outdoor Store"
    assert check.currency == "USD"
    assert check.api_url == sandbox.url


def test_a_links_own_api_url_is_refused_outside_development(sandbox, settings):
    settings.BIGCOMMERCE_LINK_API_URLS = False  # production: config/settings.py ties it to DEBUG
    with pytest.raises(LinkError) as refused:
        _check(sandbox)
    assert refused.value.code == "api_url"
    assert "for development only" in refused.value.message
    assert sandbox.store.request_log.total() == 0  # refused before anything is sent


def test_outside_development_a_stored_api_url_is_ignored(settings):
    link = factories.StoreLinkFactory(api_base_url="http://127.0.0.1:8100")
    assert link.api_url == "http://127.0.0.1:8100"
    settings.BIGCOMMERCE_LINK_API_URLS = False
    assert link.api_url == settings.BIGCOMMERCE_API_URL.rstrip("/")


def test_the_api_path_shown_with_the_token_is_accepted_as_the_hash(sandbox):
    check = _check(sandbox, store_hash=f"https://api.bigcommerce.com/stores/{sandbox.store_hash}/v3/")

    assert check.store_hash == sandbox.store_hash


@pytest.mark.parametrize(
    ("kwargs", "code", "field", "words"),
    [
        ({"store_hash": "not a hash!"}, "hash_format", "store_hash", "letters and digits only"),
        ({"store_hash": "zzz999"}, "hash_unknown", "store_hash", "no store with the hash “zzz999”"),
        ({"access_token": "   "}, "token_missing", "access_token", "Paste the access token"),
        ({"access_token": "wrong-token"}, "token_rejected", "access_token", "rejected this access token"),
    ],
)
def test_wrong_credentials_say_exactly_what_is_wrong(sandbox, kwargs, code, field, words):
    with pytest.raises(LinkError) as raised:
        _check(sandbox, **kwargs)

    assert (raised.value.code, raised.value.field) == (code, field)
    assert words in raised.value.message


@pytest.mark.parametrize(("endpoint", "scope"), [("list_orders", "Orders"), ("list_products", "Products")])
def test_a_token_without_the_orders_or_products_scope_is_named(sandbox, endpoint, scope):
    sandbox.store.faults.add(Fault(kind="error", endpoint=endpoint, status=403))

    with pytest.raises(LinkError) as raised:
        _check(sandbox)

    assert raised.value.code == f"scope_{scope.lower()}"
    assert f"lacks the “{scope}” scope" in raised.value.message


def test_a_token_that_cannot_read_store_information_is_named(sandbox):
    sandbox.store.faults.add(Fault(kind="error", endpoint="get_store", status=403))

    with pytest.raises(LinkError) as raised:
        _check(sandbox)

    assert raised.value.code == "scope_information"


def test_rate_limiting_is_named_without_waiting_long(sandbox):
    sandbox.store.faults.add(Fault(kind="rate_limit", endpoint="get_store", reset_ms=20_000))

    with pytest.raises(LinkError) as raised:
        _check(sandbox)

    assert raised.value.code == "rate_limited"
    assert "rate-limiting" in raised.value.message


def test_a_failing_bigcommerce_is_unreachable(sandbox):
    sandbox.store.faults.add(Fault(kind="error", status=503))

    with pytest.raises(LinkError) as raised:
        _check(sandbox)

    assert raised.value.code == "unreachable"


def test_an_answer_that_cannot_be_read_says_bigcommerce_answered_something_unexpected_with_the_detail(sandbox):
    sandbox.store.faults.add(Fault(kind="malformed", body="html"))

    with pytest.raises(LinkError) as raised:
        _check(sandbox)

    assert raised.value.code == "unexpected_answer"
    assert raised.value.message.startswith("BigCommerce answered something unexpected (")
    assert "could not be reached" not in raised.value.message and "status.bigcommerce.com" not in raised.value.message


def test_a_store_nobody_answers_for_is_unreachable():
    with pytest.raises(LinkError) as raised:
        store_credentials_check(store_hash="abc123", access_token="t", api_url="http://127.0.0.1:9")

    assert raised.value.code == "unreachable"
    assert "could not be reached" in raised.value.message


# ---------------------------------------------------------------- linking


def test_linking_registers_every_order_hook_with_the_links_secret(link_sandbox, sandbox, settings):
    link = link_sandbox()

    hooks = _hooks_at_bigcommerce(sandbox)
    assert sorted(hooks) == sorted(HOOK_SCOPES)
    destination = settings.PUBLIC_BASE_URL + "/webhooks/bigcommerce/"
    assert {hook.destination for hook in hooks.values()} == {destination}
    assert {hook.headers[AUTH_HEADER] for hook in hooks.values()} == {f"{link.pk}:{link.webhook_secret}"}
    assert sorted(h["id"] for h in link.hooks) == sorted(hook.id for hook in hooks.values())
    assert all(h["is_active"] for h in link.hooks)
    assert link.state == LinkState.ACTIVE and link.kind == LinkKind.API_ACCOUNT
    assert link.store_id == str(sandbox.store.settings.store_id)


def test_linking_is_audited_and_logged(link_sandbox, retailer, admin_user):
    link = link_sandbox()

    audit = AuditEntry.objects.get(action=AuditAction.STORE_LINKED)
    assert (audit.retailer, audit.actor, audit.detail["relinked"]) == (retailer, admin_user, False)
    events = set(SyncLogEntry.objects.filter(link=link).values_list("event", flat=True))
    assert {"linked", "hooks_registered"} <= events


def test_the_token_is_encrypted_at_rest_and_never_logged(link_sandbox, sandbox, caplog):
    caplog.set_level(logging.DEBUG)

    link = link_sandbox()
    store_link_unlink(link=link, acting_user=None)

    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM integration_storelink WHERE id = %s", [link.pk])
        stored = cursor.fetchone()[0]
    assert sandbox.access_token not in stored
    assert stored.startswith("gAAAAA")
    assert StoreLink.objects.get(pk=link.pk).access_token == sandbox.access_token
    assert sandbox.access_token not in caplog.text
    assert not SyncLogEntry.objects.filter(message__contains=sandbox.access_token).exists()


def test_without_a_payment_type_online_payments_are_booked_as_bigcommerce(link_sandbox, retailer):
    link = link_sandbox(default_payment_type=None)

    assert link.default_payment_type == PaymentType.objects.get(retailer=retailer, name="BigCommerce")


def test_a_register_of_another_outlet_is_refused(link_sandbox, retailer):
    other = factories.RegisterFactory(outlet=factories.OutletFactory(retailer=retailer, name="Warehouse"))

    with pytest.raises(LinkError) as raised:
        link_sandbox(register=other)

    assert raised.value.field == "register"
    assert not StoreLink.objects.exists()


def test_another_retailers_outlet_is_refused(link_sandbox, other_retailer):
    foreign = factories.RegisterFactory(outlet=factories.OutletFactory(retailer=other_retailer))

    with pytest.raises(LinkError) as raised:
        link_sandbox(outlet=foreign.outlet, register=foreign)

    assert raised.value.code == "foreign_choice"


def test_a_retailer_links_one_store_at_a_time(link_sandbox):
    link_sandbox()

    with pytest.raises(LinkError) as raised:
        link_sandbox()

    assert raised.value.code == "already_linked"
    assert StoreLink.objects.count() == 1


def test_production_refuses_a_public_url_bigcommerce_cannot_deliver_to(link_sandbox, settings):
    settings.BIGCOMMERCE_WEBHOOKS_REQUIRE_HTTPS = True
    settings.PUBLIC_BASE_URL = "http://pos.example.com:8000"

    with pytest.raises(LinkError) as raised:
        link_sandbox()

    assert raised.value.code == "public_url"
    assert "HTTPS" in raised.value.message
    assert not StoreLink.objects.exists()


@pytest.mark.parametrize(
    ("require", "url", "refused"),
    [
        (True, "https://pos.example.com", False),
        (True, "https://pos.example.com:443", False),
        (True, "https://pos.example.com:8443", True),
        (True, "http://pos.example.com", True),
        (False, "http://127.0.0.1:8000", False),
    ],
)
def test_public_url_problem(settings, require, url, refused):
    settings.BIGCOMMERCE_WEBHOOKS_REQUIRE_HTTPS, settings.PUBLIC_BASE_URL = require, url

    assert (public_url_problem() is not None) is refused


def test_hooks_bigcommerce_refuses_are_logged_and_the_link_still_made(link_sandbox, sandbox):
    sandbox.store.faults.add(Fault(kind="error", endpoint="create_hook", status=422))

    link = link_sandbox()

    assert link.state == LinkState.ACTIVE and link.hooks == []
    assert SyncLogEntry.objects.filter(link=link, event="hooks_failed").exists()


# ---------------------------------------------------------------- outlet locations


def test_a_store_with_one_location_is_followed_by_the_linked_outlet(link_sandbox, sandbox, outlet):
    sandbox.store.locations = sandbox.store.locations[:1]

    link = link_sandbox()

    row = OutletLocation.objects.get(link=link)
    assert (row.outlet, row.location_id, row.location_label) == (outlet, 1, "Default location")


def test_a_store_with_several_locations_waits_for_the_admin(link_sandbox):
    link = link_sandbox()

    assert not OutletLocation.objects.filter(link=link).exists()


LOCATIONS = [Location(1, "BC-1", "Default location", True, ""), Location(2, "WH", "Warehouse Nord", True, "")]


def test_outlets_are_mapped_to_one_location_each(link_sandbox, retailer, outlet, admin_user):
    link = link_sandbox()
    warehouse = factories.OutletFactory(retailer=retailer, name="Warehouse")

    outlet_locations_map(
        link=link, mapping={outlet.pk: 2, warehouse.pk: 1}, locations=LOCATIONS, acting_user=admin_user
    )
    rows = outlet_locations_map(
        link=link, mapping={outlet.pk: 1, warehouse.pk: None}, locations=LOCATIONS, acting_user=admin_user
    )

    assert [(r.outlet, r.location_id) for r in rows] == [(outlet, 1)]
    assert list(OutletLocation.objects.filter(link=link).values_list("outlet", "location_id")) == [(outlet.pk, 1)]
    assert SyncLogEntry.objects.filter(link=link, event="locations_mapped").count() == 2


@pytest.mark.parametrize(("second", "code"), [(1, "location_twice"), (7, "location_unknown")])
def test_a_location_twice_or_unknown_is_refused(link_sandbox, retailer, outlet, admin_user, second, code):
    link = link_sandbox()
    warehouse = factories.OutletFactory(retailer=retailer, name="Warehouse")

    with pytest.raises(LinkError) as raised:
        outlet_locations_map(
            link=link, mapping={outlet.pk: 1, warehouse.pk: second}, locations=LOCATIONS, acting_user=admin_user
        )

    assert raised.value.code == code
    assert not OutletLocation.objects.filter(link=link).exists()


def test_another_retailers_outlet_cannot_be_mapped(link_sandbox, other_retailer, admin_user):
    link = link_sandbox()
    foreign = factories.OutletFactory(retailer=other_retailer)

    with pytest.raises(LinkError):
        outlet_locations_map(link=link, mapping={foreign.pk: 1}, locations=LOCATIONS, acting_user=admin_user)


# ---------------------------------------------------------------- settings and payment methods


def test_settings_change_where_sales_are_booked(link_sandbox, retailer, admin_user):
    link = link_sandbox()
    shop = factories.OutletFactory(retailer=retailer, name="Shop")
    till = factories.RegisterFactory(outlet=shop, name="Till")
    paypal = factories.PaymentTypeFactory(retailer=retailer, name="PayPal")

    store_link_update_settings(
        link=link, outlet=shop, register=till, default_payment_type=paypal, acting_user=admin_user
    )

    link.refresh_from_db()
    assert (link.outlet, link.register, link.default_payment_type) == (shop, till, paypal)
    assert AuditEntry.objects.filter(action=AuditAction.SETTINGS_CHANGED).exists()
    assert SyncLogEntry.objects.filter(link=link, event="link_settings_changed").exists()


def test_payment_methods_are_mapped_and_unmapped(link_sandbox, retailer, admin_user):
    link = link_sandbox()
    paypal_type = factories.PaymentTypeFactory(retailer=retailer, name="PayPal")
    paypal = factories.PaymentMethodMapFactory(link=link, method="PayPal")
    card = factories.PaymentMethodMapFactory(link=link, method="Credit Card", payment_type=paypal_type)

    changed = payment_methods_map(link=link, mapping={paypal.pk: paypal_type, card.pk: None}, acting_user=admin_user)

    assert changed == 2
    assert dict(PaymentMethodMap.objects.values_list("method", "payment_type")) == {
        "PayPal": paypal_type.pk,
        "Credit Card": None,
    }
    assert "Credit Card → the default payment type" in SyncLogEntry.objects.get(event="payment_methods_mapped").message


def test_another_retailers_payment_type_cannot_be_mapped(link_sandbox, other_retailer, admin_user):
    link = link_sandbox()
    row = factories.PaymentMethodMapFactory(link=link, method="PayPal")

    with pytest.raises(LinkError):
        payment_methods_map(
            link=link, mapping={row.pk: factories.PaymentTypeFactory(retailer=other_retailer)}, acting_user=admin_user
        )

    row.refresh_from_db()
    assert row.payment_type is None


# ---------------------------------------------------------------- hooks kept alive


def test_hooks_deactivated_by_bigcommerce_are_registered_again(link_sandbox, sandbox):
    link = link_sandbox()
    hook = _hooks_at_bigcommerce(sandbox)["store/order/created"]
    sandbox.store.deactivate_hook(hook.id)

    assert hooks_check(link=link) == 1

    assert all(h.is_active for h in sandbox.store.hooks.values())
    link.refresh_from_db()
    assert all(h["is_active"] for h in link.hooks)
    assert SyncLogEntry.objects.filter(link=link, event="hooks_reactivated").exists()


def test_a_new_public_url_moves_the_hooks(link_sandbox, sandbox, settings):
    link = link_sandbox()
    settings.PUBLIC_BASE_URL = "https://new.example.test"

    assert hooks_register(link=link)

    assert {h.destination for h in sandbox.store.hooks.values()} == {"https://new.example.test/webhooks/bigcommerce/"}
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)


def test_the_status_counts_active_hooks_and_queued_orders(link_sandbox):
    link = link_sandbox()
    link.hooks[0]["is_active"] = False
    order_sync_request(link=link, bc_order_id=1)

    status = link_status(link)

    hooks = len(HOOK_SCOPES)
    assert (status.hooks_active, status.hooks_expected, status.hooks_ok) == (hooks - 1, hooks, False)
    assert status.queue_depth == 1


def test_the_status_knows_the_queued_orders_when_redis_is_down(link_sandbox, settings):
    link = link_sandbox()
    settings.RQ_QUEUES = {name: {**cfg, "URL": "redis://127.0.0.1:1/0"} for name, cfg in settings.RQ_QUEUES.items()}
    order_sync_request(link=link, bc_order_id=1)

    assert link_status(link).queue_depth == 1  # the orders waiting are durable work rows, not Redis jobs


# ---------------------------------------------------------------- unlinking and relinking


def test_unlinking_deletes_our_hooks_and_keeps_sales_mappings_and_logs(
    link_sandbox, sandbox, admin_user, django_capture_on_commit_callbacks
):
    link = link_sandbox()
    product_link = factories.ProductLinkFactory(link=link)
    sale = factories.SaleFactory(retailer=link.retailer)

    with django_capture_on_commit_callbacks(execute=True):
        assert store_link_unlink(link=link, acting_user=admin_user)

    assert sandbox.store.hooks == {}
    link.refresh_from_db()
    assert (link.state, link.hooks) == (LinkState.UNLINKED, [])
    assert link.unlinked_at is not None
    assert product_link.__class__.objects.filter(pk=product_link.pk).exists()
    assert sale.__class__.objects.filter(pk=sale.pk).exists()
    assert SyncLogEntry.objects.filter(link=link, event="unlinked").exists()
    assert AuditEntry.objects.filter(action=AuditAction.STORE_UNLINKED, actor=admin_user).count() == 1


def test_unlinking_twice_does_it_once(link_sandbox, admin_user):
    link = link_sandbox()

    assert store_link_unlink(link=link, acting_user=admin_user)
    assert not store_link_unlink(link=link, acting_user=admin_user)

    assert AuditEntry.objects.filter(action=AuditAction.STORE_UNLINKED).count() == 1


def test_an_app_uninstall_unlinks_without_deleting_hooks(link_sandbox, sandbox, django_capture_on_commit_callbacks):
    link = link_sandbox()

    with django_capture_on_commit_callbacks(execute=True):
        store_link_unlink(link=link, acting_user=None, delete_hooks=False)

    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)
    assert "the app was uninstalled" in SyncLogEntry.objects.get(event="unlinked").message


def test_relinking_the_same_store_reuses_the_link_and_its_mappings(link_sandbox, sandbox, admin_user, redis_conn):
    first = link_sandbox()
    product_link = factories.ProductLinkFactory(link=first)
    customer_link = factories.CustomerLinkFactory(link=first)
    StoreLink.objects.filter(pk=first.pk).update(linked_at=timezone.now() - timedelta(days=3))
    store_link_unlink(link=first, acting_user=admin_user)

    again = link_sandbox()

    assert again.pk == first.pk
    assert StoreLink.objects.count() == 1
    assert list(again.product_links.all()) == [product_link]
    assert list(again.customer_links.all()) == [customer_link]
    assert again.linked_at < timezone.now() - timedelta(days=2)  # the orders of the gap are not historical
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)
    assert AuditEntry.objects.filter(action=AuditAction.STORE_LINKED).first().detail["relinked"] is True
    # The first reconciliation after a relink brings in what was placed while unlinked: due now.
    assert ("bc.reconcile", str(first.pk), "due") in {
        (w.kind, w.key, w.state) for w in WorkItem.objects.filter(due_at__lte=timezone.now())
    }


def test_linking_a_different_store_while_mappings_exist_needs_a_confirmation(link_sandbox, retailer, admin_user):
    old = factories.StoreLinkFactory(retailer=retailer, state=LinkState.UNLINKED, store_hash="oldstore")
    factories.ProductLinkFactory(link=old)

    with pytest.raises(LinkError) as raised:
        link_sandbox()

    assert raised.value.code == "confirm_different_store"
    assert "new products and customers" in raised.value.message
    new = link_sandbox(confirm_different_store=True)
    assert new.pk != old.pk
    assert old.product_links.count() == 1 and new.product_links.count() == 0


def test_archived_links_count_what_they_map(retailer):
    old = factories.StoreLinkFactory(retailer=retailer, state=LinkState.UNLINKED, unlinked_at=timezone.now())
    factories.ProductLinkFactory.create_batch(3, link=old)
    factories.CustomerLinkFactory(link=old)
    factories.StoreLinkFactory(retailer=factories.RetailerFactory(), state=LinkState.UNLINKED)

    (archived,) = links_archived(retailer=retailer)

    assert (archived, archived.product_count, archived.customer_count) == (old, 3, 1)


def test_an_order_placed_in_the_second_of_linking_is_not_historical(link_sandbox, sandbox, bc_client):
    link = link_sandbox()
    order = sandbox.store.place_order(status_id=11, created=int(link.linked_at.timestamp()))

    sync_order(link, order.id)

    assert Sale.objects.filter(external_order_id=str(order.id)).exists()


# ---------------------------------------------------------------- one store, one retailer; hooks owned by a link


@pytest.fixture
def other_places(other_retailer):
    outlet = factories.OutletFactory(retailer=other_retailer, name="Harbour")
    return {
        "outlet": outlet,
        "register": factories.RegisterFactory(retailer=other_retailer, outlet=outlet, name="Online"),
        "default_payment_type": None,
    }


def _link_other(sandbox, other_retailer, other_places, django_capture_on_commit_callbacks):
    check = store_credentials_check(store_hash=sandbox.store_hash, access_token=sandbox.access_token)
    with django_capture_on_commit_callbacks(execute=True):
        return store_link_create(
            retailer=other_retailer,
            check=check,
            access_token=sandbox.access_token,
            acting_user=factories.UserFactory(username="bob"),
            **other_places,
        )


def _taken_by(sandbox, hook_id: int, link) -> None:
    """What a second retailer's link did before the fix: rewrote a hook to deliver to it."""
    sandbox.store.update_hook(hook_id, {"headers": {AUTH_HEADER: f"{link.pk}:{link.webhook_secret}"}})


def test_a_store_linked_to_another_retailer_is_refused_and_its_hooks_untouched(
    link_sandbox, sandbox, other_retailer, other_places, django_capture_on_commit_callbacks
):
    first = link_sandbox()
    before = {hook.id: dict(hook.headers) for hook in sandbox.store.hooks.values()}

    with pytest.raises(LinkError) as raised:
        _link_other(sandbox, other_retailer, other_places, django_capture_on_commit_callbacks)

    assert raised.value.code == "store_linked_elsewhere"
    assert "linked to another retailer" in raised.value.message and "support" in raised.value.message
    assert other_retailer.name not in raised.value.message and first.retailer.name not in raised.value.message
    assert {hook.id: hook.headers for hook in sandbox.store.hooks.values()} == before
    assert not StoreLink.objects.filter(retailer=other_retailer).exists()


def test_the_database_refuses_two_live_links_of_one_store(link_sandbox, other_retailer):
    first = link_sandbox()

    with pytest.raises(IntegrityError):
        factories.StoreLinkFactory(retailer=other_retailer, store_hash=first.store_hash)


def test_once_unlinked_the_store_can_be_linked_by_another_retailer(
    link_sandbox, sandbox, admin_user, other_retailer, other_places, django_capture_on_commit_callbacks
):
    first = link_sandbox()
    with django_capture_on_commit_callbacks(execute=True):
        store_link_unlink(link=first, acting_user=admin_user)

    second = _link_other(sandbox, other_retailer, other_places, django_capture_on_commit_callbacks)

    headers = {hook.headers[AUTH_HEADER] for hook in sandbox.store.hooks.values()}
    assert headers == {f"{second.pk}:{second.webhook_secret}"}
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)


def _other_live_link(other_retailer):
    return factories.StoreLinkFactory(retailer=other_retailer, webhook_secret="the-other-links-secret")


def test_registering_never_takes_another_live_links_hooks(link_sandbox, sandbox, other_retailer):
    link = link_sandbox()
    other = _other_live_link(other_retailer)
    created = _hooks_at_bigcommerce(sandbox)["store/order/created"]
    _taken_by(sandbox, created.id, other)

    assert not hooks_register(link=link)

    assert sandbox.store.hooks[created.id].headers[AUTH_HEADER] == f"{other.pk}:{other.webhook_secret}"
    link.refresh_from_db()
    assert [h["scope"] for h in link.hooks if h.get("elsewhere")] == ["store/order/created"]
    assert "another link" in SyncLogEntry.objects.filter(link=link, event="hooks_failed").latest("pk").message


def test_the_health_check_notices_hooks_that_deliver_to_another_link(link_sandbox, sandbox, other_retailer):
    link = link_sandbox()
    other = _other_live_link(other_retailer)
    for hook in list(sandbox.store.hooks.values()):
        _taken_by(sandbox, hook.id, other)

    assert hooks_check(link=link) == len(HOOK_SCOPES)

    link.refresh_from_db()
    status = link_status(link)
    assert (status.hooks_active, status.hooks_elsewhere, status.hooks_ok) == (0, len(HOOK_SCOPES), False)
    assert {h.headers[AUTH_HEADER] for h in sandbox.store.hooks.values()} == {f"{other.pk}:{other.webhook_secret}"}


def test_a_hook_left_by_an_unlinked_link_is_taken_over(link_sandbox, sandbox, retailer, settings):
    gone = factories.StoreLinkFactory(retailer=retailer, state=LinkState.UNLINKED, store_hash="oldstore")
    destination = settings.PUBLIC_BASE_URL + "/webhooks/bigcommerce/"
    left = sandbox.store.create_hook(
        scope="store/order/created", destination=destination, headers={AUTH_HEADER: f"{gone.pk}:old"}
    )

    link = link_sandbox()

    assert sandbox.store.hooks[left.id].headers[AUTH_HEADER] == f"{link.pk}:{link.webhook_secret}"
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)
    assert link_status(link).hooks_ok


def test_unlinking_deletes_only_the_links_own_hooks(
    link_sandbox, sandbox, admin_user, other_retailer, django_capture_on_commit_callbacks
):
    link = link_sandbox()
    other = _other_live_link(other_retailer)
    taken = _hooks_at_bigcommerce(sandbox)["store/order/updated"]
    _taken_by(sandbox, taken.id, other)

    with django_capture_on_commit_callbacks(execute=True):
        store_link_unlink(link=link, acting_user=admin_user)

    assert list(sandbox.store.hooks) == [taken.id]


def test_unlinking_deletes_nothing_when_bigcommerce_cannot_list_the_hooks(
    link_sandbox, sandbox, admin_user, django_capture_on_commit_callbacks
):
    link = link_sandbox()
    sandbox.store.faults.add(Fault(kind="error", endpoint="list_hooks", status=503))

    with django_capture_on_commit_callbacks(execute=True):
        store_link_unlink(link=link, acting_user=admin_user)

    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)  # left for BigCommerce to deactivate: the intake refuses them


# ---------------------------------------------------------------- support moves a store


def test_support_moves_a_store_to_another_retailer(
    link_sandbox, sandbox, other_retailer, other_places, support_user, django_capture_on_commit_callbacks
):
    first = link_sandbox()

    with django_capture_on_commit_callbacks(execute=True):
        moved = store_link_move(
            link=first,
            to_retailer=other_retailer,
            reason="Merchant re-registered as Other Shop",
            acting_user=support_user,
        )

    first.refresh_from_db()
    assert first.state == LinkState.UNLINKED
    assert (moved.retailer, moved.state, moved.store_hash) == (other_retailer, LinkState.ACTIVE, first.store_hash)
    assert moved.register == other_places["register"]
    headers = {hook.headers[AUTH_HEADER] for hook in sandbox.store.hooks.values()}
    assert headers == {f"{moved.pk}:{moved.webhook_secret}"}
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)
    audits = AuditEntry.objects.filter(action=AuditAction.STORE_MOVED)
    assert {(a.retailer, a.actor, a.reason) for a in audits} == {
        (first.retailer, support_user, "Merchant re-registered as Other Shop"),
        (other_retailer, support_user, "Merchant re-registered as Other Shop"),
    }


@pytest.mark.parametrize(
    ("who", "reason", "raised"),
    [("admin", "why", PermissionDenied), ("support", "  ", LinkError)],
)
def test_moving_a_store_takes_support_and_a_reason(
    link_sandbox, other_retailer, other_places, admin_user, support_user, who, reason, raised
):
    first = link_sandbox()
    user = support_user if who == "support" else admin_user

    with pytest.raises(raised):
        store_link_move(link=first, to_retailer=other_retailer, reason=reason, acting_user=user)

    first.refresh_from_db()
    assert first.state == LinkState.ACTIVE


def test_a_store_cannot_move_to_a_retailer_without_a_register(link_sandbox, other_retailer, support_user):
    first = link_sandbox()

    with pytest.raises(LinkError) as raised:
        store_link_move(link=first, to_retailer=other_retailer, reason="why", acting_user=support_user)

    assert raised.value.code == "no_register"
