"""WalletGateClient: the wallet-signed key API and orders as an async library for bots.

Management calls are signed by the wallet; execute/cancel use the API key when one is set,
else the wallet's signed headers. A 429 is waited out (Retry-After, else X-RateLimit-Reset)
and retried, as a well-behaved bot should; other errors raise `WalletGateError`.
When the gateway binds messages to a domain (`GET /api/v1/signing`), every signed
message carries it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote

import aiohttp

from walletgate_client import signing
from walletgate_client._wallets.order_schemes import OrderScheme, scheme_from_document
from walletgate_client._wallets.order_spec import CANONICAL_JSON
from walletgate_client.answers import (
    RateLimitInfo,
    WalletGateError,
    error_of,
    int_header,
    parse_json,
    rate_limit_info,
)
from walletgate_client.signing import Signer

ORDERS_NEW = "/api/v1/orders/new"
# Headers and JSON body of one attempt: signed afresh per attempt (a retry's first was spent).
Build = Callable[[], tuple[dict[str, str], Any]]
_UNFETCHED = object()


def _path(template: str, *values: str) -> str:
    return template.format(*(quote(v, safe="") for v in values))


def _object(body: Any) -> dict[str, Any]:
    """A successful answer's JSON object (the gateway answers 2xx with one)."""
    return cast(dict[str, Any], body)


def _creation_scheme(listed: Any) -> str:
    """The scheme of `POST /api/v1/orders/new` in an order-schemes listing."""
    for scheme in listed.get("schemes", []) if isinstance(listed, dict) else []:
        if {"method": "POST", "path": ORDERS_NEW} in scheme.get("routes", []):
            return str(scheme["name"])
    return CANONICAL_JSON


