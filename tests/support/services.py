"""Private service processes for tests that must stop or reconfigure them
without touching the machine's shared Redis."""

from __future__ import annotations

import json
import random
import shutil
import signal
import socket
import subprocess

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None
        # More redis-server arguments (cluster mode, a data directory).
        self.extra_args: list[str] = []

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):  # bounded wait until it accepts connections
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self._process.poll() is not None:
                break
            subprocess.run(["sleep", "0.02"], check=True)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections are accepted by the kernel, never answered."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)


REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
# A cluster node also listens on its port + 10000 (the cluster bus).
CLUSTER_BUS_OFFSET = 10000


def free_cluster_port() -> int:
    """A free port whose cluster-bus twin (port + 10000) is free and valid too."""
    for _ in range(1000):
        port = random.randrange(20000, 40000)
        if all(_is_free(candidate) for candidate in (port, port + CLUSTER_BUS_OFFSET)):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PrivateRedisCluster:
    """Three masters (no replicas) of `redis-server --cluster-enabled yes` on
    free loopback ports, joined with `redis-cli --cluster create`.

    Each node keeps its cluster state in a directory of its own, so stopping
    and restarting one node (`stop_node`, `start_node`) brings it back with
    the same slots.
    """

    def __init__(self, directory: str, size: int = 3) -> None:
        self.directory = directory
        self.nodes = [PrivateRedis(free_cluster_port()) for _ in range(size)]
        self.url = f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> None:
        for node in self.nodes:
            self.start_node(node)
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [REDIS_CLI, "--cluster", "create", *addresses, "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        self.wait_until_ok()

    def start_node(self, node: PrivateRedis) -> None:
        node.extra_args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"{self.directory}/nodes-{node.port}.conf",
            "--cluster-node-timeout",
            "2000",
            # As docs/scaling.md asks: the healthy masters keep serving their
            # slots when one master is lost (Redis's default stops them all).
            "--cluster-require-full-coverage",
            "no",
            "--dir",
            self.directory,
            "--appendonly",
            "no",
        ]
        node.start()

    def wait_until_ok(self) -> None:
        """Bounded wait until every node reports `cluster_state:ok`."""
        for _ in range(500):
            states = [
                subprocess.run(
                    [REDIS_CLI, "-p", str(node.port), "cluster", "info"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                ).stdout
                for node in self.nodes
            ]
            if all("cluster_state:ok" in state for state in states):
                return
            subprocess.run(["sleep", "0.05"], check=True)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    def wait_until_failed(self, lost: PrivateRedis) -> None:
        """Bounded wait until a live node has marked `lost` as failed (`fail` in CLUSTER NODES)."""
        for _ in range(500):
            for node in self.nodes:
                if node is lost:
                    continue
                listing = subprocess.run(
                    [REDIS_CLI, "-p", str(node.port), "cluster", "nodes"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                ).stdout
                for line in listing.splitlines():
                    fields = line.split()
                    if f":{lost.port}@" in fields[1] and "fail" in fields[2].split(","):
                        return
            subprocess.run(["sleep", "0.05"], check=True)
        raise RuntimeError("the Redis Cluster never marked the node as failed")

    def owner_of(self, slot: int) -> PrivateRedis:
        """The node serving hash slot `slot`, from `CLUSTER SLOTS` of a live node."""
        for node in self.nodes:
            answer = subprocess.run(
                [REDIS_CLI, "-p", str(node.port), "--json", "cluster", "slots"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            if answer.returncode == 0 and answer.stdout.startswith("["):
                for first, last, (_, port, *_) in json.loads(answer.stdout):
                    if first <= slot <= last:
                        return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no node serves slot {slot}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
