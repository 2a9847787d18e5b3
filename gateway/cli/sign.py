"""`walletgate sign`: a signed management message or order, as JSON or as curl options.

`--format curl` prints a curl configuration (`curl -K -` reads it from a pipe):
the signature then never appears on a command line, which every local user
can read, and no shell quoting can break the signed JSON.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from gateway.cli.parser import examples, http_url, signing_domain
from gateway.cli.sign_order import SIGNING_KEY_ENV, read_private_key, sign_order_body
from gateway.config import Settings
from gateway.wallets.signing import load_signer, signed_body, signed_headers

FORMATS = ("json", "curl")
_FETCH_TIMEOUT_S = 10

_EXAMPLES = """
export WALLETGATE_SIGNING_KEY="$(cat wallet.key)"
walletgate sign --action create_api_key --field keyName=bot \\
    --field 'permissions=["create","execute","cancel"]' --format curl |
  curl -sS -K - http://127.0.0.1:8080/api/v1/api-keys
walletgate sign --action list_api_keys --headers --format curl |
  curl -sS -K - http://127.0.0.1:8080/api/v1/api-keys
walletgate sign --order order.json --gateway http://127.0.0.1:8080
"""


def add_sign_parser(commands: Any) -> None:
    sign = commands.add_parser(
        "sign",
        help="sign a management message or an order with a local private key file",
        **examples(_EXAMPLES),
    )
    sign.add_argument(
        "--key-file",
        metavar="FILE",
        help=f"file holding the hex private key (or ${SIGNING_KEY_ENV})",
    )
    sign.add_argument("--chain", choices=("stacks", "evm"), default="stacks")
    sign.add_argument("--network", choices=("mainnet", "testnet"), default="mainnet")
    sign.add_argument("--action", help="e.g. create_api_key, list_api_keys")
    sign.add_argument("--order", metavar="FILE", help="order JSON to sign; prints the body")
    sign.add_argument("--scheme", help="order scheme name (default canonical_json)")
    sign.add_argument(
        "--gateway",
        metavar="URL",
        type=http_url,
        help="ask this gateway for the order scheme and the signing domain (else the config)",
    )
    sign.add_argument(
        "--domain",
        metavar="HOST",
        type=signing_domain,
        help="the gateway's signatures.domain to bind the message to "
        "(default: --gateway's, else the configured one; '' for none)",
    )
    sign.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="message field; VALUE is read as JSON when it parses, else as text",
    )
    sign.add_argument(
        "--headers", action="store_true", help="sign for X-Message/X-Signature headers (GETs)"
    )
    sign.add_argument(
        "--format",
        choices=FORMATS,
        default="json",
        help="json (default), or curl: a curl config to pipe into `curl -K -`",
    )


def parse_field(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--field {text!r}: expected NAME=VALUE")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def fetch_domain(gateway_url: str) -> str | None:
    """The domain a gateway binds messages to (GET /api/v1/signing); None if unbound."""
    url = f"{gateway_url.rstrip('/')}/api/v1/signing"
    try:
        with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT_S) as response:
            document = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # a gateway older than domain binding
            return None
        raise ValueError(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, json.JSONDecodeError) as exc:
        raise ValueError(f"{url}: {exc}") from None
    domain = document.get("domain") if isinstance(document, dict) else None
    return domain if isinstance(domain, str) and domain else None


def message_domain(settings: Settings, args: argparse.Namespace) -> str | None:
    if args.domain is not None:
        return args.domain.strip() or None
    if args.gateway:
        return fetch_domain(args.gateway)
    configured = settings.signatures.domain
    return configured or None


def _curl_quoted(text: str) -> str:
    # curl config syntax: in double quotes, backslash escapes \\ and \".
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def curl_config(*, headers: Mapping[str, str] = {}, body: Any = None) -> str:
    lines = [f"header = {_curl_quoted(f'{name}: {value}')}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"header = {_curl_quoted('Content-Type: application/json')}")
        lines.append(f"data = {_curl_quoted(json.dumps(body, separators=(',', ':')))}")
    return "\n".join(lines)


def run_sign(settings: Settings, args: argparse.Namespace) -> int:
    if args.order:
        body = sign_order_body(settings, args)
        print(curl_config(body=body) if args.format == "curl" else json.dumps(body))
        return 0
    if not args.action:
        raise ValueError("give --action (a management message) or --order FILE")
    fields = dict(parse_field(f) for f in args.field)
    domain = message_domain(settings, args)
    if domain is not None:
        fields = {"domain": domain, **fields}
    signer = load_signer(read_private_key(args.key_file), chain=args.chain, network=args.network)
    if args.headers:
        headers = signed_headers(signer, args.action, fields)
        print(curl_config(headers=headers) if args.format == "curl" else json.dumps(headers))
    else:
        signed = signed_body(signer, args.action, fields)
        print(curl_config(body=signed) if args.format == "curl" else json.dumps(signed))
    return 0
