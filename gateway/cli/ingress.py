"""`walletgate ingress {nginx,caddy,traefik,envoy}`: print a configuration for that ingress."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.auth.policy import DEFAULT_ROUTES, RouteTable
from gateway.cli.parser import examples
from gateway.config import Settings
from gateway.ingress import RENDERERS, build_plan


def add_ingress_parser(commands: Any) -> None:
    ingress = commands.add_parser(
        "ingress",
        help="print a configuration for nginx, Caddy, Traefik or Envoy with walletgate deciding",
        **examples(
            """
            walletgate ingress nginx --listen 0.0.0.0:80 --upstream http://10.0.0.5:8000 \\
                --walletgate http://127.0.0.1:8080 > walletgate.conf
            """
        ),
    )
    ingress.add_argument("kind", choices=sorted(RENDERERS))
    ingress.add_argument("--listen", required=True, help="HOST:PORT the ingress listens on")
    # Its own dest: this names the ingress's upstream, not walletgate's upstream.url.
    ingress.add_argument(
        "--upstream",
        dest="ingress_upstream",
        required=True,
        help="the exchange API, http://host:port",
    )
    ingress.add_argument(
        "--walletgate", required=True, help="walletgate's public listener, http://host:port"
    )
    ingress.add_argument(
        "--resolver",
        default="",
        help="nginx: DNS server to re-resolve replicas with (e.g. 127.0.0.11 in Docker; "
        "needs nginx 1.27.3+)",
    )
    ingress.set_defaults(ingress_handler=run_ingress)


def run_ingress(settings: Settings, args: argparse.Namespace) -> int:
    # Body-authenticated routes come from the configured policy table.
    routes = RouteTable(settings.routes or DEFAULT_ROUTES)
    plan = build_plan(args.listen, args.ingress_upstream, args.walletgate, routes, args.resolver)
    print(RENDERERS[args.kind](plan), end="")
    return 0
