"""Configuration: TOML file, environment overrides, errors that name the key."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.auth.policy import DEFAULT_ROUTES
from gateway.config import (
    TABLE_LISTS,
    ConfigError,
    ServiceKeySettings,
    Settings,
    load_settings,
    masked,
)
from gateway.operator_config import OperatorTokenSettings, TierSettings
from gateway.order_schemes_config import OrderSchemeTable

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "walletgate.toml"
SERVICE_HASH = "ab" * 32


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "walletgate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`walletgate ...` as a real process, with only the given WALLETGATE_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=clean | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


# -- values --------------------------------------------------------------------


def test_no_file_and_no_environment_gives_the_built_in_defaults():
    assert load_settings(None, {}) == Settings()


def test_example_config_is_the_built_in_defaults_with_the_default_route_table():
    expected = dataclasses.replace(Settings(), routes=DEFAULT_ROUTES)
    assert load_settings(EXAMPLE, {}) == expected


def test_example_config_documents_every_key_with_a_comment():
    text = EXAMPLE.read_text(encoding="utf-8")
    tables = {*TABLE_LISTS, "order_schemes", "tiers"}
    sections = {f.name: f.type for f in dataclasses.fields(Settings) if f.name not in tables}
    for section in sections:
        block = re.search(rf"^\[{section}\][^\n]*\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
        assert block, f"[{section}] missing from the example"
        for field in dataclasses.fields(getattr(Settings(), section)):
            line = re.search(rf"^{field.name} = [^\n]*", block.group(1), re.M)
            assert line, f"{section}.{field.name} missing from the example"
            assert "#" in line.group(0), f"{section}.{field.name} has no comment"
    for field in dataclasses.fields(ServiceKeySettings):
        assert re.search(rf"^# {field.name} = .*#", text, re.M), f"service_keys.{field.name}"
    for field in dataclasses.fields(TABLE_LISTS["routes"]):
        assert re.search(rf"^#   {field.name} +\S", text, re.M), f"routes.{field.name}"
    for field in dataclasses.fields(TierSettings):
        if field.name != "name":  # the table's own name, [tiers.NAME]
            assert re.search(rf"^# {field.name} += .*#", text, re.M), f"tiers.{field.name}"
    for field in dataclasses.fields(OperatorTokenSettings):
        assert re.search(rf"^# {field.name} += .*#", text, re.M), f"admin.tokens.{field.name}"
    for field in dataclasses.fields(OrderSchemeTable):
        if field.name not in ("message", "types"):  # tables of their own, shown as such
            assert re.search(rf"^# {field.name} += .*#", text, re.M), f"order_schemes.{field.name}"


def test_file_values_are_read_from_every_kind_of_field(tmp_path):
    path = write(
        tmp_path,
        f"""
