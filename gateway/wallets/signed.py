"""Signed requests: read where the signature was sent, check it, remember it.

`SignatureVerifier.verify` runs the cheap checks first and the replay check
last, so a request that fails anything else never burns a wallet's message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from json.scanner import make_scanner
from types import MappingProxyType
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy, istr

from gateway.config import StacksNetwork
from gateway.records import record
from gateway.wallets.address import Chain, WalletAddress, parse_wallet_address
from gateway.wallets.errors import (
    InvalidSignature,
    InvalidSignedMessage,
    InvalidWalletAddress,
    SignatureExpired,
    SignatureNotBound,
    SignatureReplayed,
    WalletError,
)
from gateway.wallets.recover import verify_signature_bytes
from gateway.wallets.replay import ReplayGuard, replay_key_of_signer

# A signed management message is a small JSON object; refuse anything far
# larger before parsing it.
MAX_MESSAGE_CHARS = 16_384

_BODY_FIELDS = ("message", "signature", "walletAddress", "publicKey")
# istr: multidict keeps their case-folded form, instead of folding the name per lookup.
_HEADER_FIELDS = (
    istr("X-Message"),
    istr("X-Signature"),
    istr("X-Wallet-Address"),
    istr("X-Public-Key"),
)
_X_MESSAGE, _X_SIGNATURE, _X_WALLET_ADDRESS, _X_PUBLIC_KEY = _HEADER_FIELDS
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Outcome(StrEnum):
    """What `observe(chain, outcome)` reports for each verification."""

    VALID = "valid"
    INVALID_WALLET = "invalid_wallet"
    INVALID_MESSAGE = "invalid_message"
    EXPIRED = "expired"
    INVALID = "invalid"
    REPLAYED = "replayed"


# Read once, not per verification: `.value` is a Python-level property, and
# on Python 3.11 every `Chain.X` read runs EnumType's attribute hook.
_LABELS: Mapping[str, str] = {member: member.value for member in (*Chain, *Outcome)}
_VALID = Outcome.VALID.value
_STACKS = Chain.STACKS


# Records (`gateway.records`): frozen to the type checker, and built without the
# object.__setattr__ per field a frozen dataclass pays, once per signed request.
@record
class SignedMessage:
    """A signed message as received, before any check."""

    message: str
    signature: str
    wallet_address: str
    public_key: str | None = None


@record
class VerifiedMessage:
    wallet: WalletAddress
    fields: Mapping[str, Any]


def read_signed_message(
    body: Mapping[str, Any] | None, headers: Mapping[str, str]
) -> SignedMessage | None:
    """The signed message of a request, from its JSON body or its headers.

    None when the request carries no signature at all (not this scheme).
    """
    # Most signed requests carry no body: no Mapping (abc) check for them.
    form: Mapping[str, Any] = _EMPTY if body is None or not isinstance(body, Mapping) else body
    if "message" in form:
        return _from_fields(form, _BODY_FIELDS)
    lookup = _case_insensitive(headers)
    get = lookup.get
    message = get(_X_MESSAGE)
    signature = get(_X_SIGNATURE)
    if message is not None or signature is not None:
        wallet = get(_X_WALLET_ADDRESS)
        public_key = get(_X_PUBLIC_KEY)
        # Header values are strings: the field-by-field checks (and their
        # messages) are needed only when one is missing or not a string.
        if (
            type(message) is str
            and type(signature) is str
            and type(wallet) is str
            and (public_key is None or type(public_key) is str)
        ):
            return SignedMessage(message, signature, wallet, public_key or None)
        return _from_fields(lookup, _HEADER_FIELDS)
    if "signature" in form:
        return _from_fields(form, _BODY_FIELDS)
    return None


def _case_insensitive(headers: Mapping[str, str]) -> Mapping[str, str]:
    if type(headers) is CIMultiDictProxy or isinstance(headers, CIMultiDictProxy | CIMultiDict):
        return headers
    return CIMultiDict(headers)


def _from_fields(source: Mapping[str, Any], names: tuple[str, str, str, str]) -> SignedMessage:
    message_name, signature_name, wallet_name, public_key_name = names
    message = _required_str(source, message_name)
    signature = _required_str(source, signature_name)
    wallet = _required_str(source, wallet_name)
    public_key = source.get(public_key_name)
    if public_key is not None and not isinstance(public_key, str):
        raise InvalidSignedMessage(f"{public_key_name} must be a string")
    return SignedMessage(message, signature, wallet, public_key or None)


def _required_str(source: Mapping[str, Any], name: str) -> str:
    value = source.get(name)
    if value is None:
        raise InvalidSignedMessage(f"{name} is required")
    if not isinstance(value, str):
        raise InvalidSignedMessage(f"{name} must be a string")
    return value


def _reject_duplicate_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two `action`s or `timestamp`s in one message would mean different
    # things to different parsers; a signed message has to be unambiguous.
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise ValueError("duplicate field")
    return fields


_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicate_fields)
# The C scanner behind `json.loads`, called directly: `raw_decode` would add a
# Python frame and an exception translation per message.
# (typeshed's stub asks for a scanner as the context; json passes a decoder, as here.)
_SCAN = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _plain_json(text: str) -> Any:
    """`json.loads(text)`, without its whitespace scans for the usual `{...}` text."""
    if text[:1] == "{" and text[-1:] == "}":
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            pass  # not JSON at all: json.loads below raises the ValueError
        else:
            if end == len(text):
                return value
    return json.loads(text)


def _parse_message(message: str) -> tuple[dict[str, Any], bytes]:
    """The message's fields and its UTF-8 bytes (what was signed)."""
    if len(message) > MAX_MESSAGE_CHARS:
        raise InvalidSignedMessage("message is too long")
    try:
        data = message.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSignedMessage("message is not valid UTF-8") from None
    try:
        fields = _plain_json(message)
        # Every key of every object is followed by a literal ":", so the text
        # holds at least as many ":" as keys. When it holds exactly as many as
        # the top-level object has distinct keys, no key repeats anywhere (and
        # no nested object has any): the slow duplicate-refusing parse is
        # needed only otherwise.
        if type(fields) is dict and message.count(":") != len(fields):
            fields = _STRICT_DECODER.decode(message)
    except (ValueError, RecursionError):
        raise InvalidSignedMessage("message must be a JSON object") from None
    if type(fields) is not dict:
        raise InvalidSignedMessage("message must be a JSON object")
    return fields, data


