"""The `walletgate` argument parser: commands, the options every command shares, examples.

`--config`, `--log-level` and `--log-format` are accepted before or after the
command (`walletgate --config F gateway` and `walletgate gateway --config F`):
the docs show both orders and a reader types either.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any, NoReturn

from gateway import __version__

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
SHELLS = ("bash", "zsh")


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subcommands that take the shared options even when their author forgets them."""

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("parents", [common_options(top=False)])
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        return super().add_parser(name, **kwargs)


class CliParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line that names the command and its help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Commands)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _choice(name: str, allowed: tuple[str, ...]) -> Any:
    # Case-insensitive, and the refusal lists what is allowed.
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not one of {', '.join(allowed)} ({name})"
            )
        return value

    parse.__name__ = name
    return parse


def common_options(*, top: bool) -> CliParser:
    """Shared options. After the command they default to SUPPRESS, so a value
    given before the command is not overwritten by the subcommand's default."""
    common = CliParser(add_help=False)
    group = common.add_argument_group("options of every command")
    default = None if top else argparse.SUPPRESS
    group.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help="TOML configuration (default: $WALLETGATE_CONFIG, else built-in defaults)",
    )
    group.add_argument(
        "--log-level",
        metavar="LEVEL",
        type=_choice("log.level", LOG_LEVELS),
        default=default,
        help=f"{', '.join(LOG_LEVELS)} (log.level)",
    )
    group.add_argument(
        "--log-format",
        metavar="FORMAT",
        type=_choice("log.format", LOG_FORMATS),
        default=default,
        help=f"{' or '.join(LOG_FORMATS)} (log.format)",
    )
    return common


def examples(text: str) -> dict[str, Any]:
    """Keyword arguments for `add_parser`: the shared options and an examples epilog."""
    return {
        "parents": [common_options(top=False)],
        "epilog": "examples:\n" + textwrap.indent(textwrap.dedent(text).strip(), "  "),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def command_group(parser: argparse.ArgumentParser, dest: str) -> Any:
    """Subcommands listed under COMMAND; none given prints the group's help."""
    group = parser.add_subparsers(dest=dest, metavar="COMMAND", title="commands")
    parser.set_defaults(group_help=parser.format_help)
    return group


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return value


def http_url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text) < 9:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL")
    return text


def signing_domain(text: str) -> str:
    """A host as `signatures.domain` takes it ('' = none), checked by the same rule."""
    from gateway.config import ConfigError, load_settings

    try:
        load_settings(None, environ={"WALLETGATE_SIGNATURES__DOMAIN": text.strip()})
    except ConfigError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a host such as api.exchange.example (signatures.domain)"
        ) from None
    return text.strip()


def top_parser(description: str) -> CliParser:
    parser = CliParser(
        prog="walletgate",
        description=description,
        parents=[common_options(top=True)],
        epilog=textwrap.dedent(
            """\
            examples:
              walletgate run
              walletgate --config /etc/walletgate.toml gateway --upstream http://10.0.0.5:8000
              walletgate keys list --config /etc/walletgate.toml
              walletgate COMMAND --help
            """
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"walletgate {__version__}")
    return parser


def add_completion_parser(commands: Any) -> None:
    completion = commands.add_parser(
        "completion",
        help="print a bash or zsh completion script",
        **examples(
            """
            source <(walletgate completion bash)
            walletgate completion zsh > "${fpath[1]}/_walletgate"
            """
        ),
    )
    completion.add_argument("shell", choices=SHELLS)


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    # Imported here: only this command pays for it.
    import shtab

    script: str = shtab.complete(parser, shell=shell)
    return script
