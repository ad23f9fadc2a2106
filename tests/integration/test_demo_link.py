"""`manage.py demo_link`: `make run` links the demo retailer to the sandbox store at every start, idempotently."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from integration.choices import LinkState
from integration.models import StoreLink
from integration.services.link import HOOK_SCOPES, store_link_unlink
from pos.services.demo import demo_retailer_ensure

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_link(sandbox, capsys, django_capture_on_commit_callbacks):
    demo_retailer_ensure()

    def run(**options) -> str:
        args = {"api_url": sandbox.url, "store_hash": sandbox.store_hash, "token": sandbox.access_token, **options}
        with django_capture_on_commit_callbacks(execute=True):
            call_command("demo_link", **args)
        return capsys.readouterr().out

    return run


def test_the_demo_retailer_is_linked_to_the_sandbox_with_its_webhooks(demo_link, sandbox):
    out = demo_link()

    link = StoreLink.objects.get()
    assert (link.retailer.slug, link.outlet.name, link.register.name) == ("demo-outfitters", "Downtown", "Online")
    assert link.default_payment_type.name == "BigCommerce"
    assert link.api_url == sandbox.url
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)
    assert "Demo retailer linked to Sandbox Outdoor Store" in out


def test_running_it_again_only_brings_back_the_webhooks_a_restarted_sandbox_forgot(demo_link, sandbox):
    demo_link()
    sandbox.store.hooks.clear()

    out = demo_link()

    assert StoreLink.objects.count() == 1
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)
    assert "already linked" in out and "5 webhook(s) re-registered" in out


def test_an_unlinked_demo_is_relinked_on_the_same_link(demo_link):
    demo_link()
    first = StoreLink.objects.get()
    store_link_unlink(link=first, acting_user=None)

    demo_link()

    assert StoreLink.objects.get().pk == first.pk
    assert StoreLink.objects.get().state == LinkState.ACTIVE


def test_a_wrong_token_stops_with_the_reason(demo_link):
    with pytest.raises(CommandError, match="rejected this access token"):
        demo_link(token="wrong")
