"""Stand-ins for several wallets at once, each signing for real through Python.

A Leather-like and an Xverse-like Stacks provider listed in
`window.btc_providers` (WBIP004), answering the SIP-030 methods each really
answers (@stacks/connect's wallet-support table: Leather `stx_getAddresses`
and no non-standard `publicKey` on `stx_signMessage`; Xverse-like
`wallet_connect` / `stx_getAccounts`, `stx_signMessage` only with the
account's `publicKey`, and no `stx_getAddresses`), and two EVM wallets that
announce themselves by EIP-6963. Each wallet can approve, refuse, answer in
a shape no standard has, or sign with another account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from gateway.wallets.signing import EvmSigner, StacksSigner
from tests.support.portal_browser import DECOY_BTC_ADDRESS


class Behaviour(StrEnum):
    APPROVE = "approve"
    REFUSE = "refuse"
    ODD_SHAPE = "odd_shape"
    OTHER_ACCOUNT = "other_account"


@dataclass
class StandIn:
    name: str
    signer: StacksSigner | EvmSigner
    other: StacksSigner | EvmSigner  # the wallet's other account
    behaviour: Behaviour = Behaviour.APPROVE
    signed: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.signer.address


@dataclass
class StandIns:
    wallets: dict[str, StandIn]

    def account(self, name: str) -> dict[str, Any]:
        wallet = self.wallets[name]
        return {
            "address": wallet.signer.address.lower()
            if isinstance(wallet.signer, EvmSigner)
            else wallet.signer.address,
            "publicKey": wallet.signer.public_key_hex,
            "btc": DECOY_BTC_ADDRESS,
        }

    def called(self, name: str, method: str) -> None:
        self.wallets[name].methods.append(method)

    def sign(self, name: str, payload: str) -> dict[str, Any]:
        wallet = self.wallets[name]
        if wallet.behaviour is Behaviour.REFUSE:
            return {"refused": True}
        if wallet.behaviour is Behaviour.ODD_SHAPE:
            return {"odd": True}
        signer = wallet.other if wallet.behaviour is Behaviour.OTHER_ACCOUNT else wallet.signer
        if isinstance(signer, EvmSigner):
            text = bytes.fromhex(payload.removeprefix("0x")).decode("utf-8")
            wallet.signed.append(text)
            return {"signature": signer.sign(text)}
        wallet.signed.append(payload)
        return {"signature": signer.sign(payload), "publicKey": signer.public_key_hex}


ICON = (
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>"
    "<rect width='32' height='32' rx='7' fill='{colour}'/></svg>"
)
LEATHER, XVERSE = "Leather", "Xverse Wallet"
EVM_FIRST, EVM_SECOND = "Alpha Wallet", "Beta Wallet"

SCRIPT = Path(__file__).with_name("portal_wallets.js").read_text()


def stand_in_script() -> str:
    names = {"icon": ICON, "leather": LEATHER, "xverse": XVERSE}
    names |= {"first": EVM_FIRST, "second": EVM_SECOND}
    return f"const STAND_IN = {json.dumps(names)};\n{SCRIPT}"


def stand_ins(stacks_signers: list[StacksSigner], evm_signers: list[EvmSigner]) -> StandIns:
    """Leather and Xverse on the first two Stacks keys, the EVM wallets on the first
    two EVM keys; each wallet's 'other account' is the last key of its family."""
    leather, xverse, stacks_other = stacks_signers
    first, second, evm_other = evm_signers
    return StandIns(
        {
            LEATHER: StandIn(LEATHER, leather, stacks_other),
            XVERSE: StandIn(XVERSE, xverse, stacks_other),
            EVM_FIRST: StandIn(EVM_FIRST, first, evm_other),
            EVM_SECOND: StandIn(EVM_SECOND, second, evm_other),
        }
    )
