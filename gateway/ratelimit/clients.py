"""Redis clients from `redis.url`: one Redis, or a Redis Cluster (`redis+cluster://`).

Both fail fast: a request must not wait seconds on a dead Redis. The limiter
and the replay guard each open their own client, so closing one never
closes the other's connections.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SOCKET_TIMEOUT_S = 1.0


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in CLUSTER_SCHEMES


def _plain_url(url: str) -> str:
    """`redis+cluster://h:p` as the `redis://h:p` redis-py's cluster client parses."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES[parts.scheme.lower()]))


def open_cluster(url: str, *, retries: int = 1) -> RedisCluster:
    """A cluster client; it learns the slot map on first use (or `check_cluster`).

    A node that stops answering costs one socket timeout per attempt; a
    MOVED or a failed node makes the client reload the slot map, so a
    failover heals without a restart.
    """
    return RedisCluster.from_url(
        _plain_url(url),
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.05), retries=retries),
        # After any failed node the next command reloads the slot map.
        reinitialize_steps=5,
    )


def open_client(url: str) -> Redis | RedisCluster:
    """A client for the replay guard: a failure is an answer (503).

    One immediate retry on a broken connection only (a pooled connection to a
    Redis that restarted while the replay set sat unused); never on a
    timeout, where the first SET NX may have landed.
    """
    if is_cluster_url(url):
        return open_cluster(url, retries=0)
    return Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )


FULL_COVERAGE_WARNING = (
    "redis.url: the Redis Cluster runs with cluster-require-full-coverage yes: once"
    " one master fails, Redis refuses every key and redis.on_error applies to all of"
    " them; set it to no so the other masters keep serving theirs (docs/scaling.md)"
)


async def check_cluster(url: str) -> list[str]:
    """Reach the cluster behind `url` once and read its slot map; raises OSError if not.

    Returns warnings: a primary that requires full slot coverage stops
    serving its own keys when any other master fails.
    """
    client = open_cluster(url, retries=0)
    try:
        await client.initialize()
        return [FULL_COVERAGE_WARNING] if await _requires_full_coverage(client) else []
    except (RedisError, RedisClusterException, OSError) as exc:
        raise OSError(f"cannot reach the Redis Cluster ({type(exc).__name__})") from None
    finally:
        await client.aclose()


async def _requires_full_coverage(client: RedisCluster) -> bool:
    try:
        answers = await client.config_get(
            "cluster-require-full-coverage", target_nodes=RedisCluster.PRIMARIES
        )
    except ResponseError:
        return False  # CONFIG renamed or refused (managed Redis): nothing to tell
    values = answers.values() if isinstance(answers, dict) else [answers]
    return any(_setting(value) == "yes" for value in values)


def _setting(answer: object) -> str:
    """The value in one node's CONFIG GET reply, `{name: value}` (bytes or str)."""
    if not isinstance(answer, dict):
        return ""
    for value in answer.values():
        return value.decode() if isinstance(value, bytes) else str(value)
    return ""
