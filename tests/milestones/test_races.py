"""Milestones under concurrency: If-Match under the row lock, updates racing deletes."""

from __future__ import annotations

from typing import Any

from projekt.core.context import Role
from tests.factories import Factory
from tests.races import race_update_and_delete, together


async def test_parallel_patches_with_one_if_match_and_updates_racing_deletes(
    factory: Factory,
) -> None:
    org = await factory.org(roles=(Role.MANAGER,))
    manager = org.members[Role.MANAGER]
    headers = manager.headers(org.id)
    project = await factory.project(org)
    base = f"/api/projects/{project.id}/milestones"

    async def make() -> Any:
        response = await manager.client.post(base, json={"name": "v1.0"}, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    milestone = await make()
    url = f"{base}/{milestone['id']}"
    etag = (await manager.client.get(url, headers=headers)).headers["etag"]
    answers = await together(
        *(
            manager.client.patch(
                url, json={"name": f"v1.{n}"}, headers={**headers, "If-Match": etag}
            )
            for n in range(10)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] + [412] * 9, [a.text for a in answers]
    stale = await manager.client.delete(url, headers={**headers, "If-Match": etag})
    assert stale.status_code == 412

    await race_update_and_delete(
        make,
        lambda m: manager.client.patch(
            f"{base}/{m['id']}", json={"status": "active"}, headers=headers
        ),
        lambda m: manager.client.delete(f"{base}/{m['id']}", headers=headers),
    )
