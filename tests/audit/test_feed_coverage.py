"""The changes feed shows every kind of resource the app records (a sweep, not a list).

The authorization matrix's world (``tests/test_authz.py``) makes one of everything: an org,
members, a project and its member, an issue, a comment, a sprint, a milestone, an invitation,
an API key, a doc. Every resource type its events name must have a reader in the feed, and the
feed must answer each resource that still exists with its representation, not a tombstone. A
domain added later whose world recipe records a new resource type fails here until the feed
reads it.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from projekt.core.record import Event
from tests.factories import Factory
from tests.test_authz import OTHER_ROLES, build_world


async def test_every_recorded_resource_type_is_read_by_the_feed(app: FastAPI) -> None:
    factory = Factory(app)
    people = {role.value: await factory.person() for role in OTHER_ROLES}
    people["owner"] = await factory.person()
    world = await build_world(factory, people)
    async with factory.services.db.read() as session:
        stmt = select(Event.resource_type).where(Event.org_id == world.org.id).distinct()
        recorded = set((await session.execute(stmt)).scalars())
    assert {"project", "issue", "comment", "sprint", "milestone", "doc"} <= recorded
    owner = people["owner"]
    feed = await owner.client.get("/api/changes?limit=200", headers=owner.headers(world.org.id))
    assert feed.status_code == 200, feed.text
    shown = {(c["resource_type"], c["resource_id"]): c for c in feed.json()["data"]}
    assert {kind for kind, _ in shown} == recorded
    # Nothing of the world was deleted: each resource reads as it is now, none as a tombstone.
    tombstones = sorted(key for key, change in shown.items() if change["action"] != "upsert")
    assert tombstones == []
    change = shown[("doc", str(world.doc_id))]
    assert change["resource"]["id"] == str(world.doc_id)
