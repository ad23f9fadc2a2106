"""Fixtures of the reliability drills: a linked sandbox store, the drill's figures."""

from __future__ import annotations

import pytest

from tests.drills.support import Figures


@pytest.fixture
def figures(request):
    drill = Figures(request.node.name)
    yield drill
    drill.emit()
