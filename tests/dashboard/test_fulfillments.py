"""The Fulfillments pages: the queue, one fulfilment, and every action staff take there."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from pos.choices import FulfillmentState, FulfillmentType, SaleStatus, WritebackState
from pos.models import Fulfillment, Sale
from pos.services.shipments import fulfillment_ship
from tests import factories
from tests.fixtures_fulfillment import complete, fulfil_everything

pytestmark = pytest.mark.django_db

LIST = reverse("dashboard:fulfillments")


def _detail(fulfillment) -> str:
    return reverse("dashboard:fulfillment_detail", args=[fulfillment.pk])


def _post(client, name: str, fulfillment, **data):
    version = Fulfillment.objects.get(pk=fulfillment.pk).version
    return client.post(reverse(f"dashboard:{name}", args=[fulfillment.pk]), {"version": version, **data}, follow=True)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _fresh(fulfillment) -> Fulfillment:
    return Fulfillment.objects.get(pk=fulfillment.pk)


# ---------------------------------------------------------------- the queue


def test_the_queue_lists_open_fulfilments_oldest_first_and_never_another_retailers(
    staff_client, make_fulfillment, other_retailer
):
    first = make_fulfillment(order_id="301")
    second = make_fulfillment(order_id="302")
    Fulfillment.objects.filter(pk=first.pk).update(created_at=second.created_at.replace(year=2020))
    done = make_fulfillment(order_id="303")
    Fulfillment.objects.filter(pk=done.pk).update(state=FulfillmentState.COMPLETED)
    theirs = factories.FulfillmentFactory(sale__retailer=other_retailer)

    response = staff_client.get(LIST)

    assert response.status_code == 200
    assert [f.pk for f in response.context["page_obj"]] == [first.pk, second.pk]
    html = response.content.decode()
    assert _detail(theirs) not in html and _detail(done) not in html
    counts = {key: count for key, _, count in response.context["tabs"]}
    assert counts == {"open": 2, "new": 2, "picking": 0, "packed": 0, "completed": 1, "cancelled": 0, "all": 3}


def test_the_queue_filters_by_state_and_type(staff_client, make_fulfillment):
    delivery = make_fulfillment(order_id="401")
    pickup = make_fulfillment(order_id="402", type=FulfillmentType.PICKUP)
    Fulfillment.objects.filter(pk=pickup.pk).update(state=FulfillmentState.PACKED)

    packed = staff_client.get(LIST, {"state": "packed"}).context["page_obj"]
    deliveries = staff_client.get(LIST, {"state": "all", "type": "delivery"}).context["page_obj"]

    assert [f.pk for f in packed] == [pickup.pk]
    assert [f.pk for f in deliveries] == [delivery.pk]


@pytest.mark.parametrize("query", ["invoice", "501", "jane", "Jane Doe"])
def test_the_queue_searches_by_invoice_order_number_and_customer(staff_client, make_fulfillment, query):
    wanted = make_fulfillment(order_id="501")
    other = make_fulfillment(order_id="502")
    other.sale.customer.first_name, other.sale.customer.last_name = "Bob", "Smith"
    other.sale.customer.save()
    query = str(wanted.sale.invoice_number) if query == "invoice" else query

    found = staff_client.get(LIST, {"q": query}).context["page_obj"]

    assert [f.pk for f in found] == [wanted.pk]


def test_times_show_in_the_retailers_time_zone(staff_client, make_fulfillment, retailer):
    retailer.time_zone = "America/New_York"
    retailer.save()
    fulfillment = make_fulfillment()
    Fulfillment.objects.filter(pk=fulfillment.pk).update(created_at=datetime(2026, 1, 15, 15, 0, tzinfo=UTC))

    shown = 'title="America/New_York">2026-01-15 10:00 EST</time>'
    assert shown in staff_client.get(LIST).content.decode()
    assert (
        f'received <time datetime="2026-01-15T15:00:00+00:00" {shown}'
        in staff_client.get(_detail(fulfillment)).content.decode()
    )


def test_an_empty_queue_says_what_to_expect(staff_client):
    html = staff_client.get(LIST).content.decode()

    assert "Nothing to fulfil right now" in html


@pytest.mark.parametrize("size", [2, 30])
def test_the_queue_costs_the_same_queries_for_any_page_size(
    staff_client, make_fulfillment, django_assert_num_queries, size
):
    for n in range(size):
        make_fulfillment(order_id=str(600 + n))

    # session, user, membership, tab counts, page count, page rows
    with django_assert_num_queries(7):
        response = staff_client.get(LIST)

    assert len(response.context["page_obj"]) == size


# ---------------------------------------------------------------- one fulfilment


def test_a_delivery_shows_its_lines_shipping_address_and_tracking_form(staff_client, make_fulfillment):
    fulfillment = make_fulfillment(goods=(("Tent", 2), ("Stove", 1)))

    html = staff_client.get(_detail(fulfillment)).content.decode()

    assert "555 East Street" in html and "Austin, Texas 78108" in html
    assert 'name="tracking_number"' in html
    assert 'aria-label="Picked — Tent"' in html and 'aria-label="Fulfilled — Stove"' in html
    assert "Shipping</td>" not in html  # the charge is not an item to pick
    assert "Completing it creates the shipment" in html


def test_a_pickup_says_ready_for_pickup_once_packed(staff_client, make_fulfillment):
    fulfillment = make_fulfillment(type=FulfillmentType.PICKUP, goods=(("Tent", 1),))

    before = staff_client.get(_detail(fulfillment)).content.decode()
    _post(staff_client, "fulfillment_fulfil_all", fulfillment)
    after = staff_client.get(_detail(fulfillment)).content.decode()

    assert "Not ready for pickup yet: 0 of 1 items packed." in before
    assert "555 East Street" not in before and 'name="tracking_number"' not in before
    assert "Ready for pickup" in after
    assert "Mark as collected" in after


def test_a_balance_owing_shows_and_says_why_completion_is_blocked(staff_client, make_fulfillment, staff_user):
    fulfillment = fulfil_everything(make_fulfillment(paid=False), staff_user)

    response = staff_client.get(_detail(fulfillment))

    html = response.content.decode()
    assert "USD 44.00" in html
    assert "It cannot be completed yet." in html and "still has USD 44.00 owing" in html
    assert response.context["blockers"]


@pytest.mark.parametrize(("lines", "shipments"), [(1, 0), (12, 0), (1, 1), (12, 2)])
def test_a_fulfilment_page_costs_the_same_queries_for_any_number_of_lines_and_shipments(
    staff_client, make_fulfillment, staff_user, django_assert_num_queries, lines, shipments
):
    fulfillment = make_fulfillment(goods=tuple((f"Item {n}", 2) for n in range(lines)))
    if not shipments:
        fulfil_everything(fulfillment, staff_user)
    for _ in range(shipments):
        fulfillment.refresh_from_db()
        fulfillment_ship(
            fulfillment=fulfillment,
            quantities={line.pk: 1 for line in fulfillment.lines.all()},
            expected_version=fulfillment.version,
            acting_user=staff_user,
        )

    # session, user, membership, fulfilment (+ sale, customer, outlet, retailer), shipments (+ their lines when
    # there are some), lines, history
    with django_assert_num_queries(8 + (1 if shipments else 0)):
        staff_client.get(_detail(fulfillment))


def test_a_voided_sales_fulfilment_says_why_nothing_can_change(staff_client, make_fulfillment):
    fulfillment = make_fulfillment()
    Sale.objects.filter(pk=fulfillment.sale_id).update(status=SaleStatus.VOIDED)

    response = staff_client.get(_detail(fulfillment))

    assert "The sale was voided, so this fulfilment is cancelled and can no longer change." in response.content.decode()
    assert not response.context["editable"]


def test_another_retailers_fulfilment_is_not_found(staff_client, other_retailer):
    theirs = factories.FulfillmentFactory(sale__retailer=other_retailer)

    assert staff_client.get(_detail(theirs)).status_code == 404
    assert _post(staff_client, "fulfillment_start_picking", theirs).status_code == 404


# ---------------------------------------------------------------- actions


@pytest.mark.parametrize("client_fixture", ["staff_client", "admin_client"])
def test_staff_and_admins_both_fulfil_partially_then_fully(request, make_fulfillment, client_fixture):
    client = request.getfixturevalue(client_fixture)
    fulfillment = make_fulfillment(goods=(("Tent", 2),))
    line = fulfillment.lines.get()
    field = {kind: f"{kind}_{line.pk}" for kind in ("picked", "packed", "fulfilled")}

    partial = _post(
        client, "fulfillment_quantities", fulfillment, **{field["picked"]: 2, field["packed"]: 1, field["fulfilled"]: 1}
    )
    full = _post(client, "fulfillment_fulfil_all", fulfillment)

    assert "Quantities saved." in _messages(partial)
    assert "Every item is recorded as picked, packed and fulfilled." in _messages(full)
    line.refresh_from_db()
    assert (line.picked, line.packed, line.fulfilled) == (2, 2, 2)
    assert _fresh(fulfillment).state == FulfillmentState.PACKED


def test_impossible_quantities_are_refused_with_the_reason(staff_client, make_fulfillment):
    fulfillment = make_fulfillment(goods=(("Tent", 2),))
    line = fulfillment.lines.get()

    response = _post(
        staff_client,
        "fulfillment_quantities",
        fulfillment,
        **{f"picked_{line.pk}": 1, f"packed_{line.pk}": 2, f"fulfilled_{line.pk}": 0},
    )

    assert _messages(response) == ["Tent: packed (2) cannot be more than picked (1)."]
    line.refresh_from_db()
    assert line.packed == 0


def test_a_stale_version_shows_the_conflict_message_and_the_fresh_data(staff_client, make_fulfillment, admin_user):
    fulfillment = make_fulfillment(goods=(("Tent", 2),))
    line = fulfillment.lines.get()
    fulfil_everything(fulfillment, admin_user)  # someone else, while this page still shows version 1

    response = staff_client.post(
        reverse("dashboard:fulfillment_quantities", args=[fulfillment.pk]),
        {"version": 1, f"picked_{line.pk}": 1, f"packed_{line.pk}": 0, f"fulfilled_{line.pk}": 0},
        follow=True,
    )

    assert _messages(response) == [
        "Someone else updated this fulfilment a moment ago; the page now shows their changes. Check them and try again."
    ]
    assert response.context["fulfillment"].state == FulfillmentState.PACKED
    assert response.context["lines"][0].fulfilled == 2


def test_a_post_without_the_version_is_refused(staff_client, make_fulfillment):
    fulfillment = make_fulfillment()

    response = staff_client.post(reverse("dashboard:fulfillment_start_picking", args=[fulfillment.pk]), follow=True)

    assert _messages(response) == ["This page is out of date. Reload it and try again."]
    assert _fresh(fulfillment).state == FulfillmentState.NEW


def test_completing_shows_the_write_back_pending(staff_client, make_fulfillment, staff_user):
    fulfillment = fulfil_everything(make_fulfillment(), staff_user)

    response = _post(staff_client, "fulfillment_complete", fulfillment)

    assert _messages(response) == ["Fulfilment completed. BigCommerce is being updated; the result shows below."]
    html = response.content.decode()
    assert "Sending to BigCommerce" in html and 'hx-trigger="every 3s"' in html


def test_completion_blocked_by_money_owing_says_so(staff_client, make_fulfillment, staff_user):
    fulfillment = fulfil_everything(make_fulfillment(paid=False), staff_user)

    response = _post(staff_client, "fulfillment_complete", fulfillment)

    assert "still has USD 44.00 owing" in _messages(response)[0]
    assert _fresh(fulfillment).state == FulfillmentState.PACKED


def test_tracking_and_cancel_from_the_page(staff_client, make_fulfillment):
    fulfillment = make_fulfillment()

    tracked = _post(staff_client, "fulfillment_tracking", fulfillment, tracking_number="1Z9", carrier="UPS")
    no_reason = _post(staff_client, "fulfillment_cancel", fulfillment, reason="")
    cancelled = _post(staff_client, "fulfillment_cancel", fulfillment, reason="Out of stock")

    assert _messages(tracked) == ["Tracking saved."]
    assert _messages(no_reason) == ["Say why the fulfilment is cancelled."]
    assert _messages(cancelled) == ["Fulfilment cancelled."]
    fresh = _fresh(fulfillment)
    assert (fresh.tracking_number, fresh.carrier, fresh.state) == ("1Z9", "ups", FulfillmentState.CANCELLED)
    assert "Out of stock" in cancelled.content.decode()  # in the history


def test_a_failed_write_back_shows_its_error_and_can_be_retried(staff_client, make_fulfillment, staff_user):
    fulfillment = complete(make_fulfillment(), staff_user)
    Fulfillment.objects.filter(pk=fulfillment.pk).update(
        writeback_state=WritebackState.FAILED, writeback_error="BigCommerce rejected the store's API token."
    )

    page = staff_client.get(_detail(fulfillment)).content.decode()
    retried = _post(staff_client, "fulfillment_writeback_retry", fulfillment)

    assert "BigCommerce rejected the store&#x27;s API token." in page and ">Retry</button>" in page
    assert _messages(retried) == ["The write-back is queued again."]
    assert _fresh(fulfillment).writeback_state == WritebackState.PENDING


# ---------------------------------------------------------------- htmx polling of the write-back


def test_the_write_back_status_polls_while_pending_and_reloads_the_page_when_done(
    staff_client, make_fulfillment, staff_user
):
    fulfillment = complete(make_fulfillment(), staff_user)

    pending = staff_client.get(_detail(fulfillment), headers={"HX-Request": "true"})
    Fulfillment.objects.filter(pk=fulfillment.pk).update(writeback_state=WritebackState.SUCCEEDED)
    done = staff_client.get(_detail(fulfillment), headers={"HX-Request": "true"})

    fragment = pending.content.decode()
    assert fragment.lstrip().startswith('<div class="card mb-3" id="writeback"')
    assert 'hx-trigger="every 3s"' in fragment and "<html" not in fragment
    assert done.headers["HX-Refresh"] == "true"


def test_shipping_part_of_a_delivery_from_the_page_shows_shipped_and_left_per_line(staff_client, make_fulfillment):
    fulfillment = make_fulfillment(goods=(("Tent", 2), ("Stove", 1)))
    tent = fulfillment.lines.get(sale_line__name="Tent")

    shipped = _post(
        staff_client, "fulfillment_ship", fulfillment, **{f"ship_{tent.pk}": "1"}, tracking_number="1Z-P", carrier=""
    )

    assert _messages(shipped) == ["Shipment 1 recorded. BigCommerce is being updated; the result shows below."]
    html = shipped.content.decode()
    assert "2 of 3 left to ship" in html
    assert "1 × Tent" in html and "Tracking 1Z-P" in html
    assert 'aria-label="Ship now — Tent"' in html and 'aria-label="Ship now — Stove"' in html
    assert shipped.context["pending"]  # the page polls until BigCommerce answers


def test_a_shipment_form_with_nothing_to_ship_or_a_bad_number_says_so(staff_client, make_fulfillment):
    fulfillment = make_fulfillment(goods=(("Tent", 2),))
    tent = fulfillment.lines.get()

    nothing = _post(staff_client, "fulfillment_ship", fulfillment, **{f"ship_{tent.pk}": ""})
    too_many = _post(staff_client, "fulfillment_ship", fulfillment, **{f"ship_{tent.pk}": "5"})
    garbage = _post(staff_client, "fulfillment_ship", fulfillment, **{f"ship_{tent.pk}": "two"})

    assert _messages(nothing) == ["Enter how many of each item go in this shipment."]
    assert _messages(too_many) == ["Tent: only 2 of 2 are left to ship."]
    assert _messages(garbage) == ["Enter a whole number to ship of “Tent”."]
    assert not fulfillment.shipments.exists()


def test_a_failed_shipment_is_retried_from_the_page(staff_client, make_fulfillment, staff_user):
    fulfillment = make_fulfillment(goods=(("Tent", 2),))
    tent = fulfillment.lines.get()
    _post(staff_client, "fulfillment_ship", fulfillment, **{f"ship_{tent.pk}": "1"})
    shipment = fulfillment.shipments.get()
    shipment.writeback_state, shipment.writeback_error = WritebackState.FAILED, "BigCommerce refused the shipment."
    shipment.save()

    page = staff_client.get(_detail(fulfillment)).content.decode()
    retried = _post(staff_client, "fulfillment_shipment_retry", fulfillment, shipment=shipment.pk)

    assert "BigCommerce refused the shipment." in page and "Retry shipment 1" in page
    assert _messages(retried) == ["The shipment is queued again for BigCommerce."]
    shipment.refresh_from_db()
    assert shipment.writeback_state == WritebackState.PENDING
