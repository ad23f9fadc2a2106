"""Browser test helpers: the README tour's screenshots, and a watch on the browser's console."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def screenshot(page):
    """`screenshot("sales")` saves docs/screenshots/sales.png when UPDATE_SCREENSHOTS=1."""

    def take(name: str) -> None:
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=False, animations="disabled")

    return take


@pytest.fixture
def watch(page):
    """Fail the test on CSP violations and script errors."""
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and "favicon" not in m.text and problems.append(m.text))
    yield
    assert problems == [], problems
