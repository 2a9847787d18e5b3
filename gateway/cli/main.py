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

from gateway.auth.policy import DEFAULT_ROUTES
from gateway.cli.ingress import add_ingress_parser
from gateway.cli.keys import KeysHandler, add_keys_parser
from gateway.cli.output import complain
from gateway.cli.parser import (
    add_completion_parser,
    command_group,
    completion_script,
    examples,
    port,
    top_parser,
)
from gateway.cli.serve import serve_gateway, serve_with_backend
from gateway.cli.sign import add_sign_parser, run_sign
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


def _listen_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="public listener address (listen.host)")
    parser.add_argument("--port", type=port, help="public listener port (listen.port)")
    parser.add_argument("--admin-host", help="admin listener address (admin.host)")
    parser.add_argument("--admin-port", type=port, help="admin listener port (admin.port)")
    parser.add_argument(
        "--workers", help="processes sharing the public port; 0 = one per core (listen.workers)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = top_parser(__doc__.splitlines()[0])
    commands = command_group(parser, "command")

    run = commands.add_parser(
        "run",
        help="gateway and the bundled backend, embedded defaults",
        **examples(
            """
            walletgate run
            walletgate run --port 9000 --log-format json
            walletgate run --config walletgate.toml --workers 0
            """
        ),
    )
    _listen_flags(run)
    run.add_argument("--backend-port", type=port, help="bundled backend port (backend.port)")

    gateway = commands.add_parser(
        "gateway",
        help="the gateway alone, before any upstream",
        **examples(
            """
            walletgate gateway --upstream http://10.0.0.5:8000
            walletgate gateway --config /etc/walletgate.toml --upstream http://10.0.0.5:8000
            WALLETGATE_STORE__URL=postgresql://gw@db/walletgate walletgate gateway --upstream URL
            """
        ),
    )
    _listen_flags(gateway)
    gateway.add_argument("--upstream", metavar="URL", help="upstream base URL (upstream.url)")

    backend = commands.add_parser(
        "backend",
        help="the bundled order backend alone",
        **examples(
            """
            walletgate backend --port 8081 --database data/orders.db
            """
        ),
    )
    backend.add_argument("--host", help="address to listen on (backend.host)")
    backend.add_argument("--port", type=port, help="port to listen on (backend.port)")
    backend.add_argument("--database", metavar="FILE", help="SQLite file (backend.database)")

    add_keys_parser(commands)
    add_ingress_parser(commands)
    add_sign_parser(commands)

    config = commands.add_parser(
        "config",
        help="configuration commands",
        **examples(
            """
            walletgate config check --config /etc/walletgate.toml
            walletgate config reference > docs/configuration.md
            """
        ),
    )
    config_commands = command_group(config, "config_command")
    config_commands.add_parser(
        "check",
        help="validate and print the effective configuration",
        **examples("walletgate config check --config /etc/walletgate.toml"),
    )
    config_commands.add_parser(
        "reference",
        help="print the configuration reference (Markdown) from the schema",
        **examples("walletgate config reference > docs/configuration.md"),
    )
    add_completion_parser(commands)
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
        ("log", "level"): getattr(args, "log_level", None),
        ("log", "format"): getattr(args, "log_format", None),
    }
    for (section, key), value in overrides.items():
        if value is not None:
            settings = settings.replace(section, **{key: value})
    return settings


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
        settings = _apply_flags(load_settings(getattr(self.args, "config", None)), self.args)
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
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at exit, where a closed pipe could only be reported
        return code
    except BrokenPipeError:
        # The reader went away (`walletgate keys list | head -1`): end quietly.
        # Python's own recipe: point stdout at /dev/null so the final flush cannot raise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # as a command killed by SIGPIPE, which shells expect from `| head`


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    group_help = _missing_subcommand(args)
    if group_help is not None:
        print(group_help, end="")
        return 0
    if args.command == "completion":
        print(completion_script(parser, args.shell), end="")
        return 0
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
        if isinstance(exc, BrokenPipeError):
            raise  # `main` ends quietly on a closed pipe
        # After the log thread wrote what it holds: the error is the last line.
        logging_control.stop()
        complain(str(exc), fmt, event="error")
        return 1
    finally:
        logging_control.stop()


def _missing_subcommand(args: argparse.Namespace) -> str | None:
    """The help of a command group given without its subcommand (`walletgate keys`)."""
    chosen = (args.command, getattr(args, "keys_command", ""), getattr(args, "config_command", ""))
    if None in chosen:
        help_text: str = args.group_help()
        return help_text
    return None


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
