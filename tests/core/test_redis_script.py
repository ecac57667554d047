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
