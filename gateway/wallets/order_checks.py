"""The configured order schemes compiled and checked against the routes naming them.

Compiling needs the encoders, so this sits in the wallets wing and is called
where settings come to life: the CLI's loader (start-up, `config check`,
SIGHUP reload) and `build_gateway`. Every mistake is one line naming its key,
all of them reported at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.config import ConfigError, RouteSettings, Settings
from gateway.order_schemes_config import SECTION, route_order_fields, route_scheme
from gateway.order_spec import CANONICAL_JSON, CANONICAL_JSON_SPEC, SchemeError
from gateway.wallets.order_schemes import OrderScheme, compile_scheme


def compile_route_schemes(
    settings: Settings, routes: Iterable[RouteSettings]
) -> dict[str, OrderScheme]:
    """The compiled scheme of every order route (config already checked)."""
    specs = {spec.name: spec for spec in settings.order_schemes}
    specs[CANONICAL_JSON] = CANONICAL_JSON_SPEC
    names = {route_scheme(r.order_signature) for r in routes}
    return {name: compile_scheme(specs[name]) for name in sorted(n for n in names if n)}


def check_order_schemes(settings: Settings) -> list[str]:
    """Every mistake of the order schemes and the routes naming them, one line each."""
    problems: list[str] = []
    compiled: dict[str, OrderScheme] = {CANONICAL_JSON: compile_scheme(CANONICAL_JSON_SPEC)}
    for spec in settings.order_schemes:
        try:
            compiled[spec.name] = compile_scheme(spec)
        except SchemeError as exc:
            problems.append(f"{SECTION}.{spec.name}.{exc.key}: {exc.reason}")
    defined = {spec.name for spec in settings.order_schemes} | {CANONICAL_JSON}
    for i, route in enumerate(settings.routes):
        name = route_scheme(route.order_signature)
        if name is None:
            continue
        if name not in defined:
            problems.append(f"routes[{i}].order_signature: unknown scheme {name!r}")
        elif name in compiled:
            problems += _coverage(f"routes[{i}]", route, compiled[name])
    return problems


def _coverage(where: str, route: RouteSettings, scheme: OrderScheme) -> list[str]:
    order_fields = route_order_fields(route)
    mapped = scheme.mapped_fields
    if order_fields is None or mapped is None:
        return []
    name = scheme.spec.name
    covered = mapped | set(scheme.spec.unsigned)
    if scheme.owner_bound_by_signature:
        covered |= {"owner"}
    problems = [
        f"{where}.order_fields: {field!r} is neither signed by scheme {name!r} nor listed in "
        f"{SECTION}.{name}.unsigned"
        for field in order_fields
        if field not in covered
    ]
    problems += [
        f"{SECTION}.{name}: signs {field!r}, which is not one of {where}.order_fields"
        for field in sorted(covered - set(order_fields))
    ]
    return problems


def check_settings(settings: Settings) -> None:
    """Raise ConfigError listing every order-scheme mistake, one line each."""
    problems = check_order_schemes(settings)
    if problems:
        raise ConfigError("\n".join(problems))
