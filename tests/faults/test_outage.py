"""PostgreSQL going away under load answers 503 with Retry-After, never 500, and every 5xx is
in the log with its request id (issue 13.2)."""

from __future__ import annotations

import asyncio
import itertools
import logging

import httpx
import pytest

from tests.faults.conftest import app_on, world
from tests.private_services import PrivatePostgres

pytestmark = pytest.mark.postgres


async def test_stopping_postgres_under_load_answers_503_never_500(
    private_pg: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="projekt")
    async with app_on(private_pg) as app:
        w = await world(app, keys=120)
        fresh = iter(w.keys[1:])
        owner = w.org.owner
        headers = owner.headers(w.org.id)

        async def one(n: int) -> httpx.Response:
            kind = n % 5
            if kind == 0:  # the credential lookup of a key never seen: the fast path
                key = next(fresh, w.keys[0])
                async with w.client(key) as c:
                    return await c.get("/api/me")
            if kind == 1:  # the issue list (fast path)
                async with w.client() as c:
                    return await c.get("/api/issues", params={"project_id": str(w.project_id)})
            if kind == 2:  # one issue (fast path)
                async with w.client() as c:
                    return await c.get(f"/api/issues/{w.issue_id}")
            if kind == 3:  # a read through the ORM, on the session cookie
                return await owner.client.get("/api/team", headers=headers)
            async with w.client() as c:  # a write through the ORM
                key = f"F{n:05d}"
                return await c.post("/api/projects", json={"key": key, "name": f"P {n}"})

        answers: list[httpx.Response] = []
        counter = itertools.count()
        enough = asyncio.Event()

        async def worker() -> None:
            for _ in range(30):
                answers.append(await one(next(counter)))
                if len(answers) >= 40:
                    enough.set()

        async def stopper() -> None:
            await enough.wait()
            await asyncio.to_thread(private_pg.stop, "fast")

        await asyncio.gather(stopper(), *(worker() for _ in range(6)))

    codes = [r.status_code for r in answers]
    assert 500 not in codes, [r.text for r in answers if r.status_code == 500][:3]
    assert set(codes) <= {200, 201, 503}, codes
    assert 503 in codes and (200 in codes or 201 in codes), codes
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for response in answers:
        if response.status_code == 503:
            assert response.headers.get("retry-after"), response.headers
            assert response.json()["code"] == "db_unavailable", response.text
            assert response.headers["x-request-id"] in logged, response.request.url


async def test_a_credential_lookup_outage_is_logged_with_its_request_id(
    private_pg: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="projekt")
    async with app_on(private_pg) as app:
        w = await world(app)
        await asyncio.to_thread(private_pg.stop, "fast")
        async with w.client(w.keys[1]) as c:
            response = await c.get("/api/me")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    rid = response.headers["x-request-id"]
    lines = [r for r in caplog.records if rid in r.getMessage()]
    assert lines and all(r.levelno >= logging.WARNING for r in lines)
