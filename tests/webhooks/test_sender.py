"""The deliverer's HTTP client on real loopback sockets: one kept-alive connection per endpoint,
the pinned address with the original Host header, answers read (never followed), bounded
reads, and fresh connections where the old one cannot be trusted."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from projekt.webhooks.sender import MAX_RESPONSE_BYTES, KeepAliveSender, Reply, SendFailed
from projekt.webhooks.targets import Target

Answer = Callable[[int], bytes]  # request number (0-based) -> raw response bytes


@dataclass
class Server:
    port: int = 0
    connections: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)  # (head, body)
    answer: Answer = lambda n: b"HTTP/1.1 204 No Content\r\n\r\n"
    close_after_answer: bool = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                n = len(self.requests)
                self.requests.append((head, body))
                writer.write(self.answer(n))
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[Server]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()


def target(port: int, host: str = "hooks.example.test") -> Target:
    return Target("http", host, port, ipaddress.ip_address("127.0.0.1"), "/in?x=1")


HEADERS = [("host", "hooks.example.test"), ("content-type", "application/json")]


async def post(sender: KeepAliveSender, key: uuid.UUID, port: int, body: bytes = b"{}") -> Reply:
    return await sender.post(key, target(port), "/in?x=1", HEADERS, body)


async def test_one_kept_alive_connection_carries_an_endpoints_deliveries() -> None:
    sender = KeepAliveSender(connect_timeout=2)
    key = uuid.uuid4()
    async with serving(Server()) as server:
        replies = [await post(sender, key, server.port, b'{"n":%d}' % n) for n in range(5)]
        await sender.aclose()
    assert replies == [Reply(204)] * 5
    assert server.connections == 1
    head, body = server.requests[0]
    # The pinned address was dialled; the request names the endpoint's own host and path.
    assert head.startswith(b"POST /in?x=1 HTTP/1.1\r\n")
    assert b"host: hooks.example.test\r\n" in head
    assert b"content-length: 7\r\n" in head
    assert body == b'{"n":0}'


async def test_endpoints_do_not_share_a_connection() -> None:
    sender = KeepAliveSender(connect_timeout=2)
    async with serving(Server()) as server:
        for _ in range(2):
            await post(sender, uuid.uuid4(), server.port)
        await sender.aclose()
    assert server.connections == 2


async def test_status_and_retry_after_are_read_and_redirects_not_followed() -> None:
    answers = [
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\ncontent-length: 4\r\n\r\nslow",
        b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nyes\r\n0\r\n\r\n",
    ]
    sender = KeepAliveSender(connect_timeout=2)
    key = uuid.uuid4()
    async with serving(Server(answer=lambda n: answers[n])) as server:
        got = [await post(sender, key, server.port) for _ in answers]
        await sender.aclose()
    assert got == [Reply(429, "120"), Reply(302), Reply(200)]
    assert len(server.requests) == 3 and server.connections == 1  # 10.0.0.1 never asked


async def test_a_connection_the_receiver_closed_is_replaced() -> None:
    sender = KeepAliveSender(connect_timeout=2)
    key = uuid.uuid4()
    async with serving(Server(close_after_answer=True)) as server:
        for _ in range(3):
            assert await post(sender, key, server.port) == Reply(204)
            await asyncio.sleep(0.01)
        await sender.aclose()
    assert server.connections == 3 and len(server.requests) == 3


async def test_a_long_answer_is_cut_off_and_its_connection_not_reused() -> None:
    big = b"x" * (MAX_RESPONSE_BYTES * 2)
    long = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(big), big)
    sender = KeepAliveSender(connect_timeout=2)
    key = uuid.uuid4()
    async with serving(Server(answer=lambda n: long if n == 0 else b"HTTP/1.1 204 x\r\n\r\n")) as s:
        assert await post(sender, key, s.port) == Reply(200)
        assert await post(sender, key, s.port) == Reply(204)
        await sender.aclose()
    assert s.connections == 2


async def test_failures_say_what_went_wrong() -> None:
    sender = KeepAliveSender(connect_timeout=2)
    async with serving(Server()) as server:
        port = server.port
    with pytest.raises(SendFailed, match="Could not connect"):
        await post(sender, uuid.uuid4(), port)  # nobody listens there any more
    async with serving(Server(answer=lambda n: b"SMTP ready\r\n\r\n")) as server:
        with pytest.raises(SendFailed, match="not valid HTTP"):
            await post(sender, uuid.uuid4(), server.port)
    silent = Server(answer=lambda n: b"", close_after_answer=True)
    async with serving(silent) as server:
        with pytest.raises(SendFailed, match="closed before an answer"):
            await post(sender, uuid.uuid4(), server.port)
    await sender.aclose()


async def test_a_cancelled_send_leaves_no_connection_to_reuse() -> None:
    """The deliverer bounds an attempt with asyncio.timeout: a send cut off mid-answer must
    not leave its half-read connection for the next delivery."""
    release = asyncio.Event()
    answered: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered.append(0)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                if len(answered) == 1:
                    await release.wait()  # the first connection never answers in time
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    sender = KeepAliveSender(connect_timeout=2)
    key = uuid.uuid4()
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await post(sender, key, port)
        assert await post(sender, key, port) == Reply(204)
        assert len(answered) == 2  # a new connection
    finally:
        release.set()
        await sender.aclose()
        listening.close()
