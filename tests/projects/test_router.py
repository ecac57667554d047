"""Projects: CRUD, private visibility, columns, members, ETags (API.md §4–5)."""

from __future__ import annotations

from typing import Any

from projekt.core.context import Role
from tests.factories import Factory, Org, Person


async def _create(person: Person, org: Org, **body: Any) -> Any:
    payload = {"key": "WEB", "name": "Website redesign", **body}
    return await person.client.post("/api/projects", json=payload, headers=person.headers(org.id))


async def test_create_read_update_delete(factory: Factory) -> None:
    org = await factory.org(roles=(Role.MANAGER, Role.MEMBER))
    manager = org.members[Role.MANAGER]
    created = await _create(manager, org, description="New site")
    assert created.status_code == 201, created.text
    project = created.json()
    assert created.headers["location"] == f"/api/projects/{project['id']}"
    assert created.headers["etag"]
    assert [c["name"] for c in project["columns"]] == [
        "Backlog",
        "To Do",
        "In Progress",
        "In Review",
        "Done",
    ]
    assert [c["category"] for c in project["columns"]] == [
        "todo",
        "todo",
        "in_progress",
        "in_progress",
        "done",
    ]
    assert project["visibility"] == "org"
    assert project["status"] == "active"
    assert project["lead_id"] == str(manager.user_id)
    dup = await _create(manager, org)
    assert dup.status_code == 409
    assert dup.json()["code"] == "project_key_taken"
    member = org.members[Role.MEMBER]
    assert (await _create(member, org, key="NOPE")).status_code == 403
    url = f"/api/projects/{project['id']}"
    got = await member.client.get(url, headers=member.headers(org.id))
    assert got.json() == project
    put = await manager.client.put(
        url, json={"name": "Renamed", "description": None}, headers=manager.headers(org.id)
    )
    assert put.status_code == 200
    assert put.json()["name"] == "Renamed"
    assert put.json()["description"] is None
    assert put.json()["key"] == "WEB"
    bad = await manager.client.patch(url, json={"key": "bad key"}, headers=manager.headers(org.id))
    assert bad.status_code == 422
    assert (await manager.client.delete(url, headers=manager.headers(org.id))).status_code == 204
    assert (await manager.client.get(url, headers=manager.headers(org.id))).status_code == 404


async def test_validation_and_server_owned_fields(factory: Factory) -> None:
    org = await factory.org()
    owner = org.owner
    response = await _create(owner, org, key="w", id="x", org_id=str(org.id))
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"key", "id", "org_id"}
    stranger = await factory.person()
    lead = await _create(owner, org, key="LEAD", lead_id=str(stranger.user_id))
    assert lead.status_code == 422
    assert "lead_id" in lead.json()["errors"]


async def test_private_projects(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN, Role.MANAGER, Role.MEMBER))
    manager, member, admin = (org.members[r] for r in (Role.MANAGER, Role.MEMBER, Role.ADMIN))
    secret = (await _create(manager, org, key="SEC", visibility="private")).json()
    url = f"/api/projects/{secret['id']}"
    assert (await member.client.get(url, headers=member.headers(org.id))).status_code == 404
    listed = await member.client.get("/api/projects", headers=member.headers(org.id))
    assert secret["id"] not in listed.text
    assert (await admin.client.get(url, headers=admin.headers(org.id))).status_code == 200
    assert (await manager.client.get(url, headers=manager.headers(org.id))).status_code == 200
    added = await manager.client.post(
        f"{url}/members", json={"user_id": str(member.user_id)}, headers=manager.headers(org.id)
    )
    assert added.status_code == 201
    assert added.json()["user_id"] == str(member.user_id)
    assert (await member.client.get(url, headers=member.headers(org.id))).status_code == 200
    members = await member.client.get(f"{url}/members", headers=member.headers(org.id))
    assert {m["user_id"] for m in members.json()} == {str(manager.user_id), str(member.user_id)}
    removed = await manager.client.delete(
        f"{url}/members", params={"user_id": str(member.user_id)}, headers=manager.headers(org.id)
    )
    assert removed.status_code == 204
    assert (await member.client.get(url, headers=member.headers(org.id))).status_code == 404
    outsider = await factory.person()
    not_member = await manager.client.post(
        f"{url}/members", json={"user_id": str(outsider.user_id)}, headers=manager.headers(org.id)
    )
    assert not_member.status_code == 422


