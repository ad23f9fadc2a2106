"""Drill 6: a corpus of bad input, at the webhook endpoint and in the order data BigCommerce serves.

Every case gets a clear answer: a 4xx with a reason code at the endpoint (never a 500), or, for an order, either an
import that keeps what can be kept or "needs attention" with a specific reason code in the sync log (never the
catch-all internal error), and nothing lost: every order has its sync row and a log entry saying what happened.
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import pytest

from integration.models import OrderSync, SyncLogEntry, WebhookEvent
from pos.choices import ProductKind
from pos.models import Sale
from tests.drills.support import WEBHOOK_PATH, request_syncs, webhook_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# ---------------------------------------------------------------- the endpoint


def _endpoint_corpus(store, link, settings) -> list[tuple[str, bytes, dict, int, str]]:
    """(case, body, headers, expected status, expected reason or outcome)."""
    good = {"HTTP_X_POS_WEBHOOK_AUTH": f"{link.pk}:{link.webhook_secret}"}

    def body(**changes) -> bytes:
        payload = json.loads(webhook_body(store, "store/order/created", 101))
        for key, value in changes.items():
            if key.startswith("data_"):
                payload["data"][key.removeprefix("data_")] = value
            elif value is None:
                payload.pop(key, None)
            else:
                payload[key] = value
        return json.dumps(payload).encode()

    big = settings.WEBHOOK_MAX_BODY_BYTES
    return [
        ("malformed JSON", b'{"scope": "store/order/created", ', good, 400, "malformed_json"),
        ("not UTF-8", b"\xff\xfe{}", good, 400, "malformed_json"),
        ("a JSON array", b"[1, 2]", good, 400, "malformed_json"),
        ("empty body", b"", good, 400, "malformed_json"),
        ("missing secret", body(), {}, 401, "missing_secret"),
        ("forged secret", body(), {"HTTP_X_POS_WEBHOOK_AUTH": f"{link.pk}:forged"}, 401, "unknown_secret"),
        ("secret of an unknown link", body(), {"HTTP_X_POS_WEBHOOK_AUTH": "999999:x"}, 401, "unknown_secret"),
        ("header without a link id", body(), {"HTTP_X_POS_WEBHOOK_AUTH": "secret"}, 401, "missing_secret"),
        (
            "forged signature",
            body(),
            {"HTTP_WEBHOOK_SIGNATURE": "v1,AAAA", "HTTP_WEBHOOK_ID": "m", "HTTP_WEBHOOK_TIMESTAMP": "1"},
            401,
            "stale_signature",
        ),
        ("huge body", b"{" + b" " * (big + 10) + b"}", good, 413, "body_too_large"),
        ("huge body, within the limit once padded", body(data_pad="x" * (big - 400)), good, 200, "accepted"),
        ("unknown scope", body(scope="store/product/updated"), good, 200, "ignored_scope"),
        ("unknown order scope", body(scope="store/order/teleported"), good, 200, "ignored_scope"),
        ("missing hash", body(hash=None), good, 400, "missing_hash"),
        ("missing scope", body(scope=None), good, 400, "missing_scope"),
        ("data not an object", body(data=[1]), good, 400, "missing_data"),
        ("order id missing", body(data_id=None), good, 400, "missing_order_id"),
        ("order id zero", body(data_id=0), good, 400, "missing_order_id"),
        ("order id negative", body(data_id=-5), good, 400, "missing_order_id"),
        ("order id a word", body(data_id="abc"), good, 400, "missing_order_id"),
        ("order id a fraction", body(data_id=101.5), good, 400, "missing_order_id"),
        ("order id beyond 64 bits", body(data_id=10**30), good, 400, "missing_order_id"),
        ("NUL in the hash", body(hash="abc\u0000def"), good, 400, "nul_character"),
        ("NUL in the data", body(data_note="a\u0000b"), good, 400, "nul_character"),
        ("another store's id", body(store_id="42"), good, 400, "store_mismatch"),
        (
            "unknown status ids in the data",
            body(data_status={"previous_status_id": 99, "new_status_id": 77}),
            good,
            200,
            "accepted",
        ),
        ("non-ASCII everywhere", body(scope="store/order/créé", data_name="名前" * 50), good, 200, "ignored_scope"),
        ("a very long hash", body(hash="h" * 5000), good, 200, "accepted"),
        (
            "nested 1,000 levels deep",
            body(data_x="N").replace(b'"N"', b"[" * 1000 + b"]" * 1000),
            good,
            400,
            "nested_too_deep",
        ),
        (
            "a number beyond a double",
            body(data_total="N").replace(b'"N"', b"1e999999"),
            good,
            400,
            "number_out_of_range",
        ),
        ("NaN", body(data_total="N").replace(b'"N"', b"NaN"), good, 400, "number_out_of_range"),
        ("lone surrogate in the hash", body(hash="N").replace(b'"N"', b'"h\\ud800"'), good, 400, "invalid_unicode"),
        ("lone surrogate in the data", body(data_note="N").replace(b'"N"', b'"\\udfff"'), good, 400, "invalid_unicode"),
    ]


def test_drill_6_bad_deliveries_at_the_webhook_endpoint_get_a_clear_answer(sandbox, link, client, settings, figures):
    answers = Counter()
    wrong = []
    for case, data, headers, status, reason in _endpoint_corpus(sandbox.store, link, settings):
        response = client.generic("POST", WEBHOOK_PATH, data, content_type="application/json", **headers)
        answer = response.json()
        got = answer.get("reason") or answer.get("status")
        got = "accepted" if got in ("queued", "absorbed") else got  # absorbed: a sync of order 101 already waits
        answers[response.status_code] += 1
        if (response.status_code, got) != (status, reason):
            wrong.append((case, response.status_code, got))
    figures.add("deliveries", sum(answers.values()))
    figures.add("answers", dict(sorted(answers.items())))
    assert not wrong, wrong
    assert 500 not in answers
    assert WebhookEvent.objects.count() == 3  # the three accepted deliveries, each stored


# ---------------------------------------------------------------- the order data


def _lines(body, products: bool) -> list[dict]:
    if products:
        return body
    consignments = body.get("consignments") or {}
    return [li for c in consignments.get("shipping", []) + consignments.get("pickups", []) for li in c["line_items"]]


def _on_lines(change):
    def patch(body, products):
        for index, line in enumerate(_lines(body, products)):
            change(index, line)

    return patch


def _on_order(change):
    def patch(body, products):
        if not products:
            change(body)

    return patch


def _no_lines(body, products):
    if products:
        body.clear()
    else:
        for c in body["consignments"]["shipping"] + body["consignments"]["pickups"]:
            c["line_items"] = []


ORDER_CASES = {
    # case: (patch, expected state, expected reason code or "")
    "unknown status id": (
        _on_order(lambda b: b.update(status_id=42, status="Teleported")),
        "needs_attention",
        "unknown_status",
    ),
    "negative quantity": (
        _on_lines(lambda i, li: li.update(quantity=-2) if i == 0 else None),
        "needs_attention",
        "unparseable",
    ),
    "zero quantity": (_on_lines(lambda i, li: li.update(quantity=0) if i == 0 else None), "imported", ""),
    "money with 6 decimals": (
        _on_order(lambda b: b.update(total_inc_tax="12.345678", total_ex_tax="11.2233445", total_tax="1.1223335")),
        "imported",
        "",
    ),
    "line money with 7 decimals": (
        _on_lines(lambda i, li: li.update(price_inc_tax="3.1415926", total_inc_tax="6.2831852")),
        "imported",
        "",
    ),
    "money not a number": (_on_order(lambda b: b.update(total_inc_tax="NaN")), "needs_attention", "unparseable"),
    "money in exponent form": (_on_order(lambda b: b.update(total_inc_tax="1E+400")), "needs_attention", "unparseable"),
    "non-ASCII, very long SKU and name": (
        _on_lines(lambda i, li: li.update(sku="ÆØÅ-ß" * 120, name="Ünïcødé 名前 " * 90, product_id=9_000_000 + i)),
        "imported",
        "",
    ),
    "missing billing email": (_on_order(lambda b: b["billing_address"].update(email="")), "imported", ""),
    "billing email absent": (_on_order(lambda b: b["billing_address"].pop("email", None)), "imported", ""),
    "no lines": (_no_lines, "imported", ""),
    "a NUL in the customer message": (_on_order(lambda b: b.update(customer_message="hi\u0000there")), "imported", ""),
}


@pytest.mark.sandbox(orders=0)
def test_drill_6_bad_order_data_gets_a_reason_code_and_nothing_is_lost(sandbox, link, run_jobs, figures):
    store = sandbox.store
    cases: dict[int, tuple[str, str, str]] = {}
    for case, (patch, state, code) in ORDER_CASES.items():
        order_id = store.place_order(status_id=11, lines=2).id
        store.patch_order(order_id, patch)
        cases[order_id] = (case, state, code)
    deleted = store.place_order(status_id=11, lines=1)
    store.delete_product(deleted.lines[0].product_id)
    cases[deleted.id] = ("deleted product", "imported", "")
    many = store.place_order(status_id=11, lines=500)
    cases[many.id] = ("500 lines", "imported", "")

    request_syncs(link, list(cases))
    run_jobs("webhooks")

    wrong, seen = [], Counter()
    for order_id, (case, state, code) in cases.items():
        sync = OrderSync.objects.filter(link=link, bc_order_id=order_id).first()
        logged = SyncLogEntry.objects.filter(link=link, bc_order_id=order_id).exists()
        got = (sync.state, sync.last_error_code) if sync else ("lost", "")
        seen[got] += 1
        if got != (state, code) or not logged:
            wrong.append((case, got, sync.last_error_message[:200] if sync else "", logged))
    many_lines = Sale.objects.get(external_order_id=str(many.id)).lines
    assert many_lines.exclude(external_line_id__in=["shipping", "handling", "wrapping"]).count() == 500
    precise = next(oid for oid, (case, _, _) in cases.items() if case == "money with 6 decimals")
    assert Sale.objects.get(external_order_id=str(precise)).total_inc_tax == Decimal("12.3457")  # to 4 places
    figures.add("orders in the corpus", len(cases))
    figures.add("outcomes (state, reason)", {f"{state} {reason}".strip(): n for (state, reason), n in seen.items()})
    assert not wrong, wrong
    assert Sale.objects.filter(lines__product__kind=ProductKind.PLACEHOLDER).exists()
