"""`signatures.domain`: the setting, the verifier's rule and the start-up warning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, load_settings, unbound_warnings
from gateway.wallets import SignedMessage
from gateway.wallets.errors import SignatureNotBound
from gateway.wallets.signing import StacksSigner
from tests.unit.test_signed_messages import STACKS, make_verifier, signed

DOMAIN = "api.exchange.example"


@pytest.fixture
def signer() -> StacksSigner:
    return STACKS


@pytest.mark.parametrize("domain", [DOMAIN, "localhost:8080", "127.0.0.1:8080", "[::1]:8443"])
def test_a_host_with_optional_port_is_a_domain(tmp_path: Path, domain: str) -> None:
    settings = load_settings(_file(tmp_path, f'[signatures]\ndomain = "{domain}"\n'), {})
    assert settings.signatures.domain == domain


@pytest.mark.parametrize(
    "domain", ["https://api.exchange.example", "Api.Exchange.Example", "a/b", "a..b", " x", "-x"]
)
def test_anything_else_stops_start_up_naming_the_key(tmp_path: Path, domain: str) -> None:
    with pytest.raises(ConfigError, match=r"^signatures\.domain:"):
        load_settings(_file(tmp_path, f'[signatures]\ndomain = "{domain}"\n'), {})


@pytest.mark.parametrize(
    ("listen", "domain", "warned"),
    [
        ({"host": "0.0.0.0"}, "", True),
        ({"host": "10.1.2.3"}, "", True),
        ({"host": "0.0.0.0"}, DOMAIN, False),
        ({"host": "127.0.0.1"}, "", False),
        ({"host": "::1"}, "", False),
        ({"host": "localhost"}, "", False),
    ],
)
def test_an_exposed_unbound_listener_is_warned_about(
    listen: dict[str, Any], domain: str, warned: bool
) -> None:
    environ = {"WALLETGATE_LISTEN__HOST": listen["host"]}
    if domain:
        environ["WALLETGATE_SIGNATURES__DOMAIN"] = domain
    warnings = unbound_warnings(load_settings(None, environ))
    assert bool(warnings) is warned
    assert all("signatures.domain" in line for line in warnings)


async def test_bound_verifier_admits_its_own_domain(signer: StacksSigner) -> None:
    verifier = make_verifier(domain=DOMAIN)
    verified = await verifier.verify(
        signed(signer, "list_api_keys", {"domain": DOMAIN}), action="list_api_keys"
    )
    assert verified.fields["domain"] == DOMAIN


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"domain": None},
        {"domain": "other.example"},
        {"domain": DOMAIN.upper()},
        {"domain": DOMAIN + "."},
        {"domain": [DOMAIN]},
    ],
)
async def test_bound_verifier_refuses_other_or_no_domain(
    signer: StacksSigner, fields: dict[str, Any]
) -> None:
    with pytest.raises(SignatureNotBound):
        await make_verifier(domain=DOMAIN).verify(
            signed(signer, "list_api_keys", fields), action="list_api_keys"
        )


async def test_refusal_happens_before_the_message_is_spent(signer: StacksSigner) -> None:
    verifier = make_verifier(domain=DOMAIN)
    message = signed(signer, "list_api_keys", {"domain": "other.example"})
    with pytest.raises(SignatureNotBound):
        await verifier.verify(message, action="list_api_keys")
    bound = signed(signer, "list_api_keys", {"domain": DOMAIN})
    await verifier.verify(bound, action="list_api_keys")


async def test_unbound_verifier_refuses_a_message_naming_a_domain(signer: StacksSigner) -> None:
    with pytest.raises(SignatureNotBound, match="another domain"):
        await make_verifier().verify(
            signed(signer, "list_api_keys", {"domain": DOMAIN}), action="list_api_keys"
        )


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "walletgate.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("action", "message", "signature", "address"),
    [
        (
            "create_api_key",
            '{"action":"create_api_key","domain":"api.exchange.example","keyName":"My Trading Bot",'
            '"permissions":["create","execute","cancel"],"timestamp":1705312800000}',
            "369de5a1dbfd6ed12ceb2229782a1ed3f0d3647087dca657a284303fdd181bcd"
            "5e0f12c0a8d4ef3257ed7a42fa0af6fff9a06028aea127086df763a39340acd900",
            "SP3JXHVKQEEFMSC7789MYGGV6PF0DVVY3EKMGGCM3",
        ),
        (
            "execute_order",
            '{"action":"execute_order","domain":"api.exchange.example",'
            '"timestamp":1705312800000,"uuid":"uuid-456def789"}',
            "0x80515707e5b71f351896a8d80935ced5af296e958b42dc5bc13b504abe3f39c8"
            "41eff271338804b519c69f1f58b58f65497a20284c46b2d38ff140ec8189fc141b",
            "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
        ),
    ],
)
async def test_the_documented_bound_vectors_verify_only_where_bound(
    action: str, message: str, signature: str, address: str
) -> None:
    """docs/signing.md, "Bound messages": good at their domain, refused elsewhere."""
    sent = SignedMessage(message, signature, address)
    bound = make_verifier(now_ms=1705312800000, domain=DOMAIN)
    verified = await bound.verify(sent, action=action)
    assert verified.wallet.display == address
    for other in (
        make_verifier(now_ms=1705312800000),
        make_verifier(now_ms=1705312800000, domain="b.example"),
    ):
        with pytest.raises(SignatureNotBound):
            await other.verify(sent, action=action)
