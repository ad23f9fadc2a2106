"""The daily digest of orders needing attention, and the periodic work that sends it with the other periodic work."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.mail import EmailMessage

from integration.choices import ErrorCode, OrderSyncState
from integration.models import AttentionDigest
from integration.services.alerts import attention_digest_send, attention_digests_send
from pos.choices import Role
from tests import factories

# The digest goes to the retailer's admins (and not to its staff): both exist in every test.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("admin_user", "staff_user")]


def needs_attention(link, order_id: int, reason=ErrorCode.ORDER_NOT_FOUND):
    return factories.OrderSyncFactory(
        link=link,
        bc_order_id=order_id,
        state=OrderSyncState.NEEDS_ATTENTION,
        last_error_code=reason.code,
        last_error_message=reason.describe("7"),
    )


class TestAttentionDigest:
    def test_one_email_to_the_admins_listing_orders_reasons_fixes_and_links(self, retailer, link, admin_user):
        second_admin = factories.UserFactory(username="bob", email="bob@example.com")
        factories.MembershipFactory(user=second_admin, retailer=retailer, role=Role.ADMIN)
        needs_attention(link, 4101)
        needs_attention(link, 4102, ErrorCode.UNKNOWN_STATUS)
        factories.OrderSyncFactory(link=link, bc_order_id=4103, state=OrderSyncState.RETRYING)

        reported = attention_digest_send(retailer=retailer)

        assert reported == 2
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert sorted(message.to) == ["alice@example.com", "bob@example.com"]  # admins only, not staff
        assert message.subject == "2 BigCommerce orders need attention · Acme Outdoor"
        assert "Order 4101 — Order not found" in message.body
        assert "Order 4102 — Unknown status" in message.body and ErrorCode.UNKNOWN_STATUS.fix in message.body
        assert "4103" not in message.body
        assert f"https://pos.example.test/orders/{link.pk}/4101/" in message.body
        assert "https://pos.example.test/failed-orders/?state=needs_attention" in message.body

    def test_nothing_sent_when_no_order_needs_attention(self, retailer, link):
        factories.OrderSyncFactory(link=link, state=OrderSyncState.RETRYING)

        assert attention_digest_send(retailer=retailer) == 0
        assert mail.outbox == []

    def test_at_most_one_digest_a_day(self, retailer, link):
        needs_attention(link, 4201)

        attention_digest_send(retailer=retailer)
        again = attention_digest_send(retailer=retailer)

        assert again == 0 and len(mail.outbox) == 1

    def test_the_day_is_recorded_in_the_database_not_in_the_cache(self, retailer, link):
        # Regression: the "sent today" mark lived in the cache, so a Redis flush sent the digest again, and a
        # Redis outage failed the daily work.
        needs_attention(link, 4211)

        attention_digest_send(retailer=retailer)
        cache.clear()
        again = attention_digest_send(retailer=retailer)

        assert again == 0 and len(mail.outbox) == 1
        digest = AttentionDigest.objects.get(retailer=retailer)
        assert (digest.orders, digest.recipients) == (1, 1)

    def test_a_digest_that_could_not_be_sent_is_sent_by_the_next_run(self, retailer, link, monkeypatch):
        needs_attention(link, 4221)

        def refused(self, fail_silently=False):
            raise ConnectionRefusedError("mail server down")

        with monkeypatch.context() as patched:
            patched.setattr(EmailMessage, "send", refused)
            with pytest.raises(ConnectionRefusedError):
                attention_digest_send(retailer=retailer)
        assert not AttentionDigest.objects.filter(retailer=retailer).exists()

        assert attention_digest_send(retailer=retailer) == 1
        assert len(mail.outbox) == 1 and AttentionDigest.objects.filter(retailer=retailer).count() == 1

    def test_the_daily_work_sends_each_retailer_its_own_digest(self, retailer, link, other_retailer):
        other_admin = factories.UserFactory(username="olga", email="olga@example.com")
        factories.MembershipFactory(user=other_admin, retailer=other_retailer, role=Role.ADMIN)
        needs_attention(link, 4301)
        needs_attention(factories.StoreLinkFactory(retailer=other_retailer), 4302)
        factories.RetailerFactory()  # nothing to report

        sent = attention_digests_send()

        assert sent == 2
        by_recipient = {m.to[0]: m.body for m in mail.outbox}
        assert "4301" in by_recipient["alice@example.com"] and "4302" not in by_recipient["alice@example.com"]
        assert "4302" in by_recipient["olga@example.com"]


def test_periodic_work_exists_for_every_active_link_and_the_daily_jobs(retailer, settings):
    from datetime import time, timedelta

    from work import kernel, registry
    from work.models import WorkItem

    link = factories.StoreLinkFactory(retailer=retailer)
    factories.StoreLinkFactory(state="unlinked")

    kernel.ensure_periodic()

    rows = {(w.kind, w.key) for w in WorkItem.objects.all()}
    assert rows == {
        ("bc.reconcile", str(link.pk)),
        ("bc.hooks", str(link.pk)),
        ("bc.catalog_ids", str(link.pk)),
        ("bc.stock_drift", str(link.pk)),
        ("bc.attention_digest", "all"),
        ("bc.sync_log_expire", "all"),
    }
    assert registry.get("bc.reconcile").every == timedelta(seconds=settings.RECONCILE_INTERVAL_SECONDS)
    assert registry.get("bc.attention_digest").at == time(7, 0)
    digest = WorkItem.objects.get(kind="bc.attention_digest")
    assert (digest.due_at.hour, digest.due_at.minute) == (7, 0)
