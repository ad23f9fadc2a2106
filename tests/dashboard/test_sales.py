"""Sales history (filters, search, sorting, keyset pages, capped count, CSV export) and the sale page."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from integration.choices import OrderSyncState
from pos import selectors
from pos.choices import Channel, FulfillmentState, PaymentKind, PaymentState, SaleStatus
from tests import factories

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:sales")


def invoices(response) -> list[int]:
    return [sale.invoice_number for sale in response.context["page_obj"]]


@pytest.fixture
def places(retailer):
    outlet = factories.OutletFactory(retailer=retailer, name="Downtown")
    other_outlet = factories.OutletFactory(retailer=retailer, name="Harbour")
    return {
        "online": factories.RegisterFactory(retailer=retailer, outlet=outlet, name="Online"),
        "till": factories.RegisterFactory(retailer=retailer, outlet=outlet, name="Till"),
        "harbour": factories.RegisterFactory(retailer=retailer, outlet=other_outlet, name="Harbour till"),
    }


def sale(retailer, register, invoice: int, **fields):
    return factories.SaleFactory(
        retailer=retailer, outlet=register.outlet, register=register, invoice_number=invoice, **fields
    )


class TestSalesHistoryFilters:
    @pytest.fixture
    def sales(self, retailer, places):
        ada = factories.CustomerFactory(
            retailer=retailer, first_name="Ada", last_name="Lovelace", email="Ada@Example.com"
        )
        grace = factories.CustomerFactory(
            retailer=retailer, first_name="Grace", last_name="Hopper", email="gh@navy.mil"
        )
        made = {
            "online_paid": sale(
                retailer,
                places["online"],
                1,
                channel=Channel.BIGCOMMERCE,
                external_order_id="5001",
                customer=ada,
                payment_state=PaymentState.PAID,
                bc_status_id=11,
                bc_status_label="Awaiting Fulfillment",
                sale_date=datetime(2026, 3, 10, 15, tzinfo=UTC),
            ),
            "online_voided": sale(
                retailer,
                places["online"],
                2,
                channel=Channel.BIGCOMMERCE,
                external_order_id="5002",
                customer=grace,
                status=SaleStatus.VOIDED,
                bc_status_id=5,
                bc_status_label="Cancelled",
                sale_date=datetime(2026, 3, 11, 15, tzinfo=UTC),
            ),
            "till": sale(
                retailer,
                places["till"],
                3,
                customer=grace,
                payment_state=PaymentState.PAID,
                sale_date=datetime(2026, 3, 12, 15, tzinfo=UTC),
            ),
            "harbour": sale(
                retailer,
                places["harbour"],
                4,
                payment_state=PaymentState.PARTIALLY_PAID,
                sale_date=datetime(2026, 3, 13, 15, tzinfo=UTC),
            ),
        }
        factories.FulfillmentFactory(sale=made["online_paid"], retailer=retailer, state=FulfillmentState.PACKED)
        return made

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("", [4, 3, 2, 1]),
            ("status=voided", [2]),
            ("status=closed&channel=bigcommerce", [1]),
            ("channel=in_store", [4, 3]),
            ("payment_state=partially_paid", [4]),
            ("fulfillment_state=packed", [1]),
            ("fulfillment_state=none", [4, 3, 2]),
            ("bc_status=5", [2]),
            ("date_from=2026-03-11&date_to=2026-03-12", [3, 2]),
        ],
    )
    def test_each_filter_narrows_the_list(self, admin_client, sales, query, expected):
        assert invoices(admin_client.get(f"{URL}?{query}")) == expected

    def test_outlet_and_register_filters(self, admin_client, sales, places):
        by_outlet = admin_client.get(URL, {"outlet": places["harbour"].outlet_id})
        by_register = admin_client.get(URL, {"register": places["till"].pk})

        assert invoices(by_outlet) == [4]
        assert invoices(by_register) == [3]

    @pytest.mark.parametrize(
        ("q", "expected"),
        [
            ("3", [3]),  # invoice number
            ("#3", [3]),
            ("5002", [2]),  # BigCommerce order number
            ("ada", [1]),  # first name, any case
            ("LOVE", [1]),  # last name prefix
            ("grace hop", [3, 2]),  # every word must match
            ("gh@navy", [3, 2]),  # email prefix
            ("ada@example.com", [1]),  # email, any case
            ("zebra", []),
        ],
    )
    def test_search_by_invoice_order_number_customer_name_or_email(self, admin_client, sales, q, expected):
        assert invoices(admin_client.get(URL, {"q": q})) == expected

    @pytest.mark.parametrize("many", [False, True])
    def test_a_search_matching_many_customers(self, admin_client, retailer, places, monkeypatch, many):
        if many:  # more matches than the id list takes: the search becomes a subquery, with the same result
            monkeypatch.setattr(selectors, "SEARCH_CUSTOMER_IDS", 1)
        for invoice, last in enumerate(("Smith", "Smithers", "Smit", "Jones"), start=1):
            sale(
                retailer, places["till"], invoice, customer=factories.CustomerFactory(retailer=retailer, last_name=last)
            )

        assert invoices(admin_client.get(URL, {"q": "smit"})) == [3, 2, 1]
        assert invoices(admin_client.get(URL, {"q": "smith"})) == [2, 1]

    def test_dates_are_the_retailers_local_days(self, admin_client, retailer, places):
        retailer.time_zone = "America/New_York"
        retailer.save()
        # 02:00 UTC on the 11th is still the evening of the 10th in New York.
        sale(retailer, places["till"], 7, sale_date=datetime(2026, 3, 11, 2, tzinfo=UTC))

        assert invoices(admin_client.get(URL, {"date_from": "2026-03-10", "date_to": "2026-03-10"})) == [7]
        assert invoices(admin_client.get(URL, {"date_from": "2026-03-11"})) == []

    def test_sorting_by_total_both_ways(self, admin_client, retailer, places):
        for invoice, total in ((1, "30"), (2, "10"), (3, "20")):
            sale(retailer, places["till"], invoice, total_inc_tax=Decimal(total))

        assert invoices(admin_client.get(URL, {"sort": "-total"})) == [1, 3, 2]
        assert invoices(admin_client.get(URL, {"sort": "total"})) == [2, 3, 1]
        assert invoices(admin_client.get(URL, {"sort": "invoice"})) == [1, 2, 3]

    def test_an_invalid_filter_is_shown_and_the_others_still_apply(self, admin_client, sales):
        response = admin_client.get(URL, {"status": "voided", "date_from": "not-a-date"})

        assert invoices(response) == [2]
        assert response.context["form"].errors["date_from"]

    def test_another_retailers_sales_never_show(self, admin_client, sales, other_retailer):
        factories.SaleFactory(retailer=other_retailer, invoice_number=3, external_order_id="5002")

        assert invoices(admin_client.get(URL)) == [4, 3, 2, 1]
        assert invoices(admin_client.get(URL, {"q": "5002"})) == [2]


class TestSalesHistoryPaging:
    def test_keyset_pages_walk_forward_and_back_without_gaps_or_repeats(self, retailer, places):
        for invoice in range(1, 8):
            sale(retailer, places["till"], invoice, sale_date=datetime(2026, 3, 1, 12, tzinfo=UTC))  # equal dates

        def page(**cursor):
            return selectors.sales_history_page(
                retailer=retailer, filters=selectors.SaleFilters(), per_page=3, **cursor
            ).page

        one = page()
        two = page(after=one.next_cursor)
        three = page(after=two.next_cursor)
        back = page(before=three.previous_cursor)

        assert [s.invoice_number for s in one] == [7, 6, 5] and not one.has_previous
        assert [s.invoice_number for s in two] == [4, 3, 2]
        assert [s.invoice_number for s in three] == [1] and not three.has_next
        assert [s.invoice_number for s in back] == [4, 3, 2] and back.has_next and back.has_previous

    def test_next_and_previous_links_follow_the_sort_and_keep_the_filters(self, admin_client, retailer, places):
        for invoice in range(1, 31):
            sale(retailer, places["till"], invoice, total_inc_tax=Decimal(invoice))

        first = admin_client.get(URL, {"sort": "total", "status": "closed", "per_page": 25})
        second = admin_client.get(
            URL, {"sort": "total", "status": "closed", "per_page": 25, "after": first.context["page_obj"].next_cursor}
        )
        back = admin_client.get(
            URL,
            {"sort": "total", "status": "closed", "per_page": 25, "before": second.context["page_obj"].previous_cursor},
        )

        assert invoices(first) == list(range(1, 26))
        assert invoices(second) == list(range(26, 31))
        assert invoices(back) == list(range(1, 26))
        assert "status=closed" in first.content.decode().split('rel="next"')[0].rsplit("href=", 1)[1]

    def test_a_tampered_cursor_shows_the_first_page(self, admin_client, retailer, places):
        sale(retailer, places["till"], 1)

        assert invoices(admin_client.get(URL, {"after": "bm90LWEtY3Vyc29y"})) == [1]

    def test_the_count_is_capped_instead_of_counting_everything(self, admin_client, retailer, places, monkeypatch):
        monkeypatch.setattr(selectors, "SALES_COUNT_CAP", 2)
        for invoice in range(1, 4):
            sale(retailer, places["till"], invoice)

        response = admin_client.get(URL)

        assert response.context["result"].count_capped
        assert "More than 2 sales" in response.content.decode()

    def test_query_count_does_not_grow_with_the_page_size(
        self, admin_client, retailer, places, django_assert_max_num_queries
    ):
        for invoice in range(1, 41):
            made = sale(
                retailer,
                places["online"],
                invoice,
                channel=Channel.BIGCOMMERCE,
                external_order_id=str(invoice),
                customer=factories.CustomerFactory(retailer=retailer),
            )
            factories.FulfillmentFactory(sale=made, retailer=retailer)
        with django_assert_max_num_queries(9) as small:
            admin_client.get(URL, {"per_page": 25})
        with django_assert_max_num_queries(len(small.captured_queries)):
            response = admin_client.get(URL, {"per_page": 200})

        assert len(invoices(response)) == 40

    def test_htmx_requests_get_only_the_results(self, admin_client, retailer, places):
        sale(retailer, places["till"], 1)

        response = admin_client.get(URL, {"q": "1"}, headers={"HX-Request": "true"})

        body = response.content.decode()
        assert "<html" not in body and 'data-testid="sales-table"' in body


class TestSalesExport:
    def test_csv_streams_the_filtered_list_with_local_times_and_plain_decimals(self, admin_client, retailer, places):
        retailer.time_zone = "Europe/Paris"
        retailer.save()
        customer = factories.CustomerFactory(retailer=retailer, first_name="Ada", last_name="Lovelace")
        sale(
            retailer,
            places["online"],
            1,
            channel=Channel.BIGCOMMERCE,
            external_order_id="5001",
            customer=customer,
            total_inc_tax=Decimal("1234.5000"),
            amount_paid=Decimal("1000.1250"),
            sale_date=datetime(2026, 7, 1, 22, 30, tzinfo=UTC),
        )
        sale(retailer, places["till"], 2)

        response = admin_client.get(reverse("dashboard:sales_export"), {"channel": "bigcommerce"})

        assert response.streaming
        assert response["Content-Type"] == "text/csv"
        assert "attachment" in response["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert len(rows) == 1
        row = rows[0]
        assert row["Invoice"] == "1"
        assert row["Date (Europe/Paris)"] == "2026-07-02 00:30:00"  # Paris, summer time
        assert row["Customer"] == "Ada Lovelace"
        assert (row["Total"], row["Paid"], row["Balance"]) == ("1234.50", "1000.13", "234.38")

    def test_csv_money_is_rounded_as_the_pages_show_it(self, admin_client, retailer, places):
        shown = sale(retailer, places["till"], 1, total_ex_tax=Decimal("53.4950"), total_inc_tax=Decimal("588.4450"))

        export = admin_client.get(reverse("dashboard:sales_export"))
        page = admin_client.get(reverse("dashboard:sale_detail", args=[shown.pk])).content.decode()

        row = next(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
        assert (row["Total ex tax"], row["Total"]) == ("53.50", "588.45")
        assert ">53.50<" in page and ">588.45<" in page

    def test_text_that_a_spreadsheet_would_run_as_a_formula_stays_text(self, admin_client, retailer, places):
        evil = factories.CustomerFactory(retailer=retailer, first_name="=HYPERLINK(1)", last_name="", email="@x.com")
        sale(retailer, places["till"], 1, customer=evil)

        response = admin_client.get(reverse("dashboard:sales_export"))

        row = next(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert (row["Customer"], row["Customer email"]) == ("'=HYPERLINK(1)", "'@x.com")


class TestSaleDetail:
    def test_shows_lines_payments_refunds_customer_both_statuses_fulfilment_and_the_order_links(
        self, admin_client, history_shop
    ):
        grace = history_shop.sales["grace"]
        factories.FulfillmentFactory(sale=grace, retailer=history_shop.retailer, tracking_number="1Z999", carrier="UPS")

        response = admin_client.get(reverse("dashboard:sale_detail", args=[grace.pk]))

        body = response.content.decode()
        assert "Trail Runner Shoe" in body
        assert "-18.00" in body  # the refund, negative
        assert "Grace Hopper" in body
        assert "Partially Refunded" in body and "Closed" in body
        assert "UPS 1Z999" in body
        assert "https://store-acme42.mybigcommerce.com/manage/orders/5002" in body
        assert reverse("dashboard:order_timeline", args=[history_shop.link.pk, 5002]) in body
        assert "imported as sale" in body  # the recent sync activity

    def test_fulfilment_progress_and_address_in_postal_order(self, admin_client, history_shop):
        body = admin_client.get(reverse("dashboard:sale_detail", args=[history_shop.sales["ada"].pk])).content.decode()

        assert "Delivery · Picking" in body
        assert "12 Analytical Way, London, N1 9GU, UK" in body
        assert "Picking started" in body

    def test_an_in_store_sale_has_no_bigcommerce_links(self, admin_client, history_shop):
        response = admin_client.get(reverse("dashboard:sale_detail", args=[history_shop.sales["till"].pk]))

        body = response.content.decode()
        assert response.status_code == 200
        assert "Open in BigCommerce" not in body and "Not an online order" in body

    def test_query_count_does_not_grow_with_lines_and_payments(
        self, admin_client, history_shop, django_assert_max_num_queries
    ):
        ada = history_shop.sales["ada"]
        url = reverse("dashboard:sale_detail", args=[ada.pk])
        with django_assert_max_num_queries(20) as before:
            admin_client.get(url)
        for _ in range(10):
            factories.SaleLineFactory(sale=ada)
            factories.SalePaymentFactory(sale=ada, kind=PaymentKind.PAYMENT)

        with django_assert_max_num_queries(len(before.captured_queries)):
            admin_client.get(url)

    def test_the_sync_state_shows_beside_the_statuses(self, admin_client, history_shop):
        ada = history_shop.sales["ada"]
        ada.order_sync.state = OrderSyncState.NEEDS_ATTENTION
        ada.order_sync.last_error_message = "Order 5001 was cancelled."
        ada.order_sync.save()

        body = admin_client.get(reverse("dashboard:sale_detail", args=[ada.pk])).content.decode()

        assert "Needs attention" in body and "Order 5001 was cancelled." in body
