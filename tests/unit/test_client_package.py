"""The bot client's distribution (clients/python): its copies of the gateway's
encoders are the gateway's code (tests/system/test_client_install.py installs it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gateway.client
import walletgate_client

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"
COPIES = {
    "address": "gateway/wallets/address.py",
    "errors": "gateway/wallets/errors.py",
    "evm": "gateway/wallets/evm.py",
    "stacks": "gateway/wallets/stacks.py",
    "clarity": "gateway/wallets/clarity.py",
    "eip712": "gateway/wallets/eip712.py",
    "sip018": "gateway/wallets/sip018.py",
    "order_schemes": "gateway/wallets/order_schemes.py",
    "order_spec": "gateway/order_spec.py",
}


def code_without_imports(path: Path) -> str:
    """The module's statements (docstring included) as an AST dump, imports left out:
    only the import paths differ between the gateway's module and the client's copy."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)]
    return "\n".join(ast.dump(node) for node in body)


@pytest.mark.parametrize("name", sorted(COPIES))
def test_client_encoder_is_a_copy_of_the_gateways(name):
    copy = CLIENT / "walletgate_client" / "_wallets" / f"{name}.py"
    assert code_without_imports(copy) == code_without_imports(ROOT / COPIES[name]), (
        f"{copy.relative_to(ROOT)} differs from {COPIES[name]}: run `make client-sync`"
    )


def test_gateway_client_reexports_the_distribution():
    for name in gateway.client.__all__:
        assert getattr(gateway.client, name) is getattr(walletgate_client, name)
