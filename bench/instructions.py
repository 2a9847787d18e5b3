"""Instructions per API-key request: the gateway against the own-stack floor, by callgrind.

Figure 8 of `load.py` compares server CPU time per request, which follows
whatever else the machine runs. This counts the instructions the server
process executes per request instead (valgrind's callgrind), which repeats
to within a fraction of a percent on a busy machine too: the figure to check
a change of the request path against before the wall-clock run.

Each server runs under `valgrind --tool=callgrind`; a client warms it up,
the counters are zeroed (`callgrind_control -z`), a fixed number of keyed
`POST .../execute` requests are sent over ten keep-alive connections, and
the counters are dumped (`callgrind_control -d`). The floor is
`own_stack_floor.py`, the gateway runs as `load.py` runs it (memory limiter,
SQLite store, metrics on, access line off).

    python bench/instructions.py [--requests 1000] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import material, procs
from bench.procs import PYTHON, Children
from bench.report import machine, write_section

SECTION = "## Instructions per request (callgrind)"
WARMUP_REQUESTS = 300
CONNECTIONS = 10
# A Python server under callgrind starts about fifty times slower.
START_TIMEOUT_S = 300.0


async def drive(url: str, headers: dict[str, str], requests: int) -> None:
    """`requests` POSTs over CONNECTIONS keep-alive connections; each must succeed."""
    remaining = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def connection() -> None:
            for _ in remaining:
                async with session.post(url, headers=headers) as response:
                    await response.read()
                    if response.status >= 300:
                        raise RuntimeError(f"{url}: {response.status}")

        await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))


def dumped_instructions(out: Path) -> int:
    """Instructions in the dump `callgrind_control -d` wrote (the part after zeroing)."""
    dumps = sorted(out.parent.glob(out.name + ".*"))
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump next to {out}")
    text = dumps[-1].read_text(errors="replace")
    found = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no instruction total in {dumps[-1]}")
    return int(found.group(1))


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


async def per_request(name: str, argv: list[str], out: Path, keyed: bool, requests: int) -> float:
    callgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]
    async with Children() as children:
        server = await children.start(name, callgrind + argv, cpu=None)
        headers = {"X-API-Key": "wg_bench_floor_ignores_it"}
        if keyed:
            headers = {"X-API-Key": await material.create_key_via_api(server.url)}
        url = server.url + material.EXECUTE_PATH
        await drive(url, headers, WARMUP_REQUESTS)
        await callgrind_control("-z", server.pid)
        await drive(url, headers, requests)
        await callgrind_control("-d", server.pid)
        return dumped_instructions(out) / requests


async def measure(requests: int) -> dict[str, float]:
    procs.READY_TIMEOUT_S = START_TIMEOUT_S
    with tempfile.TemporaryDirectory(prefix="wgbench-instr-") as scratch:
        tmp = Path(scratch)
        async with Children() as children:
            owner = material.bench_signer().address
            upstream = await children.start(
                "upstream", [PYTHON, "bench/upstream.py", "--owner", owner], cpu=None
            )
            floor = [PYTHON, "bench/own_stack_floor.py", "--upstream", upstream.url]
            config = material.gateway_config(tmp / "gw.toml", f"sqlite:///{tmp}/keys.db")
            gateway = [PYTHON, "-m", "gateway", "--config", str(config), "gateway"]
            gateway += ["--upstream", upstream.url, "--port", "0", "--admin-port", "0"]
            return {
                "floor": await per_request("floor", floor, tmp / "floor.cg", False, requests),
                "gateway": await per_request("gateway", gateway, tmp / "gw.cg", True, requests),
            }


def section(counts: dict[str, float], requests: int) -> str:
    floor, gateway = counts["floor"], counts["gateway"]
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
            "| server | instructions per request | ratio |",
            "| --- | ---: | ---: |",
            f"| own-stack proxy floor | {floor / 1000:,.1f} k | 1.00x |",
            f"| walletgate, API-key execute | {gateway / 1000:,.1f} k | {gateway / floor:.2f}x |",
            "",
            "Reported beside figure 8 of the load section (server CPU time per request, "
            "target <= 1.5x), which it tracks.",
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
