"""Settings from the environment: names as written, secrets from files, near misses warned."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, environment_warnings, load_settings, masked


@pytest.mark.parametrize(
    ("environ", "start"),
    [
        ({"WALLETGATE_LISTN__PORT": "9000"}, "WALLETGATE_LISTN__PORT: unknown section 'listn'"),
        ({"WALLETGATE_LISTEN__BOGUS": "1"}, "WALLETGATE_LISTEN__BOGUS: unknown key listen.bogus"),
        ({"WALLETGATE_NOPE__X": "1"}, "WALLETGATE_NOPE__X: unknown section 'nope'"),
        ({"WALLETGATE_ADMIN__TOKNE_FILE": "/x"}, "WALLETGATE_ADMIN__TOKNE_FILE: unknown key"),
    ],
)
def test_unknown_variable_is_named_as_written(environ: dict[str, str], start: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ)
    assert str(caught.value).startswith(start), str(caught.value)


def secret(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("variable", "section", "key"),
    [
        ("WALLETGATE_ADMIN__TOKEN_FILE", "admin", "token"),
        ("WALLETGATE_STORE__URL_FILE", "store", "url"),
        ("WALLETGATE_REDIS__URL_FILE", "redis", "url"),
    ],
)
def test_secret_setting_is_read_from_a_file_without_its_line_break(
    tmp_path: Path, variable: str, section: str, key: str
) -> None:
    values = {
        "token": "admin-Token-1",
        "url": "postgresql://wg:pw@db/wg" if section == "store" else "redis://:pw@cache:6379/0",
    }
    path = secret(tmp_path, "value", values[key] + "\n")
    settings = load_settings(None, {variable: path})
    assert getattr(getattr(settings, section), key) == values[key]
    assert "pw" not in str(masked(settings)[section]) and "Token" not in str(masked(settings))


def test_service_keys_are_read_from_a_json_file(tmp_path: Path) -> None:
    digest = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
    path = secret(tmp_path, "keys.json", f'[{{"sha256": "{digest}", "name": "frontend"}}]\n')
    settings = load_settings(None, {"WALLETGATE_SERVICE_KEYS__JSON_FILE": path})
    assert [(k.sha256, k.name) for k in settings.service_keys] == [(digest, "frontend")]


def test_postgres_password_file_goes_into_a_url_without_one(tmp_path: Path) -> None:
    path = secret(tmp_path, "pg", "p@ss/word\n")
    environ = {
        "WALLETGATE_STORE__URL": "postgresql://walletgate@postgres:5432/walletgate",
        "WALLETGATE_STORE__PASSWORD_FILE": path,
    }
    settings = load_settings(None, environ)
    assert settings.store.url == "postgresql://walletgate:p%40ss%2Fword@postgres:5432/walletgate"
    assert masked(settings)["store"] == {
        "url": "postgresql://walletgate:***@postgres:5432/walletgate",
        "password": "***",
    }


def test_a_password_in_the_url_and_apart_is_refused() -> None:
    environ = {
        "WALLETGATE_STORE__URL": "postgresql://wg:one@db/wg",
        "WALLETGATE_STORE__PASSWORD": "two",
    }
    with pytest.raises(ConfigError, match=r"^store\.password:"):
        load_settings(None, environ)


def test_a_setting_given_both_ways_is_refused_naming_both(tmp_path: Path) -> None:
    path = secret(tmp_path, "token", "from-file")
    environ = {"WALLETGATE_ADMIN__TOKEN": "inline", "WALLETGATE_ADMIN__TOKEN_FILE": path}
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ)
    text = str(caught.value)
    assert "WALLETGATE_ADMIN__TOKEN_FILE" in text and "WALLETGATE_ADMIN__TOKEN " in text
    assert "from-file" not in text and "inline" not in text


def test_unreadable_secret_file_names_the_variable_and_path_only(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"WALLETGATE_REDIS__URL_FILE": str(missing)})
    assert str(caught.value) == (
        f"WALLETGATE_REDIS__URL_FILE: cannot read {missing}: No such file or directory"
    )


def test_one_underscore_names_of_settings_are_warned_about() -> None:
    environ = {
        "WALLETGATE_LISTEN_PORT": "9000",
        "WALLETGATE_RATE_LIMITS_PER_MINUTE": "5",
        "WALLETGATE_ADMIN_TOKEN_FILE": "/run/secrets/t",
        "WALLETGATE_CONFIG": "/etc/walletgate.toml",
        "WALLETGATE_SIGNING_KEY": "not a setting",
        "WALLETGATE_SOMETHING": "unrelated",
    }
    assert environment_warnings(environ) == [
        "WALLETGATE_ADMIN_TOKEN_FILE is ignored: settings take two underscores, "
        "WALLETGATE_ADMIN__TOKEN_FILE",
        "WALLETGATE_LISTEN_PORT is ignored: settings take two underscores, WALLETGATE_LISTEN__PORT",
        "WALLETGATE_RATE_LIMITS_PER_MINUTE is ignored: settings take two underscores, "
        "WALLETGATE_RATE_LIMITS__PER_MINUTE",
    ]


def walletgate(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=clean | environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_check_reads_secret_files_and_prints_them_masked(tmp_path: Path) -> None:
    token = secret(tmp_path, "token", "adminSecretValue\n")
    password = secret(tmp_path, "pg", "pgSecretValue\n")
    done = walletgate(
        "config",
        "check",
        WALLETGATE_ADMIN__TOKEN_FILE=token,
        WALLETGATE_STORE__URL="postgresql://wg@db:5432/wg",
        WALLETGATE_STORE__PASSWORD_FILE=password,
        WALLETGATE_LISTEN_PORT="9000",
    )
    assert done.returncode == 0, done.stderr
    assert "SecretValue" not in done.stdout + done.stderr
    assert '"url": "postgresql://wg:***@db:5432/wg"' in done.stdout
    assert '"token": "***"' in done.stdout
    assert "walletgate: warning: WALLETGATE_LISTEN_PORT is ignored" in done.stderr


def test_misspelt_variable_stops_start_up_naming_it() -> None:
    done = walletgate("config", "check", WALLETGATE_LISTN__PORT="9000")
    assert done.returncode == 2
    assert done.stderr.startswith(
        "walletgate: configuration error: WALLETGATE_LISTN__PORT: unknown section 'listn'"
    )
