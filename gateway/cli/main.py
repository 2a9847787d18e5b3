"""walletgate: authentication gateway for exchange order APIs (API keys, wallet signatures).

The bundled backend runs as a child process (`python -m backend`): the
gateway reaches it over HTTP only, exactly as it reaches any exchange API.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from gateway import __version__
from gateway.auth.policy import DEFAULT_ROUTES
from gateway.cli.ingress import add_ingress_parser
from gateway.cli.keys import KeysHandler, add_keys_parser
from gateway.cli.output import complain
from gateway.cli.serve import serve_gateway, serve_with_backend
from gateway.cli.sign_order import SIGNING_KEY_ENV, read_private_key, run_sign_order
from gateway.config import (
    ConfigError,
    Settings,
    environment_warnings,
    load_settings,
    masked,
    unbound_warnings,
)
from gateway.config_reference import reference_markdown
from gateway.keys.store import StoreError
from gateway.logs import LogControl, configure_logging
from gateway.order_schemes_config import unsigned_warnings
from gateway.ratelimit.clients import check_cluster, is_cluster_url
from gateway.wallets.order_checks import check_settings
from gateway.wallets.signing import load_signer, signed_body, signed_headers


def _listen_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="public listener address (listen.host)")
    parser.add_argument("--port", type=int, help="public listener port (listen.port)")
    parser.add_argument("--admin-host", help="admin listener address (admin.host)")
    parser.add_argument("--admin-port", type=int, help="admin listener port (admin.port)")
    parser.add_argument(
        "--workers", help="processes sharing the public port; 0 = one per core (listen.workers)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="walletgate", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML file (default: $WALLETGATE_CONFIG or built-ins)")
    parser.add_argument("--version", action="version", version=f"walletgate {__version__}")
    parser.add_argument("--log-level", help="debug, info, warning or error (log.level)")
    parser.add_argument("--log-format", help="text or json (log.format)")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="gateway and the bundled backend, embedded defaults")
    _listen_flags(run)
    run.add_argument("--backend-port", type=int, help="bundled backend port (backend.port)")

    gateway = commands.add_parser("gateway", help="the gateway alone, before any upstream")
    _listen_flags(gateway)
    gateway.add_argument("--upstream", help="upstream base URL (upstream.url)")

    backend = commands.add_parser("backend", help="the bundled order backend alone")
    backend.add_argument("--host")
    backend.add_argument("--port", type=int)
    backend.add_argument("--database")

    add_keys_parser(commands)
    add_ingress_parser(commands)

    sign = commands.add_parser(
        "sign", help="sign a management message or an order with a local private key file"
    )
    sign.add_argument(
        "--key-file", help=f"file holding the hex private key (or ${SIGNING_KEY_ENV})"
    )
    sign.add_argument("--chain", choices=("stacks", "evm"), default="stacks")
    sign.add_argument("--network", choices=("mainnet", "testnet"), default="mainnet")
    sign.add_argument("--action", help="e.g. create_api_key, list_api_keys")
    sign.add_argument("--order", metavar="FILE", help="order JSON to sign; prints the body")
    sign.add_argument("--scheme", help="order scheme name (default canonical_json)")
    sign.add_argument(
        "--gateway", metavar="URL", help="fetch the scheme from this gateway (else the config)"
    )
    sign.add_argument(
        "--config", dest="sign_config", metavar="PATH", help="read the scheme from this config"
    )
    sign.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="message field; VALUE is read as JSON when it parses, else as text",
    )
    sign.add_argument("--headers", action="store_true", help="print X-Message/X-Signature headers")

    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_commands.add_parser("check", help="validate and print the effective configuration")
    config_commands.add_parser(
        "reference", help="print the configuration reference (Markdown) from the schema"
    )
    return parser


def _whole_number(key: str, text: str | None) -> int | None:
    # Read here rather than by argparse, so a bad value is one line naming the key.
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{key}: expected a whole number, got {text!r}") from None


def _apply_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    overrides = {
        ("listen", "host"): getattr(args, "host", None),
        ("listen", "port"): getattr(args, "port", None),
        ("admin", "host"): getattr(args, "admin_host", None),
        ("admin", "port"): getattr(args, "admin_port", None),
        ("listen", "workers"): _whole_number("listen.workers", getattr(args, "workers", None)),
        ("backend", "port"): getattr(args, "backend_port", None),
        ("upstream", "url"): getattr(args, "upstream", None),
        ("log", "level"): args.log_level.lower() if args.log_level else None,
        ("log", "format"): args.log_format.lower() if args.log_format else None,
    }
    for (section, key), value in overrides.items():
        if value is not None:
            settings = settings.replace(section, **{key: value})
    return settings


def _parse_field(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--field {text!r}: expected NAME=VALUE")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def run_sign(settings: Settings, args: argparse.Namespace) -> int:
    if args.order:
        return run_sign_order(settings, args)
    if not args.action:
        raise ValueError("give --action (a management message) or --order FILE")
    signer = load_signer(read_private_key(args.key_file), chain=args.chain, network=args.network)
    fields = dict(_parse_field(f) for f in args.field)
    make = signed_headers if args.headers else signed_body
    print(json.dumps(make(signer, args.action, fields)))
    return 0


def run_backend(settings: Settings, args: argparse.Namespace) -> int:
    backend = settings.backend
    argv = [
        sys.executable,
        "-m",
        "backend",
        "--host",
        args.host or backend.host,
        "--port",
        str(args.port if args.port is not None else backend.port),
        "--database",
        args.database or backend.database,
    ]
    os.execv(sys.executable, argv)


@dataclasses.dataclass(frozen=True)
class SettingsLoader:
    """Reads the configuration as at start-up (file, environment, flags); SIGHUP
    reuses it. A plain object rather than a closure: the worker processes get a
    pickled copy, so a reload reads exactly what the supervisor read."""

    args: argparse.Namespace

    def __call__(self) -> Settings:
        # `walletgate sign --config PATH` names the file after the subcommand.
        path = getattr(self.args, "sign_config", None) or self.args.config
        settings = _apply_flags(load_settings(path), self.args)
        check_settings(settings)
        return settings


def settings_loader(args: argparse.Namespace) -> SettingsLoader:
    # The handlers argparse stores for `keys` are functions: workers never need them.
    return SettingsLoader(
        argparse.Namespace(**{k: v for k, v in vars(args).items() if not callable(v)})
    )


def _early_format(args: argparse.Namespace) -> str:
    """The log format before the settings are known (to report that they are not)."""
    chosen = args.log_format or os.environ.get("WALLETGATE_LOG__FORMAT", "")
    return chosen.strip().lower()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    load = settings_loader(args)
    try:
        settings = load()
    except ConfigError as exc:
        for line in str(exc).splitlines():
            complain(f"configuration error: {line}", _early_format(args), event="config.error")
        return 2
    fmt = settings.log.format
    logging_control = configure_logging(settings.log)
    # Start-up and `config check` name every unsigned order field, an exposed
    # listener whose signed messages are bound to no deployment, and every
    # variable that looks like a setting but is not one.
    serving = args.command in ("run", "gateway", "config")
    checks = [*unsigned_warnings(settings), *unbound_warnings(settings)] if serving else []
    for warning in (*environment_warnings(), *checks):
        complain(f"warning: {warning}", fmt, level="warning", event="config.warning")
    try:
        return _dispatch(settings, args, load, logging_control)
    except (ValueError, OSError, StoreError) as exc:
        # After the log thread wrote what it holds: the error is the last line.
        logging_control.stop()
        complain(str(exc), fmt, event="error")
        return 1
    finally:
        logging_control.stop()


def effective(settings: Settings) -> dict[str, Any]:
    """The settings `config check` prints: the route table in force, defaults included."""
    if not settings.routes:
        settings = dataclasses.replace(settings, routes=DEFAULT_ROUTES)
    return masked(settings)


def _dispatch(settings: Settings, args: argparse.Namespace, load: Any, logs: LogControl) -> int:
    if args.command in ("run", "gateway") and is_cluster_url(settings.redis.url):
        try:
            cluster_warnings = asyncio.run(check_cluster(settings.redis.url))
        except OSError as exc:
            complain(f"configuration error: redis.url: {exc}", settings.log.format)
            return 2
        for warning in cluster_warnings:
            print(f"walletgate: warning: {warning}", file=sys.stderr)
    if args.command == "run":
        return run_loop(serve_with_backend(settings, load, logs))
    if args.command == "gateway":
        if not settings.upstream.url:
            complain("configuration error: upstream.url: required", settings.log.format)
            return 2
        return run_loop(serve_gateway(settings, load, logs))
    if args.command == "backend":
        return run_backend(settings, args)
    if args.command == "keys":
        handler: KeysHandler = args.keys_handler
        return handler(settings, args)
    if args.command == "ingress":
        return int(args.ingress_handler(settings, args))
    if args.command == "sign":
        return run_sign(settings, args)
    if args.config_command == "reference":
        print(reference_markdown(), end="")
        return 0
    print(json.dumps(effective(settings), indent=2))
    return 0


def run_loop(main_coroutine: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main_coroutine)
    code: int = uvloop.run(main_coroutine)
    return code


if __name__ == "__main__":
    sys.exit(main())
