"""Where a request's server CPU goes: py-spy over a gateway under wrk load.

Starts the instant upstream and one gateway (memory limiter, SQLite store)
pinned as `load.py` pins them, drives the API-key or the signed-header
execute path with wrk, and records the gateway with py-spy (pip install
py-spy) for the run. Prints the top functions by own time and writes the
raw profile for speedscope. Profile before cutting; measure after with
`load.py`.

    python bench/profile_path.py --path key|signed [--duration 10] [--out /tmp/profile]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import material, wrk
from bench.procs import PYTHON, Children, pick_cores
from bench.wrk import Load


async def profile(args: argparse.Namespace) -> Path:
    cores = pick_cores()
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="wgbench-profile-") as scratch:
        tmp = Path(scratch)
        async with Children() as children:
            owner = material.bench_signer().address
            upstream = await children.start(
                "upstream", [PYTHON, "bench/upstream.py", "--owner", owner], cpu=cores.client
            )
            config = material.gateway_config(tmp / "gw.toml", f"sqlite:///{tmp}/keys.db")
            argv = [PYTHON, "-m", "gateway", "--config", str(config), "gateway"]
            argv += ["--upstream", upstream.url, "--port", "0", "--admin-port", "0"]
            gateway = await children.start("gateway", argv, cpu=cores.server)
            path = material.EXECUTE_PATH
            if args.path == "key":
                key = await material.create_key_via_api(gateway.url)
                script = wrk.static_script(tmp / "key.lua", "POST", {"X-API-Key": key})
            else:
                count = int(args.duration * 20000)
                source = await material.signed_execute_file(tmp / "signed.tsv", 0, count, 2)
                names = material.SIGNED_HEADER_NAMES
                script = wrk.header_cycle_script(tmp / "signed.lua", source, path, names)
            await wrk.run(Load(gateway.url + path, script, 2.0, 50), cores.client)
            spy = await asyncio.create_subprocess_exec(
                "py-spy", "record", "--pid", str(gateway.pid), "--duration",
                str(int(args.duration)), "--format", "raw", "--output", str(out),
                "--rate", "500", "--nonblocking",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            load = Load(gateway.url + path, script, args.duration, 50)
            result = await wrk.run(load, cores.client)
            await spy.wait()
            print(f"{result.rate:,.0f} req/s, errors {result.errors}")
    return out


def top_functions(raw: Path, count: int) -> list[tuple[str, float]]:
    """Own-time share per function from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = stack.split(";")
        own[frames[-1]] += int(samples)
        total += int(samples)
    return [(name, n / total) for name, n in own.most_common(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=("key", "signed"), default="key")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--out", default="/tmp/walletgate-profile.txt")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    if shutil.which("py-spy") is None or shutil.which("wrk") is None:
        sys.exit("bench/profile_path.py needs py-spy (pip) and wrk (apt-get)")
    raw = asyncio.run(profile(args))
    for name, share in top_functions(raw, args.top):
        print(f"{share:6.1%}  {name}")


if __name__ == "__main__":
    main()
