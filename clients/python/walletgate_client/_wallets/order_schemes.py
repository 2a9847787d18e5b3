"""Order-signature schemes compiled from their specs: digest, coverage, document.

`compile_scheme(spec)` does every check that does not depend on a request
(types, tuple keys, constants, domain) and precomputes the hashes; a bad spec
raises `SchemeError` naming the key. A compiled scheme turns an order body
into the digest its owner signed (`digest`), says which body fields that
digest covers, and renders the document clients sign from (`document`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from walletgate_client._wallets import eip712, sip018
from walletgate_client._wallets.address import Chain
from walletgate_client._wallets.order_spec import (
    SchemeError,
    SchemeKind,
    SchemeSpec,
    spec_from_document,
)
from walletgate_client._wallets.sip018 import FieldError, config_value

# Never part of what an order signs: the signature itself and the key that made it.
CREDENTIAL_FIELDS = frozenset({"signature", "publicKey"})


def _constants(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _constants(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_constants(v) for v in value]
    return config_value(value)


@dataclass(frozen=True, slots=True)
class CanonicalJsonScheme:
    """Today's scheme: a personal message over the sorted compact JSON (every field)."""

    spec: SchemeSpec
    chain: Chain | None = None
    owner_bound_by_signature: bool = False

    @property
    def mapped_fields(self) -> frozenset[str] | None:
        return None  # every field is signed

    def document(self) -> dict[str, Any]:
        return {"name": self.spec.name, "kind": self.spec.kind.value, "unsigned": []}


class Sip018Scheme:
    chain = Chain.STACKS

    def __init__(self, spec: SchemeSpec) -> None:
        self.spec = spec
        try:
            self.message = sip018.Sip018Message(spec.message, spec.domain)
        except sip018.ConversionError as exc:
            key, _, reason = str(exc).partition(": ")
            raise SchemeError(key, reason) if reason else SchemeError("domain", key) from None
        self.network = self.message.network
        self.mapped_fields: frozenset[str] | None = self.message.mapped_fields
        # Blaze-style intents do not carry the owner: the recovered signer is the owner.
        self.owner_bound_by_signature = "owner" not in self.mapped_fields

    def digest(self, order: Mapping[str, Any]) -> bytes:
        return self.message.digest(order)

    def document(self) -> dict[str, Any]:
        entries = []
        for entry in self.message.entries:
            item: dict[str, Any] = {"key": entry.key, "type": entry.type}
            if entry.field is not None:
                item["field"] = entry.field
            elif entry.has_const:
                item["const"] = config_value(entry.const)
            entries.append(item)
        return {
            "name": self.spec.name,
            "kind": self.spec.kind.value,
            "domain": dict(self.spec.domain),
            "network": self.network,
            "message": entries,
            "onchain": self.spec.onchain,
            "ownerBoundBySignature": self.owner_bound_by_signature,
            "unsigned": list(self.spec.unsigned),
        }


