"""Configurations for existing ingresses in front of walletgate's decision endpoint."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from gateway.ingress import caddy, envoy, nginx, traefik
from gateway.ingress.plan import IngressPlan, build_plan

RENDERERS: Mapping[str, Callable[[IngressPlan], str]] = MappingProxyType(
    {
        "nginx": nginx.render,
        "caddy": caddy.render,
        "traefik": traefik.render,
        "envoy": envoy.render,
    }
)

__all__ = ["RENDERERS", "IngressPlan", "build_plan"]
