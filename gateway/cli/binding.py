"""Binding a listener, with an error an operator can act on.

asyncio's bind error reads "error while attempting to bind on address
('127.0.0.1', 8080): address already in use": it names neither the setting
to change nor how. `BindError` says which listener, the address, why, and
the key (with its environment variable and option) that moves it.
"""

from __future__ import annotations

import errno
import os
from typing import Final

from aiohttp import web

# (section) -> the command-line options of its host and port.
_FLAGS: Final = {"listen": ("--host", "--port"), "admin": ("--admin-host", "--admin-port")}
# Errors a different host fixes; any other (in use, permission) a different port.
_HOST_ERRORS: Final = frozenset({errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT})


class BindError(OSError):
    """A listener could not bind; the message names the address and the setting."""


def bind_error(section: str, host: str, port: int, exc: OSError) -> BindError:
    wrong_host = exc.errno in _HOST_ERRORS or exc.errno is None or exc.errno < 0
    key = "host" if wrong_host else "port"
    host_flag, port_flag = _FLAGS.get(section, ("", ""))
    flag = host_flag if wrong_host else port_flag
    if exc.errno is not None and exc.errno > 0:
        reason = os.strerror(exc.errno).lower()
    else:
        reason = str(exc.strerror or exc).lower()  # getaddrinfo: an unknown host name
    variable = f"WALLETGATE_{section.upper()}__{key.upper()}"
    ways = f"{variable} or {flag}" if flag else variable
    error = BindError(f"cannot listen on {host}:{port} ({reason}): change {section}.{key} ({ways})")
    error.errno = exc.errno
    return error


async def start_site(site: web.TCPSite, section: str, host: str, port: int) -> None:
    try:
        await site.start()
    except OSError as exc:
        raise bind_error(section, host, port, exc) from None
