"""The cost of the access line: API-key execute req/s with `[log] access` off and on.

Both gateways run side by side against the same instant upstream and are
measured interleaved (each repeat runs both once, in alternating order), so
machine noise hits both alike. On a busy machine req/s follows whatever else
runs on the core; the server CPU time per request is the steadier figure.
The access-logging gateway writes JSON lines to stderr, a pipe this script
drains, as a container log driver would.

    python bench/access_log.py [--duration 10] [--repeats 3] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import material, wrk
from bench.procs import PYTHON, Child, Children, cpu_seconds, pick_cores
from bench.report import machine, median, write_section
from bench.wrk import Load, WrkResult

SECTION = "## Access log"


async def start_gateway(
    children: Children, cpu: int | None, name: str, config: Path, upstream: str, *flags: str
) -> Child:
    argv = [PYTHON, "-m", "gateway", "--config", str(config), *flags, "gateway"]
    argv += ["--upstream", upstream, "--port", "0", "--admin-port", "0"]
    return await children.start(name, argv, cpu=cpu)


async def measure(args: argparse.Namespace) -> dict[str, list[WrkResult]]:
    cores = pick_cores()
    with tempfile.TemporaryDirectory(prefix="wgbench-log-") as scratch:
        tmp = Path(scratch)
        async with Children() as children:
            owner = material.bench_signer().address
            upstream = await children.start(
                "upstream", [PYTHON, "bench/upstream.py", "--owner", owner], cpu=cores.client
            )
            gateways = {}
            for name, access in (("off", False), ("on", True)):
                config = material.gateway_config(tmp / f"{name}.toml", f"sqlite:///{tmp}/{name}.db")
                config.write_text(config.read_text() + f"[log]\naccess = {str(access).lower()}\n")
                gateways[name] = await start_gateway(
                    children, cores.server, f"gateway access {name}", config, upstream.url,
                    "--log-format", "json",
                )  # fmt: skip
            scripts = {}
            for name, gateway in gateways.items():
                key = await material.create_key_via_api(gateway.url)
                scripts[name] = wrk.static_script(tmp / f"{name}.lua", "POST", {"X-API-Key": key})
            path = material.EXECUTE_PATH
            for name, gateway in gateways.items():
                await wrk.run(Load(gateway.url + path, scripts[name], args.warmup), cores.client)
            results: dict[str, list[WrkResult]] = {name: [] for name in gateways}
            for rep in range(args.repeats):
                # Alternate which goes first, so neither always follows the other.
                order = list(gateways.items())
                for name, gateway in order if rep % 2 == 0 else order[::-1]:
                    load = Load(gateway.url + path, scripts[name], args.duration, args.connections)
                    before = cpu_seconds(gateway.pid)
                    result = await wrk.run(load, cores.client)
                    used_us = (cpu_seconds(gateway.pid) - before) * 1e6
                    per_request = used_us / max(result.requests, 1)
                    results[name].append(replace(result, server_cpu_us=per_request))
                print(f"repeat {rep + 1}: " + ", ".join(
                    f"access {n} {r[-1].rate:,.0f} req/s" for n, r in results.items()
                ))  # fmt: skip
    return results


def render(results: dict[str, list[WrkResult]], header: list[str], command: str) -> str:
    off = median([r.rate for r in results["off"]])
    on = median([r.rate for r in results["on"]])
    cpu = {n: median([r.server_cpu_us for r in runs]) for n, runs in results.items()}
    errors = sum(r.errors for runs in results.values() for r in runs)
    runs = "; ".join(
        f"access {n}: " + ", ".join(f"{r.rate:,.0f}" for r in rs) for n, rs in results.items()
    )
    return "\n".join(
        [
            SECTION,
            "",
            *header,
            "",
            f"Command: `{command}`",
            "",
            "API-key execute through the gateway (memory limiter, SQLite store), "
            "JSON lines on stderr; both gateways measured interleaved in the same run.",
            "",
            "| access log | req/s (median) | server CPU per request | change |",
            "| --- | ---: | ---: | ---: |",
            f"| off | {off:,.0f} | {cpu['off']:.0f} µs | - |",
            f"| on | {on:,.0f} | {cpu['on']:.0f} µs | {(on / off - 1) * 100:+.1f}% |",
            "",
            "| figure | measured | target | verdict |",
            "| --- | ---: | ---: | --- |",
            _target_row("throughput, on vs off", on / off, ">= 0.9x", on / off >= 0.9),
            _target_row(
                "server CPU per request, on vs off",
                cpu["on"] / cpu["off"],
                "<= 1.1x",
                cpu["on"] / cpu["off"] <= 1.1,
            ),
            "",
            f"Runs (req/s): {runs}. Errors (non-2xx or socket): {errors}.",
            "",
        ]
    )


def _target_row(name: str, ratio: float, target: str, passed: bool) -> str:
    return f"| {name} | {ratio:.2f}x | {target} | {'pass' if passed else '**FAIL**'} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/access_log.py needs wrk (apt-get install wrk)")
    results = asyncio.run(measure(args))
    settings = f"runs: {args.repeats} x {args.duration:.0f} s after {args.warmup:.0f} s warm-up"
    command = " ".join(["python bench/access_log.py", *sys.argv[1:]])
    section = render(results, machine(pick_cores().describe(), settings), command)
    print(section)
    if not args.no_write:
        write_section(args.results, section)


if __name__ == "__main__":
    main()
