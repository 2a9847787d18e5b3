"""Reading the client address: forwarding-header lines, per-IP buckets, IPv4-mapped
forms, and connection caps per IPv6 prefix."""

from __future__ import annotations

import pytest

from gateway.addresses import client_buckets, parse_network
from gateway.auth.authorise import ip_allowed
from gateway.http.context import forwarded_hops, is_trusted
from gateway.http.listener import ConnectionGuard


@pytest.mark.parametrize(
    ("lines", "hops"),
    [
        (["203.0.113.5"], ["203.0.113.5"]),
        (["203.0.113.5", "198.51.100.7"], ["203.0.113.5", "198.51.100.7"]),
        (["203.0.113.5, 10.0.0.1", " 198.51.100.7 "], ["203.0.113.5", "10.0.0.1", "198.51.100.7"]),
        ([",, 203.0.113.5 ,"], ["203.0.113.5"]),
        ([], []),
    ],
)
def test_every_x_forwarded_for_line_is_one_list(lines: list[str], hops: list[str]) -> None:
    assert forwarded_hops(lines, "x-forwarded-for") == hops


@pytest.mark.parametrize(
    ("lines", "hops"),
    [
        (["for=192.0.2.60;proto=http;by=203.0.113.43"], ["192.0.2.60"]),
        (['for="[2001:db8:cafe::17]:4711"'], ["2001:db8:cafe::17"]),
        (["for=192.0.2.43:8080, for=198.51.100.17"], ["192.0.2.43", "198.51.100.17"]),
        (['For="_hidden"', "for=unknown"], ["_hidden", "unknown"]),
        (["proto=https"], ["-"]),  # an element without `for` is an unknown hop
        (['for="[2001:db8::1'], ["-"]),
    ],
)
def test_forwarded_lines_yield_their_for_parameters(lines: list[str], hops: list[str]) -> None:
    assert forwarded_hops(lines, "forwarded") == hops


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2::5", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_per_ip_scopes_count_ipv6_by_64(address: str, bucket: str) -> None:
    # The narrowest bucket; IPv6 is charged per /56 and /48 as well (below).
    assert client_buckets(address)[0][0] == bucket


@pytest.mark.parametrize(
    ("entry", "stored"),
    [
        ("::ffff:203.0.113.0/120", "203.0.113.0/24"),
        ("::ffff:203.0.113.5", "203.0.113.5/32"),
        ("::ffff:0:0/96", "0.0.0.0/0"),
        ("203.0.113.9/24", "203.0.113.0/24"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("::/0", "::/0"),  # wider than the mapped block: stays IPv6
    ],
)
def test_networks_in_ipv4_mapped_form_read_as_ipv4(entry: str, stored: str) -> None:
    assert str(parse_network(entry)) == stored


@pytest.mark.parametrize("client", ["203.0.113.7", "::ffff:203.0.113.7"])
@pytest.mark.parametrize("entry", ["203.0.113.0/24", "::ffff:203.0.113.0/120"])
def test_allowlist_matching_is_the_same_in_either_form(client: str, entry: str) -> None:
    # `entry` in mapped form is what keys created before normalisation hold.
    assert ip_allowed(client, (entry,))
    assert not ip_allowed(client.replace("203.0.113.7", "198.51.100.7"), (entry,))


def test_a_dual_stack_peer_of_a_trusted_ipv4_proxy_is_trusted() -> None:
    trusted = (parse_network("10.0.0.0/8"),)
    assert is_trusted("::ffff:10.1.2.3", trusted)
    assert is_trusted("10.1.2.3", trusted)
    assert not is_trusted("::ffff:11.1.2.3", trusted)
    assert not is_trusted("unix:", trusted)


def test_ipv6_clients_are_charged_per_64_56_and_48() -> None:
    assert client_buckets("2001:db8:1:2345::9") == (
        ("2001:db8:1:2345::/64", 1),
        ("2001:db8:1:2300::/56", 4),
        ("2001:db8:1::/48", 16),
    )
    assert client_buckets("::ffff:203.0.113.5") == (("203.0.113.5", 1),)
    assert client_buckets("") == (("", 1),)


def guard(per_ip: int, total: int = 10_000) -> ConnectionGuard:
    return ConnectionGuard(total, per_ip, 1.0, 1.0, (parse_network("10.0.0.0/8"),))


def test_one_client_holding_a_48_cannot_take_every_connection() -> None:
    connections = guard(per_ip=2)
    # One address per /64, each /64 in a /56 of its own, all in one /48.
    admitted = [connections.admit(f"2001:db8:aa00:{n:02x}00::1") for n in range(40)]
    assert admitted == [True] * 32 + [False] * 8  # 16 x 2 for the /48
    # Everyone else still gets in, and a closed connection frees its prefixes.
    assert connections.admit("2001:db8:bb00::1") and connections.admit("192.0.2.1")
    connections.release("2001:db8:aa00:0::1")
    assert connections.admit("2001:db8:aa00:ff00::1")


def test_the_64s_of_one_56_share_four_times_one_64s_connections() -> None:
    connections = guard(per_ip=2)
    admitted = [connections.admit(f"2001:db8:aa00:1{n:02x}::1") for n in range(10)]
    assert admitted == [True] * 8 + [False] * 2


def test_a_mapped_peer_counts_as_its_ipv4_address_and_proxies_are_exempt() -> None:
    connections = guard(per_ip=1)
    assert connections.admit("192.0.2.1")
    assert not connections.admit("::ffff:192.0.2.1")
    assert all(connections.admit("::ffff:10.0.0.1") for _ in range(5))
