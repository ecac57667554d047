"""Issues under concurrency: If-Match checked under the row lock, updates racing deletes,
bulk writes on one issue, and out-of-range keys."""

from __future__ import annotations

from typing import Any

from projekt.core.context import Role
from tests.factories import Factory, Org, Person
from tests.races import race_update_and_delete, together


async def _setup(factory: Factory) -> tuple[Org, Person, dict[str, str], str]:
    org = await factory.org(roles=(Role.MEMBER,))
    project = await factory.project(org)
    member = org.members[Role.MEMBER]
    return org, member, member.headers(org.id), str(project.id)


async def _issue(person: Person, headers: dict[str, str], project_id: str, **body: Any) -> Any:
    response = await person.client.post(
        "/api/issues", json={"project_id": project_id, "title": "An issue", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_parallel_patches_with_one_if_match_have_one_winner(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id)
    url = f"/api/issues/{issue['id']}"
    etag = (await member.client.get(url, headers=headers)).headers["etag"]
    answers = await together(
        *(
            member.client.patch(
                url, json={"title": f"Title {n}"}, headers={**headers, "If-Match": etag}
            )
            for n in range(20)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [412] * 19, [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200)
    assert all(a.json()["code"] == "precondition_failed" for a in answers if a is not winner)
    now = await member.client.get(url, headers=headers)
    assert now.json()["title"] == winner.json()["title"]
    assert now.headers["etag"] == winner.headers["etag"]
    activity = await member.client.get(f"{url}/activity", headers=headers)
    assert [a["action"] for a in activity.json()].count("updated") == 1


async def test_parallel_transitions_with_one_if_match_have_one_winner(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id)
    url = f"/api/issues/{issue['id']}"
    etag = (await member.client.get(url, headers=headers)).headers["etag"]
    statuses = ["To Do", "In Progress", "In Review", "Done"] * 3
    answers = await together(
        *(
            member.client.post(
                f"{url}/transition", json={"status": s}, headers={**headers, "If-Match": etag}
            )
            for s in statuses
        )
    )
    assert sorted(a.status_code for a in answers) == [200] + [412] * 11


async def test_every_write_of_an_issue_checks_if_match(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id)
    url = f"/api/issues/{issue['id']}"
    stale = (await member.client.get(url, headers=headers)).headers["etag"]
    fresh = (await member.client.patch(url, json={"title": "Moved on"}, headers=headers)).headers[
        "etag"
    ]
    precondition = {**headers, "If-Match": stale}
    for method, path, body in (
        ("PUT", url, {"title": "x"}),
        ("PATCH", url, {"title": "x"}),
        ("POST", f"{url}/transition", {"status": "Done"}),
        ("POST", f"{url}/archive", None),
        ("POST", f"{url}/unarchive", None),
        ("DELETE", url, None),
    ):
        answer = await member.client.request(method, path, json=body, headers=precondition)
        assert answer.status_code == 412, (method, path, answer.text)
    now = await member.client.get(url, headers=headers)
    assert now.headers["etag"] == fresh  # nothing was written
    archived = await member.client.post(f"{url}/archive", headers={**headers, "If-Match": fresh})
    assert archived.status_code == 200
    assert archived.json()["archived"] is True


async def test_an_update_racing_a_delete_answers_404_not_500(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)

    async def make() -> Any:
        return await _issue(member, headers, project_id)

    outcomes = await race_update_and_delete(
        make,
        lambda i: member.client.patch(
            f"/api/issues/{i['id']}", json={"title": "Renamed"}, headers=headers
        ),
        lambda i: member.client.delete(f"/api/issues/{i['id']}", headers=headers),
    )
    assert outcomes


async def test_a_comment_edit_racing_its_delete_answers_404_not_500(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id)
    comments = f"/api/issues/{issue['id']}/comments"

    async def make() -> Any:
        response = await member.client.post(comments, json={"text": "First"}, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    await race_update_and_delete(
        make,
        lambda c: member.client.patch(
            f"{comments}/{c['id']}", json={"text": "Edited"}, headers=headers
        ),
        lambda c: member.client.delete(f"{comments}/{c['id']}", headers=headers),
    )


async def test_concurrent_comments_on_one_issue_all_land(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id)
    comments = f"/api/issues/{issue['id']}/comments"
    answers = await together(
        *(member.client.post(comments, json={"text": f"c{n}"}, headers=headers) for n in range(10))
    )
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
    assert len((await member.client.get(comments, headers=headers)).json()) == 10


async def test_concurrent_bulk_add_label_keeps_every_label(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id)
    answers = await together(
        *(
            member.client.post(
                "/api/issues/bulk",
                json={"issue_ids": [issue["id"]], "action": "add_label", "value": f"label-{n}"},
                headers=headers,
            )
            for n in range(25)
        )
    )
    assert [a.status_code for a in answers] == [200] * 25, [a.text for a in answers]
    now = await member.client.get(f"/api/issues/{issue['id']}", headers=headers)
    assert sorted(now.json()["labels"]) == sorted(f"label-{n}" for n in range(25))


async def test_a_key_past_the_number_column_is_404(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id)
    prefix = issue["key"].rsplit("-", 1)[0]
    for number in ("2147483648", "9999999999"):
        response = await member.client.get(f"/api/issues/{prefix}-{number}", headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "issue_not_found"


async def test_concurrent_updates_that_look_up_references_never_wait_on_each_other(
    factory: Factory,
) -> None:
    """On SQLite a writer holds the write lock from its BEGIN: its reference look-ups must not
    need a second pool connection, which writers queued behind that lock could all be holding."""
    org, member, headers, project_id = await _setup(factory)
    issues = [await _issue(member, headers, project_id) for _ in range(5)]
    calls = []
    for n in range(40):
        url = f"/api/issues/{issues[n % 5]['id']}"
        body = {"assignee_id": str(member.user_id), "title": f"t{n}"}
        calls.append(member.client.patch(url, json=body, headers=headers))
        calls.append(member.client.get(url, headers=headers))
    answers = await together(*calls)
    assert [a.status_code for a in answers] == [200] * len(answers), {
        a.status_code: a.text for a in answers if a.status_code != 200
    }
