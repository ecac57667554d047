"""``projekt serve --workers N``: each worker gets its share of connections, and stops cleanly."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from projekt import serve
from projekt.serve import CoalescingTransport

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT balancing is Linux")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _established_on(pid: int, port: int, state: str = "01") -> int:
    """Connections a process has accepted on ``port`` (its fds matched against /proc/net/tcp);
    ``state="0A"``: its listening sockets there."""
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
        if local_port == port and fields[3] == state and fields[9] in inodes:
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
        # One worker answering is not both listening: the kernel shares connections only
        # among the sockets of the port's group that listen.
        deadline = time.monotonic() + 60
        while not all(_established_on(pid, port, "0A") for pid in workers):
            assert time.monotonic() < deadline, "a worker never listened"
            await asyncio.sleep(0.1)
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


def _start_limited(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PROJEKT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "PROJEKT_REDIS_URL": "",
        "PROJEKT_LOG_LEVEL": "warning",
        "PROJEKT_PASSWORD_HASH_PROFILE": "cheap",
        "PROJEKT_HEADER_TIMEOUT_S": "1",
        "PROJEKT_KEEP_ALIVE_TIMEOUT_S": "1",
    }
    argv = [sys.executable, "-m", "projekt", "serve", "--port", str(port)]
    return subprocess.Popen(argv, env=env)


def _stop(parent: subprocess.Popen[bytes]) -> None:
    parent.send_signal(signal.SIGTERM)
    try:
        parent.wait(timeout=30)
    except subprocess.TimeoutExpired:
        parent.kill()


async def test_a_64_kb_request_header_is_refused(tmp_path: Path) -> None:
    port = _free_port()
    parent = _start_limited(tmp_path, port)
    try:
        await _wait_until_up(port, parent)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"
        try:
            writer.write(head)
            await writer.drain()
        except ConnectionError:
            pass  # the server stopped reading at its limit; its answer is still there
        # The server answers while reading the head and closes: read to the end.
        answer = await asyncio.wait_for(reader.read(), timeout=30)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        assert b"\r\nconnection: close\r\n" in answer  # refused by the server, not the app
        assert answer.endswith(b'"code":"headers_too_large"}')
        # A normal request still works.
        async with httpx.AsyncClient() as client:
            normal = await client.get(f"http://127.0.0.1:{port}/healthz")
            assert normal.status_code == 200
            # The security plan's E3: answers name no server software (and so no version).
            assert "server" not in normal.headers
            assert "x-powered-by" not in normal.headers
    finally:
        _stop(parent)


async def _closed_by_server(
    reader: asyncio.StreamReader, trickle: asyncio.StreamWriter | None
) -> bool:
    """True once the server closes the connection (read hits EOF or a reset)."""
    for _ in range(300):  # bounded: 300 x 0.1 s, far above the 1 s header timeout
        try:
            if trickle is not None:
                trickle.write(b"X")  # one more header byte, never finishing the head
                await trickle.drain()
            data = await asyncio.wait_for(reader.read(1024), timeout=0.1)
        except TimeoutError:
            continue
        except ConnectionError:
            return True
        if data == b"":
            return True
    return False


async def test_idle_and_slow_header_connections_are_closed(tmp_path: Path) -> None:
    port = _free_port()
    parent = _start_limited(tmp_path, port)
    try:
        await _wait_until_up(port, parent)
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(10)]
        slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(10)]
        for _, writer in slow:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        results = await asyncio.gather(
            *(_closed_by_server(r, None) for r, _ in idle),
            *(_closed_by_server(r, w) for r, w in slow),
        )
        for _, writer in idle + slow:
            writer.close()
        assert all(results), results
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
    finally:
        _stop(parent)


async def test_the_head_deadline_restarts_with_each_request_of_a_kept_alive_connection(
    tmp_path: Path,
) -> None:
    """A connection busy for longer than the header timeout stays open, request after
    request; one that then trickles its next head is closed a timeout after its last answer."""
    port = _free_port()
    parent = _start_limited(tmp_path, port)
    try:
        await _wait_until_up(port, parent)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for _ in range(8):  # 8 x 0.25 s: twice the 1 s header timeout, a head every 0.25 s
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await asyncio.wait_for(reader.readexactly(length), timeout=5)
            await asyncio.sleep(0.25)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert await _closed_by_server(reader, writer)
        writer.close()
    finally:
        _stop(parent)


class _Recorder:
    """A transport that records what reaches it, call by call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[bytes]]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", [data]))

    def writelines(self, lines: list[bytes]) -> None:
        self.calls.append(("writelines", list(lines)))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.calls.append(("close", []))
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0


async def test_what_one_step_writes_reaches_the_socket_in_one_call() -> None:
    """A response's head and body (two writes of uvicorn's) leave together once the step ends;
    a close hands over what is held first; anything else is the transport's own."""
    recorder = _Recorder()
    transport = CoalescingTransport(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"body")
    assert recorder.calls == []
    await asyncio.sleep(0)
    assert recorder.calls == [("writelines", [b"HTTP/1.1 200 OK\r\n\r\n", b"body"])]
    assert transport.get_write_buffer_size() == 0
    transport.write(b"last")
    transport.close()
    assert recorder.calls[1:] == [("writelines", [b"last"]), ("close", [])]
    await asyncio.sleep(0)
    assert len(recorder.calls) == 3  # the flush due at the step's end found nothing left


async def test_nothing_is_written_to_a_transport_already_closing() -> None:
    recorder = _Recorder()
    transport = CoalescingTransport(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"late")
    recorder.closing = True  # the peer went away within the step
    await asyncio.sleep(0)
    assert recorder.calls == []


async def test_a_served_worker_freezes_its_startup_objects_and_collects_less_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def started(self: uvicorn.Server, sockets: object = None) -> None:
        return None

    monkeypatch.setattr(uvicorn.Server, "startup", started)
    threshold = gc.get_threshold()
    try:
        await serve.WorkerServer(uvicorn.Config("projekt.main:create_app")).startup()
        assert gc.get_threshold() == serve.GC_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def test_a_whole_response_arrives_through_the_coalesced_writes(tmp_path: Path) -> None:
    """Head and body, request after request on one connection, byte for byte."""
    port = _free_port()
    parent = _start_limited(tmp_path, port)
    try:
        await _wait_until_up(port, parent)
        async with httpx.AsyncClient() as client:
            expected = (await client.get(f"http://127.0.0.1:{port}/openapi.json")).content
            for _ in range(3):
                response = await client.get(f"http://127.0.0.1:{port}/openapi.json")
                assert response.status_code == 200
                assert response.content == expected
                assert response.json()["paths"]  # whole JSON: no part lost or sent twice
                assert int(response.headers["content-length"]) == len(expected) > 100_000
    finally:
        _stop(parent)
