"""Reading the client address: forwarding-header lines and per-IP buckets."""

from __future__ import annotations

import pytest

from gateway.http.context import forwarded_hops
from gateway.ratelimit.scopes import address_bucket


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
    assert address_bucket(address) == bucket
