"""Real nginx and Caddy processes running the configurations `walletgate ingress` prints.

Each runs on a free loopback port with every path it writes (pid, logs, temp
bodies, Caddy's autosave) inside the test's tmp directory. A test that needs
one skips only when the binary is absent and CI is unset; in CI it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.auth.policy import DEFAULT_ROUTES, RouteTable
from gateway.ingress import RENDERERS, build_plan
from tests.support.services import free_port

START_BOUND_S = 15.0
BINARIES = {"nginx": "/usr/sbin/nginx", "caddy": "/usr/bin/caddy"}


def binary(kind: str) -> str:
    """The ingress binary, or a skip (locally) / failure (CI) when it is missing."""
    found = shutil.which(kind) or (BINARIES[kind] if os.path.exists(BINARIES[kind]) else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{kind} is not installed; .ci/run installs it")
        pytest.skip(f"{kind} is not installed")
    return found


def generated_config(kind: str, listen_port: int, upstream: str, walletgate: str) -> str:
    plan = build_plan(f"127.0.0.1:{listen_port}", upstream, walletgate, RouteTable(DEFAULT_ROUTES))
    return RENDERERS[kind](plan)


def private_nginx_paths(config: str, root: Path) -> str:
    """The generated file, plus temp paths under `root` (Debian compiles in /var/lib/nginx)."""
    temps = "".join(
        f"    {name}_temp_path {root / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    assert config.count("\nhttp {\n") == 1
    return config.replace("\nhttp {\n", "\nhttp {\n" + temps, 1)


def _command(kind: str, config: str, root: Path) -> list[str]:
    path = root / ("nginx.conf" if kind == "nginx" else "Caddyfile")
    if kind == "nginx":
        path.write_text(private_nginx_paths(config, root), encoding="utf-8")
        main = f"daemon off; pid {root / 'nginx.pid'};"
        if os.geteuid() == 0:
            main += " user root;"  # workers write temp files into the private root
        return [binary(kind), "-p", str(root), "-c", str(path), "-e", "stderr", "-g", main]
    path.write_text(config, encoding="utf-8")
    return [binary(kind), "run", "--config", str(path), "--adapter", "caddyfile"]


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_BOUND_S
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"ingress did not start:\n{log.read_text(errors='replace')}")


@contextmanager
def running_ingress(kind: str, upstream: str, walletgate: str, root: Path) -> Iterator[str]:
    """Start `kind` with the generated configuration; yields its URL."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = _command(kind, generated_config(kind, port, upstream, walletgate), root)
    environ = os.environ | {"XDG_CONFIG_HOME": str(root), "XDG_DATA_HOME": str(root)}
    log = root / "ingress.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=sink, env=environ)
    try:
        _wait_for_port(process, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
