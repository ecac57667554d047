"""Milestones: CRUD, same-project issues, progress computed in a constant number of statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from projekt.core.context import Role
from tests.factories import Factory, Org, Person
from tests.support import count_statements


async def _world(factory: Factory) -> tuple[Org, Person, dict[str, str], str]:
    org = await factory.org(roles=(Role.MANAGER, Role.MEMBER))
    project = await factory.project(org, key="REL")
    manager = org.members[Role.MANAGER]
    return org, manager, manager.headers(org.id), str(project.id)


async def _milestone(person: Person, headers: dict[str, str], project_id: str, **body: Any) -> Any:
    response = await person.client.post(
        f"/api/projects/{project_id}/milestones", json={"name": "v1.0", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_fields_progress_and_overdue(factory: Factory) -> None:
    org, manager, headers, project_id = await _world(factory)
    past = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
    milestone = await _milestone(
        manager, headers, project_id, target_date=past, version="1.0.0", description="First"
    )
    assert set(milestone) == {
        "id", "name", "description", "target_date", "status", "version", "project_id",
        "created_by_id", "issue_count", "completed_issue_count", "progress", "days_remaining",
        "overdue", "created_at", "updated_at",
    }  # fmt: skip
    assert milestone["status"] == "planning"
    assert milestone["overdue"] is True
    assert milestone["days_remaining"] == -3
    for status in ("Done", "Backlog", "Backlog", "Done"):
        response = await manager.client.post(
            "/api/issues",
            json={
                "project_id": project_id,
                "title": "t",
                "status": status,
                "milestone_id": milestone["id"],
            },
            headers=headers,
        )
        assert response.status_code == 201
    url = f"/api/projects/{project_id}/milestones/{milestone['id']}"
    got = (await manager.client.get(url, headers=headers)).json()
    assert (got["issue_count"], got["completed_issue_count"], got["progress"]) == (4, 2, 50.0)
    closed = await manager.client.patch(url, json={"status": "completed"}, headers=headers)
    assert closed.json()["overdue"] is False
    member = org.members[Role.MEMBER]
    denied = await member.client.patch(url, json={"name": "x"}, headers=member.headers(org.id))
    assert denied.status_code == 403


async def test_issue_references_stay_in_the_project(factory: Factory) -> None:
    org, manager, headers, project_id = await _world(factory)
    other = await factory.project(org, key="ELSE")
    foreign = await _milestone(manager, headers, str(other.id))
    response = await manager.client.post(
        "/api/issues",
        json={"project_id": project_id, "title": "t", "milestone_id": foreign["id"]},
        headers=headers,
    )
    assert response.status_code == 422
    assert "milestone_id" in response.json()["errors"]


async def test_list_filters_and_counts_in_constant_statements(
    app: FastAPI, factory: Factory
) -> None:
    org, manager, headers, project_id = await _world(factory)
    counts = []
    for n in (1, 6):
        while (
            len(
                (
                    await manager.client.get(
                        f"/api/projects/{project_id}/milestones", headers=headers
                    )
                ).json()
            )
            < n
        ):
            m = await _milestone(manager, headers, project_id, status="active")
            body = {"project_id": project_id, "title": "t", "milestone_id": m["id"]}
            await manager.client.post("/api/issues", json=body, headers=headers)
        with count_statements(app) as statements:
            listed = await manager.client.get(
                f"/api/projects/{project_id}/milestones", headers=headers
            )
        assert len(listed.json()) == n
        assert all(m["issue_count"] == 1 for m in listed.json())
        counts.append(len(statements))
    assert counts[0] == counts[1]
    planning = await manager.client.get(
        f"/api/projects/{project_id}/milestones", params={"status": "planning"}, headers=headers
    )
    assert planning.json() == []


async def test_delete_releases_its_issues(factory: Factory) -> None:
    org, manager, headers, project_id = await _world(factory)
    milestone = await _milestone(manager, headers, project_id)
    issue = await manager.client.post(
        "/api/issues",
        json={"project_id": project_id, "title": "t", "milestone_id": milestone["id"]},
        headers=headers,
    )
    etag = (await manager.client.get(f"/api/issues/{issue.json()['id']}", headers=headers)).headers[
        "etag"
    ]
    url = f"/api/projects/{project_id}/milestones/{milestone['id']}"
    assert (await manager.client.delete(url, headers=headers)).status_code == 204
    after = await manager.client.get(
        f"/api/issues/{issue.json()['id']}", headers={**headers, "If-None-Match": etag}
    )
    assert after.status_code == 200
    assert after.json()["milestone_id"] is None
    assert (await manager.client.get(url, headers=headers)).status_code == 404
