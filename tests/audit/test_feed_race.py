"""The changes feed while writers run (issue 16): read in pages of 7, it equals the record.

Four writers change issues and comments through the app at the same time (on PostgreSQL their
transactions really overlap; on SQLite they take turns at the write lock) while a reader pages
through ``/api/changes?since=`` keeping only ``next_cursor``, as an integration would. When the
writers are done and the reader has drained the feed, what it read must be the committed
history in ``events`` exactly, in ``seq`` order: nothing twice, nothing missed.
"""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from projekt.core.record import Event
from tests.factories import Factory

WRITERS = 4
ROUNDS = 3  # per writer: each round creates, edits, comments on and (last round) deletes
PAGE = 7

Item = tuple[str, str, str]  # (resource_type, resource_id, type)


async def _writer(client: httpx.AsyncClient, project_id: str, n: int) -> int:
    """Bounded writes; returns how many were answered with success."""
    done = 0

    async def ok(response: httpx.Response, status: int) -> dict[str, object]:
        nonlocal done
        assert response.status_code == status, response.text
        done += 1
        return response.json() if status != 204 else {}

    for r in range(ROUNDS):
        issue = await ok(
            await client.post(
                "/api/issues", json={"project_id": project_id, "title": f"w{n} r{r}"}
            ),
            201,
        )
        ref = f"/api/issues/{issue['id']}"
        await ok(await client.patch(ref, json={"title": f"w{n} r{r} edited"}), 200)
        comment = await ok(await client.post(f"{ref}/comments", json={"text": f"c{n}.{r}"}), 201)
        await ok(
            await client.patch(f"{ref}/comments/{comment['id']}", json={"text": "edited"}), 200
        )
        await ok(await client.patch(ref, json={"priority": "urgent"}), 200)
        if r == ROUNDS - 1:
            await ok(await client.delete(ref), 204)
    return done


async def test_the_feed_read_in_pages_of_7_under_4_writers_equals_the_record(
    factory: Factory,
) -> None:
    org = await factory.org()
    project = await factory.project(org)
    token = await factory.key(org.id, org.owner, "feed reader")
    headers = {"Authorization": f"Bearer {token}", "X-Org-Id": str(org.id)}
    read: list[Item] = []
    cursors: list[str] = []
    writers_done = asyncio.Event()
    read_while_writing = 0

    async def reader(client: httpx.AsyncClient) -> None:
        nonlocal read_while_writing
        since: str | None = None
        while True:
            finished = writers_done.is_set()  # before the page: a page after it drains
            params = {"limit": str(PAGE), **({"since": since} if since else {})}
            page = await client.get("/api/changes", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["data"]) <= PAGE
            for item in body["data"]:
                read.append((item["resource_type"], item["resource_id"], item["type"]))
                cursors.append(item["cursor"])
                if not finished and item["resource_type"] in ("issue", "comment"):
                    read_while_writing += 1
            since = body["next_cursor"]
            if finished and not body["data"]:
                return
            await asyncio.sleep(0)

    async with (
        factory.client(**headers) as reading,
        factory.client(**headers) as w0,
        factory.client(**headers) as w1,
        factory.client(**headers) as w2,
        factory.client(**headers) as w3,
    ):
        reading_task = asyncio.create_task(reader(reading))
        counts = await asyncio.gather(
            *(_writer(c, str(project.id), n) for n, c in enumerate((w0, w1, w2, w3)))
        )
        writers_done.set()
        await reading_task

    async with factory.services.db.read() as session:
        rows = await session.execute(
            select(Event.resource_type, Event.resource_id, Event.type)
            .where(Event.org_id == org.id)
            .order_by(Event.seq)
        )
        history = [(kind, str(rid), type_) for kind, rid, type_ in rows]

    assert sum(counts) == WRITERS * (ROUNDS * 5 + 1)
    writes = [item for item in history if item[0] in ("issue", "comment")]
    # Every answered write left its event (an issue's delete takes its comment with it).
    assert len(writes) == sum(counts)
    assert read == history
    assert len(set(cursors)) == len(cursors)
    # The reader really read while the writers ran, not only after them.
    assert read_while_writing > 0
