"""The environment's share of the settings: `WALLETGATE_<SECTION>__<KEY>` and its `_FILE` twin.

`WALLETGATE_STORE__URL_FILE=/run/secrets/store_url` reads the value from
that file, as Docker and Kubernetes mount secrets, so a secret need not sit
in the environment (which `docker inspect` and /proc/PID/environ show). One
trailing line break is dropped: `echo secret > file` must give "secret".

Names are checked against the schema here, where the variable is still
known, so an error names the variable as written (`WALLETGATE_LISTN__PORT`),
not just the section it was taken for. A one-underscore name that reads as
a setting (`WALLETGATE_LISTEN_PORT`) is not applied; `environment_warnings`
says so, since silently ignoring it would leave the default in force.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ENV_PREFIX: Final = "WALLETGATE_"
FILE_SUFFIX: Final = "_FILE"
# Variables of the prefix that are not settings.
NOT_SETTINGS: Final = frozenset({"WALLETGATE_CONFIG", "WALLETGATE_SIGNING_KEY"})
# A secret file larger than this is a mistake (a directory listing, a dump).
MAX_SECRET_BYTES: Final = 65536


class EnvVarError(ValueError):
    """A variable is unknown or its file unreadable; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Schema:
    """Section names and their keys; `None` keys: any key (arrays of tables as JSON)."""

    sections: Mapping[str, frozenset[str] | None]


@dataclass(frozen=True, slots=True)
class EnvValue:
    """One setting from the environment: where it goes and the text it holds."""

    section: str
    key: str
    text: str
    variable: str


def _read_secret(variable: str, path: str) -> str:
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        # The path and the reason only: never anything read from the file.
        raise EnvVarError(f"{variable}: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_SECRET_BYTES:
        raise EnvVarError(f"{variable}: {path} is larger than {MAX_SECRET_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvVarError(f"{variable}: {path} is not UTF-8 text") from None
    return text.removesuffix("\n").removesuffix("\r")


def _split(variable: str) -> tuple[str, str, bool]:
    """(section, key, from a file) of a `WALLETGATE_<SECTION>__<KEY>[_FILE]` name."""
    section, _, key = variable[len(ENV_PREFIX) :].lower().partition("__")
    from_file = key.endswith(FILE_SUFFIX.lower())
    return section, key.removesuffix(FILE_SUFFIX.lower()) if from_file else key, from_file


def _check_name(variable: str, section: str, key: str, schema: Schema) -> None:
    if section not in schema.sections:
        known = ", ".join(sorted(schema.sections))
        raise EnvVarError(f"{variable}: unknown section {section!r} (known: {known})")
    keys = schema.sections[section]
    if keys is not None and key not in keys:
        raise EnvVarError(f"{variable}: unknown key {section}.{key}")


def environment_values(environ: Mapping[str, str], schema: Schema) -> Iterator[EnvValue]:
    """Every setting the environment gives, checked by name, files read."""
    seen: dict[tuple[str, str], str] = {}
    for variable, value in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX) or "__" not in variable:
            continue
        section, key, from_file = _split(variable)
        _check_name(variable, section, key, schema)
        other = seen.get((section, key))
        if other is not None:
            raise EnvVarError(f"{variable}: {other} sets {section}.{key} too; keep one")
        seen[(section, key)] = variable
        text = _read_secret(variable, value) if from_file else value
        yield EnvValue(section, key, text, variable)


def environment_warnings(environ: Mapping[str, str], schema: Schema) -> list[str]:
    """One warning per `WALLETGATE_SECTION_KEY` (one underscore) that names a setting."""
    warnings = []
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX) or "__" in variable or variable in NOT_SETTINGS:
            continue
        rest = variable[len(ENV_PREFIX) :].lower()
        for section, keys in schema.sections.items():
            if not rest.startswith(section + "_"):
                continue
            key = rest[len(section) + 1 :].removesuffix(FILE_SUFFIX.lower())
            if keys is None or key in keys:
                meant = f"{ENV_PREFIX}{section.upper()}__{rest[len(section) + 1 :].upper()}"
                warnings.append(f"{variable} is ignored: settings take two underscores, {meant}")
                break
    return warnings
