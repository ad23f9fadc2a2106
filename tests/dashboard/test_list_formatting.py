"""The fast formatters long lists use print exactly what the template filters they replace print."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.html import format_html

from dashboard.templatetags.dashboard_extras import TIME_FORMAT, Moments, money, when

AMOUNTS = ["0", "-0", "-0.004", "0.005", "53.495", "-53.495", "1234.5", "-1234.567", "999.995", "12345678.9999"]


@pytest.mark.parametrize("amount", AMOUNTS)
def test_money_prints_what_floatformat_2g_prints(amount):
    assert money(Decimal(amount)) == floatformat(Decimal(amount), "2g")


def test_money_agrees_with_floatformat_on_random_amounts():
    rng = random.Random(17)
    for _ in range(2000):
        amount = Decimal(rng.randint(-(10**9), 10**9)) / Decimal(10 ** rng.randint(0, 4))
        assert money(amount) == floatformat(amount, "2g"), amount


def _when_as_it_was(value: datetime, precision: str = "") -> str:
    """`when` before it shared `Moments`: the reference."""
    local = timezone.localtime(value)
    text = local.strftime(TIME_FORMAT + (":%S" if precision == "seconds" else ""))
    zone = timezone.get_current_timezone_name()
    return format_html(
        '<time datetime="{}" title="{}">{} {}</time>', value.isoformat(), zone, text, local.strftime("%Z") or zone
    )


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"])
def test_moments_print_what_when_prints(zone):
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # across London's and New York's clock changes
    with timezone.override(zone):
        moment = Moments()
        for hours in range(0, 24 * 240, 7):
            value = start + timedelta(hours=hours)
            assert moment(value) == when(value) == _when_as_it_was(value)
        assert Moments(seconds=True)(start) == _when_as_it_was(start, "seconds")
