"""Helpers for tests that race requests against each other (bounded rounds, no timings)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

ROUNDS = 20


async def together(*calls: Awaitable[httpx.Response]) -> list[httpx.Response]:
    """Start every request at once and wait for all of them."""
    return list(await asyncio.gather(*calls))


async def race_update_and_delete(
    make: Callable[[], Awaitable[Any]],
    update: Callable[[Any], Awaitable[httpx.Response]],
    delete: Callable[[Any], Awaitable[httpx.Response]],
    rounds: int = ROUNDS,
) -> list[tuple[int, int]]:
    """Race an update against a delete of a fresh resource, ``rounds`` times.

    Every answer must be one a client can act on: the update wins (200) or finds the resource
    gone (404); the delete always answers 204. Never a 500.
    """
    outcomes: list[tuple[int, int]] = []
    for _ in range(rounds):
        resource = await make()
        updated, deleted = await together(update(resource), delete(resource))
        outcomes.append((updated.status_code, deleted.status_code))
        assert updated.status_code in (200, 404), updated.text
        assert deleted.status_code == 204, deleted.text
        if updated.status_code == 404:
            assert updated.json()["code"].endswith("not_found"), updated.text
    return outcomes
