"""A webhook receiver on a real loopback port (uvicorn in the test's event loop).

It keeps every request's ``webhook-id`` in arrival order, checks each signature with the
``standardwebhooks`` package, and counts requests in flight at once (a second delivery while
one is in flight is a concurrent double delivery)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook as Verifier


@dataclass
class Receiver:
    secret: str = ""
    ids: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    url: str = ""

    @property
    def distinct(self) -> int:
        return len(set(self.ids))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # cut off mid-request (a killed sender): never a delivery
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            # A short pause widens the window in which a second, concurrent delivery would show.
            await asyncio.sleep(0.002)
            try:
                Verifier(self.secret).verify(body, headers)
            except Exception:
                self.bad_signatures += 1
            self.ids.append(headers.get("webhook-id", ""))
        finally:
            self.in_flight -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def until(self, count: int, limit_s: float = 180.0) -> None:
        """Wait (bounded) until ``count`` distinct deliveries arrived."""
        for _ in range(int(limit_s / 0.05)):
            if self.distinct >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"only {self.distinct} of {count} deliveries arrived")


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
