"""Auth mode behind nginx vs proxy mode vs nginx alone, API-key execute, same run.

    python bench/ingress.py [--duration 10] [--repeats 3] [--no-write]

Three targets in front of the same instant upstream (bench/upstream.py):
walletgate in proxy mode; nginx running the configuration
`walletgate ingress nginx` prints (one worker) asking walletgate in auth mode;
nginx alone (proxy_pass, no authentication). The server side of each (the
gateway, or nginx plus the deciding gateway) is pinned to one core, wrk and
the upstream to the other; each repeat runs every target once in turn.
Writes the section "## Ingress (auth mode)" of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import material, wrk
from bench.procs import PYTHON, Child, Children, cpu_seconds, free_port, pick_cores
from bench.report import Figure, machine, median, per_s, render, write_section
from bench.services import nginx_argv
from bench.wrk import Load, WrkResult
from gateway.auth.policy import DEFAULT_ROUTES, RouteTable
from gateway.ingress import RENDERERS, build_plan

SECTION = "## Ingress (auth mode)"


def ingress_nginx_argv(root: Path, port: int, upstream: str, walletgate: str) -> list[str]:
    """The generated configuration, one worker, with private pid, log and temp paths."""
    plan = build_plan(f"127.0.0.1:{port}", upstream, walletgate, RouteTable(DEFAULT_ROUTES))
    text = RENDERERS["nginx"](plan).replace("worker_processes auto;", "worker_processes 1;")
    temps = "".join(
        f"    {name}_temp_path {root / 'tmp' / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("\nhttp {\n", "\nhttp {\n" + temps, 1)
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(text)
    main = f"daemon off; pid {root / 'nginx.pid'};"
    return ["nginx", "-p", str(root), "-c", str(conf), "-e", str(root / "error.log"), "-g", main]


async def measure(
    load: Load, cpu: int | None, servers: list[Child]
) -> tuple[WrkResult, list[float]]:
    """One wrk run, the CPU its server side (every process in `servers`) spent per
    request, and each server's own share of it (µs per request, in `servers` order)."""
    before = [cpu_seconds(s.pid) for s in servers]
    result = await wrk.run(load, cpu)
    each = [
        (cpu_seconds(s.pid) - b) * 1e6 / max(result.requests, 1)
        for s, b in zip(servers, before, strict=True)
    ]
    return replace(result, server_cpu_us=sum(each)), each


def runs(results: list[WrkResult]) -> str:
    values = ", ".join(f"{r.rate:,.0f}" for r in results)
    errors = sum(r.errors for r in results)
    cpu = median([r.server_cpu_us for r in results])
    return f"{values} req/s; errors {errors}; server-side CPU {cpu:.0f} µs/request"


async def run(args: argparse.Namespace) -> list[Figure]:
    cores = pick_cores()
    with tempfile.TemporaryDirectory(prefix="wgbench-ingress-") as scratch:
        tmp = Path(scratch)
        async with AsyncExitStack() as stack:
            children = await stack.enter_async_context(Children())
            owner = material.bench_signer().address
            upstream = await children.start(
                "upstream", [PYTHON, "bench/upstream.py", "--owner", owner], cpu=cores.client
            )

            async def gateway(name: str, extra: str) -> Child:
                config = material.gateway_config(tmp / f"{name}.toml", f"sqlite:///{tmp}/{name}.db")
                config.write_text(config.read_text() + extra)
                argv = [PYTHON, "-m", "gateway", "--config", str(config), "gateway"]
                argv += ["--upstream", upstream.url, "--port", "0", "--admin-port", "0"]
                return await children.start(name, argv, cpu=cores.server)

            proxy = await gateway("proxy", "")
            auth = await gateway(
                "auth", '[listen]\nmode = "auth"\ntrusted_proxies = ["127.0.0.1/32"]\n'
            )
            port, alone_port = free_port(), free_port()
            ingress = await children.start(
                "nginx+walletgate",
                ingress_nginx_argv(tmp / "ingress", port, upstream.url, auth.url),
                cpu=cores.server,
                ready=f"http://127.0.0.1:{port}",
            )
            alone = await children.start(
                "nginx",
                nginx_argv(tmp / "alone", alone_port, upstream.url),
                cpu=cores.server,
                ready=f"http://127.0.0.1:{alone_port}",
            )
            proxy_key = await material.create_key_via_api(proxy.url)
            auth_key = await material.create_key_via_api(ingress.url)
            path = material.EXECUTE_PATH
            targets = {
                "proxy": (proxy.url, [proxy], proxy_key),
                "auth": (ingress.url, [ingress, auth], auth_key),
                "nginx": (alone.url, [alone], proxy_key),
            }
            scripts = {
                name: wrk.static_script(tmp / f"{name}.lua", "POST", {"X-API-Key": key})
                for name, (_, _, key) in targets.items()
            }
            for name, (url, servers, _) in targets.items():
                warm = Load(url + path, scripts[name], args.warmup, args.connections)
                await measure(warm, cores.client, servers)  # warm-up only
            results: dict[str, list[WrkResult]] = {name: [] for name in targets}
            for rep in range(args.repeats):
                for name, (url, servers, _) in targets.items():
                    load = Load(url + path, scripts[name], args.duration, args.connections)
                    result, each = await measure(load, cores.client, servers)
                    results[name].append(result)
                    # walletgate's own CPU per decision, apart from nginx's.
                    if name == "auth":
                        results.setdefault("decision", []).append(
                            replace(result, server_cpu_us=each[-1])
                        )
                latest = ", ".join(f"{k} {results[k][-1].rate:,.0f}" for k in targets)
                print(f"repeat {rep + 1}: {latest}", flush=True)
    return figures(results, args)


