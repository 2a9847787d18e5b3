"""Instructions per request under callgrind: the API-key and signed paths and the
auth-mode decision, against the own-stack floor and recovery alone.

Figures 4 and 8 of `load.py` and figure 3 of `ingress.py` compare server CPU
time per request, which follows whatever else the machine runs. This counts
the instructions the server process executes per request instead
(valgrind's callgrind), which repeats to within a fraction of a percent on a
busy machine too: the figures to check a change of a request path against
before the wall-clock runs.

Each server runs under `valgrind --tool=callgrind`; a client warms it up,
the counters are zeroed (`callgrind_control -z`), a fixed number of requests
are sent over ten keep-alive connections, and the counters are dumped
(`callgrind_control -d`). The floor is `own_stack_floor.py`; the gateway
runs as `load.py` runs it (memory limiter, SQLite store, metrics on, access
line off), in auth mode as `ingress.py` runs it, asked as its nginx
configuration asks. Signed requests each carry a distinct signed
`execute_order` message (never a replay). Recovery alone is secp256k1
recovery as the gateway makes it, counted as the difference between two
runs of one script that recover the same signatures once and twice.

    python bench/instructions.py [--requests 1000] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import material, procs
from bench.procs import PYTHON, REPO, Children
from bench.report import machine, write_section

SECTION = "## Instructions per request (callgrind)"
WARMUP_REQUESTS = 300
CONNECTIONS = 10
# A Python server under callgrind starts about fifty times slower.
START_TIMEOUT_S = 300.0
RECOVERIES = 2000
CALLGRIND = ["valgrind", "--tool=callgrind", "--dump-instr=no"]
AUTH_MODE = '[listen]\nmode = "auth"\ntrusted_proxies = ["127.0.0.1/32"]\n'
DECISION_PATH = "/_walletgate/auth"


async def drive(url: str, headers: Iterator[dict[str, str]], requests: int, method: str) -> None:
    """`requests` requests over CONNECTIONS keep-alive connections, each with the
    next header set; each must succeed."""
    remaining = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def connection() -> None:
            for _ in remaining:
                async with session.request(method, url, headers=next(headers)) as response:
                    await response.read()
                    if response.status >= 300:
                        raise RuntimeError(f"{url}: {response.status} {await response.text()}")

        await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))


def same(headers: dict[str, str]) -> Iterator[dict[str, str]]:
    while True:
        yield headers


def signed_headers(source: Path) -> Iterator[dict[str, str]]:
    """The signed header sets of `material.signed_execute_file`, one per request."""
    for line in source.read_text().splitlines():
        yield dict(zip(material.SIGNED_HEADER_NAMES, line.split("\t"), strict=True))


def decision_headers(key: str) -> Iterator[dict[str, str]]:
    """What the printed nginx configuration sends walletgate for a keyed execute."""
    while True:
        yield {
            "X-API-Key": key,
            "X-Forwarded-For": "127.0.0.1",
            "X-Forwarded-Proto": "http",
            "X-Original-Method": "POST",
            "X-Original-URI": material.EXECUTE_PATH,
            "X-Walletgate-Decision-Id": secrets.token_hex(16),
        }


def total_instructions(dump: Path) -> int:
    found = re.search(r"^(?:summary|totals):\s+(\d+)", dump.read_text(errors="replace"), re.M)
    if found is None:
        raise RuntimeError(f"no instruction total in {dump}")
    return int(found.group(1))


def dumped_instructions(out: Path) -> int:
    """Instructions in the dump `callgrind_control -d` wrote (the part after zeroing)."""
    dumps = sorted(out.parent.glob(out.name + ".*"))
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump next to {out}")
    return total_instructions(dumps[-1])


async def callgrind_control(option: str, pid: int) -> None:
    """Zero (-z) or dump (-d) the counters of the callgrind run `pid`."""
    process = await asyncio.create_subprocess_exec(
        "callgrind_control",
        option,
        str(pid),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await process.wait() != 0:
        raise RuntimeError(f"callgrind_control {option} {pid} failed")


HeaderSource = Callable[[str], Awaitable[Iterator[dict[str, str]]]]


async def keyed(url: str) -> Iterator[dict[str, str]]:
    """A key made on the server at `url`, sent with every request."""
    return same({"X-API-Key": await material.create_key_via_api(url)})


async def per_request(
    children: Children,
    name: str,
    argv: list[str],
    out: Path,
    requests: int,
    headers_for: HeaderSource,
    path: str = material.EXECUTE_PATH,
    method: str = "POST",
) -> float:
    """Instructions per request of the server `argv`, asked with `headers_for(its URL)`."""
    server = await children.start(
        name, [*CALLGRIND, f"--callgrind-out-file={out}", *argv], cpu=None
    )
    try:
        headers = await headers_for(server.url)
        url = server.url + path
        await drive(url, headers, WARMUP_REQUESTS, method)
        await callgrind_control("-z", server.pid)
        await drive(url, headers, requests, method)
        await callgrind_control("-d", server.pid)
        return dumped_instructions(out) / requests
    finally:
        await children.stop(server)


RECOVERY = """
import hashlib, sys
from coincurve import PrivateKey
from gateway.wallets.secp256k1 import recover
key = PrivateKey(b"\\x11" * 32)
digests = [hashlib.sha256(n.to_bytes(8, "big")).digest() for n in range(int(sys.argv[1]))]
pairs = [(key.sign_recoverable(d, hasher=None), d) for d in digests]
for _ in range(int(sys.argv[2])):
    for signature, digest in pairs:
        recover(signature, digest).format()
