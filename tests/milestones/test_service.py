"""A milestone's delete moves its issues as issue writes do: versions, validators, activity."""

from __future__ import annotations

from projekt.core.context import Role
from tests.factories import Factory


async def test_delete_records_activity_on_its_issues(factory: Factory) -> None:
    org = await factory.org(roles=(Role.MANAGER,))
    project = await factory.project(org, key="ACT")
    manager = org.members[Role.MANAGER]
    headers = manager.headers(org.id)
    created = await manager.client.post(
        f"/api/projects/{project.id}/milestones", json={"name": "v1"}, headers=headers
    )
    milestone = created.json()
    issues = []
    for title in ("a", "b"):
        response = await manager.client.post(
            "/api/issues",
            json={"project_id": str(project.id), "title": title, "milestone_id": milestone["id"]},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        issues.append(response.json())
    url = f"/api/projects/{project.id}/milestones/{milestone['id']}"
    assert (await manager.client.delete(url, headers=headers)).status_code == 204
    for issue in issues:
        activity = (
            await manager.client.get(f"/api/issues/{issue['id']}/activity", headers=headers)
        ).json()
        assert [a["type"] for a in activity] == ["issue.created", "issue.updated"]
        assert activity[1]["changes"] == {"milestone_id": [milestone["id"], None]}
        assert activity[1]["actor_id"] == str(manager.user_id)
