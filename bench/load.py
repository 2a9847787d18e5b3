"""Load benchmarks of walletgate against references measured in the same run.

Figures: (1) API-key execute throughput vs a naive aiohttp proxy, (2) the same
as a share of nginx, (3) latency added at half of peak vs the own-stack proxy
floor's added latency at the same offered rate, (4) the signed-header path's
extra CPU over the API-key path vs secp256k1 recovery alone, (5) key creation
per second, (6) Redis limiter + PostgreSQL store vs memory + SQLite, (7) RSS
with 1,000,000 stored keys and 100,000 hot, then a bounded soak, (8) server
CPU per API-key request vs the own-stack proxy floor (bench/own_stack_floor.py:
the gateway's own listener and upstream pool forwarding with no policy),
(9) `--workers 2` vs 1, (10) the API-key path with Redis Cluster vs single Redis.

    python bench/load.py [--duration 10] [--repeats 3] [--soak-seconds 60]

Loopback only; every child process and every wrk run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path

# Run as a script from a checkout: make `gateway` and `bench` importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import material, wrk
from bench.memory import measure_memory
from bench.procs import (
    PYTHON,
    REPO,
    Child,
    Children,
    Cores,
    cpu_seconds,
    free_port,
    pick_cores,
    pinned,
)
from bench.report import Figure, machine, median, per_s, render, section_title, write_section
from bench.services import REDIS_URL, nginx_argv, pg_database, redis_cluster, redis_prefix
from bench.wrk import Load, WrkResult

# What a signed-header request may cost beyond the API-key path and recovery.
SIGNED_EXTRA_ALLOWANCE_US = 25.0


@dataclass(frozen=True, slots=True)
class Options:
    duration: float
    repeats: int
    warmup: float
    connections: int
    soak_seconds: float
    hot_keys: int
    stored_keys: int
    results: Path
    write: bool
    only: str


@dataclass(slots=True)
class Bench:
    """What every phase needs: options, cores, scratch directory, children."""

    options: Options
    cores: Cores
    tmp: Path
    children: Children
    upstream: Child | None = None
    cluster_url: str = ""

    async def wrk(self, load: Load, server: Child | None = None) -> WrkResult:
        """One wrk run; with `server`, also that server's CPU time per request."""
        before = cpu_seconds(server.pid) if server else 0.0
        result = await wrk.run(load, self.cores.client)
        if server is None:
            return result
        used = cpu_seconds(server.pid) - before
        return replace(result, server_cpu_us=used * 1e6 / max(result.requests, 1))

    def load(self, url: str, script: Path, **extra: object) -> Load:
        seconds = extra.pop("seconds", self.options.duration)
        connections = extra.pop("connections", self.options.connections)
        return Load(url, script, seconds, connections, **extra)  # type: ignore[arg-type]

    async def start_gateway(self, name: str, config: Path) -> Child:
        assert self.upstream is not None
        argv = [PYTHON, "-m", "gateway", "--config", str(config), "gateway"]
        argv += ["--upstream", self.upstream.url, "--port", "0", "--admin-port", "0"]
        return await self.children.start(name, argv, cpu=self.cores.server)


def runs_text(results: list[WrkResult], unit: str = "req/s") -> str:
    errors = sum(r.errors for r in results)
    values = ", ".join(f"{r.rate:,.0f}" for r in results)
    text = f"{values} {unit}; errors (non-2xx + socket) {errors}"
    if any(r.server_cpu_us for r in results):
        text += f"; server CPU {median([r.server_cpu_us for r in results]):.0f} µs/request"
    return text


def cpu_note(results: dict[str, list[WrkResult]], measured: str, reference: str) -> str:
    """CPU per request of both servers: the same comparison, immune to other load on the host."""
    mine = median([r.server_cpu_us for r in results[measured]])
    theirs = median([r.server_cpu_us for r in results[reference]])
    return (
        f"Server CPU per request: {measured} {mine:.0f} µs, {reference} {theirs:.0f} µs "
        f"(efficiency ratio {theirs / mine:.2f}x)."
    )


