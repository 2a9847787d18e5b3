"""One body value, one signed value: every looser reading is refused, naming why."""

from __future__ import annotations

import pytest

from gateway.wallets import eip712
from gateway.wallets.sip018 import ConversionError, converter

MAINNET = "SP2ZNGJ85ENDY6QRHQ5P2D4FXKGZWCKTB2T0Z55KS"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("uint", 5),
        ("uint", "05"),
        ("uint", "-1"),
        ("uint", "1e3"),
        ("uint", " 1"),
        ("uint", str(2**128)),
        ("uint", "1" * 5000),
        ("int", str(2**127)),
        ("int", "-0"),
        ("int", True),
        ("bool", "false"),
        ("bool", 0),
        ("principal", MAINNET.lower()),
        ("principal", MAINNET.replace("0", "O")),
        ("principal", MAINNET[:-1] + "T"),
        ("principal", MAINNET + ".1token"),
        ("principal", MAINNET + "." + "a" * 41),
        ("principal", "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM"),
        ("string-ascii", "caf\u00e9"),
        ("string-ascii", "line\nbreak"),
        ("string-ascii", 12),
        ("string-utf8", "\ud800"),
        ("buff", "deadbeef"),
        ("buff", "0xabc"),
        ("optional uint", 3),
        ("list string-ascii", "dca"),
    ],
)
def test_sip018_values_convert_only_from_their_one_spelling(kind, value):
    with pytest.raises(ConversionError):
        converter(kind, "mainnet")(value)


def test_sip018_optional_absent_or_null_is_none_and_contract_principals_convert():
    assert converter("optional uint", "mainnet")(None) == b"\x09"
    assert converter("principal", "mainnet")(MAINNET + ".x-multihop-rc9")[0] == 0x06


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("uint8", "256"),
        ("uint256", "9" * 5000),
        ("uint8", 1),
        ("uint256", "0x10"),
        ("int8", "-129"),
        ("bool", "true"),
        ("address", "0x2c7536e3605d9c16a7a3d7b1898e529396a65C23"),
        ("address", "2c7536e3605d9c16a7a3d7b1898e529396a65c23"),
        ("bytes4", "0xdeadbe"),
        ("bytes4", "0xdeadbeef00"),
        ("bytes", "0xabc"),
        ("bytes", "deadbeef"),
        ("string", 5),
    ],
)
def test_eip712_values_convert_only_from_their_one_spelling(kind, value):
    encode = eip712.atomic_encoder(kind)
    assert encode is not None
    with pytest.raises(eip712.Eip712Error) as caught:
        encode(value, "member")
    assert caught.value.path == "member"


@pytest.mark.parametrize(
    "kind", ["uint0", "uint7", "uint264", "int08", "bytes0", "bytes33", "float"]
)
def test_eip712_unknown_atomic_types_are_not_types(kind):
    assert eip712.atomic_encoder(kind) is None


def test_eip712_struct_refuses_undeclared_and_missing_members():
    schema = eip712.TypedDataSchema(
        {"Order": [{"name": "uuid", "type": "string"}]}, "Order", {"name": "x"}
    )
    with pytest.raises(eip712.Eip712Error, match="not a member"):
        schema.digest({"uuid": "a", "extra": "b"})
    with pytest.raises(eip712.Eip712Error, match="required"):
        schema.digest({"other": "a"})
