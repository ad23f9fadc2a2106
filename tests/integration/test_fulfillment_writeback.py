"""integration.services.fulfillment_writeback and its work: a completed fulfilment written back to BigCommerce.

The service is tested with a fake BigCommerce injected as `client`; the work tests run the recorded work as a
worker does, the fake handed out by `BigCommerceClient.for_link`. The end-to-end run against the sandbox store is
in test_fulfillment_writeback_sandbox.py.
"""

from __future__ import annotations

import pytest

from integration.choices import LinkState
from integration.services.fulfillment_writeback import WritebackOutcome, fulfillment_writeback_run
from pos.choices import FulfillmentAction, FulfillmentType, SaleStatus, WritebackState
from pos.events import FULFILLMENT_COMPLETED
from pos.models import Fulfillment, FulfillmentEvent, Sale
from pos.services.fulfillment import fulfillment_set_tracking, fulfillment_writeback_retry
from tests.fixtures_fulfillment import FakeBigCommerce, complete
from tests.work_helpers import make_due, work_rows
from work.registry import get as work_kind

pytestmark = pytest.mark.django_db

Action = FulfillmentAction


@pytest.fixture
def bigcommerce(bigcommerce_api) -> FakeBigCommerce:
    return FakeBigCommerce()


def _fresh(fulfillment) -> Fulfillment:
    return Fulfillment.objects.get(pk=fulfillment.pk)


def _last_event(fulfillment) -> FulfillmentEvent:
    return FulfillmentEvent.objects.filter(fulfillment=fulfillment).last()


def _completed_delivery(make_fulfillment, user, *, carrier="fedex", tracking="1Z999AA10123456784"):
    fulfillment = make_fulfillment(goods=(("Tent", 2), ("Stove", 1)))
    fulfillment = fulfillment_set_tracking(
        fulfillment=fulfillment, tracking_number=tracking, carrier=carrier, expected_version=1, acting_user=user
    )
    return complete(fulfillment, user)


# ---------------------------------------------------------------- success


def test_a_delivery_becomes_one_shipment_of_the_fulfilled_goods_with_its_tracking(
    make_fulfillment, staff_user, link, bigcommerce
):
    fulfillment = _completed_delivery(make_fulfillment, staff_user)

    outcome = fulfillment_writeback_run(fulfillment=fulfillment, client=bigcommerce)

    assert outcome == WritebackOutcome.SUCCEEDED
    assert bigcommerce.shipments == [
        {
            "order_id": 250,
            "order_address_id": 51,
            "items": [{"order_product_id": 6500, "quantity": 2}, {"order_product_id": 6501, "quantity": 1}],
            "tracking_number": "1Z999AA10123456784",
            "tracking_carrier": "",
            "shipping_provider": "fedex",
            "comments": "",
        }
    ]
    fresh = _fresh(fulfillment)
    assert (fresh.writeback_state, fresh.writeback_error) == (WritebackState.SUCCEEDED, "")
    event = _last_event(fulfillment)
    assert (event.action, event.message) == (
        Action.WRITEBACK_SUCCEEDED,
        "Shipment created in BigCommerce order 250: 3 items, tracking 1Z999AA10123456784.",
    )


def test_a_carrier_bigcommerce_does_not_integrate_is_sent_as_the_tracking_carrier(
    make_fulfillment, staff_user, link, bigcommerce
):
    fulfillment = _completed_delivery(make_fulfillment, staff_user, carrier="dhl")

    fulfillment_writeback_run(fulfillment=fulfillment, client=bigcommerce)

    (shipment,) = bigcommerce.shipments
    assert (shipment["shipping_provider"], shipment["tracking_carrier"]) == ("", "dhl")


def test_a_pickup_sets_the_order_to_completed(make_fulfillment, staff_user, link, bigcommerce):
    fulfillment = complete(make_fulfillment(type=FulfillmentType.PICKUP), staff_user)

    outcome = fulfillment_writeback_run(fulfillment=fulfillment, client=bigcommerce)

    assert outcome == WritebackOutcome.SUCCEEDED
    assert bigcommerce.statuses == [(250, 10)]
    assert bigcommerce.shipments == []
    assert _fresh(fulfillment).writeback_state == WritebackState.SUCCEEDED
    assert _last_event(fulfillment).message == "BigCommerce order 250 marked Completed."


