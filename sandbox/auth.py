"""BigCommerce's login side of a single-click app install, as far as the app sees it.

1. BigCommerce sends the merchant's browser to the app's auth callback with `code`, `scope`, `context`
   (`stores/{hash}`) and `account_uuid`: `AppAuth.issue_code()` makes such a query.
2. The app exchanges the code at `POST /oauth2/token` (JSON or form body): `AppAuth.exchange()` checks it and
   returns BigCommerce's token response (API-NOTES §9).
3. `/load` and `/uninstall` carry a `signed_payload_jwt`: `signed_payload_jwt()` mints one (HS256 with the
   client secret, `aud` the client id, `iss` "bc", `sub` "stores/{hash}").
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass

import jwt

ACCOUNT_UUID = "12345678-90ab-cdef-1234-567890abcdef"
DEFAULT_SCOPE = "store_v2_orders store_v2_transactions_read_only store_v2_products store_inventory"


@dataclass(frozen=True, slots=True)
class InstallUser:
    id: int = 24654
    email: str = "merchant@example.com"
    owner_id: int = 12345
    owner_email: str = "owner@example.com"


class TokenExchangeError(Exception):
    """The code exchange failed; `status` and the message are what BigCommerce would answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class AppAuth:
    """Auth codes issued for one store, redeemable once within ten minutes."""

    CODE_TTL_SECONDS = 600

    def __init__(self, *, store_hash: str, access_token: str, client_id: str, client_secret: str):
        self.store_hash = store_hash
        self.access_token = access_token
        self.client_id = client_id
        self.client_secret = client_secret
        self._codes: dict[str, tuple[str, str | None, float]] = {}
        self._lock = threading.Lock()

    def issue_code(self, *, scope: str = DEFAULT_SCOPE, redirect_uri: str | None = None) -> dict[str, str]:
        """The auth callback's query parameters for a fresh install."""
        code = secrets.token_urlsafe(12)
        with self._lock:
            self._codes[code] = (scope, redirect_uri, time.time())
        return {"code": code, "scope": scope, "context": f"stores/{self.store_hash}", "account_uuid": ACCOUNT_UUID}

    def exchange(self, form: dict[str, str], user: InstallUser | None = None) -> dict:
        """`POST /oauth2/token`: the token response, or TokenExchangeError."""
        user = user or InstallUser()
        required = ("client_id", "client_secret", "code", "context", "scope", "grant_type", "redirect_uri")
        missing = [name for name in required if not form.get(name)]
        if missing:
            raise TokenExchangeError(f"Missing parameter(s): {', '.join(missing)}")
        if form["grant_type"] != "authorization_code":
            raise TokenExchangeError("Unsupported grant type")
        if form["client_id"] != self.client_id or not secrets.compare_digest(form["client_secret"], self.client_secret):
            raise TokenExchangeError("Invalid client id or secret", status=401)
        with self._lock:
            issued = self._codes.pop(form["code"], None)
        if issued is None or time.time() - issued[2] > self.CODE_TTL_SECONDS:
            raise TokenExchangeError("Invalid or expired authorization code")
        scope, redirect_uri, _ = issued
        if form["context"] != f"stores/{self.store_hash}":
            raise TokenExchangeError("Invalid context")
        if redirect_uri and form["redirect_uri"] != redirect_uri:
            raise TokenExchangeError("Invalid redirect_uri")
        return {
            "access_token": self.access_token,
            "scope": scope,
            "user": {"id": user.id, "username": user.email, "email": user.email},
            "owner": {"id": user.owner_id, "username": user.owner_email, "email": user.owner_email},
            "context": f"stores/{self.store_hash}",
            "account_uuid": ACCOUNT_UUID,
        }


def signed_payload_jwt(
    *,
    client_id: str,
    client_secret: str,
    store_hash: str,
    user: InstallUser | None = None,
    url: str = "/",
    now: float | None = None,
    lifetime_seconds: int = 86_400,
) -> str:
    """A `signed_payload_jwt` as BigCommerce sends to `/load`, `/uninstall` and `/remove_user`."""
    user = user or InstallUser()
    issued = int(now if now is not None else time.time())
    claims = {
        "aud": client_id,
        "iss": "bc",
        "iat": issued,
        "nbf": issued - 5,
        "exp": issued - 5 + lifetime_seconds,
        "jti": str(uuid.uuid4()),
        "sub": f"stores/{store_hash}",
        "user": {"id": user.id, "email": user.email, "locale": "en-US"},
        "owner": {"id": user.owner_id, "email": user.owner_email},
        "url": url,
        "channel_id": None,
    }
    return jwt.encode(claims, client_secret, algorithm="HS256")
