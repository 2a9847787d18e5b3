"""Runs doc blocks as a reader pastes them, in a clone-like directory, against `walletgate run`.

The directory holds the repository's files and `.venv` (this virtualenv), so
`.venv/bin/walletgate`, `config/walletgate.toml` and `walletgate` on PATH all
work as in a clone. One `walletgate run` per document listens on free ports;
blocks name it as the README does (http://127.0.0.1:8080, admin :9100, backend
:8081) and that origin is rewritten to the real one: the only change made to
what the reader pastes, so several suites can run at once on one machine.
A block that itself starts a server (`walletgate run|gateway|backend`) is
started with free ports, passes once it prints where it listens, and stopped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.docs.blocks import ROOT, Block, Kind

BLOCK_TIMEOUT_S = 120
START_TIMEOUT_S = 30
VENV_BIN = Path(sys.executable).parent
SERVER = re.compile(
    r"^\s*(?:\S*/)?walletgate(?:\s+--\S+(?:[ =][^-\s]\S*)?)*\s+(?:run|gateway|backend)\b"
)
PORTS = ("WALLETGATE_LISTEN__PORT", "WALLETGATE_ADMIN__PORT", "WALLETGATE_BACKEND__PORT")
DOC_ORIGINS = {
    "gateway": "http://127.0.0.1:8080",
    "admin": "http://127.0.0.1:9100",
    "backend": "http://127.0.0.1:8081",
}


def clone_into(work: Path) -> None:
    """The repository's tracked files (as a fresh clone has them) and `.venv`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = ROOT / name
        if source.is_file():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (work / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    typescript = ROOT / "clients" / "typescript"
    if (typescript / "package.json").is_file():
        modules = work / "node_modules"
        modules.mkdir(exist_ok=True)
        (modules / "walletgate-client").symlink_to(typescript, target_is_directory=True)


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    clean["PATH"] = f"{VENV_BIN}{os.pathsep}{clean.get('PATH', '')}"
    clean["PYTHONDONTWRITEBYTECODE"] = "1"
    return clean | (extra or {})


@dataclass
class Server:
    process: subprocess.Popen[str]
    urls: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def drain(self) -> None:
        """Keep reading its output, so a chatty server never blocks on a full pipe."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.reader is not None:
            self.reader.join(timeout=15)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_server(command: list[str], cwd: Path, *, expect: int) -> Server:
    """Start `command` in its own process group; wait for `expect` 'listening on' lines."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=environment(dict.fromkeys(PORTS, "0")),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = Server(process)
    deadline = time.monotonic() + START_TIMEOUT_S
    assert process.stdout is not None
    while len(server.urls) < expect and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        server.output.append(line)
        # Also inside a JSON log line: only the phrase and the URL are relied on.
        found = re.search(r"(\w+) listening on (http://[^\s\"',]+)", line)
        if found:
            server.urls[found[1]] = found[2]
    server.reader = threading.Thread(target=server.drain, daemon=True)
    server.reader.start()
    return server


def rewrite(text: str, urls: dict[str, str]) -> str:
    for name, origin in DOC_ORIGINS.items():
        if name in urls:
            text = text.replace(origin, urls[name])
    return text


@dataclass(frozen=True, slots=True)
class Outcome:
    block: Block
    ok: bool
    detail: str = ""


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_shell(block: Block, text: str, work: Path) -> Outcome:
    if any(SERVER.match(line) for line in text.splitlines()):
        return _run_server_block(block, text, work)
    script = "set -eo pipefail\n" + text
    return _run([shutil.which("bash") or "bash", "-c", script], block, work)


def _run_server_block(block: Block, text: str, work: Path) -> Outcome:
    commands = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    if not SERVER.match(commands[-1]):
        return Outcome(block, False, "the server command must end its block: later lines never run")
    server = start_server(["bash", "-c", "set -eo pipefail\n" + text], work, expect=1)
    try:
        if server.urls:
            return Outcome(block, True)
        server.process.wait(timeout=5)
        return Outcome(block, False, f"never listened:\n{_tail(''.join(server.output))}")
    finally:
        server.stop()


def run_python(block: Block, text: str, work: Path) -> Outcome:
    script = work / f"block_{block.path.stem}_{block.line}.py"
    script.write_text(text, encoding="utf-8")
    return _run([str(VENV_BIN / "python"), script.name], block, work)


def run_javascript(block: Block, text: str, work: Path) -> Outcome:
    script = work / f"block_{block.path.stem}_{block.line}.mjs"
    script.write_text(text, encoding="utf-8")
    return _run([shutil.which("node") or "node", script.name], block, work)


def check_toml(block: Block, text: str, work: Path) -> Outcome:
    from gateway.config import ConfigError, load_settings
    from gateway.wallets.order_checks import check_settings

    path = work / f"block_{block.path.stem}_{block.line}.toml"
    path.write_text(text, encoding="utf-8")
    try:
        check_settings(load_settings(str(path), environ={}))
    except ConfigError as exc:
        return Outcome(block, False, f"configuration error: {exc}")
    return Outcome(block, True)


def _run(command: list[str], block: Block, work: Path) -> Outcome:
    try:
        done = subprocess.run(
            command,
            cwd=work,
            env=environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return Outcome(block, False, f"still running after {BLOCK_TIMEOUT_S} s")
    if done.returncode != 0:
        output = f"{done.stdout}\n{done.stderr}"
        return Outcome(block, False, f"exit {done.returncode}:\n{_tail(output)}")
    return Outcome(block, True)


RUNNERS = {
    Kind.SHELL: run_shell,
    Kind.PYTHON: run_python,
    Kind.JAVASCRIPT: run_javascript,
    Kind.TOML: check_toml,
}
