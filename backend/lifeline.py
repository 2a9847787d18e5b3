"""The bundled backend dies with the gateway that started it.

`walletgate run` starts the backend as a child. If the gateway is killed
hard (`kill -9`, the OOM killer) it cannot stop its child, and an orphaned
backend would keep its port so the next start fails. Two independent ways
out, either enough:

* Linux: `prctl(PR_SET_PDEATHSIG, SIGTERM)`, asked by the child itself, so
  the kernel sends it SIGTERM when the parent dies (a graceful stop).
* Everywhere: the parent holds the write end of the child's stdin and never
  writes; when the parent dies the kernel closes it, the child reads EOF
  and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Ask for SIGTERM when the parent dies; stop now if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    # The parent may have died before prctl ran: then we were re-parented.
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)


async def wait_for_parent_pipe_eof() -> None:
    """Return when stdin (the parent's pipe) reaches end of file."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while await reader.read(4096):
            pass  # the parent never writes; anything read is ignored
    finally:
        with contextlib.suppress(Exception):
            transport.close()
