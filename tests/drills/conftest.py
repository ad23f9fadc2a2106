"""Fixtures of the reliability drills: a linked sandbox store, the drill's figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integration.models import StoreLink
from tests.drills.support import Figures


@pytest.fixture
def link(sandbox_link):
    """The retailer linked to the sandbox store an hour ago (orders placed in the test are live orders)."""
    StoreLink.objects.filter(pk=sandbox_link.pk).update(linked_at=timezone.now() - timedelta(hours=1))
    sandbox_link.refresh_from_db()
    return sandbox_link


@pytest.fixture
def figures(request):
    drill = Figures(request.node.name)
    yield drill
    drill.emit()
