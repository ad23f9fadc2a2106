"""Control endpoints under `/__sandbox__/`: drive the sandbox store over HTTP while it runs.

Bodies and answers are JSON; nothing here needs the API token (the sandbox listens on loopback).

| method and path | does |
|---|---|
| `GET /__sandbox__/info` | store hash, token, store id, client id and secret, order count |
| `POST /__sandbox__/orders` | place orders: `{"count": 3, "status_id": 11, "guest": true, "lines": 2, ...}` |
| `POST /__sandbox__/orders/<id>/status` | `{"status_id": 2}` |
| `POST /__sandbox__/orders/<id>/edit` | `{"line_id": 1001, "quantity": 3}`, `{"add_variant_id": 503}`, `{}` (+1) |
| `POST /__sandbox__/orders/<id>/cancel` | status Cancelled |
| `POST /__sandbox__/orders/<id>/refund` | `{"full": true}`, `{"amount": "5.00"}`, `{"lines": [[1001, 1]]}`, `{}` |
| `POST /__sandbox__/orders/<id>/archive` | archive (`is_deleted`) |
| `POST /__sandbox__/orders/<id>/capture` | capture an authorised payment (`payment_status` captured) |
| `POST /__sandbox__/orders/<id>/void` | void an authorised payment (`payment_status` void, the status unchanged) |
| `POST /__sandbox__/orders/<id>/ship` | shipped in the control panel: `{"lines": [[1001, 2]]}`, `{}` (all left) |
| `PUT /__sandbox__/inventory` | edited in the control panel: `{"location_id": 1, "variant_id": 503, "quantity": 7}` |
| `POST /__sandbox__/products` | add products without options: `{"count": 20000, "price": "10.00"}` (SKU `BULK-<id>`) |
| `DELETE /__sandbox__/products/<id>` | delete a product from the catalog |
| `GET`, `POST`, `DELETE /__sandbox__/faults` | list, add (`{"kind": "error", "endpoint": "get_order", ...}`), clear |
| `PUT /__sandbox__/quota` | `{"quota": 20, "window_ms": 1000}` |
| `PUT /__sandbox__/webhooks` | `{"duplicates": true, "out_of_order": true, "retry_schedule": [0.1], "senders": 8}` |
| `GET /__sandbox__/webhooks/deliveries` | every delivery attempt |
| `GET`, `DELETE /__sandbox__/requests` | the request log (`?endpoint=get_order&order_id=105`) and counts; clear it |
| `POST /__sandbox__/token/revoke` | the API token stops working (401) until a reset |
| `POST /__sandbox__/reset` | a fresh store of the same seed (`{"orders": 20}`) |
| `POST /__sandbox__/app/install` | an auth callback query (`code`, `scope`, `context`, `account_uuid`) |
| `POST /__sandbox__/app/signed-payload` | a `signed_payload_jwt` for `/load` or `/uninstall` (`{"url": "/"}`) |
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from sandbox.auth import signed_payload_jwt
from sandbox.faults import Fault
from sandbox.store import SandboxError

if TYPE_CHECKING:
    from sandbox.store import SandboxStore

_C = "/__sandbox__"
CONTROL_ROUTES: tuple[tuple[str, str, str], ...] = (
    (f"{_C}/info", "info", "GET"),
    (f"{_C}/orders", "place_orders", "POST"),
    (f"{_C}/orders/<int:order_id>/status", "set_status", "POST"),
    (f"{_C}/orders/<int:order_id>/edit", "edit_order", "POST"),
    (f"{_C}/orders/<int:order_id>/cancel", "cancel_order", "POST"),
    (f"{_C}/orders/<int:order_id>/refund", "refund_order", "POST"),
    (f"{_C}/orders/<int:order_id>/archive", "archive_order", "POST"),
    (f"{_C}/orders/<int:order_id>/ship", "ship_order", "POST"),
    (f"{_C}/orders/<int:order_id>/capture", "capture_payment", "POST"),
    (f"{_C}/orders/<int:order_id>/void", "void_payment", "POST"),
    (f"{_C}/inventory", "edit_inventory", "PUT"),
    (f"{_C}/products", "add_products", "POST"),
    (f"{_C}/products/<int:product_id>", "delete_product", "DELETE"),
    (f"{_C}/faults", "list_faults", "GET"),
    (f"{_C}/faults", "add_fault", "POST"),
    (f"{_C}/faults", "clear_faults", "DELETE"),
    (f"{_C}/quota", "set_quota", "PUT"),
    (f"{_C}/webhooks", "set_webhooks", "PUT"),
    (f"{_C}/webhooks/deliveries", "deliveries", "GET"),
    (f"{_C}/requests", "requests", "GET"),
    (f"{_C}/requests", "clear_requests", "DELETE"),
    (f"{_C}/token/revoke", "revoke_token", "POST"),
    (f"{_C}/reset", "reset", "POST"),
    (f"{_C}/app/install", "app_install", "POST"),
    (f"{_C}/app/signed-payload", "signed_payload", "POST"),
)
PLACE_OPTIONS = frozenset(
    {"status_id", "guest", "customer_id", "lines", "pickup", "coupon", "discount", "wrapping", "handling", "shipping"}
    | {"two_addresses", "no_sku", "tax_flip", "store_credit", "gift_certificate", "authorized", "pickup_location"}
    | {"fee", "currency", "exchange_rate", "without_consignments"}
)


class ControlApi:
    """Handlers of the control endpoints; each returns a JSON-able answer."""

    def __init__(self, store: SandboxStore):
        self.store = store

    def dispatch(self, name: str, request: Request, args: dict) -> Response:
        try:
            body = json.loads(request.get_data() or b"{}")
            if not isinstance(body, dict):
                raise SandboxError(400, "The body must be a JSON object.")
            status, answer = 200, getattr(self, name)(request, body, **args)
        except SandboxError as exc:
            status, answer = exc.status, {"error": exc.message, "errors": exc.errors}
        except (ValueError, TypeError, KeyError) as exc:
            status, answer = 400, {"error": f"{exc.__class__.__name__}: {exc}"}
        data = json.dumps(answer, ensure_ascii=False).encode()
        return Response(data, status=status, content_type="application/json")

    def info(self, request: Request, body: dict) -> dict:
        s = self.store.settings
        return {
            "base_url": request.host_url.rstrip("/"),
            "store_hash": s.store_hash,
            "access_token": s.access_token,
            "store_id": s.store_id,
            "client_id": s.client_id,
            "client_secret": s.client_secret,
            "orders": self.store.order_count(),
        }

    def place_orders(self, request: Request, body: dict) -> dict:
        count = int(body.get("count", 1))
        unknown = set(body) - PLACE_OPTIONS - {"count"}
        if unknown:
            raise SandboxError(400, f"Unknown option(s): {', '.join(sorted(unknown))}")
        options = {k: v for k, v in body.items() if k in PLACE_OPTIONS}
        return {"ids": self.store.place_orders(count, **options)}

    def add_products(self, request: Request, body: dict) -> dict:
        added = self.store.add_products(int(body.get("count", 1)), price=str(body.get("price", "10.00")))
        return {"ids": [p.id for p in added], "products": len(self.store.live_products())}

    def edit_inventory(self, request: Request, body: dict) -> dict:
        location_id, variant_id = int(body["location_id"]), int(body["variant_id"])
        quantity = self.store.edit_inventory(location_id, variant_id, int(body["quantity"]))
        return {"location_id": location_id, "variant_id": variant_id, "quantity": quantity}

    def set_status(self, request: Request, body: dict, order_id: int) -> dict:
        return {"id": self.store.set_status(order_id, int(body["status_id"])).id}

    def edit_order(self, request: Request, body: dict, order_id: int) -> dict:
        record = self.store.edit_order(
            order_id,
            line_id=body.get("line_id"),
            quantity=body.get("quantity"),
            add_variant_id=body.get("add_variant_id"),
        )
        return {"id": record.id, "lines": [[li.id, li.quantity] for li in record.lines]}

    def cancel_order(self, request: Request, body: dict, order_id: int) -> dict:
        return {"id": self.store.cancel_order(order_id).id}

    def refund_order(self, request: Request, body: dict, order_id: int) -> dict:
        lines = [(int(line_id), int(quantity)) for line_id, quantity in body.get("lines") or ()] or None
        refund = self.store.refund_order(order_id, full=bool(body.get("full")), lines=lines, amount=body.get("amount"))
        return {"refund_id": refund.id, "status_id": self.store.order(order_id).status_id}

    def capture_payment(self, request: Request, body: dict, order_id: int) -> dict:
        return {"id": self.store.capture_payment(order_id).id, "payment_status": "captured"}

    def void_payment(self, request: Request, body: dict, order_id: int) -> dict:
        return {"id": self.store.void_payment(order_id).id, "payment_status": "void"}

    def ship_order(self, request: Request, body: dict, order_id: int) -> dict:
        lines = [(int(line_id), int(quantity)) for line_id, quantity in body.get("lines") or ()] or None
        shipments = self.store.ship_in_control_panel(
            order_id, lines=lines, tracking_number=str(body.get("tracking_number", ""))
        )
        return {"shipment_ids": [s.id for s in shipments], "status_id": self.store.order(order_id).status_id}

    def archive_order(self, request: Request, body: dict, order_id: int) -> dict:
        return {"id": self.store.archive_order(order_id).id}

    def delete_product(self, request: Request, body: dict, product_id: int) -> dict:
        self.store.delete_product(product_id)
        return {"id": product_id, "deleted": True}

    def list_faults(self, request: Request, body: dict) -> dict:
        return {"faults": [f.as_dict() for f in self.store.faults.active()]}

    def add_fault(self, request: Request, body: dict) -> dict:
        return {"fault": self.store.faults.add(Fault.from_dict(body)).as_dict()}

    def clear_faults(self, request: Request, body: dict) -> dict:
        self.store.faults.clear()
        return {"faults": []}

    def set_quota(self, request: Request, body: dict) -> dict:
        quota = self.store.quota
        quota.configure(int(body.get("quota", quota.quota)), int(body.get("window_ms", quota.window_ms)))
        return {"quota": quota.quota, "window_ms": quota.window_ms}

    def set_webhooks(self, request: Request, body: dict) -> dict:
        deliverer = self.store.webhooks
        deliverer.duplicates = bool(body.get("duplicates", deliverer.duplicates))
        deliverer.out_of_order = bool(body.get("out_of_order", deliverer.out_of_order))
        if "retry_schedule" in body:
            deliverer.retry_schedule = tuple(float(s) for s in body["retry_schedule"])
        if "senders" in body:
            deliverer.set_senders(int(body["senders"]))
        return {
            "senders": deliverer.senders,
            "duplicates": deliverer.duplicates,
            "out_of_order": deliverer.out_of_order,
            "retry_schedule": list(deliverer.retry_schedule),
        }

    def deliveries(self, request: Request, body: dict) -> dict:
        return {"deliveries": [a.as_dict() for a in self.store.webhooks.attempts]}

    def requests(self, request: Request, body: dict) -> dict:
        order_id = request.args.get("order_id")
        records = self.store.request_log.records(
            endpoint=request.args.get("endpoint"), order_id=int(order_id) if order_id else None
        )
        return {"counts": self.store.request_log.counts(), "requests": [r.as_dict() for r in records]}

    def clear_requests(self, request: Request, body: dict) -> dict:
        self.store.request_log.clear()
        return {"requests": []}

    def revoke_token(self, request: Request, body: dict) -> dict:
        self.store.token_revoked = True
        return {"revoked": True}

    def reset(self, request: Request, body: dict) -> dict:
        self.store.reset(orders=int(body.get("orders", 0)))
        return {"orders": self.store.order_count()}

    def app_install(self, request: Request, body: dict) -> dict:
        options = {k: body[k] for k in ("scope", "redirect_uri") if body.get(k)}
        return self.store.auth.issue_code(**options)

    def signed_payload(self, request: Request, body: dict) -> dict:
        s = self.store.settings
        token = signed_payload_jwt(
            client_id=s.client_id, client_secret=s.client_secret, store_hash=s.store_hash, url=body.get("url", "/")
        )
        return {"signed_payload_jwt": token}
