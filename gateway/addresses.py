"""Client addresses and networks as the gateway compares and counts them.

One reading everywhere (IP allowlists, trusted proxies, per-IP ceilings,
connection caps): an IPv4-mapped IPv6 address (`::ffff:203.0.113.5`, what a
dual-stack socket reports for an IPv4 peer) is that IPv4 address, and a
network written in mapped form (`::ffff:203.0.113.0/120`) is the IPv4 network
it maps. Otherwise one side would be IPv6 and the other IPv4, and nothing
would ever match.

Per-client ceilings count an IPv6 client by prefix, not by address: one
subscriber is routinely delegated a /64, a /56 or a /48, so each is charged
at once, with a budget that widens with the prefix (`PREFIX_WIDENING`). A
client holding a whole /48 then gets at most 16 times what one /64 gets, and
can fill no shared structure sized above that.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
# (prefix length, budget multiple of one /64's): what one IPv6 client may hold.
PREFIX_WIDENING: tuple[tuple[int, int], ...] = ((64, 1), (56, 4), (48, 16))


def parse_address(text: str) -> Address | None:
    """The address `text` names, IPv4-mapped ones as IPv4; None if it is no address."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=65536)
def is_address(text: str) -> bool:
    """Whether `text` is an IP address: asked of a forwarded hop on every request
    behind a trusted proxy, where the same hops come again and again."""
    return parse_address(text) is not None


def parse_network(text: str) -> Network:
    """The network `text` names (host bits ignored), mapped form as IPv4; raises ValueError."""
    network = ipaddress.ip_network(text, strict=False)
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.prefixlen >= _MAPPED.prefixlen
        and network.subnet_of(_MAPPED)
    ):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None  # inside ::ffff:0:0/96
        return ipaddress.IPv4Network((mapped, network.prefixlen - _MAPPED.prefixlen))
    return network


def in_any(text: str, networks: tuple[Network, ...]) -> bool:
    """Whether the address `text` lies in one of `networks` (never, if it is no address)."""
    address = parse_address(text)
    return address is not None and any(address in network for network in networks)


class TrustedProxies:
    """`listen.trusted_proxies`, each address's verdict remembered.

    Whether a peer (or a forwarded hop) is a trusted proxy is asked on every
    request, and parsing an address costs more than the rest of the answer;
    a gateway sees the same proxy and client addresses again and again, so
    the verdict is kept per address string. The table is bounded and emptied
    when full: a flood of new addresses costs what no table would, no more.
    """

    __slots__ = ("_verdicts", "networks")
    MAX_VERDICTS = 4096

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks = tuple(networks)
        self._verdicts: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        verdict = self._verdicts.get(address)
        if verdict is None:
            if len(self._verdicts) >= self.MAX_VERDICTS:
                self._verdicts.clear()
            verdict = self._verdicts[address] = in_any(address, self.networks)
        return verdict


@lru_cache(maxsize=65536)
def client_buckets(text: str) -> tuple[tuple[str, int], ...]:
    """What per-client ceilings count `text` as: (bucket, budget multiple) pairs.

    An IPv4 address is one bucket; an IPv6 address is its /64, /56 and /48,
    narrowest first; anything else (a Unix socket's empty peer) is itself.
    """
    address = parse_address(text)
    if address is None:
        return ((text, 1),)
    if isinstance(address, ipaddress.IPv4Address):
        return ((str(address), 1),)
    return tuple(
        (str(ipaddress.IPv6Network((address, length), strict=False)), multiple)
        for length, multiple in PREFIX_WIDENING
    )