def figures(results: dict[str, list[WrkResult]], args: argparse.Namespace) -> list[Figure]:
    rate = {name: median([r.rate for r in rs]) for name, rs in results.items()}
    cpu = {name: median([r.server_cpu_us for r in rs]) for name, rs in results.items()}
    common = (
        f"POST {material.EXECUTE_PATH} with an API key, wrk -t1 -c{args.connections}, "
        f"{args.duration:.0f} s per run; memory limiter, SQLite store, one process each."
    )
    cpu_text = (
        f"Server-side CPU per request: nginx + walletgate (auth) {cpu['auth']:.0f} µs, of "
        f"which walletgate {cpu['decision']:.0f} µs; walletgate proxy {cpu['proxy']:.0f} µs, "
        f"nginx alone {cpu['nginx']:.0f} µs."
    )
    decision = cpu["decision"] / cpu["proxy"]
    auth_share = rate["auth"] / rate["proxy"]
    return [
        Figure(
            1,
            "nginx + walletgate (auth mode) vs walletgate proxy mode",
            common + " nginx: the generated configuration (auth_request), one worker, "
            "on the same core as the deciding walletgate.",
            per_s(rate["auth"]),
            f"proxy mode {per_s(rate['proxy'])}",
            auth_share,
            ">= 0.7x",
            auth_share >= 0.7,
            f"auth {runs(results['auth'])}; proxy {runs(results['proxy'])}",
            cpu_text,
        ),
        Figure(
            3,
            "walletgate's CPU per decision vs its CPU per proxied request",
            common + " CPU time of the deciding walletgate process alone (auth mode, behind "
            "nginx) per request, against the proxy-mode walletgate's per request.",
            f"{cpu['decision']:.0f} µs/decision",
            f"proxy mode {cpu['proxy']:.0f} µs/request",
            decision,
            "<= 0.75x",
            decision <= 0.75,
            f"decision {runs(results['decision'])}",
            cpu_text,
        ),
        Figure(
            2,
            "nginx + walletgate (auth mode) vs nginx alone",
            common + " nginx alone: proxy_pass with keepalive, no authentication.",
            per_s(rate["auth"]),
            f"nginx alone {per_s(rate['nginx'])}",
            rate["auth"] / rate["nginx"],
            "reported",
            None,
            f"nginx {runs(results['nginx'])}",
            cpu_text,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("nginx") is None:
        sys.exit("bench/ingress.py needs wrk and nginx (apt-get install wrk nginx)")
    found = sorted(asyncio.run(run(args)), key=lambda figure: figure.number)
    settings = f"runs: {args.repeats} x {args.duration:.0f} s after {args.warmup:.0f} s warm-up"
    header = machine(pick_cores().describe(), settings)
    command = " ".join(["python bench/ingress.py", *sys.argv[1:]])
    section = render(found, header, SECTION, command)
    print(section)
    if not args.no_write:
        write_section(args.results, section)
        print(f"updated {args.results}")


if __name__ == "__main__":
    main()
