"""pos.services.sales: invoice numbers."""

from __future__ import annotations

import multiprocessing

import pytest
from django.db import connections, transaction

from pos.models import Sale
from pos.services.sales import invoice_numbers_allocate
from tests import factories

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


def _create_sale_in_child(register_id, barrier, results):
    connections.close_all()
    register = factories.RegisterFactory._meta.model.objects.select_related("outlet").get(pk=register_id)
    barrier.wait()
    with transaction.atomic():
        number = invoice_numbers_allocate(retailer_id=register.retailer_id)[0]
        sale = Sale.objects.create(
            retailer_id=register.retailer_id, outlet=register.outlet, register=register, invoice_number=number
        )
    results.put(sale.invoice_number)
    connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_sales_get_eight_distinct_consecutive_invoice_numbers():
    register = factories.RegisterFactory()
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(8), ctx.Queue()
    connections.close_all()
    procs = [ctx.Process(target=_create_sale_in_child, args=(register.pk, barrier, results)) for _ in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0

    numbers = sorted(results.get(timeout=5) for _ in procs)
    assert numbers == list(range(1, 9))
    assert sorted(Sale.objects.values_list("invoice_number", flat=True)) == list(range(1, 9))
