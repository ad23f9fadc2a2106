"""The sandbox store: a local stand-in for one BigCommerce store, for tests, the demo and the benchmarks.

BigCommerce cannot be reached from here, so this package serves the endpoints the product uses, faithfully to
BigCommerce's published OpenAPI files (`../shared/bigcommerce/openapi/`): V2 money as 4-decimal strings, RFC 2822
dates, 204 past the last page, V3 envelopes with `meta.pagination`, V2 and V3 error shapes, the four rate-limit
headers and real 429s, thin webhooks with each hook's custom headers (retried, and on request duplicated or
reordered), fault injection, a request log, control endpoints under `/__sandbox__/`, and the login side of the
single-click app install (`POST /oauth2/token`, `signed_payload_jwt`).

Modules: `records` (compact order storage), `catalog` (seeded products, customers, addresses), `generator`
(the deterministic order generator), `amounts` (an order's totals), `store` (the state and every change a test
or the demo can make), `render` (BigCommerce's JSON shapes), `app` (the WSGI app), `control` (the
`/__sandbox__/` endpoints), `webhooks` (the deliverer thread), `faults`, `requestlog`, `auth` (app install),
`server` (a threaded server on a port),
`__main__` (`python -m sandbox`).

A development package (it needs werkzeug, a development dependency, and no Django): nothing in the product
imports it (`tests/sandbox/test_isolation.py` keeps it so); tests, benchmarks and `python -m sandbox` do.
"""

from __future__ import annotations
