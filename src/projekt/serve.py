"""Serving with one or more worker processes.

With ``--workers N`` uvicorn's own supervisor has every worker accept from one shared socket.
A worker that wakes up accepts every connection waiting at that moment, so clients that keep
their connections open (load balancers, agents, wrk) pile onto one worker while the others
idle: with 2 workers and 64 keep-alive connections we saw 9 s of CPU on one worker and 1 s on
the other. On Linux each worker here binds its own socket with ``SO_REUSEPORT`` instead, and
the kernel spreads new connections over them. The parent only starts the workers, restarts one
that dies, and passes SIGTERM/SIGINT on. Elsewhere uvicorn's supervisor is used.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from types import FrameType
from typing import Any

import uvicorn

logger = logging.getLogger("projekt.serve")

APP = "projekt.main:create_app"
# A worker that exits sooner than this after starting did not start: stop instead of looping.
STARTUP_GRACE_S = 10.0


def serve(host: str, port: int, workers: int, log_level: str) -> int:
    if workers > 1 and hasattr(socket, "SO_REUSEPORT") and sys.platform == "linux":
        return _supervise(host, port, workers)
    uvicorn.run(APP, workers=workers, **_options(host, port, log_level))
    return 0


def serve_worker(host: str, port: int, log_level: str) -> int:
    """One worker of ``_supervise``: its own listening socket in the port's reuseport group."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    server = uvicorn.Server(uvicorn.Config(APP, **_options(host, port, log_level)))
    server.run(sockets=[sock])
    return 0 if server.started else 1


def _options(host: str, port: int, log_level: str) -> dict[str, Any]:
    return {
        "factory": True,
        "host": host,
        "port": port,
        "access_log": False,  # ours leaves query strings (OAuth codes) out
        "log_level": log_level,
        "proxy_headers": False,  # client IPs come from our own trusted-proxy setting
    }


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
