"""`python -m gateway.cli.worker`: one serving process started by the supervisor.

The supervisor writes the effective settings (pickled, on stdin: never in
argv, which every local user can read) and reads one ready line from
stdout. The worker asks the kernel to stop it when the supervisor dies, so
a supervisor killed with SIGKILL leaves no orphan holding the port.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import pickle
import signal
import sys

from gateway.cli.main import run_loop
from gateway.cli.serve import serve_worker
from gateway.config import Settings
from gateway.logs import configure_logging

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and name:
        ctypes.CDLL(name, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main() -> int:
    _die_with_parent()
    settings, load, index = pickle.load(sys.stdin.buffer)
    if not isinstance(settings, Settings):
        print("walletgate worker: expected settings on stdin", file=sys.stderr)
        return 2
    logs = configure_logging(settings.log)
    try:
        return run_loop(serve_worker(settings, load, logs, index))
    finally:
        logs.stop()


if __name__ == "__main__":
    sys.exit(main())
