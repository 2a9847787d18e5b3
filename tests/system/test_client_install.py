"""The bot client (clients/python) installs into a fresh virtualenv and works
there without any of the gateway's server dependencies."""

from __future__ import annotations

import json
import shutil
import subprocess
import venv
from pathlib import Path

from gateway.wallets.signing import StacksSigner

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
SERVER_ONLY = ("asyncpg", "redis", "uvloop", "prometheus_client", "aiosqlite", "gateway")


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