async def throughput(bench: Bench, dsn: str, prefix: str) -> list[Figure]:
    """Figures 1, 2, 4 and 6, measured interleaved: each repeat runs every target once."""
    o, tmp = bench.options, bench.tmp
    naive = await bench.children.start(
        "naive proxy",
        [PYTHON, "bench/naive_proxy.py", "--upstream", bench.upstream.url],  # type: ignore[union-attr]
        cpu=bench.cores.server,
    )
    memory_gw = await bench.start_gateway(
        "gateway", material.gateway_config(tmp / "gw.toml", f"sqlite:///{tmp}/keys.db")
    )
    scaled_config = material.gateway_config(
        tmp / "gw-rp.toml", dsn, redis_url=REDIS_URL, redis_prefix=prefix
    )
    scaled_gw = await bench.start_gateway("gateway redis+pg", scaled_config)
    floor = await bench.children.start(
        "floor app", [PYTHON, "bench/floor_app.py"], cpu=bench.cores.server
    )
    own_floor = await bench.children.start(
        "own-stack floor",
        [PYTHON, "bench/own_stack_floor.py", "--upstream", bench.upstream.url],  # type: ignore[union-attr]
        cpu=bench.cores.server,
    )
    cluster_gw = None
    if bench.cluster_url:
        cluster_config = material.gateway_config(
            tmp / "gw-cluster.toml", dsn, redis_url=bench.cluster_url, redis_prefix=prefix
        )
        cluster_gw = await bench.start_gateway("gateway cluster+pg", cluster_config)
    nginx = None
    if shutil.which("nginx"):
        port = free_port()
        nginx = await bench.children.start(
            "nginx",
            nginx_argv(tmp / "nginx", port, bench.upstream.url),  # type: ignore[union-attr]
            cpu=bench.cores.server,
            ready=f"http://127.0.0.1:{port}",
        )
    key = await material.create_key_via_api(memory_gw.url)
    scaled_key = await material.create_key_via_api(scaled_gw.url)
    keyed = wrk.static_script(tmp / "key.lua", "POST", {"X-API-Key": key})
    scaled_keyed = wrk.static_script(tmp / "key-rp.lua", "POST", {"X-API-Key": scaled_key})
    cluster_keyed = None
    if cluster_gw is not None:
        cluster_key = await material.create_key_via_api(cluster_gw.url)
        cluster_keyed = wrk.static_script(
            tmp / "key-cluster.lua", "POST", {"X-API-Key": cluster_key}
        )

    path = material.EXECUTE_PATH
    warm = await bench.wrk(bench.load(memory_gw.url + path, keyed, seconds=o.warmup))
    per_run = int(warm.rate * o.duration * 1.4) + 2000
    signed = []
    for n in range(o.repeats + 1):
        source = await material.signed_execute_file(
            tmp / f"signed-{n}.tsv", n * per_run, per_run, 2
        )
        names = material.SIGNED_HEADER_NAMES
        signed.append(wrk.header_cycle_script(tmp / f"signed-{n}.lua", source, path, names))

    targets = {
        "naive": (naive, keyed),
        "gateway": (memory_gw, keyed),
        "redis_pg": (scaled_gw, scaled_keyed),
        "floor": (floor, keyed),
        "own_floor": (own_floor, keyed),
    }
    if cluster_gw is not None and cluster_keyed is not None:
        targets["cluster"] = (cluster_gw, cluster_keyed)
    if nginx is not None:
        targets["nginx"] = (nginx, keyed)
    for server, script in (*targets.values(), (memory_gw, signed[0])):
        await bench.wrk(bench.load(server.url + path, script, seconds=o.warmup))
    results: dict[str, list[WrkResult]] = {
        name: [] for name in (*targets, "signature", "signed_client")
    }
    for rep in range(o.repeats):
        for name, (server, script) in targets.items():
            results[name].append(await bench.wrk(bench.load(server.url + path, script), server))
        sig = await bench.wrk(bench.load(memory_gw.url + path, signed[rep + 1]), memory_gw)
        results["signature"].append(sig)
        # The same signed-header script against the floor app: how fast wrk
        # itself can send it (its Lua builds every request from a file line).
        ceiling = await bench.wrk(
            bench.load(floor.url + path, signed[0], seconds=o.duration / 2), floor
        )
        results["signed_client"].append(ceiling)
        print(
            f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1].rate:,.0f}" for k, v in results.items())
        )
    rates = {name: median([r.rate for r in runs]) for name, runs in results.items()}
    clean = {name: sum(r.errors for r in runs) == 0 for name, runs in results.items()}
    gw = rates["gateway"]
    common = f"POST {path}, wrk -t1 -c{o.connections}, {o.duration:.0f} s per run"
    figures = [
        Figure(
            1,
            "API-key execute throughput vs naive aiohttp proxy",
            f"{common}; gateway: key cached, memory limiter, SQLite store, metrics on; "
            "naive proxy: bench/naive_proxy.py (one ClientSession, no auth, default loop).",
            per_s(gw),
            f"naive proxy {per_s(rates['naive'])}",
            gw / rates["naive"],
            ">= 1.0x",
            gw / rates["naive"] >= 1.0 and clean["gateway"] and clean["naive"],
            f"gateway {runs_text(results['gateway'])}; naive {runs_text(results['naive'])}",
            cpu_note(results, "gateway", "naive"),
        ),
    ]
    if nginx is not None:
        figures.append(
            Figure(
                2,
                "API-key execute throughput as share of nginx",
                f"{common}; nginx: one worker, proxy_pass with upstream keepalive 64, "
                "pinned to the same core as the gateway.",
                per_s(gw),
                f"nginx {per_s(rates['nginx'])}",
                gw / rates["nginx"],
                "reported",
                None,
                f"nginx {runs_text(results['nginx'])}",
                cpu_note(results, "gateway", "nginx")
                + " nginx's rate is capped by the other core (wrk and the upstream) long "
                "before its own core is busy, so the CPU per request is the fairer comparison.",
            )
        )
    recovery_us = await recovery_cost_us(bench.cores.server)
    figures.append(signed_extra(results, rates, recovery_us, common, clean["signature"]))
    scaled = rates["redis_pg"]
    figures.append(
        Figure(
            6,
            "Redis limiter + PostgreSQL store vs memory limiter + SQLite",
            f"{common}; a second gateway process, limiter in Redis 127.0.0.1:6379 (random "
            "prefix), keys in a fresh PostgreSQL database; one process each.",
            per_s(scaled),
            f"memory + SQLite {per_s(gw)}",
            scaled / gw,
            ">= 0.6x",
            scaled / gw >= 0.6 and clean["redis_pg"],
            f"redis+pg {runs_text(results['redis_pg'])}",
            cpu_note(results, "redis_pg", "gateway")
            + " (gateway process only: Redis and PostgreSQL run unpinned beside it.) "
            "Growth with processes: figure 9.",
        )
    )
    figures.append(own_stack_floor(results, common))
    if "cluster" in results:
        figures.append(cluster_figure(results, rates, common))
    for child in (naive, scaled_gw, floor, cluster_gw):
        if child is not None:
            await bench.children.stop(child)
    peak_cpu_us = median([r.server_cpu_us for r in results["gateway"]])
    paced = (memory_gw, own_floor)
    figures.append(await latency(bench, paced, {"X-API-Key": key}, gw, peak_cpu_us))
    await bench.children.stop(own_floor)
    figures.append(await key_creation(bench, memory_gw))
    await bench.children.stop(memory_gw)
    return figures