"""


async def recovery_instructions(tmp: Path) -> float:
    """Instructions per secp256k1 recovery as the gateway makes it (as `load.py` times it)."""
    totals = []
    for rounds in (1, 2):
        out = tmp / f"recovery-{rounds}.cg"
        argv = [PYTHON, "-c", RECOVERY, str(RECOVERIES), str(rounds)]
        process = await asyncio.create_subprocess_exec(
            *CALLGRIND, f"--callgrind-out-file={out}", *argv, cwd=REPO,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        if await process.wait() != 0:
            raise RuntimeError("the recovery script failed under callgrind")
        totals.append(total_instructions(out))
    return (totals[1] - totals[0]) / RECOVERIES


async def measure(requests: int) -> dict[str, float]:
    procs.READY_TIMEOUT_S = START_TIMEOUT_S
    with tempfile.TemporaryDirectory(prefix="wgbench-instr-") as scratch:
        tmp = Path(scratch)
        async with Children() as children:
            owner = material.bench_signer().address
            upstream = await children.start(
                "upstream", [PYTHON, "bench/upstream.py", "--owner", owner], cpu=None
            )
            source = await material.signed_execute_file(
                tmp / "signed.tsv", 0, WARMUP_REQUESTS + requests, 2
            )

            def gateway(name: str, extra: str = "") -> list[str]:
                config = material.gateway_config(tmp / f"{name}.toml", f"sqlite:///{tmp}/{name}.db")
                config.write_text(config.read_text() + extra)
                argv = [PYTHON, "-m", "gateway", "--config", str(config), "gateway"]
                return [*argv, "--upstream", upstream.url, "--port", "0", "--admin-port", "0"]

            async def unkeyed(url: str) -> Iterator[dict[str, str]]:
                return same({"X-API-Key": "wg_bench_floor_ignores_it"})

            async def signed(url: str) -> Iterator[dict[str, str]]:
                return signed_headers(source)

            async def decisions(url: str) -> Iterator[dict[str, str]]:
                return decision_headers(await material.create_key_via_api(url))

            floor = [PYTHON, "bench/own_stack_floor.py", "--upstream", upstream.url]
            runs: dict[str, tuple[list[str], HeaderSource, str, str]] = {
                "floor": (floor, unkeyed, material.EXECUTE_PATH, "POST"),
                "key": (gateway("key"), keyed, material.EXECUTE_PATH, "POST"),
                "signed": (gateway("signed"), signed, material.EXECUTE_PATH, "POST"),
                "decision": (gateway("auth", AUTH_MODE), decisions, DECISION_PATH, "GET"),
            }
            counts = {
                name: await per_request(
                    children, name, argv, tmp / f"{name}.cg", requests, headers, path, method
                )
                for name, (argv, headers, path, method) in runs.items()
            }
            counts["recovery"] = await recovery_instructions(tmp)
            return counts


def k(instructions: float) -> str:
    return f"{instructions / 1000:,.1f} k"


def section(counts: dict[str, float], requests: int) -> str:
    floor, key, signed = counts["floor"], counts["key"], counts["signed"]
    decision, recovery = counts["decision"], counts["recovery"]
    beyond = signed - key - recovery
    return "\n".join(
        [
            SECTION,
            "",
            "`python bench/instructions.py` (see docs/benchmarks.md): instructions the server",
            "process executes per request under callgrind, which a busy machine does not move.",
            "",
            *machine(
                "none (instruction counts do not depend on it)",
                f"requests: {requests} "
                f"after {WARMUP_REQUESTS} of warm-up, {CONNECTIONS} connections",
            ),
            "",
            "| server | instructions per request | ratio | tracks |",
            "| --- | ---: | ---: | --- |",
            f"| own-stack proxy floor | {k(floor)} | 1.00x | |",
            f"| walletgate, API-key execute | {k(key)} | {key / floor:.2f}x the floor "
            "| load figure 8 (<= 1.5x) |",
            f"| walletgate, signed-header execute | {k(signed)} | {signed / key:.2f}x the API-key "
            "path | load figure 4 |",
            f"| walletgate, auth-mode decision (nginx) | {k(decision)} | {decision / key:.2f}x "
            "the proxied request | ingress figure 3 (<= 0.75x) |",
            f"| secp256k1 recovery alone | {k(recovery)} | | load figure 4 |",
            "",
            f"The signed path's extra over the API-key path is {k(signed - key)} instructions: "
            f"recovery {k(recovery)} and {k(beyond)} besides ({beyond / key:.1%} of an API-key "
            "request; figure 4 allows recovery + 25 µs of wall-clock CPU).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench/instructions.py needs valgrind (apt-get install valgrind)")
    counts = asyncio.run(measure(args.requests))
    text = section(counts, args.requests)
    print(text)
    if not args.no_write:
        write_section(args.results, text)


if __name__ == "__main__":
    main()