async def test_columns_rename_carries_issues_and_removal_is_guarded(factory: Factory) -> None:
    org = await factory.org()
    owner = org.owner
    headers = owner.headers(org.id)
    project = (await _create(owner, org, key="COL")).json()
    url = f"/api/projects/{project['id']}/columns"
    issue = await owner.client.post(
        "/api/issues",
        json={"project_id": project["id"], "title": "t", "status": "to do"},
        headers=headers,
    )
    assert issue.json()["status"] == "To Do"
    columns = (await owner.client.get(url, headers=headers)).json()
    columns[1]["name"] = "Ready"
    renamed = await owner.client.put(url, json=columns, headers=headers)
    assert renamed.status_code == 200
    assert renamed.json()[1] == {"key": "todo", "name": "Ready", "category": "todo", "position": 1}
    moved = await owner.client.get(f"/api/issues/{issue.json()['id']}", headers=headers)
    assert moved.json()["status"] == "Ready"
    without = [c for c in renamed.json() if c["key"] != "todo"]
    guarded = await owner.client.put(url, json=without, headers=headers)
    assert guarded.status_code == 409
    assert guarded.json()["code"] == "column_in_use"
    dup = await owner.client.put(url, json=[*without, {"name": "done"}], headers=headers)
    assert dup.status_code == 422
    extra = await owner.client.put(
        url, json=[*renamed.json(), {"name": "QA", "category": "in_progress"}], headers=headers
    )
    assert [c["name"] for c in extra.json()][-1] == "QA"
    schema = await owner.client.get(
        "/api/issue_schema", params={"project_id": project["id"]}, headers=headers
    )
    assert [s["name"] for s in schema.json()["statuses"]][-1] == "QA"


async def test_etags_and_if_match(factory: Factory) -> None:
    org = await factory.org()
    owner = org.owner
    headers = owner.headers(org.id)
    project = await _create(owner, org, key="TAG")
    url = f"/api/projects/{project.json()['id']}"
    got = await owner.client.get(url, headers=headers)
    etag = got.headers["etag"]
    assert etag == project.headers["etag"]
    assert etag.startswith('"')
    cached = await owner.client.get(url, headers={**headers, "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    changed = await owner.client.patch(
        url, json={"name": "One"}, headers={**headers, "If-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    stale = await owner.client.patch(
        url, json={"name": "Two"}, headers={**headers, "If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    assert (await owner.client.get(url, headers=headers)).json()["name"] == "One"
    stale_delete = await owner.client.delete(url, headers={**headers, "If-Match": etag})
    assert stale_delete.status_code == 412
    listing = await owner.client.get("/api/projects", headers=headers)
    again = await owner.client.get(
        "/api/projects", headers={**headers, "If-None-Match": listing.headers["etag"]}
    )
    assert again.status_code == 304


async def test_projects_list_shapes(factory: Factory) -> None:
    org = await factory.org()
    owner = org.owner
    for key in ("AAA", "BBB", "CCC"):
        await _create(owner, org, key=key, name=f"P {key}")
    plain = await owner.client.get("/api/projects", headers=owner.headers(org.id))
    assert plain.headers["x-total-count"] == "3"
    assert [p["key"] for p in plain.json()] == ["AAA", "BBB", "CCC"]
    paged = await owner.client.get(
        "/api/projects", params={"per_page": 2, "sort": "-key"}, headers=owner.headers(org.id)
    )
    body = paged.json()
    assert [p["key"] for p in body["data"]] == ["CCC", "BBB"]
    assert body["meta"] == {
        "total": 3,
        "page": 1,
        "per_page": 2,
        "pages": 2,
        "limit": 2,
        "offset": 0,
    }
    bad = await owner.client.get(
        "/api/projects", params={"sort": "secret"}, headers=owner.headers(org.id)
    )
    assert bad.status_code == 400