def test_running_again_sends_nothing_twice(make_fulfillment, staff_user, link, bigcommerce):
    fulfillment = _completed_delivery(make_fulfillment, staff_user)

    fulfillment_writeback_run(fulfillment=fulfillment, client=bigcommerce)
    again = fulfillment_writeback_run(fulfillment=fulfillment, client=bigcommerce)

    assert again == WritebackOutcome.SKIPPED
    assert len(bigcommerce.shipments) == 1


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("ApiRateLimited", "BigCommerce is rate-limiting this store's API calls"),
        ("ApiServerError", "BigCommerce answered with a server error (502 Bad Gateway)"),
        ("ApiUnavailable", "BigCommerce could not be reached (502 Bad Gateway)"),
    ],
)
def test_a_transient_failure_stays_pending_while_attempts_remain_and_fails_on_the_last(
    make_fulfillment, staff_user, link, fake_bigcommerce, bigcommerce_api, run_jobs, error, reason
):
    attempts = work_kind(FULFILLMENT_COMPLETED.name).retry.max_attempts
    fulfillment = _completed_delivery(make_fulfillment, staff_user)
    fake_bigcommerce.errors = [bigcommerce_api.make(error, "502 Bad Gateway", reset_seconds=5) for _ in range(attempts)]

    run_jobs()
    pending = _fresh(fulfillment)
    for _ in range(attempts - 1):
        make_due(FULFILLMENT_COMPLETED.name)  # the retry's time has come
        run_jobs()

    assert (pending.writeback_state, pending.writeback_error) == (
        WritebackState.PENDING,
        f"{reason}. Trying again automatically.",
    )
    failed = _fresh(fulfillment)
    assert failed.writeback_state == WritebackState.FAILED
    assert failed.writeback_error.startswith(f"{reason}, and the automatic retries failed too. Retry below")
    actions = list(FulfillmentEvent.objects.filter(fulfillment=fulfillment).values_list("action", flat=True))
    assert actions[-2:] == [Action.WRITEBACK_RETRYING, Action.WRITEBACK_FAILED]
    assert fake_bigcommerce.shipments == []
    assert work_rows(FULFILLMENT_COMPLETED.name) == [(str(fulfillment.pk), "failed")]


@pytest.mark.parametrize(
    ("error", "says"),
    [
        ("ApiCredentialsRejected", "update the token in Settings › BigCommerce"),
        ("ApiNotFound", "BigCommerce has no order 250"),
        ("ApiBadResponse", "it is not known whether order 250 was updated"),
        ("ApiError", "BigCommerce refused the shipment (tracking_carrier is invalid)"),
    ],
)
def test_a_permanent_failure_fails_at_once_and_says_what_to_do(
    make_fulfillment, staff_user, link, fake_bigcommerce, bigcommerce_api, run_jobs, error, says
):
    fulfillment = _completed_delivery(make_fulfillment, staff_user)
    fake_bigcommerce.errors = [bigcommerce_api.make(error, "tracking_carrier is invalid")]

    run_jobs()

    fresh = _fresh(fulfillment)
    assert fresh.writeback_state == WritebackState.FAILED
    assert says in fresh.writeback_error
    event = _last_event(fulfillment)
    assert (event.action, event.message) == (Action.WRITEBACK_FAILED, fresh.writeback_error)


def test_without_an_active_link_nothing_is_sent_and_staff_are_told_to_relink(
    make_fulfillment, staff_user, link, bigcommerce
):
    link.state = LinkState.PAUSED
    link.save()
    fulfillment = _completed_delivery(make_fulfillment, staff_user)

    outcome = fulfillment_writeback_run(fulfillment=fulfillment, client=bigcommerce)

    assert outcome == WritebackOutcome.FAILED
    assert "Relink the store in Settings › BigCommerce" in _fresh(fulfillment).writeback_error
    assert bigcommerce.shipments == []


def test_a_sale_voided_before_the_write_back_ran_sends_nothing(make_fulfillment, staff_user, link, bigcommerce):
    fulfillment = _completed_delivery(make_fulfillment, staff_user)
    Sale.objects.filter(pk=fulfillment.sale_id).update(status=SaleStatus.VOIDED)

    outcome = fulfillment_writeback_run(fulfillment=fulfillment, client=bigcommerce)

    assert outcome == WritebackOutcome.FAILED
    assert _fresh(fulfillment).writeback_error.startswith("The sale was voided")
    assert bigcommerce.shipments == []


def test_lines_on_two_bigcommerce_addresses_become_one_shipment_each(make_fulfillment, staff_user, link, bigcommerce):
    fulfillment = _completed_delivery(make_fulfillment, staff_user)
    stove = fulfillment.lines.get(sale_line__name="Stove").sale_line
    bigcommerce.addresses = {int(stove.external_line_id): 52}

    outcome = fulfillment_writeback_run(fulfillment=fulfillment, client=bigcommerce)

    assert outcome == WritebackOutcome.SUCCEEDED
    assert sorted((s["order_address_id"], len(s["items"])) for s in bigcommerce.shipments) == [(51, 1), (52, 1)]


