"""The deliverer's HTTP client: one keep-alive HTTP/1.1 connection per endpoint, to the address
the SSRF guard has just checked, on asyncio streams with ``h11`` (the HTTP/1.1 state machine
httpx itself is built on).

Why not httpx: on a loopback receiver that answers at once its per-request overhead was
~0.7–1.0 ms of CPU against ~0.12 ms here (docs/decisions.md, "Throughput: the HTTP client"),
and the deliverer needs none of what that buys (redirects are never followed, no proxies, no
cookies, no HTTP/2, one POST shape). What it does need is here: the pinned address with the
original Host header and TLS server name, a bounded response read, no reuse of a connection
whose state is unknown, and one retry on a fresh connection when a kept-alive one turns out
to be closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import certifi
import h11

from projekt.webhooks.targets import Target

# Only the status (and Retry-After) counts; a longer body is cut off and the connection closed.
MAX_RESPONSE_BYTES = 64 * 1024
# Kept-alive connections idle longer than this are closed (receivers close theirs sooner).
IDLE_S = 30.0
READ_CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    retry_after: str | None = None


class SendFailed(Exception):
    """No answer was read; the message says what went wrong (shown in the delivery log)."""


class Sender(Protocol):
    """What the deliverer sends through (tests put a fake receiver behind it)."""

    async def post(
        self, key: uuid.UUID, target: Target, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> Reply: ...

    async def aclose(self) -> None: ...


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer: tuple[str, str, int, str]  # scheme, address, port, host: what it was opened for
    http: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    used_at: float = 0.0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class KeepAliveSender:
    """POSTs over one kept-alive connection per endpoint (``key``). An endpoint sends one
    delivery at a time, so a connection is never shared; it is taken out of the pool for the
    send and put back only after a complete, reusable exchange (a timeout or any error closes
    it: its state is then unknown)."""

    def __init__(self, *, connect_timeout: float, max_idle: int = 64) -> None:
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self._idle: dict[uuid.UUID, _Connection] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(
        self, key: uuid.UUID, target: Target, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> Reply:
        peer = (target.scheme, str(target.address), target.port, target.host)
        kept = self._idle.pop(key, None)
        if kept is not None and (kept.peer != peer or kept.reader.at_eof()):
            kept.close()  # the guard now pins another address, or the receiver hung up
            kept = None
        request = h11.Request(
            method="POST",
            target=path,
            headers=[*headers, ("content-length", str(len(body)))],
        )
        if kept is not None:
            try:
                return await self._exchange(key, kept, request, body, reused=True)
            except _Stale:
                pass  # closed by the receiver while idle: once more on a new connection
        connection = await self._connect(target, peer)
        try:
            return await self._exchange(key, connection, request, body, reused=False)
        except _Stale as exc:
            raise SendFailed("The connection was closed before an answer") from exc

    async def _connect(self, target: Target, peer: tuple[str, str, int, str]) -> _Connection:
        tls = self._context() if target.scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    str(target.address),
                    target.port,
                    ssl=tls,
                    # The certificate is checked against the name, not the pinned address.
                    server_hostname=target.host if tls is not None else None,
                )
        except TimeoutError as exc:
            raise SendFailed("Could not connect (timed out)") from exc
        except ssl.SSLError as exc:
            raise SendFailed(f"TLS failed ({exc.reason or type(exc).__name__})") from exc
        except OSError as exc:
            raise SendFailed("Could not connect") from exc
        return _Connection(reader, writer, peer)

    async def _exchange(
        self, key: uuid.UUID, conn: _Connection, request: h11.Request, body: bytes, *, reused: bool
    ) -> Reply:
        http = conn.http
        answered = False
        done = False
        try:
            data = http.send(request) or b""
            data += http.send(h11.Data(data=body)) or b""
            data += http.send(h11.EndOfMessage()) or b""
            conn.writer.write(data)
            if conn.writer.transport.get_write_buffer_size() > READ_CHUNK:
                await conn.writer.drain()  # a large body: let the socket take it first
            reply: Reply | None = None
            read = 0
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    chunk = await conn.reader.read(READ_CHUNK)
                    if not chunk and not answered:
                        if reused:
                            raise _Stale
                        raise SendFailed("The connection was closed before an answer")
                    http.receive_data(chunk)
                    continue
                if isinstance(event, h11.Response):
                    answered = True
                    reply = Reply(event.status_code, _header(event.headers, b"retry-after"))
                elif isinstance(event, h11.Data):
                    read += len(event.data)
                    if read > MAX_RESPONSE_BYTES:
                        return _answered(reply)  # not read to the end: closed below
                elif isinstance(event, h11.EndOfMessage):
                    if http.our_state is h11.DONE and http.their_state is h11.DONE:
                        http.start_next_cycle()
                        done = True
                    return _answered(reply)
                elif isinstance(event, h11.ConnectionClosed):
                    if reply is not None:
                        return reply
                    raise SendFailed("The connection was closed before an answer")
                # InformationalResponse (1xx): read on
        except (ConnectionError, BrokenPipeError) as exc:
            if reused and not answered:
                raise _Stale from exc
            raise SendFailed(f"Connection failed ({type(exc).__name__})") from exc
        except h11.LocalProtocolError as exc:
            raise SendFailed("The request could not be written as HTTP/1.1") from exc
        except h11.RemoteProtocolError as exc:
            raise SendFailed("The answer was not valid HTTP/1.1") from exc
        except ssl.SSLError as exc:
            raise SendFailed(f"TLS failed ({exc.reason or type(exc).__name__})") from exc
        except OSError as exc:
            raise SendFailed(f"Connection failed ({type(exc).__name__})") from exc
        finally:
            if done:
                conn.used_at = time.monotonic()
                self._keep(key, conn)
            else:
                conn.close()

    def _keep(self, key: uuid.UUID, conn: _Connection) -> None:
        self._idle[key] = conn
        now = time.monotonic()
        stale = [k for k, c in self._idle.items() if now - c.used_at > IDLE_S]
        for k in stale:
            self._idle.pop(k).close()
        while len(self._idle) > self.max_idle:
            oldest = min(self._idle, key=lambda k: self._idle[k].used_at)
            self._idle.pop(oldest).close()

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            # The trust store httpx used (certifi's), so moving off httpx trusts the same CAs.
            self._tls = ssl.create_default_context(cafile=certifi.where())
        return self._tls

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for conn in idle.values():
            conn.close()
        for conn in idle.values():
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()


class _Stale(Exception):
    """A kept-alive connection failed before any answer: the receiver had closed it."""


def _answered(reply: Reply | None) -> Reply:
    if reply is None:  # h11 yields the Response before any body or end: cannot happen
        raise SendFailed("The answer had no status line")
    return reply


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None
