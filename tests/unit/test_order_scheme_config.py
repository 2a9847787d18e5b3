"""`[order_schemes.NAME]` and the routes naming them: every mistake one line naming its key."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings
from gateway.order_schemes_config import unsigned_warnings
from gateway.wallets.order_checks import check_settings
from gateway.wallets.order_schemes import compile_scheme
from gateway.wallets.order_verify import OrderVerifier
from gateway.wallets.replay import MemoryReplayGuard

STACKS_KEY = "7b9f0a6ad0de8f5aa7d3b3f0e3fe2b1bce0c2b3c1f5a1f8a2c5e54c2c1f3a90b01"
STACKS_ADDRESS = "SP3JXHVKQEEFMSC7789MYGGV6PF0DVVY3EKMGGCM3"

GOOD = """
[[routes]]
method = "POST"
path = "/api/v1/orders/new"
permission = "create"
owner = "body"
order_signature = "blaze"

[order_schemes.blaze]
kind = "sip018"
domain = { name = "BLAZE_PROTOCOL", version = "v1.0", chain-id = 1 }
unsigned = ["outputToken", "targetPrice", "direction", "conditionToken", "validFrom", "validTo"]
[order_schemes.blaze.message]
contract = { type = "principal", field = "inputToken" }
intent = { type = "string-ascii", const = "TRANSFER_TOKENS" }
opcode = { type = "none" }
amount = { type = "optional uint", field = "amountIn" }
target = { type = "optional principal", field = "recipient" }
uuid = { type = "string-ascii", field = "uuid" }
"""

EVM = """
[[routes]]
method = "POST"
path = "/api/v1/orders/new"
owner = "body"
order_signature = "evm"
order_fields = ["owner", "uuid", "amountIn"]

[order_schemes.evm]
kind = "eip712"
domain = { name = "walletgate", version = "1", chainId = 1 }
primary_type = "Order"
types.Order = [{ name = "owner", type = "address" }, { name = "uuid", type = "string" },
               { name = "amountIn", type = "uint256" }]
