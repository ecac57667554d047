"""One Lua script, called on every request, over one pipelined connection (the limiter's path).

redis-py's generic path costs more CPU than the round trip is worth on a request this hot: a
blocking pool's condition and timeout per call, a liveness probe of the socket, a task for the
write timeout, generic argument encoding, retries and observability hooks. The limiter needs
none of that: one command shape (``EVALSHA`` of one script) whose frame is mostly known in
advance, and a bound on how long a request waits.

So this is a minimal RESP client for that one command: an ``asyncio.Protocol`` on one
connection, replies parsed by hiredis (which redis-py already depends on), calls pipelined in
order (Redis answers in the order it received; concurrent requests share the connection
without waiting for a pool turn, and Redis runs one script at a time anyway). Each call is
bounded by ``timeout_s`` (``PROJEKT_REDIS_TIMEOUT_S``). A call that times out closes the
connection, as redis-py does on a read timeout, and fails every call still waiting on it
(they were in flight together: the limiter's circuit breaker counts them as one failure); the
next call connects again. A server that forgot the script (restarted, ``SCRIPT FLUSH``) gets
it with ``EVAL`` once, which also caches it again.

Only plain TCP and unix sockets: with TLS (``rediss://``) ``script_for`` gives redis-py's path.
The limiter and the idempotency store (two scripts per keyed write) both call through it.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def encode(*parts: bytes) -> bytes:
    """A RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    """Replies in order, one future per command sent."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        while True:
            reply = reader.gets()
            if reply is False:
                return
            if not waiting:  # nothing asked for it: the connection is out of step
                self.close(RedisConnectionError("unexpected reply from Redis"))
                return
            future = waiting.popleft()
            if not future.done():  # a caller that gave up (cancelled) ignores its reply
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(RedisConnectionError(f"Redis connection lost: {exc or 'closed'}"))

    def close(self, error: Exception) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()
        self._fail(error)

    def _fail(self, error: Exception) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    def send(self, frame: bytes) -> asyncio.Future[Any]:
        assert self.transport is not None
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.transport.write(frame)
        return future


class PipelinedScript:
    """``await script(keys, args)``: run the Lua script, its reply as redis-py would give it
    (integers as ``int``, strings as ``bytes``); raises redis-py's ``ConnectionError`` /
    ``TimeoutError`` / ``ResponseError``."""

    def __init__(
        self,
        source: str,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float | None = 0.1,
        connect_timeout_s: float | None = 0.5,
    ) -> None:
        self.source = source.encode()
        # The name Redis gives a script (EVALSHA), not a security measure.
        self.sha = hashlib.sha1(self.source, usedforsecurity=False).hexdigest().encode()
        self.host, self.port, self.path = host, port, path
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._handshake: list[bytes] = []
        if password:
            auth = (b"AUTH", username.encode(), password.encode()) if username else None
            self._handshake.append(encode(*(auth or (b"AUTH", password.encode()))))
        if db:
            self._handshake.append(encode(b"SELECT", str(db).encode()))
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    @classmethod
    def for_client(cls, redis: Redis, source: str) -> PipelinedScript | None:
        """The client's own server and settings; None when its connections are TLS."""
        pool = redis.connection_pool
        if issubclass(pool.connection_class, SSLConnection):
            return None
        kw = pool.connection_kwargs
        unix = issubclass(pool.connection_class, UnixDomainSocketConnection)
        return cls(
            source,
            host=kw.get("host", "127.0.0.1"),
            port=int(kw.get("port", 6379)),
            path=kw.get("path") if unix else None,
            db=int(kw.get("db", 0) or 0),
            username=kw.get("username"),
            password=kw.get("password"),
            timeout_s=kw.get("socket_timeout"),
            connect_timeout_s=kw.get("socket_connect_timeout"),
        )

    async def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        tail = [str(len(keys)).encode(), *(k.encode() for k in keys)]
        tail += [a if isinstance(a, bytes) else str(a).encode() for a in args]
        reply = await self._call(encode(b"EVALSHA", self.sha, *tail))
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await self._call(encode(b"EVAL", self.source, *tail))
        if isinstance(reply, hiredis.ReplyError):
            raise ResponseError(str(reply))
        return reply

    async def close(self) -> None:
        if self._protocol is not None:
            self._protocol.close(RedisConnectionError("closed"))
            self._protocol = None

    async def _call(self, frame: bytes) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.lost:
            protocol = await self._connect()
        future = protocol.send(frame)
        if self.timeout_s is None:
            return await future
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.timeout_s, _expire, protocol, future)
        try:
            return await future
        finally:
            timer.cancel()

    async def _connect(self) -> _Protocol:
        # Calls that arrive while a connection is being made wait for that one.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done():
                self._connecting = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                if self.path is not None:
                    _, protocol = await loop.create_unix_connection(_Protocol, self.path)
                else:
                    _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
                for frame in self._handshake:
                    reply = await protocol.send(frame)
                    if isinstance(reply, hiredis.ReplyError):
                        protocol.close(RedisConnectionError(str(reply)))
                        raise RedisConnectionError(f"Redis refused the connection: {reply}")
        except TimeoutError:
            raise RedisTimeoutError("Timeout connecting to Redis") from None
        except OSError as exc:
            raise RedisConnectionError(f"Error connecting to Redis: {exc}") from exc
        self._protocol = protocol
        return protocol


def _expire(protocol: _Protocol, future: asyncio.Future[Any]) -> None:
    if not future.done():
        # As redis-py on a read timeout: the connection is dropped, and with it every call
        # still waiting on it; the next call connects again.
        protocol.close(RedisTimeoutError("Timeout reading from Redis"))


def script_for(redis: Redis, source: str) -> PipelinedScript | AsyncScript:
    """The pipelined path where it can reach the client's server; redis-py's script object for
    TLS and for stand-ins without a connection pool. Both are called ``(keys=, args=)``."""
    if getattr(redis, "connection_pool", None) is not None:
        pipelined = PipelinedScript.for_client(redis, source)
        if pipelined is not None:
            return pipelined
    return redis.register_script(source)


async def close_script(script: PipelinedScript | AsyncScript) -> None:
    """Close a pipelined script's connection; redis-py's scripts use the client's pool."""
    if isinstance(script, PipelinedScript):
        await script.close()