def _same(expected: object, actual: object) -> bool:
    # Strict: `True == 1` and `1 == 1.0` in Python, never in a signed field.
    return type(expected) is type(actual) and expected == actual


class SignatureVerifier:
    def __init__(
        self,
        *,
        replay: ReplayGuard,
        chains: Collection[str] = (Chain.STACKS, Chain.EVM),
        max_age_s: float = 300,
        clock: Callable[[], float] = time.time,
        observe: Callable[[str, str], None] | None = None,
        stacks_network: StacksNetwork = StacksNetwork.ANY,
        domain: str = "",
    ) -> None:
        if max_age_s <= 0:
            raise ValueError("max_age_s must be positive")
        # The Stacks network this gateway serves: addresses of the other one are
        # refused, so a message is bound to one network.
        self._stacks_network = None if stacks_network == StacksNetwork.ANY else stacks_network
        # The deployment messages must name (`signatures.domain`); None = unbound.
        self._domain = domain or None
        self._replay = replay
        self._chains = frozenset(Chain(chain) for chain in chains)
        self._max_age_ms = max_age_s * 1000
        self._replay_ttl_s = 2 * max_age_s
        self._clock = clock
        self._observe = observe

    def _report(self, chain: str, outcome: Outcome) -> None:
        if self._observe is not None:
            self._observe(chain, _LABELS[outcome])

    def _wallet(self, address: object) -> WalletAddress:
        try:
            wallet = parse_wallet_address(address, self._chains)
            network = self._stacks_network
            if network is not None and wallet.chain == _STACKS and wallet.network != network:
                raise InvalidWalletAddress(f"this gateway accepts Stacks {network} addresses only")
        except InvalidWalletAddress:
            self._report("unknown", Outcome.INVALID_WALLET)
            raise
        return wallet

    async def verify(
        self, signed: SignedMessage, *, action: str, bound: Mapping[str, Any] = _EMPTY
    ) -> VerifiedMessage:
        """Admit `signed` for `action` once, or raise the `WalletError` that says why not."""
        wallet = self._wallet(signed.wallet_address)
        chain = _LABELS[wallet.chain]
        # One reading of the clock for the window and the replay entry's life.
        now = self._clock()
        try:
            fields, data = self._check_fields(signed.message, action, bound, now)
            signer = verify_signature_bytes(wallet, data, signed.signature, signed.public_key)
        except WalletError as exc:
            self._report(chain, _outcome_of(exc))
            raise
        if not await self._replay.first_use(
            replay_key_of_signer(signer, data), self._ttl(fields["timestamp"], now)
        ):
            self._report(chain, Outcome.REPLAYED)
            raise SignatureReplayed("message already used")
        if self._observe is not None:
            self._observe(chain, _VALID)
        return VerifiedMessage(wallet, MappingProxyType(fields))

    def _ttl(self, timestamp_ms: int, now: float) -> float:
        """How long a message must be remembered: until its timestamp leaves the
        window, not a full double window, so the replay set holds half as much.
        `now` is when the window was checked, before recovery: the entry lives
        the few microseconds longer, never shorter."""
        remaining = (timestamp_ms + self._max_age_ms) / 1000 - now
        # min(max(remaining, 0) + 1, cap), without the builtins' argument parsing.
        ttl = remaining + 1.0 if remaining > 0.0 else 1.0
        return ttl if ttl < self._replay_ttl_s else self._replay_ttl_s

    def _check_fields(
        self, message: object, action: str, bound: Mapping[str, Any], now: float
    ) -> tuple[dict[str, Any], bytes]:
        """The message's fields and UTF-8 bytes, once its fields are what the request
        needs. `_same` is written out below: this runs once per signed request."""
        if not isinstance(message, str):
            raise InvalidSignedMessage("message must be a string")
        fields, data = _parse_message(message)
        named = fields.get("action")
        if type(named) is not type(action) or named != action:
            raise InvalidSignedMessage(f'action must be "{action}"')
        domain = fields.get("domain")
        if domain is not self._domain and (type(domain) is not str or domain != self._domain):
            self._check_domain(domain)  # raises, saying why
        timestamp = fields.get("timestamp")
        if type(timestamp) is not int:
            raise InvalidSignedMessage("timestamp must be an integer (milliseconds)")
        # Compared, not subtracted: a huge integer cannot overflow a comparison.
        now_ms = now * 1000
        if not now_ms - self._max_age_ms <= timestamp <= now_ms + self._max_age_ms:
            raise SignatureExpired("timestamp is outside the accepted window")
        for name, expected in bound.items():
            value = fields.get(name)
            if type(value) is not type(expected) or value != expected:
                raise InvalidSignature(f"{name} does not match the request")
        return fields, data

    def _check_domain(self, named: object) -> None:
        """A bound gateway admits only messages naming it; any gateway refuses a
        message naming a domain that is not its own (an unbound one has none),
        so a signature made for one deployment is good nowhere else."""
        if named is None:
            if self._domain is not None:
                raise SignatureNotBound(f'message must carry "domain": "{self._domain}"')
            return
        if self._domain is None or not _same(self._domain, named):
            raise SignatureNotBound("message is bound to another domain")


def _outcome_of(exc: WalletError) -> Outcome:
    if isinstance(exc, SignatureExpired):
        return Outcome.EXPIRED
    if isinstance(exc, InvalidSignedMessage):
        return Outcome.INVALID_MESSAGE
    return Outcome.INVALID


def canonical_order_message(order: Mapping[str, Any]) -> str:
    """The order without `signature`, as sorted compact JSON with non-ASCII kept."""
    unsigned = {key: value for key, value in order.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
