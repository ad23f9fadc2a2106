"""Keyset pagination: pages follow (key, id) in either direction, ties on the key are broken by id."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pos.keyset import keyset_page
from pos.models import Sale
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales(retailer, register):
    totals = ["5", "1", "3", "3", "3", "2", "4"]
    return [
        factories.SaleFactory(retailer=retailer, outlet=register.outlet, register=register, total_inc_tax=Decimal(t))
        for t in totals
    ]


def walk(queryset, *, descending: bool, per_page: int) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        page = keyset_page(queryset, key="total_inc_tax", descending=descending, after=cursor, per_page=per_page)
        pages.append([s.pk for s in page])
        if not page.has_next:
            return pages
        cursor = page.next_cursor


@pytest.mark.parametrize("descending", [True, False])
def test_every_row_once_in_order_across_pages(sales, descending):
    expected = sorted(sales, key=lambda s: (s.total_inc_tax, s.pk), reverse=descending)

    pages = walk(Sale.objects.all(), descending=descending, per_page=2)

    assert [pk for page in pages for pk in page] == [s.pk for s in expected]
    assert [len(p) for p in pages] == [2, 2, 2, 1]


def test_previous_pages_mirror_next_pages(sales):
    qs = Sale.objects.all()
    first = keyset_page(qs, key="total_inc_tax", per_page=3)
    second = keyset_page(qs, key="total_inc_tax", per_page=3, after=first.next_cursor)

    back = keyset_page(qs, key="total_inc_tax", per_page=3, before=second.previous_cursor)

    assert [s.pk for s in back] == [s.pk for s in first]
    assert not back.has_previous and back.has_next


def test_an_empty_list_has_no_neighbours(retailer):
    page = keyset_page(Sale.objects.none(), key="sale_date", per_page=10)

    assert list(page) == [] and not page.has_next and not page.has_previous


@pytest.mark.parametrize("cursor", ["", "%%%", "WyJub3QtYS1kYXRlIiwgMV0"])
def test_a_bad_cursor_means_the_first_page(sales, cursor):
    page = keyset_page(Sale.objects.all(), key="sale_date", after=cursor, per_page=3)

    assert len(page) == 3 and not page.has_previous
