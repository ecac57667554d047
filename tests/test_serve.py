"""``projekt serve --workers N``: each worker gets its share of connections, and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT balancing is Linux")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _established_on(pid: int, port: int) -> int:
    """Connections a process has accepted on ``port`` (its fds matched against /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01" and fields[9] in inodes:
            count += 1
    return count


def _start(tmp_path: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PROJEKT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "PROJEKT_REDIS_URL": "",
        "PROJEKT_LOG_LEVEL": "warning",
        "PROJEKT_PASSWORD_HASH_PROFILE": "cheap",
    }
    argv = [sys.executable, "-m", "projekt", "serve", "--port", str(port)]
    return subprocess.Popen([*argv, "--workers", str(workers)], env=env)


async def _wait_until_up(port: int, parent: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert parent.poll() is None, "the server exited"
        try:
            async with httpx.AsyncClient() as client:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
        except httpx.HTTPError:
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not come up")


async def test_two_workers_share_keep_alive_connections(tmp_path: Path) -> None:
    port = _free_port()
    parent = _start(tmp_path, port, workers=2)
    try:
        await _wait_until_up(port, parent)
        workers = _children(parent.pid)
        assert len(workers) == 2
        # 24 clients connect at once and keep their connections open.
        clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") for _ in range(24)]
        try:
            answers = await asyncio.gather(*(c.get("/healthz") for c in clients))
            assert all(a.status_code == 200 for a in answers)
            shares = [_established_on(pid, port) for pid in workers]
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        assert sum(shares) >= 24 and min(shares) > 0, shares
    finally:
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 0
    for pid in workers:  # no worker outlives the parent
        assert not Path(f"/proc/{pid}").exists()


async def test_workers_that_cannot_start_stop_the_server(tmp_path: Path) -> None:
    port = _free_port()
    with socket.socket() as taken:  # the port is held by someone else, without SO_REUSEPORT
        taken.bind(("127.0.0.1", port))
        taken.listen()
        parent = _start(tmp_path, port, workers=2)
        assert parent.wait(timeout=60) == 1
