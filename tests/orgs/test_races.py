"""Orgs under concurrency: a single-use join code joins exactly once (both databases)."""

from __future__ import annotations

from typing import Any

from projekt.core.context import Role
from tests.factories import Factory
from tests.races import race_update_and_delete, together


async def test_concurrent_joins_with_one_code_join_once(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN,))
    admin = org.members[Role.ADMIN]
    for _ in range(3):
        invite = await admin.client.post(
            "/api/orgs/invitations", json={"role": "member"}, headers=admin.headers(org.id)
        )
        assert invite.status_code == 201, invite.text
        code = invite.json()["code"]
        joiners = [await factory.person() for _ in range(5)]
        answers = await together(
            *(
                p.client.post("/api/orgs/join", json={"code": code}, headers=p.headers())
                for p in joiners
            )
        )
        assert sorted(a.status_code for a in answers) == [200, 404, 404, 404, 404], [
            a.text for a in answers
        ]
        joined = [p for p, a in zip(joiners, answers, strict=True) if a.status_code == 200]
        team = await admin.client.get("/api/team", headers=admin.headers(org.id))
        member_ids = {m["user_id"] for m in team.json()}
        assert {str(p.user_id) for p in joiners} & member_ids == {str(joined[0].user_id)}


async def test_an_org_update_racing_its_delete_answers_404_not_500(factory: Factory) -> None:
    owner = await factory.person()

    async def make() -> Any:
        return await factory.org(owner)

    await race_update_and_delete(
        make,
        lambda org: owner.client.patch(
            f"/api/orgs/{org.id}", json={"name": "Renamed"}, headers=owner.headers(org.id)
        ),
        lambda org: owner.client.delete(f"/api/orgs/{org.id}", headers=owner.headers(org.id)),
        rounds=10,
    )
