"""The wiring's shape: frozen after start-up, closed sets checked once, no import cycle."""

from __future__ import annotations

import dataclasses

import grimp
import pytest

from gateway.app import build_gateway
from gateway.auth.policy import DEFAULT_ROUTES, RouteTable
from gateway.config import ConfigError, ListenMode, OnError, Settings
from gateway.http.context import Policy


def test_the_gateway_record_is_frozen_and_its_policy_is_swapped_whole(tmp_path):
    settings = Settings().replace("store", url=f"sqlite:///{tmp_path / 'keys.db'}")
    gw = build_gateway(settings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        gw.keys = gw.keys  # type: ignore[misc]
    reloaded = settings.replace("rate_limits", per_minute=7)
    routes = RouteTable(DEFAULT_ROUTES)
    gw.apply(Policy(reloaded, routes, gw.quotas, gw.service_key_hashes))
    assert gw.settings.rate_limits.per_minute == 7
    assert gw.routes is routes


def test_closed_sets_are_enums_once_read():
    settings = (
        Settings()
        .replace("listen", mode="auth", trusted_proxies=("127.0.0.1/32",))
        .replace("redis", on_error="open")
    )
    assert settings.listen.mode is ListenMode.AUTH
    assert settings.redis.on_error is OnError.OPEN
    with pytest.raises(ConfigError, match=r'listen\.mode: expected "proxy" or "auth"'):
        Settings().replace("listen", mode="proxy ")


def test_no_module_imports_one_that_imports_it_back():
    """Counting imports inside functions too (grimp sees every import statement)."""
    graph = grimp.build_graph("gateway")
    cycles = [
        (module, other)
        for module in graph.modules
        for other in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=other, imported=module)
    ]
    assert cycles == []
