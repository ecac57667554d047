"""The changes feed shows every kind of resource the app records (a sweep, not a list).

The authorization matrix's world (``tests/test_authz.py``) makes one of everything: an org,
members, a project and its member, an issue, a comment, a sprint, a milestone, an invitation,
an API key, a doc. Every resource type its events name must have a reader in the feed, and the
feed must answer each resource that still exists with its representation, not a tombstone. A
domain added later whose world recipe records a new resource type fails here until the feed
reads it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from projekt.core.record import Event
from tests.factories import Factory
from tests.test_authz import OTHER_ROLES, World, build_world


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


# What a GET shows beyond the feed's representation: an issue's comments (the feed shows them
# as their own changes), the ETag field of a comment and of a team member.
MORE_IN_GET = {"issue": {"comments"}, "comment": {"etag"}, "membership": {"etag"}}


def _get_path(world: World, kind: str, resource: dict[str, Any]) -> str:
    """The REST GET that answers this resource (the feed shows what it shows)."""
    project = f"/api/projects/{world.project_id}"
    paths = {
        "issue": f"/api/issues/{resource.get('id')}",
        "comment": f"/api/issues/{resource.get('issue_id')}/comments/{resource.get('id')}",
        "project": f"/api/projects/{resource.get('id')}",
        "project_member": f"{project}/members/{resource.get('user_id')}",
        "sprint": f"/api/sprints/{resource.get('id')}",
        "milestone": f"{project}/milestones/{resource.get('id')}",
        "doc": f"{project}/docs/{resource.get('id')}",
        "org": f"/api/orgs/{resource.get('id')}",
        "membership": "/api/team",  # no GET of one: its entry in the list
        "invitation": f"/api/orgs/invitations/{resource.get('id')}",
        "api_key": f"/api/api-keys/{resource.get('id')}",
        "time_entry": f"/api/time-entries/{resource.get('id')}",
        "webhook": f"/api/webhooks/{resource.get('id')}",
    }
    return paths[kind]


async def test_the_feed_shows_each_resource_as_its_get_answers_it(app: FastAPI) -> None:
    """Each domain's batched reader (its ``feed.py``) answers the REST GET's representation:
    every field of the GET but those of ``MORE_IN_GET``, with the GET's value."""
    factory = Factory(app)
    people = {role.value: await factory.person() for role in OTHER_ROLES}
    people["owner"] = await factory.person()
    world = await build_world(factory, people)
    owner = people["owner"]
    headers = owner.headers(world.org.id)
    feed = await owner.client.get("/api/changes?limit=200", headers=headers)
    assert feed.status_code == 200, feed.text
    seen: set[str] = set()
    for change in feed.json()["data"]:
        kind, resource = change["resource_type"], change["resource"]
        assert resource is not None, change
        answer = await owner.client.get(_get_path(world, kind, resource), headers=headers)
        assert answer.status_code == 200, (kind, answer.text)
        body = answer.json()
        if kind == "membership":
            body = next(m for m in body if m["employee_id"] == resource["employee_id"])
        assert {name: body.get(name) for name in resource} == resource, kind
        assert set(body) - set(resource) == MORE_IN_GET.get(kind, set()), kind
        seen.add(kind)
    assert {"issue", "comment", "project", "sprint", "milestone", "doc"} <= seen