[listen]
port = 8000
trusted_proxies = ["10.0.0.0/8", "fd00::/8"]
access_log = true
[upstream]
url = "http://10.0.0.5:8000"
timeout_s = 2.5
[signatures]
chains = ["evm"]
[[service_keys]]
sha256 = "{SERVICE_HASH}"
name = "frontend"
[[routes]]
method = "GET"
path = "/api/v1/markets"
public = true
""",
    )
    settings = load_settings(path, {})
    assert settings.listen.port == 8000
    assert settings.listen.trusted_proxies == ("10.0.0.0/8", "fd00::/8")
    assert settings.listen.access_log is True
    assert settings.upstream.url == "http://10.0.0.5:8000"
    assert settings.upstream.timeout_s == 2.5
    assert settings.signatures.chains == ("evm",)
    assert settings.service_keys == (ServiceKeySettings(SERVICE_HASH, "frontend"),)
    assert settings.routes[0].path == "/api/v1/markets"
    assert settings.routes[0].public is True
    assert settings.admin.port == 9100  # untouched keys keep their defaults


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, '[listen]\nport = 8000\n[upstream]\nurl = "http://a.example"\n')
    environ = {
        "WALLETGATE_LISTEN__PORT": "9000",
        "WALLETGATE_UPSTREAM__URL": "http://10.0.0.5:8000",
        "WALLETGATE_UPSTREAM__TIMEOUT_S": "0.5",
    }
    settings = load_settings(path, environ)
    assert settings.listen.port == 9000
    assert settings.upstream.url == "http://10.0.0.5:8000"
    assert settings.upstream.timeout_s == 0.5


def test_config_path_may_come_from_the_environment(tmp_path):
    path = write(tmp_path, "[admin]\nport = 9200\n")
    assert load_settings(None, {"WALLETGATE_CONFIG": str(path)}).admin.port == 9200


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("WALLETGATE_SIGNATURES__CHAINS", "evm", ("evm",)),
        ("WALLETGATE_SIGNATURES__CHAINS", " stacks , evm ", ("stacks", "evm")),
        ("WALLETGATE_KEYS__DEFAULT_PERMISSIONS", '["create"]', ("create",)),
        ("WALLETGATE_KEYS__ONE_ACTIVE_PER_WALLET_EVM", "false", False),
        ("WALLETGATE_KEYS__ONE_ACTIVE_PER_WALLET_EVM", "YES", True),
        ("WALLETGATE_LIMITS__MAX_BODY_BYTES", " 1024 ", 1024),
        ("WALLETGATE_SIGNATURES__MAX_AGE_S", "60", 60.0),
    ],
)
def test_environment_text_is_read_as_the_field_type(name, value, expected):
    section, _, key = name.removeprefix("WALLETGATE_").lower().partition("__")
    settings = load_settings(None, {name: value})
    assert getattr(getattr(settings, section), key) == expected


def test_environment_arrays_of_tables_are_json():
    tables = json.dumps([{"sha256": SERVICE_HASH, "name": "frontend"}])
    settings = load_settings(None, {"WALLETGATE_SERVICE_KEYS__JSON": tables})
    assert settings.service_keys == (ServiceKeySettings(SERVICE_HASH, "frontend"),)


def test_unrelated_environment_variables_are_ignored():
    environ = {"HOME": "/root", "WALLETGATE_CONFIG": "", "WALLETGATE_SOMETHING": "x"}
    assert load_settings(None, environ) == Settings()


def test_replace_checks_the_new_value():
    with pytest.raises(ConfigError, match=r"^listen\.port:"):
        Settings().replace("listen", port=70000)


# -- errors name the key ---------------------------------------------------------

FILE_ERRORS = [
    # wrong types
    ('[listen]\nport = "80"', "listen.port"),
    ("[listen]\nport = 80.5", "listen.port"),
    ("[upstream]\ntimeout_s = true", "upstream.timeout_s"),
    ("[keys]\none_active_per_wallet_evm = 1", "keys.one_active_per_wallet_evm"),
    ("[upstream]\nurl = 5", "upstream.url"),
    ("[signatures]\nchains = [1]", "signatures.chains"),
    ('[signatures]\nchains = "stacks"', "signatures.chains"),
    ("listen = 5", "listen"),
    ('routes = "all"', "routes"),
    # unknown keys and sections
    ("[listen]\nbogus = 1", "listen.bogus"),
    ("[nope]\nx = 1", "nope"),
    ('[[routes]]\nmethod = "GET"\npath = "/x"\ncolour = "red"', "routes[0].colour"),
    # URLs
    ('[upstream]\nurl = "ftp://files.example"', "upstream.url"),
    ('[upstream]\nurl = "http://"', "upstream.url"),
    ('[upstream]\nurl = "http://host:99999"', "upstream.url"),
    ('[upstream]\nurl = "example.com:8000"', "upstream.url"),
    ('[store]\nurl = "mysql://db/keys"', "store.url"),
    ('[redis]\nurl = "http://cache:6379"', "redis.url"),
    # ports
    ("[listen]\nport = 70000", "listen.port"),
    ("[admin]\nport = -1", "admin.port"),
    ("[backend]\nport = 65536", "backend.port"),
    # CIDRs
    ('[listen]\ntrusted_proxies = ["10.0.0.0/33"]', "listen.trusted_proxies"),
    ('[listen]\ntrusted_proxies = ["proxy.local"]', "listen.trusted_proxies"),
    # chains and other closed sets
    ('[signatures]\nchains = ["solana"]', "signatures.chains"),
    ("[signatures]\nchains = []", "signatures.chains"),
    ('[keys]\ndefault_permissions = ["admin"]', "keys.default_permissions"),
    ('[redis]\non_error = "maybe"', "redis.on_error"),
    ('[keys]\nprefix = "stk_"', "keys.prefix"),
    # ranges
    ("[upstream]\ntimeout_s = 0", "upstream.timeout_s"),
    ("[rate_limits]\nper_minute = -5", "rate_limits.per_minute"),
    ("[limits]\nmax_body_bytes = 0", "limits.max_body_bytes"),
    # workers
    ("[listen]\nworkers = -1", "listen.workers"),
    ('[listen]\nworkers = "4"', "listen.workers"),
    ("[listen]\nworkers = 2.5", "listen.workers"),
    ("[listen]\nworkers = 2", "redis.url"),
    ('[redis]\nurl = "redis+cluster://"', "redis.url"),
    # arrays of tables
    ('[[service_keys]]\nsha256 = "abc"', "service_keys[0].sha256"),
    ('[[service_keys]]\nname = "frontend"', "service_keys[0].sha256"),
    ('[[routes]]\nmethod = "FETCH"\npath = "/x"', "routes[0].method"),
    ('[[routes]]\nmethod = "GET"\npath = "x"', "routes[0].path"),
    ('[[routes]]\nmethod = "GET"\npath = "/x"\nowner = "order"', "routes[0].owner"),
    ('[[routes]]\nmethod = "GET"\npath = "/x"\npermission = "read"', "routes[0].permission"),
]


@pytest.mark.parametrize(("text", "key"), FILE_ERRORS)
def test_bad_file_value_is_refused_naming_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text + "\n"), {})
    message = str(caught.value)
    assert message.startswith(f"{key}:"), message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"WALLETGATE_LISTEN__PORT": "abc"}, "listen.port"),
        ({"WALLETGATE_LISTEN__WORKERS": "many"}, "listen.workers"),
        ({"WALLETGATE_LISTEN__WORKERS": "3", "WALLETGATE_REDIS__URL": ""}, "redis.url"),
        ({"WALLETGATE_LISTEN__PORT": "8080.5"}, "listen.port"),
        ({"WALLETGATE_ADMIN__PORT": "99999"}, "admin.port"),
        ({"WALLETGATE_KEYS__ONE_ACTIVE_PER_WALLET_EVM": "maybe"}, "keys.one_active_per_wallet_evm"),
        ({"WALLETGATE_UPSTREAM__URL": "localhost:8000"}, "upstream.url"),
        ({"WALLETGATE_SIGNATURES__CHAINS": "[1, 2]"}, "signatures.chains"),
        ({"WALLETGATE_SIGNATURES__CHAINS": "[stacks"}, "signatures.chains"),
        ({"WALLETGATE_LISTEN__TRUSTED_PROXIES": "1.2.3.4/40"}, "listen.trusted_proxies"),
        ({"WALLETGATE_LISTEN__FORWARDED_HEADER": "x-real-ip"}, "listen.forwarded_header"),
        ({"WALLETGATE_LISTEN__HEAD_TIMEOUT_S": "0"}, "listen.head_timeout_s"),
        ({"WALLETGATE_LISTEN__BODY_TIMEOUT_S": "-1"}, "listen.body_timeout_s"),
        ({"WALLETGATE_LISTEN__MAX_CONNECTIONS_PER_IP": "0"}, "listen.max_connections_per_ip"),
        ({"WALLETGATE_KEYS__MAX_ACTIVE_PER_WALLET": "0"}, "keys.max_active_per_wallet"),
        ({"WALLETGATE_KEYS__UNKNOWN_KEY_CACHE_S": "-1"}, "keys.unknown_key_cache_s"),
        ({"WALLETGATE_RATE_LIMITS__IP_SIGNED_PER_MINUTE": "0"}, "rate_limits.ip_signed_per_minute"),
        ({"WALLETGATE_SIGNATURES__STACKS_NETWORK": "devnet"}, "signatures.stacks_network"),
        ({"WALLETGATE_SERVICE_KEYS__JSON": "{not json"}, "service_keys"),
        ({"WALLETGATE_SERVICE_KEYS__JSON": '{"sha256": "x"}'}, "service_keys"),
    ],
)
def test_bad_environment_value_is_refused_naming_the_key(environ, key):
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ)
    assert str(caught.value).startswith(f"{key}"), str(caught.value)


def test_missing_file_and_invalid_toml_are_refused_naming_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found") as caught:
        load_settings(tmp_path / "absent.toml", {})
    assert "absent.toml" in str(caught.value)
    bad = write(tmp_path, "[listen\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_settings(bad, {})
    assert str(bad) in str(caught.value)
    not_utf8 = tmp_path / "latin1.toml"
    not_utf8.write_bytes(b'[admin]\ntoken = "\xe9"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(not_utf8, {})


# -- masking ---------------------------------------------------------------------


def test_masked_settings_hide_tokens_and_url_passwords():
    settings = load_settings(
        None,
        {
            "WALLETGATE_ADMIN__TOKEN": "s3cret-token",
            "WALLETGATE_STORE__URL": "postgresql://gw:pa55word@db.internal/keys",
            "WALLETGATE_REDIS__URL": "redis://:redispass@cache:6379/0",
        },
    )
    shown = masked(settings)
    assert shown["admin"]["token"] == "***"
    assert shown["store"]["url"] == "postgresql://gw:***@db.internal/keys"
    assert shown["redis"]["url"] == "redis://:***@cache:6379/0"
    assert "s3cret" not in json.dumps(shown)
    assert "pa55word" not in json.dumps(shown)
    assert masked(Settings())["admin"]["token"] == ""
    assert masked(Settings())["store"]["url"] == "sqlite:///data/walletgate.db"


# -- `walletgate config check` ----------------------------------------------------


def test_config_check_accepts_the_example_and_prints_secrets_masked(tmp_path):
    env = {
        "WALLETGATE_ADMIN__TOKEN": "s3cret-token",
        "WALLETGATE_STORE__URL": "postgresql://gw:pa55word@db.internal/keys",
    }
    done = cli("--config", str(EXAMPLE), "config", "check", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["admin"]["token"] == "***"
    assert shown["store"]["url"] == "postgresql://gw:***@db.internal/keys"
    assert len(shown["routes"]) == len(DEFAULT_ROUTES)
    assert "s3cret" not in done.stdout + done.stderr
    assert "pa55word" not in done.stdout + done.stderr


def test_config_check_exits_2_with_one_line_naming_the_bad_key(tmp_path):
    path = write(tmp_path, '[listen]\ntrusted_proxies = ["10.0.0.0/99"]\n')
    done = cli("--config", str(path), "config", "check", env={}, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "listen.trusted_proxies" in lines[0]
    assert "Traceback" not in done.stderr

    done = cli("config", "check", env={"WALLETGATE_LISTEN__PORT": "http"}, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "walletgate: configuration error: listen.port: expected a number"
    ]


def test_workers_with_redis_and_cluster_urls_are_accepted(tmp_path):
    text = '[listen]\nworkers = 0\n[redis]\nurl = "redis+cluster://10.0.0.7:7000"\n'
    settings = load_settings(write(tmp_path, text), {})
    assert settings.listen.workers == 0
    assert settings.redis.url == "redis+cluster://10.0.0.7:7000"
    assert load_settings(None, {}).listen.workers == 1


# -- tiers and operator tokens -------------------------------------------------------

_HASH = "ab" * 32


def test_tiers_and_operator_tokens_load_from_the_file(tmp_path):
    path = write(
        tmp_path,
        "[tiers.market_maker]\nper_minute = 2000\nper_hour = 60000\nper_day = 1000000\n"
        f'[[admin.tokens]]\nsha256 = "{_HASH.upper()}"\nname = "risk"\nscope = "write"\n',
    )
    settings = load_settings(path, {})
    assert settings.tiers == (TierSettings("market_maker", 2000, 60000, 1000000),)
    assert settings.tier("market_maker") is settings.tiers[0] and settings.tier("x") is None
    assert settings.admin.tokens == (OperatorTokenSettings(_HASH, "risk", "write"),)


def test_tiers_and_operator_tokens_load_from_the_environment():
    environ = {
        "WALLETGATE_TIERS__JSON": '{"mm": {"per_minute": 5, "per_hour": 50, "per_day": 500}}',
        "WALLETGATE_ADMIN__TOKENS": json.dumps([{"sha256": _HASH, "name": "support"}]),
    }
    settings = load_settings(None, environ)
    assert settings.tiers == (TierSettings("mm", 5, 50, 500),)
    assert settings.admin.tokens == (OperatorTokenSettings(_HASH, "support", "read"),)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[tiers.mm]\nper_minute = 5\nper_hour = 50\n", r"tiers\.mm\.per_day: required"),
        ("[tiers.mm]\nper_minute = 0\nper_hour = 1\nper_day = 1\n", r"tiers\.mm\.per_minute"),
        ('[tiers.mm]\nper_minute = "5"\nper_hour = 1\nper_day = 1\n', r"tiers\.mm\.per_minute"),
        ("[tiers.mm]\nburst = 5\n", r"tiers\.mm\.burst: unknown key"),
        ('[tiers."a b"]\nper_minute = 1\nper_hour = 1\nper_day = 1\n', r"tiers\.a b:"),
        ('[[admin.tokens]]\nsha256 = "abc"\nname = "x"\n', r"admin\.tokens\[0\]\.sha256"),
        (f'[[admin.tokens]]\nsha256 = "{_HASH}"\n', r"admin\.tokens\[0\]\.name"),
        (
            f'[[admin.tokens]]\nsha256 = "{_HASH}"\nname = "x"\nscope = "admin"\n',
            r"admin\.tokens\[0\]\.scope",
        ),
        (
            f'[[admin.tokens]]\nsha256 = "{_HASH}"\nname = "a"\n'
            f'[[admin.tokens]]\nsha256 = "{_HASH}"\nname = "b"\n',
            r"admin\.tokens\[1\]\.sha256: the same token is listed twice",
        ),
    ],
)
def test_a_bad_tier_or_token_names_its_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key):
        load_settings(write(tmp_path, text), {})
