"""`walletgate sign --order FILE --scheme NAME [--gateway URL]`: a signed order body.

The scheme comes from the gateway's published document (`--gateway`) or from
the configuration's `[order_schemes.NAME]`, compiled by the same code the
gateway verifies with, so what this prints is what the gateway accepts.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.order_spec import CANONICAL_JSON, CANONICAL_JSON_SPEC, SchemeError
from gateway.wallets.order_schemes import OrderScheme, compile_scheme, scheme_from_document
from gateway.wallets.signing import sign_order_with_scheme, signer_for_scheme

SIGNING_KEY_ENV = "WALLETGATE_SIGNING_KEY"
_FETCH_TIMEOUT_S = 10


def read_private_key(key_file: str | None) -> str:
    # Never from an argument: command lines are visible to every local user.
    if key_file:
        return Path(key_file).read_text(encoding="utf-8").strip()
    secret = os.environ.get(SIGNING_KEY_ENV, "").strip()
    if not secret:
        raise ValueError(f"give --key-file or set {SIGNING_KEY_ENV}")
    return secret


def fetch_scheme(gateway_url: str, name: str) -> OrderScheme:
    url = f"{gateway_url.rstrip('/')}/api/v1/order-schemes/{urllib.parse.quote(name, safe='')}"
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("--gateway must be an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT_S) as response:
            document = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ValueError(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, json.JSONDecodeError) as exc:
        raise ValueError(f"{url}: {exc}") from None
    try:
        return scheme_from_document(document)
    except SchemeError as exc:
        raise ValueError(f"{url}: {exc}") from None


def configured_scheme(settings: Settings, name: str) -> OrderScheme:
    if name == CANONICAL_JSON:
        return compile_scheme(CANONICAL_JSON_SPEC)
    for spec in settings.order_schemes:
        if spec.name == name:
            return compile_scheme(spec)
    raise ValueError(f"--scheme {name!r}: no [order_schemes.{name}] in the configuration")


def _read_order(path: str) -> dict[str, Any]:
    order = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(order, dict):
        raise ValueError(f"{path}: an order is a JSON object")
    return order


def sign_order_body(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    name = args.scheme or CANONICAL_JSON
    scheme = fetch_scheme(args.gateway, name) if args.gateway else configured_scheme(settings, name)
    signer = signer_for_scheme(
        read_private_key(args.key_file), scheme, chain=args.chain, network=args.network
    )
    return sign_order_with_scheme(signer, scheme, _read_order(args.order))
