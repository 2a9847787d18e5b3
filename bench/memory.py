"""Figure 7: gateway RSS with 1,000,000 stored keys, 100,000 of them hot, then a bounded soak.

The store is written straight into the gateway's schema (fast), the gateway
starts on it, and every hot key is sent once through `KeyService.authenticate`
(a real keyed execute request each, from a bounded Python client), which
fills the key cache, the limiter counters and the usage batch. Then a soak at
half of peak cycles through the hot keys while RSS is sampled from /proc.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import aiohttp

from bench import material, wrk
from bench.procs import rss_mb
from bench.report import Figure

if TYPE_CHECKING:
    from bench.load import Bench

RSS_TARGET_MB = 300.0
# "Flat": the soak's last third may peak this far above its middle third. The first third
# is warm-up: the limiter's per-minute counters are dropped and refilled every minute and
# the allocator takes a few minutes to settle, so shorter soaks show no verdict on it.
GROWTH_ALLOWANCE = 0.03
JUDGED_SOAK_S = 300
CLIENT_CONCURRENCY = 32


async def send_each_key_once(url: str, plaintexts: Sequence[str]) -> collections.Counter[int]:
    """One keyed execute request per key, CLIENT_CONCURRENCY at a time; status counts."""
    statuses: collections.Counter[int] = collections.Counter()
    pending: Iterator[str] = iter(plaintexts)
    connector = aiohttp.TCPConnector(limit=CLIENT_CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=30)

    async def worker(session: aiohttp.ClientSession) -> None:
        for key in pending:
            async with session.post(url, headers={"X-API-Key": key}) as answer:
                await answer.read()
                statuses[answer.status] += 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(CLIENT_CONCURRENCY)))
    return statuses


async def sample_while(
    task: asyncio.Task[wrk.WrkResult], pid: int, interval: float
) -> list[tuple[float, float]]:
    """(seconds since start, RSS MB) every `interval` s until `task` (a bounded wrk run) ends."""
    started = time.perf_counter()
    samples = []
    while not task.done():
        samples.append((time.perf_counter() - started, rss_mb(pid)))
        await asyncio.wait({task}, timeout=interval)
    samples.append((time.perf_counter() - started, rss_mb(pid)))
    return samples


async def measure_memory(bench: Bench) -> Figure:
    o, tmp = bench.options, bench.tmp
    started = time.perf_counter()
    database = tmp / "million.db"
    plaintexts = await material.build_key_store(database, o.hot_keys, o.stored_keys - o.hot_keys)
    built_s = time.perf_counter() - started
    config = material.gateway_config(tmp / "gw-million.toml", f"sqlite:///{database}")
    gateway = await bench.start_gateway("gateway 1M keys", config)
    rss_start = rss_mb(gateway.pid)
    url = gateway.url + material.EXECUTE_PATH

    # The driver itself is the client here: keep it off the gateway's core.
    affinity = os.sched_getaffinity(0)
    if bench.cores.client is not None:
        os.sched_setaffinity(0, {bench.cores.client})
    try:
        hot_started = time.perf_counter()
        statuses = await send_each_key_once(url, plaintexts)
        hot_s = time.perf_counter() - hot_started
    finally:
        os.sched_setaffinity(0, affinity)
    await asyncio.sleep(2)  # one usage flush and one invalidation poll
    rss_hot = rss_mb(gateway.pid)

    # Peak of this gateway, every request with the next hot key; the soak runs at half of it.
    keys_file = tmp / "hot-keys.txt"
    keys_file.write_text("".join(p + "\n" for p in plaintexts))
    names = ("X-API-Key",)
    flat_out = wrk.header_cycle_script(tmp / "hot.lua", keys_file, material.EXECUTE_PATH, names)
    peak = (await bench.wrk(bench.load(url, flat_out))).rate
    connections, delay = wrk.pacing(peak / 2)
    script = wrk.header_cycle_script(
        tmp / "soak.lua", keys_file, material.EXECUTE_PATH, names, delay_ms=delay
    )
    soak_load = bench.load(url, script, seconds=o.soak_seconds, connections=connections)
    soak_task = asyncio.create_task(bench.wrk(soak_load))
    samples = await sample_while(soak_task, gateway.pid, max(2.0, o.soak_seconds / 60))
    soak = soak_task.result()
    await bench.children.stop(gateway)

    rss = [mb for _, mb in samples]
    third = max(1, len(rss) // 3)
    middle, last = max(rss[third:-third] or rss), max(rss[-third:])
    growth = last - middle
    judged = o.soak_seconds >= JUDGED_SOAK_S
    flat = growth <= GROWTH_ALLOWANCE * middle
    worst = max(rss_hot, *rss)
    hot_ok = statuses.get(200, 0) == len(plaintexts)
    return Figure(
        7,
        f"Memory: {o.stored_keys:,} stored keys, {o.hot_keys:,} hot, then soak",
        f"SQLite store of {o.stored_keys:,} keys written straight into the store's schema "
        f"({built_s:.0f} s); {o.hot_keys:,} hot keys each authenticated once by a keyed execute "
        f"request ({hot_s:.0f} s); peak of this gateway cycling through the hot keys "
        f"{peak:,.0f} req/s (wrk -c{o.connections}, {o.duration:.0f} s); then a "
        f"{o.soak_seconds:.0f} s soak at about half of that "
        f"(wrk -c{connections}, random 0-{2 * delay} ms delay) cycling through the hot keys, "
        "RSS of the gateway process from /proc every few seconds.",
        f"max RSS {worst:.0f} MB",
        "-",
        None,
        f"RSS <= {RSS_TARGET_MB:.0f} MB; flat: peak of the soak's last third <= peak of its "
        f"middle third + {GROWTH_ALLOWANCE:.0%} (judged for soaks >= {JUDGED_SOAK_S} s)",
        worst <= RSS_TARGET_MB and (flat or not judged) and hot_ok and soak.errors == 0,
        f"RSS at start {rss_start:.0f} MB, after the hot pass {rss_hot:.0f} MB; soak "
        f"{soak.rate:,.0f} req/s, {soak.requests:,} requests, errors {soak.errors}; "
        f"RSS during soak min {min(rss):.0f} / max {max(rss):.0f} MB, peak of middle third "
        f"{middle:.0f} MB, of last third {last:.0f} MB ({growth:+.1f} MB: "
        f"{'flat' if flat else 'not flat'}"
        f"{'' if judged else f'; not judged, soak shorter than {JUDGED_SOAK_S} s'}); "
        f"hot-pass statuses {dict(statuses)}",
        "RSS samples (seconds into the soak: MB): "
        + ", ".join(f"{t:.0f}: {mb:.0f}" for t, mb in samples),
    )