"""


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None):
    path = tmp_path / "walletgate.toml"
    path.write_text(text, encoding="utf-8")
    # As the CLI loads it: parsed and validated, then the schemes compiled and checked.
    settings = load_settings(path, environ or {})
    check_settings(settings)
    return settings


def mistakes(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return str(caught.value).splitlines()


def test_a_good_blaze_scheme_loads_and_warns_naming_every_unsigned_field(tmp_path):
    settings = load(tmp_path, GOOD)
    assert settings.routes[0].order_signature == "blaze"
    [warning] = unsigned_warnings(settings)
    for field in ("outputToken", "targetPrice", "direction", "conditionToken", "validFrom"):
        assert field in warning
    assert warning.startswith("order_schemes.blaze.unsigned:")


def test_an_eip712_scheme_with_explicit_order_fields_loads(tmp_path):
    settings = load(tmp_path, EVM)
    assert settings.routes[0].order_fields == ("owner", "uuid", "amountIn")
    assert unsigned_warnings(settings) == []


def test_order_signature_true_still_means_canonical_json(tmp_path):
    settings = load(tmp_path, GOOD.replace('order_signature = "blaze"', "order_signature = true"))
    assert settings.routes[0].order_signature is True


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('"validTo"]', '"validTo", "nothere"]'), "order_schemes.blaze: signs 'nothere'"),
        (('"validTo"]', '"validFrom"]'), "routes[0].order_fields: 'validTo' is neither signed"),
        (('"optional uint"', '"uint256"'), "order_schemes.blaze.message.amount.type: unknown type"),
        (("target = {", "Target = {"), "order_schemes.blaze.message.Target: tuple keys match"),
        (('uuid = { type = "string-ascii", field = "uuid" }', ""), "uuid must be signed"),
        (('order_signature = "blaze"', 'order_signature = "blaez"'), "routes[0].order_signature"),
        (("chain-id = 1 }", "chain-id = 5 }"), "order_schemes.blaze.domain"),
        (('kind = "sip018"', 'kind = "sip-018"'), "order_schemes.blaze.kind"),
        (('kind = "sip018"', 'kind = "sip018"\nprimary_type = "X"'), "blaze.primary_type"),
        (('const = "TRANSFER_TOKENS"', "const = 5"), "message.intent.const"),
        (('const = "TRANSFER_TOKENS"', 'fields = "x"'), "message.intent.fields: unknown key"),
    ],
)
def test_each_mistake_is_one_line_naming_its_key(tmp_path, change, expected):
    lines = mistakes(tmp_path, GOOD.replace(*change))
    assert any(expected in line for line in lines), lines


ORDER_SIGNING_DOC = Path(__file__).resolve().parents[2] / "docs" / "order-signing.md"
_ROUTE_NAMING_STACKS_ORDER = 'order_signature = "stacks-order"'


def doc_toml_blocks() -> list[str]:
    """The TOML blocks of docs/order-signing.md, in page order."""
    text = ORDER_SIGNING_DOC.read_text(encoding="utf-8")
    return [block.split("```", 1)[0] for block in text.split("```toml\n")[1:]]


def _doc_route_line(block: str) -> str:
    [line] = [line for line in block.splitlines() if line.startswith(_ROUTE_NAMING_STACKS_ORDER)]
    return line


def test_the_configurations_on_the_order_signing_page_load_as_it_says(tmp_path):
    # Operators copy these blocks: each must load, and the pairing the page
    # warns about must be refused exactly as it says.
    schemes, evm_route, blaze = doc_toml_blocks()[:3]
    assert load(tmp_path, schemes).routes[0].order_signature == "stacks-order"
    route_line = _doc_route_line(schemes)
    with_evm_fields = schemes.replace(route_line, evm_route)
    settings = load(tmp_path, with_evm_fields)
    assert settings.routes[0].order_signature == "evm-order"
    assert "reduceOnly" in settings.routes[0].order_fields
    default_fields = schemes.replace(route_line, 'order_signature = "evm-order"')
    lines = mistakes(tmp_path, default_fields)
    assert any("signs 'reduceOnly', which is not one of routes[0].order_fields" in x for x in lines)
    blaze_route = GOOD.split("[order_schemes.blaze]", 1)[0]
    assert load(tmp_path, blaze_route + blaze).routes[0].order_signature == "blaze"


def test_an_eip712_scheme_must_sign_the_owner(tmp_path):
    text = EVM.replace('{ name = "owner", type = "address" }, ', "").replace('"owner", ', "")
    assert mistakes(tmp_path, text) == ["order_schemes.evm.fields: owner must be signed"]


def test_an_eip712_member_of_unknown_type_is_named(tmp_path):
    lines = mistakes(tmp_path, EVM.replace('"uint256"', '"uint257"'))
    assert lines == ["order_schemes.evm.types.Order: unknown type 'uint257'"]


def test_every_mistake_is_reported_at_once(tmp_path):
    text = GOOD.replace('"optional uint"', '"float"') + EVM.replace(
        'order_signature = "evm"', 'order_signature = "missing"'
    )
    lines = mistakes(tmp_path, text)
    assert len(lines) == 2, lines
    assert lines[0].startswith("order_schemes.blaze.message.amount.type")
    assert lines[1].startswith("routes[1].order_signature: unknown scheme 'missing'")


def test_schemes_come_from_the_environment_as_json(tmp_path):
    schemes = {"s": {"kind": "canonical_json"}}
    settings = load(
        tmp_path,
        GOOD.replace('order_signature = "blaze"', 'order_signature = "s"'),
        {"WALLETGATE_ORDER_SCHEMES__JSON": json.dumps(schemes)},
    )
    assert [spec.name for spec in settings.order_schemes] == ["s"]


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=clean | (env or {}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_check_exits_2_with_one_prefixed_line_per_mistake(tmp_path):
    (tmp_path / "bad.toml").write_text(
        GOOD.replace('"optional uint"', '"float"').replace("chain-id = 1 }", "chain-id = 7 }")
    )
    result = _cli("--config", "bad.toml", "config", "check", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines == [
        "walletgate: configuration error: order_schemes.blaze.domain: "
        "domain.chain-id must be 1 (mainnet) or 2147483648 (testnet)"
    ]


def test_config_check_warns_on_stderr_and_shows_the_published_scheme(tmp_path):
    (tmp_path / "good.toml").write_text(GOOD)
    result = _cli("--config", "good.toml", "config", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "walletgate: warning: order_schemes.blaze.unsigned: outputToken" in result.stderr
    shown = json.loads(result.stdout)["order_schemes"]["blaze"]
    assert shown["kind"] == "sip018" and shown["unsigned"][0] == "outputToken"


def test_sign_order_from_the_config_prints_a_body_the_gateway_accepts(tmp_path):
    (tmp_path / "good.toml").write_text(GOOD)
    (tmp_path / "key").write_text(STACKS_KEY)
    order = {
        "inputToken": "SP2ZNGJ85ENDY6QRHQ5P2D4FXKGZWCKTB2T0Z55KS.token-a",
        "amountIn": "1000",
        "recipient": STACKS_ADDRESS,
        "uuid": "u-1",
        "targetPrice": "1.5",
    }
    (tmp_path / "order.json").write_text(json.dumps(order))
    result = _cli(
        "sign",
        "--order",
        "order.json",
        "--scheme",
        "blaze",
        "--config",
        "good.toml",
        "--key-file",
        "key",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["owner"] == STACKS_ADDRESS
    settings = load(tmp_path, GOOD)
    verifier = OrderVerifier(
        {"blaze": compile_scheme(settings.order_schemes[0])},
        replay=MemoryReplayGuard(),
        replay_ttl_s=60,
    )
    assert asyncio.run(verifier.verify("blaze", body)).canonical == STACKS_ADDRESS


def test_sign_order_with_an_unknown_scheme_fails_with_one_line(tmp_path):
    (tmp_path / "order.json").write_text("{}")
    (tmp_path / "key").write_text(STACKS_KEY)
    result = _cli(
        "sign", "--order", "order.json", "--scheme", "nope", "--key-file", "key", cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "walletgate: --scheme 'nope': no [order_schemes.nope] in the configuration"
    )
