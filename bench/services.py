"""Services the load benchmark borrows and gives back: nginx, a PostgreSQL database, a Redis prefix.

nginx runs as a foreground child with its own prefix directory (loopback
only). The PostgreSQL database and the Redis keys exist only for the run:
both are removed on the way out, whatever happened.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import redis.asyncio as redis_asyncio

POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    upstream backend {{
        server {upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def nginx_argv(root: Path, port: int, upstream_url: str) -> list[str]:
    """nginx in the foreground, one worker, proxy_pass with keepalive to the upstream."""
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    upstream = upstream_url.removeprefix("http://").rstrip("/")
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, upstream=upstream, port=port))
    return ["nginx", "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")]


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the run; its DSN. Dropped afterwards."""
    name = f"wgbench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A random Redis key prefix for the run; every key under it is deleted afterwards."""
    prefix = f"wgbench{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        client = redis_asyncio.from_url(REDIS_URL)
        try:
            batch = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
            for start in range(0, len(batch), 1000):
                await client.delete(*batch[start : start + 1000])
        finally:
            await client.aclose()


@asynccontextmanager
async def redis_cluster(root: Path) -> AsyncIterator[str]:
    """A private 3-master Redis Cluster for the run (the tests' helper); its URL, or "" when
    redis-server is not installed. Torn down afterwards."""
    from tests.support.services import PrivateRedisCluster

    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        yield ""
        return
    directory = root / "redis-cluster"
    directory.mkdir()
    cluster = PrivateRedisCluster(str(directory))
    await asyncio.to_thread(cluster.start)
    try:
        yield cluster.url
    finally:
        await asyncio.to_thread(cluster.stop)
