"""WalletGateClient: the wallet-signed key API and orders as an async library for bots.

Management calls are signed by the wallet; execute/cancel use the API key when one is set,
else the wallet's signed headers. A 429 is waited out (Retry-After, else X-RateLimit-Reset)
and retried, as a well-behaved bot should; other errors raise `WalletGateError`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

import aiohttp

from gateway.order_spec import CANONICAL_JSON
from gateway.wallets import signing
from gateway.wallets.order_schemes import OrderScheme, scheme_from_document
from gateway.wallets.signing import EvmSigner, Signer, StacksSigner

__all__ = ["EvmSigner", "StacksSigner", "WalletGateClient", "WalletGateError"]

ORDERS_NEW = "/api/v1/orders/new"
# Headers and JSON body of one attempt: signed afresh per attempt (a retry's first was spent).
Build = Callable[[], tuple[dict[str, str], Any]]


class WalletGateError(Exception):
    """An error answer of the gateway: its status, code, message and details (the error body)."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """The binding window of the last answer (X-RateLimit-* headers)."""

    limit: int
    remaining: int
    reset: int
    window: int


def _path(template: str, *values: str) -> str:
    return template.format(*(quote(v, safe="") for v in values))


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name, "")
    return int(value) if value.isdigit() else None


def _rate_limit_info(headers: Mapping[str, str]) -> RateLimitInfo | None:
    names = ("Limit", "Remaining", "Reset", "Window")
    try:
        return RateLimitInfo(*(int(headers[f"X-RateLimit-{name}"]) for name in names))
    except (KeyError, ValueError):
        return None


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:  # an answer from something other than the gateway (a proxy page)
        return None


def _object(body: Any) -> dict[str, Any]:
    """A successful answer's JSON object (the gateway answers 2xx with one)."""
    return cast(dict[str, Any], body)


def _creation_scheme(listed: Any) -> str:
    """The scheme of `POST /api/v1/orders/new` in an order-schemes listing."""
    for scheme in listed.get("schemes", []) if isinstance(listed, dict) else []:
        if {"method": "POST", "path": ORDERS_NEW} in scheme.get("routes", []):
            return str(scheme["name"])
    return CANONICAL_JSON


def _error(status: int, body: Any) -> WalletGateError:
    body = body if isinstance(body, dict) else {}
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    code, message = body.get("code") or f"HTTP_{status}", body.get("error") or f"HTTP {status}"
    return WalletGateError(status, str(code), str(message), details)


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
        self, name: str, permissions: Sequence[str] = ("create", "execute", "cancel"), **extra: Any
    ) -> dict[str, Any]:
        """A new key (201 body); `apiKey` is shown this once. Extra: ipAllowlist, expiresAt..."""
        fields = {"keyName": name, "permissions": list(permissions), **extra}
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
                body = _parse_json(await response.read())
            self.last_rate_limit = _rate_limit_info(answer_headers) or self.last_rate_limit
            if status < 400:
                return body
            delay = self._retry_delay(status, answer_headers)
            if delay is None or attempt == self.max_retries:
                raise _error(status, body)
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_delay(self, status: int, headers: Mapping[str, str]) -> float | None:
        """Seconds to wait before retrying a 429; None: do not retry."""
        if status != 429:
            return None
        delay: float | None = _int_header(headers, "Retry-After")
        reset = _int_header(headers, "X-RateLimit-Reset")
        if delay is None and reset is not None:
            delay = max(reset - self._clock(), 0.0)
        return delay if delay is not None and delay <= self.max_wait_s else None
