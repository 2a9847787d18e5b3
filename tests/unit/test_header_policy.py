"""The one header policy: proxy mode's check and the pattern Traefik is given agree.

`is_stripped` is what walletgate's forwarder applies; `stripped_regex` is the
same policy as an RE2 pattern for ingresses that remove headers by pattern.
Over any header name (the listed ones, their case and underscore variants,
anything under a stripped prefix) the two must say the same, but for the
names the ingress sets itself.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.upstream.header_policy import (
    KNOWN_FORWARDED,
    NAMED,
    STRIPPED_NAMES,
    is_stripped,
    stripped_regex,
    unnamed_stripped,
)

KEPT = ("X-Forwarded-For", "X-Forwarded-Proto")
PATTERN = re.compile(stripped_regex(kept=KEPT))

listed = st.sampled_from((*NAMED, "Accept", "Content-Type", "X-Custom-Trace", "Forwarded-By"))
suffix = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_0123456789", max_size=12)


def variant(name: str, data: st.DataObject) -> str:
    """`name` in any case, some of its dashes as underscores, perhaps with a tail."""
    chars = [c.upper() if data.draw(st.booleans()) else c.lower() for c in name]
    chars = [("_" if c == "-" and data.draw(st.booleans()) else c) for c in chars]
    return "".join(chars) + data.draw(st.one_of(st.just(""), suffix))


@given(listed, st.data())
def test_the_pattern_strips_exactly_what_proxy_mode_strips(name, data):
    sent = variant(name, data)
    expected = is_stripped(sent) and sent.lower() not in {k.lower() for k in KEPT}
    assert bool(PATTERN.fullmatch(sent)) == expected, sent


@pytest.mark.parametrize(
    "name",
    [
        "X-Gateway_Wallet",
        "X_Gateway_Key_Id",
        "X-Forwarded_For",
        "X-HTTP-Method_Override",
        "X-Original_URL",
        "x-http-method-override",
        "FORWARDED",
        "X-Gateway-Anything",
        "X-Forwarded-Evil",
    ],
)
def test_spellings_of_stripped_names_are_stripped(name):
    assert is_stripped(name) and PATTERN.fullmatch(name)


def test_what_the_ingress_sets_and_ordinary_headers_pass():
    for name in (*KEPT, "Accept", "Content-Type", "X-Forwarded", "X-Gatewayish"):
        assert not PATTERN.fullmatch(name), name
    assert not is_stripped("Accept")


def test_names_an_ingress_cannot_remove_by_name():
    assert unnamed_stripped(["Accept", *STRIPPED_NAMES, *KNOWN_FORWARDED]) is None
    assert unnamed_stripped(["Accept", "x-gateway-role"]) == "x-gateway-role"
    assert unnamed_stripped(["X-Forwarded-Evil"]) == "X-Forwarded-Evil"