def test_a_retry_after_a_shipment_that_reached_bigcommerce_sends_nothing_twice(
    make_fulfillment, staff_user, link, bigcommerce
):
    fulfillment = _completed_delivery(make_fulfillment, staff_user)
    fulfillment_writeback_run(fulfillment=fulfillment, client=bigcommerce)
    Fulfillment.objects.filter(pk=fulfillment.pk).update(writeback_state=WritebackState.PENDING)  # record lost

    outcome = fulfillment_writeback_run(fulfillment=fulfillment, client=bigcommerce)

    assert outcome == WritebackOutcome.SUCCEEDED
    assert len(bigcommerce.shipments) == 1
    assert "nothing was sent twice" in _last_event(fulfillment).message


def test_after_a_failure_staff_correct_the_tracking_retry_and_it_is_sent(
    make_fulfillment, staff_user, link, fake_bigcommerce, bigcommerce_api, run_jobs
):
    fulfillment = _completed_delivery(make_fulfillment, staff_user, carrier="not-a-carrier")
    fake_bigcommerce.errors = [bigcommerce_api.make("ApiError", "tracking_carrier is invalid")]
    run_jobs()
    assert _fresh(fulfillment).writeback_state == WritebackState.FAILED

    fixed = fulfillment_set_tracking(
        fulfillment=fulfillment,
        tracking_number="1Z999AA10123456784",
        carrier="ups",
        expected_version=_fresh(fulfillment).version,
        acting_user=staff_user,
    )
    fulfillment_writeback_retry(fulfillment=fixed, expected_version=fixed.version, acting_user=staff_user)
    run_jobs()

    assert [s["shipping_provider"] for s in fake_bigcommerce.shipments] == ["ups"]
    assert _fresh(fulfillment).writeback_state == WritebackState.SUCCEEDED


# ---------------------------------------------------------------- the work


def test_completing_records_the_work_that_sends_the_shipment(
    make_fulfillment, staff_user, link, fake_bigcommerce, run_jobs
):
    fulfillment = _completed_delivery(make_fulfillment, staff_user)

    run_jobs("default")

    assert _fresh(fulfillment).writeback_state == WritebackState.SUCCEEDED
    assert len(fake_bigcommerce.shipments) == 1
    assert fake_bigcommerce.links == [link]
    assert work_rows(FULFILLMENT_COMPLETED.name) == []


def test_a_transient_failure_is_due_again_after_the_backoff(
    make_fulfillment, staff_user, link, fake_bigcommerce, bigcommerce_api, run_jobs
):
    fake_bigcommerce.errors = [bigcommerce_api.make("ApiServerError", "503 Service Unavailable")]
    fulfillment = _completed_delivery(make_fulfillment, staff_user)

    run_jobs("default")

    fresh = _fresh(fulfillment)
    assert fresh.writeback_state == WritebackState.PENDING
    assert fresh.writeback_error.endswith("Trying again automatically.")
    assert work_rows(FULFILLMENT_COMPLETED.name) == [(str(fulfillment.pk), "due")]
    assert run_jobs() == 0  # not before its time
    make_due(FULFILLMENT_COMPLETED.name)
    run_jobs()
    assert _fresh(fulfillment).writeback_state == WritebackState.SUCCEEDED


def test_an_error_on_our_side_is_retried_then_recorded_as_failed(
    make_fulfillment, staff_user, link, fake_bigcommerce, run_jobs
):
    attempts = work_kind(FULFILLMENT_COMPLETED.name).retry.max_attempts
    fulfillment = _completed_delivery(make_fulfillment, staff_user)
    fake_bigcommerce.errors = [KeyError("order_product_id") for _ in range(attempts)]

    run_jobs()
    for _ in range(attempts - 1):
        make_due(FULFILLMENT_COMPLETED.name)
        run_jobs()

    fresh = _fresh(fulfillment)
    assert fresh.writeback_state == WritebackState.FAILED
    assert fresh.writeback_error.startswith("An error on our side stopped the write-back (KeyError)")


def test_the_work_of_a_fulfilment_that_no_longer_exists_finishes(run_jobs, retailer):
    from work import kernel

    kernel.request(FULFILLMENT_COMPLETED, 987654, shard=retailer.pk)

    assert run_jobs() == 1
    assert work_rows(FULFILLMENT_COMPLETED.name) == []
