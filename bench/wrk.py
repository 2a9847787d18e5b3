"""wrk runs: the Lua script for each kind of load, the run itself, its parsed output.

wrk (the Debian package) has no fixed-rate mode; a paced run uses its Lua
`delay()` hook: after every answer each of `c` connections waits a random
0..2d ms (mean d), so the offered rate is about c * 1000 / (d + latency) and
arrivals are spread out instead of arriving in synchronized bursts. wrk
starts a request's clock after the delay, so latencies are the server's alone.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.procs import pinned

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s+(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True, slots=True)
class WrkResult:
    rate: float  # requests per second
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    latency_ms: Mapping[int, float]  # percentile -> milliseconds (with --latency)
    server_cpu_us: float = 0.0  # CPU time of the server under test per request

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    def p(self, percentile: int) -> float:
        return self.latency_ms[percentile]


def parse(output: str) -> WrkResult:
    rate = _RATE.search(output)
    total = _TOTAL.search(output)
    if rate is None or total is None:
        raise RuntimeError(f"unreadable wrk output:\n{output}")
    non_2xx = _NON_2XX.search(output)
    socket = _SOCKET.search(output)
    return WrkResult(
        rate=float(rate.group(1)),
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNITS[total.group(3)] / 1000,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
        latency_ms={int(p): float(v) * _UNITS[u] for p, v, u in _PERCENTILE.findall(output)},
    )


@dataclass(frozen=True, slots=True)
class Load:
    """One wrk invocation: where, how hard, for how long, with which script."""

    url: str
    script: Path
    seconds: float
    connections: int = 50
    threads: int = 1
    latency: bool = False


async def run(load: Load, cpu: int | None) -> WrkResult:
    argv = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{max(1, round(load.seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(load.script),
    ]
    if load.latency:
        argv.append("--latency")
    argv.append(load.url)
    process = await asyncio.create_subprocess_exec(
        *pinned(argv, cpu), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    # wrk stops by itself after -d; the margin only guards against a hung wrk.
    async with asyncio.timeout(load.seconds + 30):
        out, _ = await process.communicate()
    text = out.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{text}")
    return parse(text)


PACING_DELAY_MS = 5
PACING_LATENCY_MS = 0.5  # expected answer time, counted in each connection's cycle


def pacing(rate: float) -> tuple[int, int]:
    """(connections, mean delay ms) offering about `rate` requests per second."""
    cycle_ms = PACING_DELAY_MS + PACING_LATENCY_MS
    return max(1, round(rate * cycle_ms / 1000)), PACING_DELAY_MS


# -- Lua scripts -------------------------------------------------------------------

_THREADS = """
local tid_counter = 0
function setup(thread)
  thread:set("tid", tid_counter)
  tid_counter = tid_counter + 1
end
"""

_CYCLE = """
local lines, position = {}, 0
function init(args)
  local n = 0
  for line in io.lines(SOURCE) do
    -- each thread takes every THREADS-th line, so no two threads send the same one
    if n % THREADS == tid then lines[#lines + 1] = line end
    n = n + 1
  end
end
function request()
  position = position % #lines + 1
  return build(lines[position])
end
"""

_SPLIT = """
local function split(line)
  local values = {}
  for value in string.gmatch(line, "([^\\t]+)") do values[#values + 1] = value end
  return values
end
"""


def _lua(value: object) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def _delay(delay_ms: int | None) -> str:
    if not delay_ms:
        return ""
    return f"function delay() return math.random(0, {2 * delay_ms}) end\n"


def static_script(
    path: Path, method: str, headers: Mapping[str, str], delay_ms: int | None = None
) -> Path:
    """Every request the same: `method` with `headers`, optionally paced."""
    lines = [f"wrk.method = {_lua(method)}"]
    lines += [f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n" + _delay(delay_ms))
    return path


def header_cycle_script(
    path: Path,
    source: Path,
    target: str,
    names: Sequence[str],
    *,
    threads: int = 1,
    delay_ms: int | None = None,
) -> Path:
    """POST `target` with header values read from `source`, one tab-separated line each."""
    pairs = ", ".join(f"[{_lua(n)}] = v[{i + 1}]" for i, n in enumerate(names))
    build = (
        "function build(line)\n  local v = split(line)\n"
        f'  return wrk.format("POST", {_lua(target)}, {{{pairs}}})\nend\n'
    )
    _write_cycle(path, source, threads, _SPLIT + build + _delay(delay_ms))
    return path


def body_cycle_script(path: Path, source: Path, target: str, *, threads: int = 1) -> Path:
    """POST `target` with a JSON body per request, one line of `source` each."""
    build = (
        "function build(line)\n"
        f'  return wrk.format("POST", {_lua(target)}, '
        '{["Content-Type"] = "application/json"}, line)\nend\n'
    )
    _write_cycle(path, source, threads, build)
    return path


def _write_cycle(path: Path, source: Path, threads: int, extra: str) -> None:
    header = f"SOURCE = {_lua(str(source))}\nTHREADS = {threads}\n"
    path.write_text(header + _THREADS + extra + _CYCLE)
