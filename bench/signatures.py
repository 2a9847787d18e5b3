"""Signature verification throughput on one core (target: >= 10,000 / s).

Times `SignatureVerifier.verify` end to end: wallet parse, JSON message
checks, public-key recovery, address match and the in-memory replay check.
Every message is distinct, so the replay guard admits each one. Raw
secp256k1 recovery is timed in the same run as the floor to compare with.

    python bench/signatures.py [-n 20000] [--results bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from coincurve import PrivateKey, PublicKey

# Run as a script from a checkout: make the `gateway` package importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.wallets import SignatureVerifier, SignedMessage
from gateway.wallets.replay import MemoryReplayGuard
from gateway.wallets.signing import EvmSigner, Signer, StacksSigner

SECTION = "## Signature verification"
TARGET_PER_S = 10_000
NOW_MS = 1_760_000_000_000
SIGNERS: dict[str, Signer] = {
    "stacks (compressed key)": StacksSigner("11" * 32 + "01"),
    "stacks (uncompressed key)": StacksSigner("22" * 32),
    "evm": EvmSigner("0x" + "a0" * 32),
}


@dataclass(frozen=True, slots=True)
class Rate:
    name: str
    count: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.count / self.seconds


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


def signed_messages(signer: Signer, count: int) -> list[SignedMessage]:
    messages = []
    for n in range(count):
        text = json.dumps(
            {"action": "execute_order", "uuid": f"uuid-{n:08d}", "timestamp": NOW_MS},
            separators=(",", ":"),
        )
        messages.append(SignedMessage(text, signer.sign(text), signer.address))
    return messages


async def time_verifier(name: str, messages: list[SignedMessage]) -> Rate:
    verifier = SignatureVerifier(replay=MemoryReplayGuard(), clock=lambda: NOW_MS / 1000)
    started = time.perf_counter()
    for message in messages:
        await verifier.verify(message, action="execute_order")
    return Rate(name, len(messages), time.perf_counter() - started)


def time_raw_recovery(count: int) -> Rate:
    key = PrivateKey(b"\x11" * 32)
    digests = [hashlib.sha256(n.to_bytes(8, "big")).digest() for n in range(count)]
    signatures = [key.sign_recoverable(digest, hasher=None) for digest in digests]
    started = time.perf_counter()
    for signature, digest in zip(signatures, digests, strict=True):
        PublicKey.from_signature_and_message(signature, digest, hasher=None)
    return Rate("secp256k1 recovery alone (coincurve)", count, time.perf_counter() - started)


def render(rates: list[Rate], floor: Rate, pinning: str) -> str:
    lines = [
        SECTION,
        "",
        f"`python bench/signatures.py` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}: "
        f"Python {platform.python_version()}, {platform.machine()}, {pinning}.",
        "`SignatureVerifier.verify` end to end (address parse, message checks, key recovery,",
        "address match, in-memory replay check), distinct messages, one coroutine.",
        f"Target: >= {TARGET_PER_S:,} verified/s per chain.",
        "",
        "| what | count | verified/s | share of raw recovery | target met |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for rate in rates:
        met = "yes" if rate.per_s >= TARGET_PER_S else "**no**"
        lines.append(
            f"| {rate.name} | {rate.count:,} | {rate.per_s:,.0f} | "
            f"{rate.per_s / floor.per_s:.2f}x | {met} |"
        )
    lines.append(f"| {floor.name} | {floor.count:,} | {floor.per_s:,.0f} | 1.00x | reference |")
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of RESULTS.md, keeping every other section."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


async def run(count: int) -> list[Rate]:
    rates = []
    for name, signer in SIGNERS.items():
        messages = signed_messages(signer, count)
        await time_verifier(name, messages[: count // 10])  # warm-up, discarded
        rates.append(await time_verifier(name, messages))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=20_000, help="verifications per chain")
    parser.add_argument(
        "--results", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    pinning = pin_to_one_core()
    rates = asyncio.run(run(args.count))
    floor = time_raw_recovery(args.count)
    section = render(rates, floor, pinning)
    print(section)
    if not args.no_write:
        write_section(args.results, section)
        print(f"updated {args.results}")


if __name__ == "__main__":
    main()
