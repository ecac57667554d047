"""Serving with one or more worker processes.

With ``--workers N`` uvicorn's own supervisor has every worker accept from one shared socket.
A worker that wakes up accepts every connection waiting at that moment, so clients that keep
their connections open (load balancers, agents, wrk) pile onto one worker while the others
idle: with 2 workers and 64 keep-alive connections we saw 9 s of CPU on one worker and 1 s on
the other. On Linux each worker here binds its own socket with ``SO_REUSEPORT`` instead, and
the kernel spreads new connections over them. The parent only starts the workers, restarts one
that dies, and passes SIGTERM/SIGINT on. Elsewhere uvicorn's supervisor is used.

Every worker serves with deliberate limits (the ``PROJEKT_*`` settings in the README): the size
of a request head and the time it may take to arrive (``GuardedHttpToolsProtocol``: uvicorn
bounds neither), the keep-alive timeout, the connections a worker holds before it answers 503,
and the listen backlog. A reverse proxy with its own header and body timeouts still belongs in
front (docker-compose.yml): it absorbs slow clients before they ever reach a worker.

Two things only a served worker does, for speed (docs/decisions.md): it tunes the garbage
collector once the app has started (``tune_gc``), and each connection hands what one step of the
event loop writes to the socket at once (``CoalescingTransport``).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
import socket
import subprocess
import sys
import time
from types import FrameType
from typing import Any, cast

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from projekt.config import Settings
from projekt.core.errors import error_body

logger = logging.getLogger("projekt.serve")

APP = "projekt.main:create_app"
# A worker that exits sooner than this after starting did not start: stop instead of looping.
STARTUP_GRACE_S = 10.0


def serve(host: str, port: int, workers: int, settings: Settings) -> int:
    if workers > 1 and hasattr(socket, "SO_REUSEPORT") and sys.platform == "linux":
        return _supervise(host, port, workers)
    if workers == 1:
        server = WorkerServer(uvicorn.Config(APP, **_options(host, port, settings)))
        server.run()
        return 0 if server.started else 1
    uvicorn.run(APP, workers=workers, **_options(host, port, settings))
    return 0


# The collector's youngest generation is examined every 700 new container objects by default,
# and what it keeps moves on to older ones, down to the one holding everything that lives as long
# as the process (the app, its routes, its compiled statements), which each full collection
# examines again. The collector had 11.5 % of a worker's samples on the changes page (a native
# profile), and freezing alone cut a list's CPU by a fifth. Once
# a worker has started, what start-up made is frozen (``gc.freeze``: never examined again) and the
# generations are examined every 5,000 / 5 / 5 (bench/README.md). Higher thresholds bought no more
# speed and let garbage that requests leave in cycles (the MCP SDK's streams) grow the worker by
# several MB more.
GC_THRESHOLD = (5_000, 5, 5)


def tune_gc() -> None:
    gc.collect()  # what start-up left behind is freed, not frozen
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


class WorkerServer(uvicorn.Server):
    """uvicorn's server, with the collector tuned once the app has started."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        tune_gc()


