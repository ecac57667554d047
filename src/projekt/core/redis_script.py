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
next call connects again. Replies come in order and every call has the same bound, so the
oldest call waiting is always the first to time out: one timer per connection, set for that
call's deadline, watches them all (a timer set and cancelled per call cost 3 µs under uvloop
here, on every request). A server that forgot the script (restarted, ``SCRIPT FLUSH``) gets
it with ``EVAL`` once, which also caches it again.

Only plain TCP and unix sockets: with TLS (``rediss://``) ``script_for`` gives redis-py's path.
The limiter and the idempotency store (two scripts per keyed write) both call through it.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
import math
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
    return b"*%d\r\n%s" % (len(parts), _bulk(parts))


def _bulk(parts: Sequence[bytes]) -> bytes:
    return b"".join([b"$%d\r\n%s\r\n" % (len(part), part) for part in parts])


def _forgotten(reply: Any) -> bool:
    """Redis's refusal of an EVALSHA whose script it does not hold (restarted, flushed)."""
    return isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT")


# A script call's frame after its command and the script: (element count, encoded elements).
_Tail = tuple[int, bytes]


class _Protocol(asyncio.Protocol):
    """Replies in order, one future per command sent, each bounded by ``timeout_s``.

    A script call that meets ``NOSCRIPT`` is sent again with the whole script (``EVAL`` plus
    ``eval_head``) from here, as soon as the refusal arrives, not by its caller: a call runs
    once sent even if its caller stopped waiting (the idempotency store relies on it)."""

    def __init__(self, timeout_s: float | None, eval_head: bytes) -> None:
        self.reader = hiredis.Reader()
        # Each command's future, the loop time by which its reply must have come, and for a
        # script call the tail to send again after EVAL.
        self.waiting: collections.deque[tuple[asyncio.Future[Any], float, _Tail | None]] = (
            collections.deque()
        )
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.timeout_s = timeout_s
        self.eval_head = eval_head
        self.timer: asyncio.TimerHandle | None = None

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
            future, _, tail = waiting.popleft()
            if tail is not None and _forgotten(reply):
                frame = b"*%d\r\n%s%s" % (tail[0], self.eval_head, tail[1])
                self._write(frame, future, None)  # its reply comes after those in flight
                continue
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
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        while self.waiting:
            future = self.waiting.popleft()[0]
            if not future.done():
                future.set_exception(error)

    def send(self, frame: bytes, tail: _Tail | None = None) -> asyncio.Future[Any]:
        """Write ``frame`` now; its reply resolves the future returned."""
        future = asyncio.get_running_loop().create_future()
        self._write(frame, future, tail)
        return future

    def _write(self, frame: bytes, future: asyncio.Future[Any], tail: _Tail | None) -> None:
        assert self.transport is not None
        if self.timeout_s is None:
            self.waiting.append((future, math.inf, tail))
        else:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.timeout_s
            self.waiting.append((future, deadline, tail))
            if self.timer is None:
                self.timer = loop.call_at(deadline, self._watch)
        self.transport.write(frame)

    def _watch(self) -> None:
        """The oldest call's deadline came: it expired (and with it the connection, as
        redis-py on a read timeout), or it was answered and the next oldest is watched."""
        self.timer = None
        if not self.waiting:
            return
        loop = asyncio.get_running_loop()
        deadline = self.waiting[0][1]
        if deadline <= loop.time():
            self.close(RedisTimeoutError("Timeout reading from Redis"))
        else:
            self.timer = loop.call_at(deadline, self._watch)


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
        self._evalsha = _bulk((b"EVALSHA", self.sha))
        self._eval = _bulk((b"EVAL", self.source))
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
        """Once called, the script runs even if the caller is cancelled: the command is
        written before the first wait, or (when a connection must be made first) by a task
        of its own."""
        parts = [b"%d" % len(keys)]
        parts += [k.encode() for k in keys]
        parts += [a if isinstance(a, bytes) else str(a).encode() for a in args]
        tail = (len(parts) + 2, _bulk(parts))
        # EVALSHA and the script's name are the same in every frame: encoded once.
        frame = b"*%d\r\n%s%s" % (tail[0], self._evalsha, tail[1])
        protocol = self._protocol
        if protocol is None or protocol.lost:
            reply = await asyncio.shield(self._connect_and_send(frame, tail))
        else:
            reply = await protocol.send(frame, tail)
        if isinstance(reply, hiredis.ReplyError):
            raise ResponseError(str(reply))
        return reply

    async def close(self) -> None:
        if self._protocol is not None:
            self._protocol.close(RedisConnectionError("closed"))
            self._protocol = None

    async def _connect_and_send(self, frame: bytes, tail: _Tail) -> Any:
        return await (await self._connect()).send(frame, tail)

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
                made = functools.partial(_Protocol, self.timeout_s, self._eval)
                if self.path is not None:
                    _, protocol = await loop.create_unix_connection(made, self.path)
                else:
                    _, protocol = await loop.create_connection(made, self.host, self.port)
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