def _key_fields(
    key_name: str,
    permissions: Sequence[str],
    ip_allowlist: Sequence[str] | None,
    expires_at: str | None,
    rate_limit: int | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {"keyName": key_name, "permissions": list(permissions)}
    if ip_allowlist is not None:
        fields["ipAllowlist"] = list(ip_allowlist)
    if expires_at is not None:
        fields["expiresAt"] = expires_at
    if rate_limit is not None:
        fields["rateLimit"] = rate_limit
    return fields


class WalletGateClient:
    """`async with WalletGateClient(url, api_key=..., signer=...) as client: ...`

    `max_retries` is how many times a rate-limited request is sent again;
    a wait longer than `max_wait_s` is not attempted and raises the 429.
    `sleep` and `clock` exist so tests can run the retry path without waiting.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        signer: Signer | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        max_retries: int = 3,
        max_wait_s: float = 60,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        if max_retries < 0 or max_wait_s < 0:
            raise ValueError("max_retries and max_wait_s must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.signer = signer
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self.last_rate_limit: RateLimitInfo | None = None
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep
        self._clock = clock
        self._last_ms = 0
        self._schemes: dict[str, OrderScheme] = {}
        self._domain: object = _UNFETCHED

    async def __aenter__(self) -> WalletGateClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- key management (signed by the wallet) -----------------------------------
    async def create_api_key(
        self,
        key_name: str,
        permissions: Sequence[str] = ("create", "execute", "cancel"),
        *,
        ip_allowlist: Sequence[str] | None = None,
        expires_at: str | None = None,
        rate_limit: int | None = None,
    ) -> dict[str, Any]:
        """A new key (201 body); `apiKey` is shown this once."""
        fields = _key_fields(key_name, permissions, ip_allowlist, expires_at, rate_limit)
        return _object(await self._signed("POST", "/api/v1/api-keys", "create_api_key", fields))

    async def list_api_keys(self) -> list[dict[str, Any]]:
        body = await self._signed("GET", "/api/v1/api-keys", "list_api_keys", {})
        return list(body["apiKeys"])

    async def get_api_key(self, key_id: str) -> dict[str, Any]:
        path = _path("/api/v1/api-keys/{}", key_id)
        return _object(await self._signed("GET", path, "get_api_key", {"keyId": key_id}))

    async def revoke_api_key(self, key_id: str) -> str:
        path = _path("/api/v1/api-keys/{}", key_id)
        body = await self._signed("DELETE", path, "delete_api_key", {"keyId": key_id})
        return str(body["message"])

    async def rotate_api_key(self, key_id: str, grace_seconds: int = 0) -> dict[str, Any]:
        path = _path("/api/v1/api-keys/{}/rotate", key_id)
        fields = {"keyId": key_id, "graceSeconds": grace_seconds}
        return _object(await self._signed("POST", path, "rotate_api_key", fields))

    # -- service-key dialect (seed 001): `api_key` is the service key ------------------
    async def generate_service_key(self, wallet_address: str) -> dict[str, Any]:
        """`POST /api-key/generate` for `wallet_address`; `api_key` is shown this once."""
        build = self._service(wallet_address)
        return _object(await self._request("POST", "/api-key/generate", build))

    async def revoke_service_key(self, wallet_address: str) -> dict[str, Any]:
        """`POST /api-key/revoke`: the wallet's key, revoked."""
        build = self._service(wallet_address)
        return _object(await self._request("POST", "/api-key/revoke", build))

    def _service(self, wallet_address: str) -> Build:
        if not self.api_key:
            raise ValueError("this call needs the service key as api_key")
        headers = {"X-API-Key": self.api_key, "X-Wallet-Address": wallet_address}
        return lambda: (headers, None)

    # -- orders (forwarded to the exchange) ------------------------------------------
    async def create_order(
        self, order: Mapping[str, Any], *, scheme: str | None = None
    ) -> dict[str, Any]:
        """Create an order, signed by `signer` unless it carries its own `signature`.

        It is signed under the scheme the gateway publishes for order creation
        (or the named `scheme`): canonical JSON, SIP-018 or EIP-712.
        """
        payload = dict(order)
        if "signature" not in payload:
            signer = self._require_signer()
            compiled = await self.order_scheme(scheme)
            payload = signing.sign_order_with_scheme(signer, compiled, payload)
        body = await self._request("POST", ORDERS_NEW, self._key_only(payload))
        return dict(body["data"])

    async def order_scheme(self, name: str | None = None) -> OrderScheme:
        """The compiled scheme orders are signed with (fetched once per name)."""
        if name is None:
            listed = await self._request("GET", "/api/v1/order-schemes", self._key_only())
            name = _creation_scheme(listed)
        if name not in self._schemes:
            path = _path("/api/v1/order-schemes/{}", name)
            document = await self._request("GET", path, self._key_only())
            self._schemes[name] = scheme_from_document(document)
        return self._schemes[name]

    async def execute_order(self, uuid: str) -> str:
        """Execute an own order; returns the transaction id."""
        body = await self._order_write("POST", "/api/v1/orders/{}/execute", "execute_order", uuid)
        return str(body["txid"])

    async def cancel_order(self, uuid: str) -> dict[str, Any]:
        body = await self._order_write("PATCH", "/api/v1/orders/{}/cancel", "cancel_order", uuid)
        return _object(body)

    async def get_order(self, uuid: str) -> dict[str, Any]:
        path = _path("/api/v1/orders/{}", uuid)
        body = await self._request("GET", path, self._key_only())
        return dict(body["data"])

    async def list_orders(self, **filters: str | int) -> tuple[list[dict[str, Any]], str | None]:
        """(orders, next cursor): a page, newest first; filters: owner, status, limit, cursor."""
        params = {name: str(value) for name, value in filters.items()}
        body = await self._request("GET", "/api/v1/orders", self._key_only(), params)
        return list(body["data"]), body.get("nextCursor")

    # -- authentication ------------------------------------------------------------------
    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise ValueError("this call needs a wallet signer")
        return self.signer

    def _key_only(self, payload: Any = None) -> Build:
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        return lambda: (headers, payload)

    def _timestamp_ms(self) -> int:
        # Strictly increasing: two messages signed in one millisecond would be
        # the same message, and the second would be refused as a replay.
        self._last_ms = max(int(self._clock() * 1000), self._last_ms + 1)
        return self._last_ms

    async def signing_domain(self) -> str | None:
        """The domain this gateway binds signed messages to (fetched once); None: unbound."""
        if self._domain is _UNFETCHED:
            try:
                document = await self._request("GET", "/api/v1/signing", self._key_only())
            except WalletGateError as exc:
                if exc.status != 404:  # 404: a gateway older than domain binding
                    raise
                document = {}
            domain = document.get("domain") if isinstance(document, dict) else None
            self._domain = domain if isinstance(domain, str) and domain else None
        return cast(str | None, self._domain)

    async def _order_write(self, method: str, template: str, action: str, uuid: str) -> Any:
        """Execute/cancel: by API key when one is set, else by the owner's signed headers."""
        path = _path(template, uuid)
        if self.api_key:
            return await self._request(method, path, self._key_only())
        return await self._signed(method, path, action, {"uuid": uuid}, in_headers=True)

    async def _signed(
        self, method: str, path: str, action: str, fields: dict[str, Any], in_headers: bool = False
    ) -> Any:
        """A call signed by the wallet; GETs carry the signature in headers, others in the body."""
        signer = self._require_signer()
        in_headers = in_headers or method == "GET"
        domain = await self.signing_domain()
        if domain is not None:
            fields = {"domain": domain, **fields}

        def sign() -> tuple[dict[str, str], Any]:
            now_ms = self._timestamp_ms()
            if in_headers:
                return signing.signed_headers(signer, action, fields, now_ms=now_ms), None
            return {}, signing.signed_body(signer, action, fields, now_ms=now_ms)

        return await self._request(method, path, sign)

    # -- sending, retrying a 429 after its reset ------------------------------------------
    async def _request(
        self, method: str, path: str, build: Build, params: Mapping[str, str] | None = None
    ) -> Any:
        """Send; on 429 wait as told and send again (rebuilt), up to `max_retries` times."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        for attempt in range(self.max_retries + 1):
            headers, payload = build()
            async with self._session.request(
                method, self.base_url + path, headers=headers, json=payload, params=params
            ) as response:
                status, answer_headers = response.status, response.headers
                body = parse_json(await response.read())
            self.last_rate_limit = rate_limit_info(answer_headers) or self.last_rate_limit
            if status < 400:
                return body
            delay = self._retry_delay(status, answer_headers)
            if delay is None or attempt == self.max_retries:
                raise error_of(status, body)
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_delay(self, status: int, headers: Mapping[str, str]) -> float | None:
        """Seconds to wait before retrying a 429; None: do not retry."""
        if status != 429:
            return None
        delay: float | None = int_header(headers, "Retry-After")
        reset = int_header(headers, "X-RateLimit-Reset")
        if delay is None and reset is not None:
            delay = max(reset - self._clock(), 0.0)
        return delay if delay is not None and delay <= self.max_wait_s else None