def serve_worker(host: str, port: int, settings: Settings) -> int:
    """One worker of ``_supervise``: its own listening socket in the port's reuseport group."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    server = WorkerServer(uvicorn.Config(APP, **_options(host, port, settings)))
    server.run(sockets=[sock])
    return 0 if server.started else 1


def _options(host: str, port: int, settings: Settings) -> dict[str, Any]:
    # A partial of a module-level class: picklable, so uvicorn's own supervisor can spawn it.
    protocol = functools.partial(
        GuardedHttpToolsProtocol,
        max_header_bytes=settings.max_header_bytes,
        header_timeout_s=settings.header_timeout_s,
    )
    return {
        "factory": True,
        "host": host,
        "port": port,
        "access_log": False,  # ours leaves query strings (OAuth codes) out
        "log_level": settings.log_level,
        "proxy_headers": False,  # client IPs come from our own trusted-proxy setting
        "server_header": False,  # name no software (and so no version) in answers
        "http": cast(type[asyncio.Protocol], protocol),
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "limit_concurrency": settings.limit_concurrency,
        "backlog": settings.backlog,
    }


class HeadTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head.

    uvicorn parses a head of any size and waits for it forever: a connection that opens and
    trickles header bytes (or sends none) is held until the client leaves, and its keep-alive
    timer is cancelled by any byte. Here the target plus headers may take ``max_header_bytes``
    (431 above) and must be complete ``header_timeout_s`` after the connection opens or the
    previous response ends; otherwise the connection is closed.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_header_bytes: int,
        header_timeout_s: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_header_bytes = max_header_bytes
        self.header_timeout_s = header_timeout_s
        self.head_bytes = 0
        self.head_too_large = False
        self.head_due: float | None = None  # loop time by which the next head must be in
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, CoalescingTransport(transport, self.loop)))
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        queued = bool(self.pipeline)  # a pipelined request already has its whole head
        super().on_response_complete()
        if not queued and not self.transport.is_closing():
            self._arm_head_deadline()

    def send_400_response(self, msg: str) -> None:
        if not self.head_too_large:
            super().send_400_response(msg)
            return
        message = f"The request line and headers exceed the limit of {self.max_header_bytes} bytes."
        body = error_body(431, message, "headers_too_large")
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()

    def _count(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > self.max_header_bytes:
            self.head_too_large = True
            raise HeadTooLarge  # httptools stops; uvicorn answers through send_400_response

    # The deadline is armed and disarmed on every request of a kept-alive connection, so it
    # is a time to compare, not a timer: the connection's one timer (``head_timer``) stays set
    # while it has a deadline ahead and, when it fires, closes the connection if the deadline
    # it finds has passed or waits for the one set since (a timer set and cancelled per
    # request cost 3 µs under uvloop here).

    def _arm_head_deadline(self) -> None:
        self.head_due = self.loop.time() + self.header_timeout_s
        if self.head_timer is None:
            self.head_timer = self.loop.call_at(self.head_due, self._head_check)

    def _disarm_head_deadline(self) -> None:
        self.head_due = None

    def _head_check(self) -> None:
        self.head_timer = None
        if self.head_due is None:
            return  # the head came; the next arming sets the timer again
        if self.head_due > self.loop.time():
            self.head_timer = self.loop.call_at(self.head_due, self._head_check)
        elif not self.transport.is_closing():
            logger.debug("closing a connection whose request head did not arrive in time")
            self.transport.close()


class CoalescingTransport:
    """A connection's transport whose writes of one step of the loop leave in one system call.

    uvicorn writes a response's head and its body separately, each a ``send`` of its own on the
    socket (and on loopback, the peer woken twice). Here what a step writes is held and handed
    to the transport at once when the step ends (``writelines``: one ``writev``); a ``close``
    flushes first. Everything else is the transport's own.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._held = [data]
            self._loop.call_soon(self._flush)
        else:
            self._held.append(data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.writelines(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _supervise(host: str, port: int, workers: int) -> int:
    argv = [sys.executable, "-m", "projekt", "serve", "--worker", "--host", host, "--port"]
    argv.append(str(port))
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    children: list[subprocess.Popen[bytes]] = []
    started: list[float] = []
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(workers):
        children.append(_start(argv))
        started.append(time.monotonic())
    status = 0
    while not stopping:
        time.sleep(0.2)
        for n, child in enumerate(children):
            code = child.poll()
            if code is None or stopping:
                continue
            if time.monotonic() - started[n] < STARTUP_GRACE_S:
                logger.error("worker %d exited with %s while starting; stopping", child.pid, code)
                status = 1
                stop(signal.SIGTERM, None)
                break
            logger.warning("worker %d exited with %s; starting another", child.pid, code)
            children[n] = _start(argv)
            started[n] = time.monotonic()
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
    return status


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    # Our own interpreter and module with our own arguments: nothing here comes from input.
    return subprocess.Popen(argv)  # noqa: S603
