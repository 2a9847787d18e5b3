"""Clients generated from the served /openapi.json are typed and work.

- openapi-spec-validator (its command line) accepts the document;
- openapi-typescript turns it into types with which `tsc --strict` compiles a
  program reading typed success fields (and refuses the same program when a
  success body is documented as `{}`);
- openapi-python-client generates a client whose `parsed` is set for every
  2xx answer of a real gateway.

The npm tools are clients/typescript's devDependencies (committed lockfile);
`npm ci` installs them when they are missing.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.wallets.signing import StacksSigner, signed_body, signed_headers
from tests.conftest import STACKS_KEY
from tests.support.threaded_support import ThreadedGateway, run_threaded_gateway

ROOT = Path(__file__).resolve().parents[2]
TS_CLIENT = ROOT / "clients" / "typescript"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}

TS_PROGRAM = """
import type { paths } from "./api.js";

type Json<P extends keyof paths, M extends keyof paths[P], S extends number> =
  paths[P][M] extends { responses: { [K in S]: { content: { "application/json": infer B } } } }
    ? B
    : never;

declare const created: Json<"/api/v1/api-keys", "post", 201>;
declare const list: Json<"/api/v1/api-keys", "get", 200>;
declare const generated: Json<"/api-key/generate", "post", 200>;
declare const order: Json<"/api/v1/orders/{uuid}", "get", 200>;
declare const signing: Json<"/api/v1/signing", "get", 200>;

const apiKey: string = created.apiKey;
const total: number = list.apiKeys[0].usageStats.totalRequests;
const hourly: number = list.apiKeys[0].usageStats.hourly[0].success;
const evmKey: string = generated.api_key;
const status: "open" | "filled" | "cancelled" = order.data.status;
const domain: string | null = signing.domain;
export const read = [apiKey, total, hourly, evmKey, status, domain];
"""


@pytest.fixture(scope="module")
def threaded_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    yield from run_threaded_gateway(tmp_path_factory.mktemp("openapi-clients"))


@pytest.fixture(scope="module")
def document(threaded_gateway: ThreadedGateway) -> dict[str, Any]:
    with urllib.request.urlopen(f"{threaded_gateway.base_url}/openapi.json") as response:
        return json.load(response)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def npm_tools() -> Path:
    bin_dir = TS_CLIENT / "node_modules" / ".bin"
    if not (bin_dir / "openapi-typescript").exists() or not (bin_dir / "tsc").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TS_CLIENT, check=True)
    return bin_dir


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)


def test_openapi_spec_validator_accepts_the_document(
    document: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    result = run([str(BIN / "openapi-spec-validator"), str(path)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def compile_with_generated_types(document: dict[str, Any], npm_tools: Path, work: Path) -> Any:
    work.mkdir()
    (work / "openapi.json").write_text(json.dumps(document))
    generate = run([str(npm_tools / "openapi-typescript"), "openapi.json", "-o", "api.d.ts"], work)
    assert generate.returncode == 0, generate.stderr
    (work / "main.ts").write_text(TS_PROGRAM)
    options = ["--strict", "--noEmit", "--target", "es2022", "--module", "nodenext"]
    return run([str(npm_tools / "tsc"), *options, "main.ts"], work)


def test_typescript_types_compile_a_program_reading_success_fields(
    document: dict[str, Any], npm_tools: Path, tmp_path: Path
) -> None:
    result = compile_with_generated_types(document, npm_tools, tmp_path / "typed")
    assert result.returncode == 0, result.stdout + result.stderr
    # The same program against a document whose success body is untyped: refused.
    untyped = json.loads(json.dumps(document))
    untyped["components"]["schemas"]["CreatedApiKey"] = {}
    refused = compile_with_generated_types(untyped, npm_tools, tmp_path / "untyped")
    assert refused.returncode != 0
    assert "'created' is of type 'unknown'" in refused.stdout


@pytest.fixture(scope="module")
def python_client(document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("python-client")
    (work / "openapi.json").write_text(json.dumps(document))
    package = work / "wg_generated"
    command = [str(BIN / "openapi-python-client"), "generate", "--path", "openapi.json"]
    result = run([*command, "--output-path", str(package), "--meta", "none"], work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module("wg_generated")
    finally:
        sys.path.remove(str(work))
        for name in [m for m in sys.modules if m.split(".")[0] == "wg_generated"]:
            del sys.modules[name]
        shutil.rmtree(work, ignore_errors=True)


def api(package: Any, tag: str, operation: str) -> Any:
    return importlib.import_module(f"{package.__name__}.api.{tag}.{operation}")


def test_python_client_parses_every_success_answer(
    python_client: Any, threaded_gateway: ThreadedGateway
) -> None:
    models = importlib.import_module(f"{python_client.__name__}.models")
    with python_client.Client(base_url=threaded_gateway.base_url) as client:
        check_success_answers(python_client, models, client)


def check_success_answers(python_client: Any, models: Any, client: Any) -> None:
    signer = StacksSigner(STACKS_KEY)
    fields = {"keyName": "generated", "permissions": ["create"]}
    body = signed_body(signer, "create_api_key", fields)
    signed = models.SignedBody(
        message=body["message"], signature=body["signature"], wallet_address=body["walletAddress"]
    )
    created = api(python_client, "keys", "create_api_key").sync_detailed(client=client, body=signed)
    assert created.status_code == 201
    assert isinstance(created.parsed, models.CreatedApiKey)
    assert created.parsed.api_key.startswith("ck_live_")

    headers = signed_headers(signer, "list_api_keys")
    listed = api(python_client, "keys", "list_api_keys").sync_detailed(
        client=client,
        x_message=headers["X-Message"],
        x_signature=headers["X-Signature"],
        x_wallet_address=headers["X-Wallet-Address"],
    )
    assert listed.status_code == 200
    assert isinstance(listed.parsed, models.ApiKeyList)
    assert listed.parsed.api_keys[0].usage_stats.total_requests >= 0

    for operation in ("get_signing_info", "list_order_schemes", "get_open_api"):
        answer = api(python_client, "public", operation).sync_detailed(client=client)
        assert answer.status_code == 200, operation
        assert answer.parsed is not None, operation
    orders = api(python_client, "orders", "list_orders").sync_detailed(client=client)
    assert orders.status_code == 200
    assert isinstance(orders.parsed, models.OrderList)
    missing = api(python_client, "orders", "get_order").sync_detailed(
        "no-such-order", client=client
    )
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Error)
    assert missing.parsed.code == "ORDER_NOT_FOUND"
