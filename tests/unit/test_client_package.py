"""The bot client's distribution (clients/python): its copies of the gateway's
encoders are the gateway's code, and it installs and imports on its own."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

import gateway.client
import walletgate_client
from gateway.wallets.signing import StacksSigner

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
SERVER_ONLY = ("asyncpg", "redis", "uvloop", "prometheus_client", "aiosqlite", "gateway")


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


def test_client_installs_and_imports_without_the_gateway(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # From a copy: a build leaves build/ and *.egg-info beside the sources it reads.
    source = shutil.copytree(CLIENT, tmp_path / "client", ignore=shutil.ignore_patterns("build"))
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    probe = (
        "import importlib.util, json, sys\n"
        "from walletgate_client import StacksSigner, EvmSigner, WalletGateClient\n"
        f"absent = [m for m in {SERVER_ONLY!r} if importlib.util.find_spec(m)]\n"
        "stacks = StacksSigner(sys.argv[1])\n"
        "print(json.dumps({'absent': absent, 'address': stacks.address,"
        " 'signature': stacks.sign('hello')}))\n"
    )
    key = "e9873d79c6d87dc0fb6a5778633389f4453213303da61f20bd67fc233aa3326201"
    ran = subprocess.run(
        [python, "-c", probe, key], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["absent"] == []  # none of the server's dependencies came along
    reference = StacksSigner(key)
    assert result["address"] == reference.address
    assert result["signature"] == reference.sign("hello")