async def recovery_cost_us(cpu: int | None) -> float:
    """µs per secp256k1 recovery alone, on the server's core, as the gateway makes it."""
    code = (
        "import hashlib, time\n"
        "from coincurve import PrivateKey\n"
        "from gateway.wallets.secp256k1 import recover\n"
        "key = PrivateKey(b'\\x11' * 32)\n"
        "pairs = [(key.sign_recoverable(d, hasher=None), d) for d in\n"
        "         (hashlib.sha256(n.to_bytes(8, 'big')).digest() for n in range(20000))]\n"
        "started = time.perf_counter()\n"
        "for signature, digest in pairs: recover(signature, digest).format()\n"
        "print((time.perf_counter() - started) / len(pairs) * 1e6)\n"
    )
    child = await asyncio.create_subprocess_exec(
        *pinned([PYTHON, "-c", code], cpu), stdout=asyncio.subprocess.PIPE, cwd=REPO
    )
    out, _ = await child.communicate()
    return float(out)


def signed_extra(
    results: dict[str, list[WrkResult]],
    rates: dict[str, float],
    recovery_us: float,
    common: str,
    clean: bool,
) -> Figure:
    """Figure 4: what a signed-header execute costs beyond the API-key path, against
    what secp256k1 recovery alone costs on the same core in the same run."""
    api = median([r.server_cpu_us for r in results["gateway"]])
    signed = median([r.server_cpu_us for r in results["signature"]])
    extra = signed - api
    allowed = recovery_us + SIGNED_EXTRA_ALLOWANCE_US
    return Figure(
        4,
        "Signed-header execute: extra server CPU over the API-key path",
        f"{common}; each request a distinct signed execute_order message (X-Message, "
        "X-Signature, X-Wallet-Address; Stacks wallet) made beforehand, never replayed; "
        "recovery alone timed on the server's core in the same run.",
        f"+{extra:.0f} µs/request ({signed:.0f} vs {api:.0f} µs)",
        f"recovery alone {recovery_us:.0f} µs",
        None,
        f"extra <= recovery + {SIGNED_EXTRA_ALLOWANCE_US:.0f} µs",
        extra <= allowed and clean,
        f"signature {runs_text(results['signature'])}; throughput "
        f"{rates['signature'] / rates['gateway']:.2f}x the API-key path",
        f"Besides recovery the signed path spends {extra - recovery_us:.0f} µs (reading and "
        "parsing the message, the domain and field checks, hashing, the per-IP signing "
        "charge, the replay set). wrk's own ceiling with the signed-header script (against "
        f"the fixed-body floor app): {per_s(rates['signed_client'])}.",
    )


