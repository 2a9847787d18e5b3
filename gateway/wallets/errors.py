"""The wallet layer's own exceptions: what went wrong, never how HTTP says it.

One base, `WalletError`, carrying a human `reason`; a subclass per kind of
refusal, so callers catch what they can handle (as itsdangerous does with
`BadSignature` and `SignatureExpired`). `gateway.http.errors` is the one
place that turns them into an error response.
"""

from __future__ import annotations


class WalletError(Exception):
    """Base of every refusal raised by `gateway.wallets`."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or type(self).__name__)
        self.reason = reason


class InvalidWalletAddress(WalletError):
    """Not a Stacks or EVM address this gateway accepts."""

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class InvalidSignedMessage(WalletError):
    """The signed message (or the fields carrying it) is malformed or for another action."""

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class InvalidSignature(WalletError):
    """The signature does not prove that the wallet signed these bytes."""


class SignatureNotBound(InvalidSignature):
    """The message does not name the deployment this gateway is bound to.

    A signature collected by another site (a cloned portal, another exchange)
    must not be spendable here: a bound gateway admits only messages whose
    `domain` is its own.
    """


class SignatureExpired(WalletError):
    """The message's timestamp is outside the accepted age window."""


class SignatureReplayed(WalletError):
    """The message was accepted once already."""


class ReplayGuardUnavailable(WalletError):
    """The replay guard cannot answer: admitting the message could admit a replay."""


class ReplayCacheFull(ReplayGuardUnavailable):
    """The in-process replay guard is full of live entries and will not forget one."""


class InvalidOrder(WalletError):
    """An order body that is not a JSON object."""


class InvalidOrderField(WalletError):
    """One field of a signed order is not what its scheme signs (named, with why)."""

    reason: str

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


class UncoveredOrderField(InvalidOrderField):
    """A body field the order's scheme neither signs nor lists as unsigned."""

    def __init__(self, field: str) -> None:
        super().__init__(field, "field not covered by the order signature")


class OrderSchemeReloaded(WalletError):
    """The route's scheme left the configuration between matching and verifying."""
