"""pos.services.sales: invoice numbers."""

from __future__ import annotations

import pytest
from django.db import transaction

from pos.models import Register, Sale
from pos.services.sales import invoice_numbers_allocate
from tests import factories
from tests.concurrency import run_concurrently

pytestmark = pytest.mark.django_db


def test_invoice_numbers_are_sequential_per_retailer(retailer, other_retailer):
    assert list(invoice_numbers_allocate(retailer_id=retailer.pk)) == [1]
    assert list(invoice_numbers_allocate(retailer_id=retailer.pk, count=3)) == [2, 3, 4]
    assert list(invoice_numbers_allocate(retailer_id=other_retailer.pk)) == [1]


def test_a_rolled_back_sale_gives_its_number_back(retailer):
    with pytest.raises(RuntimeError), transaction.atomic():
        invoice_numbers_allocate(retailer_id=retailer.pk)
        raise RuntimeError("sale failed")

    assert list(invoice_numbers_allocate(retailer_id=retailer.pk)) == [1]


def _create_sale(register_id):
    """Runs in its own process: one sale with the next invoice number."""
    register = Register.objects.select_related("outlet").get(pk=register_id)
    with transaction.atomic():
        number = invoice_numbers_allocate(retailer_id=register.retailer_id)[0]
        sale = Sale.objects.create(
            retailer_id=register.retailer_id, outlet=register.outlet, register=register, invoice_number=number
        )
    return sale.invoice_number


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_sales_get_eight_distinct_consecutive_invoice_numbers():
    register = factories.RegisterFactory()

    numbers = run_concurrently(_create_sale, [(register.pk,)] * 8)

    assert sorted(numbers) == list(range(1, 9))
    assert sorted(Sale.objects.values_list("invoice_number", flat=True)) == list(range(1, 9))