def own_stack_floor(results: dict[str, list[WrkResult]], common: str) -> Figure:
    """Figure 8: server CPU per API-key request vs the own-stack proxy floor."""
    mine = median([r.server_cpu_us for r in results["gateway"]])
    own = median([r.server_cpu_us for r in results["own_floor"]])
    fixed = median([r.server_cpu_us for r in results["floor"]])
    return Figure(
        8,
        "Server CPU per API-key request vs the own-stack proxy floor",
        f"{common}; CPU time (utime+stime from /proc/<pid>/stat) of the server process over "
        "each run divided by its requests; own-stack floor: bench/own_stack_floor.py, the "
        "gateway's own listener, upstream pool and header filtering forwarding every request "
        "with no route table, auth, limiter, metrics or log, pinned to the same core.",
        f"{mine:.0f} µs/request",
        f"own-stack floor {own:.0f} µs/request",
        mine / own,
        "<= 1.5x",
        mine / own <= 1.5,
        f"gateway {runs_text(results['gateway'])}; own-stack floor "
        f"{runs_text(results['own_floor'])}",
        f"For context, a fixed-body aiohttp app (bench/floor_app.py, no upstream) costs "
        f"{fixed:.0f} µs/request: the own-stack floor is {own / fixed:.2f}x that, the price "
        "of the upstream round trip. A ratio of CPU per request, not of rates.",
    )


