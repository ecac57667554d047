"""The limiter's pipelined script call (``core.redis_script``): the answers redis-py would give,
a forgotten script loaded again, a timed-out call dropping its connection."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from projekt.core.redis_script import PipelinedScript, encode

REDIS_URL = os.environ.get("PROJEKT_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="runs on the PostgreSQL + Redis leg")


def test_frames_are_resp_arrays() -> None:
    assert encode(b"GET", b"k") == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    assert encode(b"SET", b"", b"\r\n") == b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$2\r\n\r\n\r\n"


@needs_redis
async def test_a_new_script_runs_and_concurrent_calls_get_their_own_replies() -> None:
    assert REDIS_URL
    redis = Redis.from_url(REDIS_URL)
    # A script this server has never seen: the first call finds NOSCRIPT and sends it.
    source = f"-- {uuid.uuid4()}\nreturn {{tonumber(ARGV[1]) * 2, KEYS[1], ARGV[2]}}"
    script = PipelinedScript.for_client(redis, source)
    assert script is not None
    try:
        replies = await asyncio.gather(*(script([f"key-{n}"], [n, b"x"]) for n in range(50)))
        assert replies == [[n * 2, f"key-{n}".encode(), b"x"] for n in range(50)]
        with pytest.raises(ResponseError):
            await script(["k"], ["not a number", b"x"])  # a Lua error is the caller's error
        assert await script(["k"], [4, b""]) == [8, b"k", b""]  # and the connection still works
    finally:
        await script.close()
        await redis.aclose()


async def test_a_timed_out_call_drops_the_connection_and_the_next_connects_again() -> None:
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        first = len(connections) == 1
        while data := await reader.read(65536):
            if not first:  # the first connection never answers, like a stalled server
                writer.write(b":1\r\n" * data.count(b"EVALSHA"))
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    script = PipelinedScript("return 1", port=port, timeout_s=0.2)
    try:
        stalled = await asyncio.gather(script([], []), script([], []), return_exceptions=True)
        assert all(isinstance(e, RedisTimeoutError) for e in stalled)  # both, together
        assert await script([], []) == 1
        assert len(connections) == 2
    finally:
        await script.close()
        server.close()
        await server.wait_closed()


async def test_one_timer_bounds_each_call_from_its_own_send() -> None:
    """The connection's one timer, set for the oldest call, must not expire a later call before
    that call's own bound, and must still expire a later call that gets no reply."""
    stall = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            for _ in range(data.count(b"EVALSHA")):
                await asyncio.sleep(0.1)  # every reply takes half the bound
                if not stall.is_set():
                    writer.write(b":1\r\n")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    script = PipelinedScript("return 1", port=port, timeout_s=0.2)
    try:
        assert await script([], []) == 1  # answered at 0.1 s; the timer stays set for 0.2 s
        await asyncio.sleep(0.05)
        # Sent at ~0.15 s, answered at ~0.25 s: past the first call's deadline, within its own.
        assert await script([], []) == 1
        stall.set()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RedisTimeoutError):
            await script([], [])
        assert loop.time() - started >= 0.19
    finally:
        await script.close()
        server.close()
        await server.wait_closed()


async def test_a_call_runs_once_made_even_if_its_caller_stops_waiting() -> None:
    """The idempotency store ends a claim through a cancelled request: the command goes out
    while the connection is still being made, and a forgotten script is sent in full by the
    connection, not by the caller who has gone. (A stand-in server that never keeps a script:
    flushing the suite's shared Redis would touch every other test's scripts.)"""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.append(data)
            for _ in range(data.count(b"$7\r\nEVALSHA\r\n")):
                writer.write(b"-NOSCRIPT No matching script.\r\n")
            writer.write(b":1\r\n" * data.count(b"$4\r\nEVAL\r\n"))
        writer.close()

    def sent(command: bytes) -> int:
        return b"".join(received).count(b"$%d\r\n%s\r\n" % (len(command), command))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    script = PipelinedScript("return 1", port=port, timeout_s=5)
    try:
        for calls in (1, 2):  # the first call connects; the second finds the connection open
            call = asyncio.create_task(script(["k"], [calls]))
            await asyncio.sleep(0)  # its first step: connecting, or its EVALSHA written
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            for _ in range(100):  # bounded: 100 x 0.01 s
                if sent(b"EVAL") == calls:
                    break
                await asyncio.sleep(0.01)
            assert (sent(b"EVALSHA"), sent(b"EVAL")) == (calls, calls)
        assert await script(["k"], [3]) == 1  # and the connection is still in step
    finally:
        await script.close()
        server.close()
        await server.wait_closed()
