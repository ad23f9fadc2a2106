"""The support console: retailers with link health, failing orders and the historical-import switch; the audit
trail of support actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integration.choices import LinkState, OrderSyncState
from integration.models import StoreLink
from pos.choices import AuditAction
from tests import factories

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:support")


@pytest.fixture
def support_client(client, support_user):
    client.force_login(support_user)
    return client


def rows(response) -> dict:
    return {r.name: r for r in response.context["page_obj"]}


class TestSupportConsole:
    def test_each_retailer_with_link_state_webhooks_failures_and_historical_import(
        self, support_client, retailer, other_retailer
    ):
        link = factories.StoreLinkFactory(
            retailer=retailer,
            store_name="Acme store",
            hooks=[{"scope": "a", "id": 1, "is_active": True}, {"scope": "b", "id": 2, "is_active": False}],
            last_webhook_at=timezone.now() - timedelta(hours=2),
        )
        factories.StoreLinkFactory(
            retailer=retailer,
            state=LinkState.UNLINKED,
            store_name="Old store",
            default_payment_type=link.default_payment_type,
        )
        for state in (OrderSyncState.NEEDS_ATTENTION, OrderSyncState.RETRYING, OrderSyncState.IMPORTED):
            factories.OrderSyncFactory(link=link, state=state)
        other_retailer.historical_import_enabled = True
        other_retailer.save()

        response = support_client.get(URL)

        acme, other = rows(response)["Acme Outdoor"], rows(response)["Other Shop"]
        assert (acme.link_state, acme.link_store, acme.failing_orders) == ("active", "Acme store", 2)
        assert (acme.hooks_active, acme.hooks_total) == (1, 2)
        assert other.link_state is None and not other.failing_orders
        body = response.content.decode()
        assert "1 of 2 active" in body and "2\xa0hours ago" in body
        assert body.count('data-testid="historical-import"><span class="badge text-bg-warning">Enabled') == 1

    def test_no_query_per_retailer(self, support_client, support_user, django_assert_max_num_queries):
        for _ in range(3):
            link = factories.StoreLinkFactory(retailer=factories.RetailerFactory())
            factories.AuditEntryFactory(retailer=link.retailer, actor=support_user)
        with django_assert_max_num_queries(8) as few:
            support_client.get(URL)
        for _ in range(12):
            link = factories.StoreLinkFactory(retailer=factories.RetailerFactory())
            factories.OrderSyncFactory(link=link, state=OrderSyncState.NEEDS_ATTENTION)
            factories.AuditEntryFactory(retailer=link.retailer, actor=factories.UserFactory(is_support=True))

        with django_assert_max_num_queries(len(few.captured_queries)):
            support_client.get(URL)

    def test_audit_trail_lists_support_actions_newest_first_with_pages(self, support_client, support_user, retailer):
        merchant = factories.UserFactory(username="merchant-admin")
        factories.AuditEntryFactory(retailer=retailer, actor=merchant, action=AuditAction.STORE_LINKED)
        for i in range(30):
            factories.AuditEntryFactory(
                retailer=retailer,
                actor=support_user,
                action=AuditAction.SUPPORT_SWITCH,
                reason=f"ticket {i}",
                created_at=timezone.now() - timedelta(minutes=i),
            )

        first = support_client.get(URL)
        second = support_client.get(URL, {"audit_page": 2})

        assert [e.reason for e in first.context["audit_page"]][:2] == ["ticket 0", "ticket 1"]
        assert len(first.context["audit_page"]) == 25 and len(second.context["audit_page"]) == 5
        assert "merchant-admin" not in first.content.decode() + second.content.decode()
        assert "audit_page=2" in first.content.decode()

    def test_platform_staff_find_the_django_admin_and_the_rq_dashboard_here(self, client, support_user):
        client.force_login(support_user)
        assert "Django admin" not in client.get(URL).content.decode()  # support alone cannot open them
        support_user.is_staff = support_user.is_superuser = True
        support_user.save()
        html = client.get(URL).content.decode()
        assert f'href="{reverse("admin:index")}">Django admin' in html
        assert f'href="{reverse("admin:django_rq_home")}">RQ dashboard' in html
        assert client.get(reverse("admin:django_rq_home")).status_code == 200

    def test_search_by_name(self, support_client, retailer, other_retailer):
        assert list(rows(support_client.get(URL, {"q": "acme"}))) == ["Acme Outdoor"]


class TestMoveAStore:
    """Support moves a linked store to another retailer (the sandbox store over HTTP), audited."""

    @pytest.fixture
    def linked(self, link_sandbox):
        return link_sandbox()

    @pytest.fixture
    def target(self, other_retailer):
        outlet = factories.OutletFactory(retailer=other_retailer, name="Harbour")
        factories.RegisterFactory(retailer=other_retailer, outlet=outlet, name="Online")
        return other_retailer

    def _url(self, retailer):
        return reverse("dashboard:support_store_move", args=[retailer.pk])

    def test_the_page_offers_retailers_without_a_linked_store(self, support_client, linked, target, retailer):
        third = factories.RetailerFactory(name="Third Shop")
        factories.StoreLinkFactory(retailer=third)

        response = support_client.get(self._url(retailer))

        assert response.status_code == 200
        assert list(response.context["form"].fields["to_retailer"].queryset) == [target]
        assert "Move the store" in response.content.decode()

    def test_moving_relinks_the_store_and_records_the_reason(
        self, support_client, linked, target, retailer, sandbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = support_client.post(
                self._url(retailer), {"to_retailer": target.pk, "reason": "Bought by Other Shop"}
            )

        assert response.status_code == 302
        moved = StoreLink.objects.get(retailer=target, state=LinkState.ACTIVE)
        assert moved.store_hash == linked.store_hash
        assert {h.headers["X-Pos-Webhook-Auth"] for h in sandbox.store.hooks.values()} == {
            f"{moved.pk}:{moved.webhook_secret}"
        }
        trail = support_client.get(URL).context["audit_page"]
        moves = {(e.retailer, e.reason) for e in trail if e.action == AuditAction.STORE_MOVED}
        assert moves == {(retailer, "Bought by Other Shop"), (target, "Bought by Other Shop")}

    def test_a_move_without_a_reason_is_refused_with_the_form(self, support_client, linked, target, retailer):
        response = support_client.post(self._url(retailer), {"to_retailer": target.pk, "reason": ""})

        assert response.status_code == 200
        assert "Say why" in response.content.decode()
        linked.refresh_from_db()
        assert linked.state == LinkState.ACTIVE

    def test_a_retailer_without_a_linked_store_has_nothing_to_move(self, support_client, other_retailer):
        assert support_client.get(self._url(other_retailer)).status_code == 404

    def test_merchant_admins_cannot_move_stores(self, admin_client, retailer, linked):
        assert admin_client.get(self._url(retailer)).status_code == 403