def cluster_figure(
    results: dict[str, list[WrkResult]], rates: dict[str, float], common: str
) -> Figure:
    """Figure 10: the API-key path with a Redis Cluster limiter vs one Redis."""
    ratio = rates["cluster"] / rates["redis_pg"]
    return Figure(
        10,
        "API-key execute with Redis Cluster vs single Redis",
        f"{common}; both with PostgreSQL keys; cluster: 3 masters (redis-server processes "
        "on loopback, unpinned), redis+cluster:// URL; single: 127.0.0.1:6379.",
        per_s(rates["cluster"]),
        f"single Redis {per_s(rates['redis_pg'])}",
        ratio,
        "reported",
        None,
        f"cluster {runs_text(results['cluster'])}",
        cpu_note(results, "cluster", "redis_pg"),
    )


async def workers_scaling(bench: Bench, dsn: str, prefix: str) -> Figure:
    """Figure 9: throughput of `--workers 2` vs 1 worker, and CPU per request of each."""
    o, tmp = bench.options, bench.tmp
    config = material.gateway_config(
        tmp / "gw-workers.toml", dsn, redis_url=REDIS_URL, redis_prefix=prefix
    )
    gateways = {}
    for count in (1, 2):
        assert bench.upstream is not None
        argv = [PYTHON, "-m", "gateway", "--config", str(config), "gateway"]
        argv += ["--upstream", bench.upstream.url, "--port", "0", "--admin-port", "0"]
        argv += ["--workers", str(count)]
        # Unpinned: workers must be free to use both cores.
        gateways[count] = await bench.children.start(f"gateway x{count}", argv, cpu=None)
    path = material.EXECUTE_PATH
    scripts = {}
    for count, gateway in gateways.items():
        key = await material.create_key_via_api(gateway.url)
        scripts[count] = wrk.static_script(tmp / f"key-w{count}.lua", "POST", {"X-API-Key": key})
        await bench.wrk(bench.load(gateway.url + path, scripts[count], seconds=o.warmup))
    results: dict[str, list[WrkResult]] = {"1 worker": [], "2 workers": []}
    for _ in range(o.repeats):
        for count, name in ((1, "1 worker"), (2, "2 workers")):
            load = bench.load(gateways[count].url + path, scripts[count])
            results[name].append(await bench.wrk(load, gateways[count]))
    rates = {name: median([r.rate for r in runs]) for name, runs in results.items()}
    for gateway in gateways.values():
        await bench.children.stop(gateway)
    return Figure(
        9,
        "Throughput with --workers 2 vs 1 worker",
        f"POST {path}, wrk -t1 -c{o.connections}, {o.duration:.0f} s per run, interleaved; "
        "Redis limiter + PostgreSQL store; gateway processes unpinned (supervisor and "
        "workers), sharing the host's cores with wrk, the upstream, Redis and PostgreSQL; "
        "server CPU counts the supervisor and every worker.",
        per_s(rates["2 workers"]),
        f"1 worker {per_s(rates['1 worker'])}",
        rates["2 workers"] / rates["1 worker"],
        "reported",
        None,
        f"2 workers {runs_text(results['2 workers'])}; 1 worker {runs_text(results['1 worker'])}",
        cpu_note(results, "2 workers", "1 worker")
        + " On a host with spare cores the rate grows with workers; on two cores shared "
        "with the load generator it cannot, and CPU per request shows the cost of scaling.",
    )


