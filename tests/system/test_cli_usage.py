"""The `walletgate` command follows its own docs: shared options in either place,
help with examples, sign output curl reads, completion, a closed pipe, and keys
commands that name (and never create) their store."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from gateway.cli.main import build_parser
from gateway.keys.store import open_store
from tests.conftest import POSTGRES_ADMIN_DSN, STACKS_KEY, create_api_key
from tests.system.test_cli import PORTS_0, environment, walletgate

SHARED = ("--config", "--log-level", "--log-format")


def every_command(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple]:
    """(path, parser) of every command and subcommand of the parser."""
    found = [(path, parser)] if path else []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += every_command(sub, (*path, name))
    return found


# -- options and help -------------------------------------------------------------------------


def test_every_command_shows_the_shared_options_and_examples():
    commands = every_command(build_parser())
    assert len(commands) >= 17
    for path, parser in commands:
        text = parser.format_help()
        for option in SHARED:
            assert option in text, (path, option)
        assert "\nexamples:\n" in text, path
        assert "  walletgate " in text.split("\nexamples:\n")[1], path
        assert "_command" not in text, path


async def test_shared_options_work_before_and_after_the_command(tmp_path):
    config = tmp_path / "walletgate.toml"
    config.write_text('[rate_limits]\nper_minute = 7\n[log]\nlevel = "warning"\n')
    before, after, level = await asyncio.gather(
        walletgate("--config", str(config), "config", "check", cwd=tmp_path),
        walletgate("config", "check", "--config", str(config), cwd=tmp_path),
        walletgate(
            "config", "check", "--config", str(config), "--log-level", "DEBUG", cwd=tmp_path
        ),
    )
    for done in (before, after, level):
        assert done.code == 0, done.err
    assert json.loads(before.out) == json.loads(after.out)
    assert json.loads(after.out)["rate_limits"]["per_minute"] == 7
    assert json.loads(after.out)["log"]["level"] == "warning"
    assert json.loads(level.out)["log"]["level"] == "debug"


async def test_gateway_takes_config_after_the_command_as_the_operations_doc_shows(tmp_path):
    config = tmp_path / "walletgate.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "keys.db"}"\n')
    env = environment(PORTS_0)
    for args in (
        ("gateway", "--config", str(config), "--upstream", "http://127.0.0.1:9"),
        ("--config", str(config), "gateway", "--upstream", "http://127.0.0.1:9"),
    ):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", *args, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 15)
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), 15)
        assert line.startswith(b"walletgate gateway listening on http://"), err.decode()
        assert process.returncode == 0, err.decode()
    assert (tmp_path / "keys.db").is_file()


async def test_groups_without_a_command_list_their_commands(tmp_path):
    keys, config, top = await asyncio.gather(
        walletgate("keys", cwd=tmp_path),
        walletgate("config", cwd=tmp_path),
        walletgate(cwd=tmp_path),
    )
    for done in (keys, config, top):
        assert done.code == 0, done.err
        assert "commands:" in done.out
        assert "_command" not in done.out + done.err
    for name in ("list", "show", "suspend", "resume", "revoke", "events", "hash"):
        assert f"    {name} " in keys.out
    assert "    check " in config.out
    assert "    completion " in top.out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--log-level", "loud", "run"), "--log-level: 'loud' is not one of"),
        (("run", "--log-format", "xml"), "--log-format: 'xml' is not one of"),
        (("gateway", "--port", "99999"), "--port: '99999' is not a port number"),
        (("keys", "events", "--limit", "0"), "--limit: '0' must be 1 or more"),
        (("sign", "--format", "yaml", "--action", "x"), "--format: invalid choice: 'yaml'"),
        (("completion", "fish"), "invalid choice: 'fish'"),
        (("sign", "--gateway", "ftp://x", "--action", "x"), "--gateway: 'ftp://x' is not an http"),
        (
            ("sign", "--domain", "https://a/b", "--action", "x"),
            "--domain: 'https://a/b' is not a host",
        ),
        (("keys", "frobnicate"), "invalid choice: 'frobnicate'"),
    ],
)
async def test_bad_flag_values_are_one_line_and_exit_2(tmp_path, args, says):
    done = await walletgate(*args, cwd=tmp_path)
    assert done.code == 2
    [line] = done.err.splitlines()
    assert says in line
    assert line.startswith("walletgate")
    assert "--help" in line


# -- sign for curl ---------------------------------------------------------------------------


def curl(config: str, *args: str) -> dict:
    ran = subprocess.run(
        ["curl", "-sS", "-K", "-", *args], input=config, capture_output=True, text=True, timeout=30
    )
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


async def test_sign_format_curl_is_read_by_curl(gateway, tmp_path):
    env = {"WALLETGATE_SIGNING_KEY": STACKS_KEY}
    fields = ("--field", 'keyName=curl "bot" \\ é', "--field", 'permissions=["execute"]')
    body, headers = await asyncio.gather(
        walletgate("sign", "--action", "create_api_key", *fields, "--format", "curl",
                   cwd=tmp_path, env=env),
        walletgate("sign", "--action", "list_api_keys", "--headers", "--format", "curl",
                   cwd=tmp_path, env=env),
    )  # fmt: skip
    assert body.code == 0 and headers.code == 0, body.err + headers.err
    assert STACKS_KEY not in body.out + headers.out
    created = await asyncio.to_thread(curl, body.out, gateway.at("/api/v1/api-keys"))
    assert created["name"] == 'curl "bot" \\ é'
    listed = await asyncio.to_thread(curl, headers.out, gateway.at("/api/v1/api-keys"))
    assert [k["keyId"] for k in listed["apiKeys"]] == [created["keyId"]]


async def test_sign_binds_the_message_to_the_gateways_domain(start_gateway, tmp_path):
    gw = await start_gateway(signatures={"domain": "api.exchange.example"})
    env = {"WALLETGATE_SIGNING_KEY": STACKS_KEY}
    sign = ("sign", "--action", "list_api_keys", "--headers")
    config = tmp_path / "bound.toml"
    config.write_text('[signatures]\ndomain = "api.exchange.example"\n')
    fetched, given, configured, unbound = await asyncio.gather(
        walletgate(*sign, "--gateway", gw.url, cwd=tmp_path, env=env),
        walletgate(*sign, "--domain", "api.exchange.example", cwd=tmp_path, env=env),
        walletgate(*sign, "--config", str(config), cwd=tmp_path, env=env),
        walletgate(*sign, cwd=tmp_path, env=env),
    )
    for done in (fetched, given, configured, unbound):
        assert done.code == 0, done.err
    for signed in (fetched, given, configured):
        headers = json.loads(signed.out)
        assert json.loads(headers["X-Message"])["domain"] == "api.exchange.example"
        async with gw.client.get(gw.at("/api/v1/api-keys"), headers=headers) as response:
            assert response.status == 200, await response.text()
    async with gw.client.get(gw.at("/api/v1/api-keys"), headers=json.loads(unbound.out)) as r:
        assert r.status == 401


# -- completion and pipes ---------------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment({}),
        timeout=30,
    )


def test_completion_scripts_come_from_the_parser(tmp_path):
    bash = run_cli("completion", "bash", cwd=tmp_path)
    zsh = run_cli("completion", "zsh", cwd=tmp_path)
    assert bash.returncode == 0 and zsh.returncode == 0, bash.stderr + zsh.stderr
    for script in (bash.stdout, zsh.stdout):
        for word in ("gateway", "keys", "suspend", "--log-format", "--format"):
            assert word in script
    syntax = subprocess.run(["bash", "-n"], input=bash.stdout, capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    if shutil.which("zsh"):
        syntax = subprocess.run(["zsh", "-n"], input=zsh.stdout, capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr


@pytest.mark.parametrize("args", [("completion", "bash"), ("keys",)], ids=["long", "short"])
def test_closed_pipe_ends_quietly(tmp_path, args):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`head -1`) is gone before anything is written
    try:
        ran = subprocess.run(
            [sys.executable, "-m", "gateway", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            # Buffered, as in a user's shell: the short output is written only at the end.
            env={k: v for k, v in environment({}).items() if k != "PYTHONUNBUFFERED"},
            timeout=30,
        )
    finally:
        os.close(write_end)
    assert ran.stderr == ""
    assert ran.returncode == 141


# -- the store keys commands open ---------------------------------------------------------------


async def test_keys_commands_never_create_a_store(tmp_path):
    listed, revoked = await asyncio.gather(
        walletgate("keys", "list", cwd=tmp_path), walletgate("keys", "revoke", "k1", cwd=tmp_path)
    )
    where = f"sqlite:///{tmp_path.resolve()}/data/walletgate.db"
    for done in (listed, revoked):
        assert done.code == 2
        assert done.err.strip().splitlines() == [
            f"walletgate: no key store at {where}; name the gateway's store with --config FILE "
            "or WALLETGATE_STORE__URL"
        ]
    assert not (tmp_path / "data").exists()


async def test_keys_commands_refuse_an_empty_postgresql_database(tmp_path):
    name = f"wg_cli_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql://postgres:secret-pw@127.0.0.1:5432/{name}"
        done = await walletgate("keys", "list", cwd=tmp_path, env={"WALLETGATE_STORE__URL": url})
        fresh = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        tables = await fresh.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        await fresh.close()
        made = open_store(url)  # as a gateway's start-up makes it
        await made.open()
        await made.close()
        opened = await walletgate("keys", "list", cwd=tmp_path, env={"WALLETGATE_STORE__URL": url})
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    assert done.code == 2
    assert f"no key store at postgresql://postgres@127.0.0.1:5432/{name};" in done.err
    assert "secret-pw" not in done.err
    assert tables == []
    assert opened.code == 0, opened.err
    assert opened.err.splitlines()[0] == (
        f"walletgate: key store postgresql://postgres@127.0.0.1:5432/{name}"
    )


async def test_keys_show_speaks_the_http_apis_names_and_plain_text(
    start_gateway, tmp_path, stacks_signer
):
    gw = await start_gateway()
    created = await create_api_key(gw, stacks_signer, name="ops-bot")
    env = {"WALLETGATE_STORE__URL": gw.gw.settings.store.url}
    shown, text, listed = await asyncio.gather(
        walletgate("keys", "show", created["keyId"], "--json", cwd=tmp_path, env=env),
        walletgate("keys", "show", created["keyId"], cwd=tmp_path, env=env),
        walletgate("keys", "list", cwd=tmp_path, env=env),
    )
    for done in (shown, text, listed):
        assert done.code == 0, done.err
        assert done.err.strip() == f"walletgate: key store {env['WALLETGATE_STORE__URL']}"
    from gateway.wallets.signing import signed_headers

    headers = signed_headers(
        stacks_signer, "get_api_key", {"keyId": created["keyId"]}, now_ms=int(gw.clock() * 1000)
    )
    async with gw.client.get(gw.at(f"/api/v1/api-keys/{created['keyId']}"), headers=headers) as r:
        api = await r.json()
    record = json.loads(shown.out)
    assert {record.pop("chain"), record.pop("dialect")} == {"stacks", "v1"}
    for changing in ("lastUsedAt", "usageStats", "clientIps"):  # the API call was a use
        record.pop(changing), api.pop(changing)
    assert record == api
    assert "None" not in text.out and "{" not in text.out and "[" not in text.out
    assert f"keyId           {created['keyId']}" in text.out
    assert "expiresAt       -" in text.out
    assert listed.out.splitlines()[0].split() == [
        "keyId", "name", "walletAddress", "status", "permissions", "rateLimit", "lastUsedAt"
    ]  # fmt: skip
