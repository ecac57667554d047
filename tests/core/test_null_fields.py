"""``null`` means one thing (API.md §2): it clears a nullable field; any other field refuses it.

A sweep over every ``PUT``/``PATCH`` route of the app: each field of its body model is sent as
``null`` against a real resource whose nullable fields hold values. Nullable (in the served
spec) → 200 and the field reads back ``null``; otherwise → 422 naming the field, and nothing
changes. A write route added later without a resource here fails the sweep.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from projekt.core.context import Role
from tests.factories import Factory, Org, Person


@dataclass
class Target:
    path: str
    person: Person
    org: Org


Maker = Callable[[Factory], Awaitable[Target]]


async def _seeded(factory: Factory) -> tuple[Org, dict[str, Any]]:
    """An org with a project, a sprint, a milestone, an issue and a doc whose every field is set."""
    org = await factory.org(roles=(Role.MEMBER,))
    owner = org.owner
    h = owner.headers(org.id)
    project = (
        await owner.client.post(
            "/api/projects",
            json={
                "key": "N" + uuid.uuid4().hex[:5].upper().replace("0", "A"),
                "name": "Nulls",
                "description": "d",
                "lead_id": str(owner.user_id),
            },
            headers=h,
        )
    ).json()
    pid = project["id"]
    sprint = (
        await owner.client.post(
            "/api/sprints",
            json={
                "project_id": pid,
                "name": "S",
                "goal": "g",
                "start_date": "2026-01-05",
                "end_date": "2026-01-16",
            },
            headers=h,
        )
    ).json()
    milestone = (
        await owner.client.post(
            f"/api/projects/{pid}/milestones",
            json={"name": "M", "description": "d", "target_date": "2026-02-01", "version": "1"},
            headers=h,
        )
    ).json()
    parent = (
        await owner.client.post("/api/issues", json={"project_id": pid, "title": "P"}, headers=h)
    ).json()
    issue = (
        await owner.client.post(
            "/api/issues",
            json={
                "project_id": pid,
                "title": "I",
                "description": "d",
                "assignee_id": str(owner.user_id),
                "labels": ["a"],
                "estimated_hours": 3,
                "sprint_id": sprint["id"],
                "milestone_id": milestone["id"],
                "parent_id": parent["id"],
                "due_date": "2026-01-10",
                "external_ref": "x-1",
            },
            headers=h,
        )
    ).json()
    comment = (
        await owner.client.post(
            f"/api/issues/{issue['id']}/comments", json={"text": "c"}, headers=h
        )
    ).json()
    entry = (
        await owner.client.post(
            "/api/time-entries",
            json={
                "minutes": 30,
                "entry_date": "2026-01-05",
                "project_id": pid,
                "issue_id": issue["id"],
                "description": "d",
            },
            headers=h,
        )
    ).json()
    ids = {"project": pid, "sprint": sprint, "milestone": milestone, "issue": issue}
    ids["comment"] = comment
    ids["time_entry"] = entry
    webhook = await owner.client.post(
        "/api/webhooks",
        json={
            "url": "http://127.0.0.1:9/n",
            "events": ["*"],
            "project_id": pid,
            "description": "d",
            "active": False,
        },
        headers=h,
    )
    ids["webhook"] = webhook.json()["id"]
    parent_doc = (
        await owner.client.post(f"/api/projects/{pid}/docs", json={"title": "P"}, headers=h)
    ).json()
    doc = (
        await owner.client.post(
            f"/api/projects/{pid}/docs",
            json={"title": "D", "icon": "📘", "parent_doc_id": parent_doc["id"], "position": 2,
                  "markdown": "Text"},
            headers=h,
        )
    ).json()  # fmt: skip
    ids["doc"] = doc
    return org, ids


def _maker(build: Callable[[Org, dict[str, Any]], str]) -> Maker:
    async def make(factory: Factory) -> Target:
        org, ids = await _seeded(factory)
        return Target(build(org, ids), org.owner, org)

    return make


MAKERS: dict[str, Maker] = {
    "update_org": _maker(lambda org, _: f"/api/orgs/{org.id}"),
    "update_webhook": _maker(lambda _, ids: f"/api/webhooks/{ids['webhook']}"),
    "change_member_role": _maker(lambda org, _: f"/api/team/{org.employee_ids[Role.MEMBER]}"),
    "replace_project": _maker(lambda _, ids: f"/api/projects/{ids['project']}"),
    "update_project": _maker(lambda _, ids: f"/api/projects/{ids['project']}"),
    "replace_issue": _maker(lambda _, ids: f"/api/issues/{ids['issue']['id']}"),
    "update_issue": _maker(lambda _, ids: f"/api/issues/{ids['issue']['id']}"),
    "edit_comment": _maker(
        lambda _, ids: f"/api/issues/{ids['issue']['id']}/comments/{ids['comment']['id']}"
    ),
    "replace_sprint": _maker(lambda _, ids: f"/api/sprints/{ids['sprint']['id']}"),
    "update_sprint": _maker(lambda _, ids: f"/api/sprints/{ids['sprint']['id']}"),
    "replace_milestone": _maker(
        lambda _, ids: f"/api/projects/{ids['project']}/milestones/{ids['milestone']['id']}"
    ),
    "update_milestone": _maker(
        lambda _, ids: f"/api/projects/{ids['project']}/milestones/{ids['milestone']['id']}"
    ),
    "replace_time_entry": _maker(lambda _, ids: f"/api/time-entries/{ids['time_entry']['id']}"),
    "update_time_entry": _maker(lambda _, ids: f"/api/time-entries/{ids['time_entry']['id']}"),
    "replace_doc": _maker(lambda _, ids: f"/api/projects/{ids['project']}/docs/{ids['doc']['id']}"),
    "update_doc": _maker(lambda _, ids: f"/api/projects/{ids['project']}/docs/{ids['doc']['id']}"),
}


def update_routes(app: FastAPI) -> list[tuple[APIRoute, str, type[BaseModel] | None]]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or route.body_field is None:
            continue
        for method in sorted((route.methods or set()) & {"PUT", "PATCH"}):
            model = route.body_field.field_info.annotation
            found.append((route, method, model if isinstance(model, type) else None))
    return found


def _nullable(spec: dict[str, Any], model: type[BaseModel], field: str) -> bool:
    prop = spec["components"]["schemas"][model.__name__]["properties"][field]
    return any(branch.get("type") == "null" for branch in prop.get("anyOf", [prop]))


async def test_null_clears_exactly_the_nullable_fields(app: FastAPI, factory: Factory) -> None:
    spec: dict[str, Any] = app.state.openapi.document()
    routes = update_routes(app)
    assert len(routes) >= 10
    checked = 0
    for route, method, model in routes:
        if model is None:
            continue  # a list body (board columns): no field can be null on its own
        assert route.name in MAKERS, f"{route.name}: add a resource to the null sweep"
        target = await MAKERS[route.name](factory)
        client, headers = target.person.client, target.person.headers(target.org.id)
        for field in model.model_fields:
            before = await client.get(target.path, headers=headers)
            response = await client.request(
                method, target.path, json={field: None}, headers=headers
            )
            if _nullable(spec, model, field):
                assert response.status_code == 200, (route.name, field, response.text)
                assert response.json()[field] is None, (route.name, field)
            else:
                assert response.status_code == 422, (route.name, field, response.text)
                assert field in response.json()["errors"], (route.name, field)
                message = response.json()["errors"][field]
                assert message == [f"The {field} field cannot be null"], message
                after = await client.get(target.path, headers=headers)
                if before.status_code == 200:
                    assert after.json() == before.json(), (route.name, field)
            checked += 1
    assert checked > 40