async def latency(
    bench: Bench,
    servers: tuple[Child, Child],
    headers: dict[str, str],
    peak: float,
    peak_cpu_us: float,
) -> Figure:
    """Figure 3: latency added at half of the gateway's peak, against the latency the
    own-stack proxy floor adds at the same offered rate (both over the upstream direct)."""
    o, tmp = bench.options, bench.tmp
    gateway, own_floor = servers
    connections, delay = wrk.pacing(peak / 2)
    direct = wrk.static_script(tmp / "direct-paced.lua", "POST", {}, delay)
    through = wrk.static_script(tmp / "key-paced.lua", "POST", headers, delay)
    path = material.EXECUTE_PATH
    assert bench.upstream is not None
    targets = {
        "direct": (bench.upstream.url, direct, None),
        "gateway": (gateway.url, through, gateway),
        "own_floor": (own_floor.url, through, own_floor),
    }
    for url, script, _ in targets.values():
        await bench.wrk(bench.load(url + path, script, seconds=o.warmup, connections=connections))
    runs: dict[str, list[WrkResult]] = {name: [] for name in targets}
    for _ in range(o.repeats):
        for name, (url, script, server) in targets.items():
            load = bench.load(url + path, script, connections=connections, latency=True)
            # CPU per request at this pace too: the p50 follows it.
            runs[name].append(await bench.wrk(load, server))
    # One connection at about 200 requests/s: a request that finds the server idle.
    lone = await bench.wrk(
        bench.load(gateway.url + path, through, connections=1, latency=True), gateway
    )
    p = {
        (name, q): median([r.p(q) for r in results])
        for name, results in runs.items()
        for q in (50, 99)
    }
    added = {
        (name, q): p[name, q] - p["direct", q]
        for name in ("gateway", "own_floor")
        for q in (50, 99)
    }
    clean = all(r.errors == 0 for results in runs.values() for r in results)
    rates = {name: median([r.rate for r in results]) for name, results in runs.items()}
    ratio = added["gateway", 50] / added["own_floor", 50] if added["own_floor", 50] > 0 else None
    return Figure(
        3,
        "Latency added at half of peak throughput",
        f"API-key execute paced at about half of the figure-1 peak ({peak / 2:,.0f} req/s "
        f"asked: wrk -c{connections}, after each answer a Lua delay() of 0-{2 * delay} ms, "
        "uniform, so arrivals are spread out), --latency; the own-stack proxy floor paced the "
        "same way is the reference, each one's added latency over the upstream hit directly.",
        f"added p50 {added['gateway', 50]:.3f} ms, p99 {added['gateway', 99]:.3f} ms",
        f"own-stack floor added p50 {added['own_floor', 50]:.3f} ms, "
        f"p99 {added['own_floor', 99]:.3f} ms",
        ratio,
        "p50 <= 1.6x the floor's; p99 reported",
        ratio is not None and ratio <= 1.6 and clean,
        f"gateway p50 {p['gateway', 50]:.3f} ms, p99 {p['gateway', 99]:.3f} ms at "
        f"{rates['gateway']:,.0f} req/s; own-stack floor p50 {p['own_floor', 50]:.3f} ms at "
        f"{rates['own_floor']:,.0f} req/s; direct p50 {p['direct', 50]:.3f} ms, "
        f"p99 {p['direct', 99]:.3f} ms; "
        f"errors {sum(r.errors for results in runs.values() for r in results)}. "
        + pace_cost(runs["gateway"], lone, peak_cpu_us)
        + f" The own-stack floor at this pace: "
        f"{median([r.server_cpu_us for r in runs['own_floor']]):.0f} µs CPU per request.",
    )


def pace_cost(paced: list[WrkResult], lone: WrkResult, peak_cpu_us: float) -> str:
    """What a request costs the gateway at this pace and alone, against its cost at peak."""
    paced_us = median([r.server_cpu_us for r in paced])
    busy = paced_us * median([r.rate for r in paced]) / 1e6
    return (
        f"Gateway CPU per request at this pace {paced_us:.0f} µs (core {busy:.0%} busy), "
        f"at peak {peak_cpu_us:.0f} µs. A lone request (1 connection, {lone.rate:,.0f} req/s): "
        f"p50 {lone.p(50):.3f} ms, {lone.server_cpu_us:.0f} µs CPU: fewer requests share "
        "each wake-up and warm cache, so each costs more, and the p50 follows that cost."
    )


