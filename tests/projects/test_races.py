"""Projects under concurrency: If-Match under the row lock, updates racing deletes."""

from __future__ import annotations

from typing import Any

from tests.factories import Factory
from tests.races import race_update_and_delete, together


async def test_parallel_patches_with_one_if_match_have_one_winner(factory: Factory) -> None:
    org = await factory.org()
    owner, headers = org.owner, org.owner.headers(org.id)
    project = await factory.project(org)
    url = f"/api/projects/{project.id}"
    etag = (await owner.client.get(url, headers=headers)).headers["etag"]
    answers = await together(
        *(
            owner.client.patch(url, json={"name": f"N{n}"}, headers={**headers, "If-Match": etag})
            for n in range(10)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] + [412] * 9, [a.text for a in answers]
    columns = await owner.client.put(
        f"{url}/columns",
        json=[{"name": "Open", "category": "todo"}],
        headers={**headers, "If-Match": etag},
    )
    assert columns.status_code == 412


async def test_an_update_racing_a_delete_answers_404_not_500(factory: Factory) -> None:
    org = await factory.org()
    owner, headers = org.owner, org.owner.headers(org.id)

    async def make() -> Any:
        return await factory.project(org)

    await race_update_and_delete(
        make,
        lambda p: owner.client.patch(
            f"/api/projects/{p.id}", json={"description": "Changed"}, headers=headers
        ),
        lambda p: owner.client.delete(f"/api/projects/{p.id}", headers=headers),
    )
