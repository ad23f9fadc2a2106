"""The status table, row by row: what each BigCommerce status id means for the POS sale."""

from __future__ import annotations

import pytest

from integration.status_table import STATUS_TABLE, Outcome, UnknownStatusError, status_for

EXPECTED = {
    0: ("Incomplete", Outcome.SKIP),
    1: ("Pending", Outcome.SKIP),
    2: ("Shipped", Outcome.CLOSED),
    3: ("Partially Shipped", Outcome.CLOSED),
    4: ("Refunded", Outcome.CLOSED),
    5: ("Cancelled", Outcome.VOIDED),
    6: ("Declined", Outcome.VOIDED),
    7: ("Awaiting Payment", Outcome.CLOSED),
    8: ("Awaiting Pickup", Outcome.CLOSED),
    9: ("Awaiting Shipment", Outcome.CLOSED),
    10: ("Completed", Outcome.CLOSED),
    11: ("Awaiting Fulfillment", Outcome.CLOSED),
    12: ("Manual Verification Required", Outcome.CLOSED),
    13: ("Disputed", Outcome.CLOSED),
    14: ("Partially Refunded", Outcome.CLOSED),
}


@pytest.mark.parametrize(("status_id", "expected"), sorted(EXPECTED.items()))
def test_each_status_id_has_its_outcome(status_id, expected):
    row = status_for(status_id)

    assert (row.label, row.outcome) == expected


def test_the_table_has_exactly_the_fifteen_bigcommerce_statuses():
    assert sorted(STATUS_TABLE) == list(range(15))


def test_only_awaiting_payment_is_unpaid_and_only_awaiting_pickup_is_a_pickup():
    assert [s.id for s in STATUS_TABLE.values() if s.unpaid] == [7]
    assert [s.id for s in STATUS_TABLE.values() if s.pickup] == [8]


@pytest.mark.parametrize("status_id", [15, 99, -1, None, "eleven"])
def test_an_unknown_status_id_is_an_error_naming_the_id(status_id):
    with pytest.raises(UnknownStatusError) as excinfo:
        status_for(status_id)

    assert excinfo.value.status_id == status_id
    assert str(status_id) in str(excinfo.value)