async def key_creation(bench: Bench, gateway: Child) -> Figure:
    """Figure 5: signed `create_api_key` requests per second, each one committed to SQLite."""
    o, tmp = bench.options, bench.tmp
    path = material.CREATE_KEY_PATH
    connections = 16

    async def script(n: int, first: int, count: int) -> Path:
        source = await material.create_key_file(tmp / f"create-{n}.jsonl", first, count, 2)
        return wrk.body_cycle_script(tmp / f"create-{n}.lua", source, path)

    warm_script = await script(0, 0, 20_000)
    warm = await bench.wrk(
        bench.load(gateway.url + path, warm_script, seconds=o.warmup, connections=connections)
    )
    per_run = int(warm.rate * o.duration * 1.5) + 1000
    results = []
    for rep in range(o.repeats):
        body_script = await script(rep + 1, 20_000 + rep * per_run, per_run)
        results.append(
            await bench.wrk(
                bench.load(gateway.url + path, body_script, connections=connections), gateway
            )
        )
    rate = median([r.rate for r in results])
    return Figure(
        5,
        "Key creation (signed, durable, SQLite)",
        f"POST {path}, wrk -t1 -c{connections}, {o.duration:.0f} s per run; each body a distinct "
        "signed create_api_key message; every key committed (WAL, synchronous=FULL) before 201.",
        f"{rate:,.0f} keys/s",
        "-",
        None,
        ">= 500 / s",
        rate >= 500 and all(r.errors == 0 for r in results),
        runs_text(results, "keys/s"),
    )


async def run(options: Options) -> list[Figure]:
    cores = pick_cores()
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="wgbench-") as scratch:
        tmp = Path(scratch)
        # Leaving the stack stops the children first, then drops the database and Redis keys.
        async with AsyncExitStack() as stack:
            dsn = prefix = ""
            if options.only in ("all", "throughput"):
                dsn = await stack.enter_async_context(pg_database())
                prefix = await stack.enter_async_context(redis_prefix())
            children = await stack.enter_async_context(Children())
            bench = Bench(options, cores, tmp, children)
            owner = material.bench_signer().address
            bench.upstream = await children.start(
                "upstream", [PYTHON, "bench/upstream.py", "--owner", owner], cpu=cores.client
            )
            if options.only in ("all", "throughput"):
                bench.cluster_url = await stack.enter_async_context(redis_cluster(tmp))
                figures += await throughput(bench, dsn, prefix)
                figures.append(await workers_scaling(bench, dsn, prefix))
            if options.only in ("all", "memory"):
                figures.append(await measure_memory(bench))
    return sorted(figures, key=lambda f: f.number)


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median kept)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per target")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections at peak")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="600 for the 10-min soak")
    parser.add_argument("--hot-keys", type=int, default=100_000)
    parser.add_argument("--stored-keys", type=int, default=1_000_000)
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--only",
        choices=("all", "throughput", "memory"),
        default="all",
        help="figures 1-6, figure 7, or all (the section then holds only these)",
    )
    a = parser.parse_args()
    if a.stored_keys < a.hot_keys or min(a.duration, a.warmup, a.soak_seconds) <= 0:
        parser.error("need stored-keys >= hot-keys and positive durations")
    return Options(
        a.duration, max(1, a.repeats), a.warmup, a.connections, a.soak_seconds,
        a.hot_keys, a.stored_keys, a.results, not a.no_write, a.only,
    )  # fmt: skip


def main() -> None:
    options = parse_options()
    if shutil.which("wrk") is None:
        sys.exit("bench/load.py needs wrk (apt-get install wrk)")
    figures = asyncio.run(run(options))
    settings = (
        f"runs: {options.repeats} x {options.duration:.0f} s after {options.warmup:.0f} s warm-up, "
        f"median kept; soak {options.soak_seconds:.0f} s"
    )
    header = machine(pick_cores().describe(), settings)
    command = " ".join(["python bench/load.py", *sys.argv[1:]])
    section = render(figures, header, section_title(options.only), command)
    print(section)
    if options.write:
        write_section(options.results, section)
        print(f"updated {options.results}")


if __name__ == "__main__":
    main()
