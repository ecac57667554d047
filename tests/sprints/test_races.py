"""Sprints under concurrency and abuse: conditional state changes, If-Match under the lock,
updates racing deletes, and bounded sprint length (burndown and capacity stay cheap)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from projekt.core.context import Role
from projekt.sprints.models import Sprint
from projekt.sprints.service import working_days
from tests.factories import Factory, Org, Person
from tests.races import race_update_and_delete, together


async def _world(factory: Factory) -> tuple[Org, Person, dict[str, str], str]:
    org = await factory.org(roles=(Role.MANAGER,))
    project = await factory.project(org)
    manager = org.members[Role.MANAGER]
    return org, manager, manager.headers(org.id), str(project.id)


async def _sprint(
    person: Person, headers: dict[str, str], project_id: str, start: date, end: date
) -> Any:
    return await person.client.post(
        "/api/sprints",
        json={
            "project_id": project_id,
            "name": "Sprint",
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
        },
        headers=headers,
    )


async def _planned(person: Person, headers: dict[str, str], project_id: str) -> Any:
    response = await _sprint(person, headers, project_id, date(2027, 3, 1), date(2027, 3, 14))
    assert response.status_code == 201, response.text
    return response.json()


async def test_concurrent_starts_of_one_sprint_have_one_winner(factory: Factory) -> None:
    org, manager, headers, project_id = await _world(factory)
    for _ in range(5):
        sprint = await _planned(manager, headers, project_id)
        url = f"/api/sprints/{sprint['id']}"
        answers = await together(
            *(manager.client.post(f"{url}/start", headers=headers) for _ in range(4))
        )
        assert sorted(a.status_code for a in answers) == [200, 409, 409, 409], [
            a.text for a in answers
        ]
        assert {a.json()["code"] for a in answers if a.status_code == 409} == {"sprint_state"}
        completed = await together(
            *(manager.client.post(f"{url}/complete", json={}, headers=headers) for _ in range(4))
        )
        assert sorted(a.status_code for a in completed) == [200, 409, 409, 409]
        activity = await manager.client.get(url, headers=headers)
        assert activity.json()["state"] == "completed"


async def test_parallel_patches_with_one_if_match_have_one_winner(factory: Factory) -> None:
    org, manager, headers, project_id = await _world(factory)
    sprint = await _planned(manager, headers, project_id)
    url = f"/api/sprints/{sprint['id']}"
    etag = (await manager.client.get(url, headers=headers)).headers["etag"]
    answers = await together(
        *(
            manager.client.patch(url, json={"goal": f"g{n}"}, headers={**headers, "If-Match": etag})
            for n in range(10)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] + [412] * 9
    stale = {**headers, "If-Match": etag}
    assert (await manager.client.post(f"{url}/start", headers=stale)).status_code == 412
    assert (await manager.client.delete(url, headers=stale)).status_code == 412
    assert (await manager.client.get(url, headers=headers)).json()["state"] == "planned"


async def test_an_update_racing_a_delete_answers_404_not_500(factory: Factory) -> None:
    org, manager, headers, project_id = await _world(factory)
    await race_update_and_delete(
        lambda: _planned(manager, headers, project_id),
        lambda s: manager.client.patch(
            f"/api/sprints/{s['id']}", json={"goal": "Renamed"}, headers=headers
        ),
        lambda s: manager.client.delete(f"/api/sprints/{s['id']}", headers=headers),
    )


async def test_sprint_length_is_bounded(factory: Factory) -> None:
    org, manager, headers, project_id = await _world(factory)
    huge = await _sprint(manager, headers, project_id, date(1, 1, 1), date(9999, 12, 31))
    assert huge.status_code == 422
    assert huge.json()["code"] == "validation_failed"
    assert "end_date" in huge.json()["errors"]
    year = await _sprint(manager, headers, project_id, date(2028, 1, 1), date(2028, 12, 31))
    assert year.status_code == 201, year.text  # 366 days: the default bound
    longer = await _sprint(manager, headers, project_id, date(2027, 1, 1), date(2028, 1, 2))
    assert longer.status_code == 422
    url = f"/api/sprints/{year.json()['id']}"
    stretched = await manager.client.patch(url, json={"end_date": "9999-12-31"}, headers=headers)
    assert stretched.status_code == 422
    assert "end_date" in stretched.json()["errors"]
    moved = await manager.client.patch(url, json={"start_date": "0001-01-01"}, headers=headers)
    assert moved.status_code == 422


async def test_a_long_sprint_stored_before_the_bound_stays_cheap(factory: Factory) -> None:
    org, manager, headers, project_id = await _world(factory)
    now = datetime.now(UTC)
    sprint_id = uuid.uuid4()
    async with factory.services.db.session() as session:
        session.add(
            Sprint(
                id=sprint_id,
                org_id=org.id,
                project_id=uuid.UUID(project_id),
                name="Legacy",
                start_date=date(2020, 1, 1),
                end_date=date(2029, 12, 31),
                state="planned",
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
    url = f"/api/sprints/{sprint_id}"
    burndown = await manager.client.get(f"{url}/burndown", headers=headers)
    assert burndown.status_code == 200
    assert len(burndown.json()["points"]) == factory.services.settings.max_sprint_days
    capacity = await manager.client.get(f"{url}/capacity", headers=headers)
    assert capacity.json()["working_days"] == working_days(date(2020, 1, 1), date(2029, 12, 31))


def test_working_days_are_counted_like_a_calendar() -> None:
    for offset in range(7):
        start = date(2027, 1, 4) + timedelta(days=offset)
        for length in range(0, 30):
            end = start + timedelta(days=length)
            expected = sum(
                1 for n in range(length + 1) if (start + timedelta(days=n)).weekday() < 5
            )
            assert working_days(start, end) == expected, (start, end)
    assert (
        working_days(date(1, 1, 1), date(9999, 12, 31)) == 2_608_615
    )  # as counted day by day in the report