class Eip712Scheme:
    chain = Chain.EVM
    owner_bound_by_signature = False

    def __init__(self, spec: SchemeSpec) -> None:
        self.spec = spec
        types = {name: list(members) for name, members in spec.types.items()}
        try:
            self.schema = eip712.TypedDataSchema(
                types, spec.primary_type, _constants(dict(spec.domain))
            )
        except eip712.Eip712Error as exc:
            raise SchemeError(exc.path or "types", exc.reason) from None
        members = [name for name, _ in self.schema.primary.members]
        for member in list(spec.fields) + list(spec.constants):
            if member not in members:
                raise SchemeError(f"fields.{member}", f"not a member of {spec.primary_type}")
        both = set(spec.fields) & set(spec.constants)
        if both:
            raise SchemeError(f"constants.{sorted(both)[0]}", "is also mapped in fields")
        kinds = dict(self.schema.primary.members)
        # TOML integers stand for decimal strings where the member holds numbers.
        self.constants = {
            m: v if isinstance(v, int) and "int" not in kinds.get(m, "") else _constants(v)
            for m, v in spec.constants.items()
        }
        # member -> body field, for every member that is not a constant.
        self.sources = {m: spec.fields.get(m, m) for m in members if m not in self.constants}
        self.mapped_fields = frozenset(self.sources.values())
        self._check_constants()

    def _check_constants(self) -> None:
        encoders = dict(self.schema.primary.encoders)
        for member, value in self.constants.items():
            try:
                encoders[member](value, member)
            except eip712.Eip712Error as exc:
                raise SchemeError(f"constants.{exc.path}", exc.reason) from None

    def typed_message(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """The EIP-712 message an order stands for (constants filled in)."""
        message = dict(self.constants)
        for member, body_field in self.sources.items():
            if body_field not in order:
                raise FieldError(body_field, "is required")
            message[member] = order[body_field]
        return message

    def digest(self, order: Mapping[str, Any]) -> bytes:
        message = self.typed_message(order)
        try:
            return self.schema.digest(message)
        except eip712.Eip712Error as exc:
            raise FieldError(self._body_path(exc.path), exc.reason) from None
        except RecursionError:
            # Only a self-referencing struct type nests without bound.
            raise FieldError(self.spec.primary_type, "nested too deeply") from None

    def _body_path(self, path: str) -> str:
        root, sep, rest = path.partition(".")
        root, bracket, index = root.partition("[")
        field = self.sources.get(root, root)
        return field + (bracket + index if bracket else "") + (sep + rest if sep else "")

    def document(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "kind": self.spec.kind.value,
            # As configured: wallets want chainId as a JSON number.
            "domain": dict(self.spec.domain),
            "primaryType": self.spec.primary_type,
            "types": self.schema.types_document(),
            "fields": dict(self.sources),
            "constants": self.constants,
            "unsigned": list(self.spec.unsigned),
        }


OrderScheme = CanonicalJsonScheme | Sip018Scheme | Eip712Scheme


def compile_scheme(spec: SchemeSpec) -> OrderScheme:
    """Compile and check a spec; raises SchemeError naming the bad key."""
    scheme: OrderScheme
    if spec.kind == SchemeKind.CANONICAL_JSON:
        scheme = CanonicalJsonScheme(spec)
    elif spec.kind == SchemeKind.SIP018:
        scheme = Sip018Scheme(spec)
    else:
        scheme = Eip712Scheme(spec)
    _check_unsigned(spec, scheme)
    return scheme


def _check_unsigned(spec: SchemeSpec, scheme: OrderScheme) -> None:
    mapped = scheme.mapped_fields
    for name in spec.unsigned:
        if name in ("uuid", "owner"):
            raise SchemeError("unsigned", f"{name} must be signed")
        if name in CREDENTIAL_FIELDS:
            raise SchemeError("unsigned", f"{name} is never part of an order's signed fields")
        if mapped is not None and name in mapped:
            raise SchemeError("unsigned", f"{name} is both signed and unsigned")
    if mapped is None:
        if spec.unsigned:
            raise SchemeError("unsigned", "canonical_json signs every field")
        return
    if "uuid" not in mapped:
        raise SchemeError(
            "message" if spec.kind == SchemeKind.SIP018 else "fields", "uuid must be signed"
        )
    if "owner" not in mapped and not scheme.owner_bound_by_signature:
        raise SchemeError("fields", "owner must be signed")


def covered_fields(scheme: OrderScheme) -> frozenset[str] | None:
    """Body fields an order may carry under this scheme; None = any (canonical JSON)."""
    mapped = scheme.mapped_fields
    if mapped is None:
        return None
    owner = {"owner"} if scheme.owner_bound_by_signature else set()
    return mapped | set(scheme.spec.unsigned) | owner | CREDENTIAL_FIELDS


def document_json(scheme: OrderScheme) -> str:
    return json.dumps(scheme.document(), separators=(",", ":"))


def scheme_from_document(document: Mapping[str, Any]) -> OrderScheme:
    """Compile a published scheme document (what clients sign with)."""
    try:
        return compile_scheme(spec_from_document(document))
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemeError("document", f"not a scheme document: {exc}") from None
