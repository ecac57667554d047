"""Organization → Settings → Audit without a browser: who sees it, filters, paging, bad input."""

from __future__ import annotations

import html
import re
import uuid

import pytest

from projekt.core.context import Role
from projekt.web.router import AUDIT_PAGE_SIZE
from tests.factories import Factory, Org, Person

AUDIT = "/app/organization/settings/audit"


def _current(person: Person, org: Org) -> Person:
    person.client.cookies.set("projekt_org", str(org.id))
    return person


def _rows(page: str) -> list[tuple[int, str]]:
    """(seq, type) of each row shown, top to bottom."""
    return [
        (int(seq), kind)
        for seq, kind in re.findall(r'class="audit-row" data-seq="(\d+)" data-type="([^"]+)"', page)
    ]


def _older(page: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" id="audit-older"', page)
    return html.unescape(found.group(1)) if found else None


async def _issue(org: Org, project_id: uuid.UUID, title: str, token: str | None = None) -> str:
    owner = org.owner
    headers = (
        {"Authorization": f"Bearer {token}", "X-Org-Id": str(org.id)}
        if token
        else owner.headers(org.id)
    )
    created = await owner.client.post(
        "/api/issues", json={"project_id": str(project_id), "title": title}, headers=headers
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_signed_out_visitors_go_to_sign_in(factory: Factory) -> None:
    async with factory.client() as client:
        response = await client.get(AUDIT)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login"


@pytest.mark.parametrize("role", list(Role))
async def test_only_admins_and_owners_read_it(factory: Factory, role: Role) -> None:
    org = await factory.org(roles=() if role is Role.OWNER else (role,))
    project = await factory.project(org)
    issue_id = await _issue(org, project.id, "Seen only by admins")
    person = _current(org.members[role], org)
    page = await person.client.get(AUDIT)
    if role in (Role.OWNER, Role.ADMIN):
        assert page.status_code == 200
        assert 'id="nav-audit"' in page.text
        assert issue_id[:8] in page.text and "issue.created" in page.text
    else:
        assert page.status_code == 403
        assert "only admins and owners" in page.text
        assert 'id="sign-out"' in page.text
        # Members reach other settings pages (Integraciones) whose nav has no Audit link.
        assert 'id="nav-audit"' not in page.text
        assert issue_id[:8] not in page.text and "audit-row" not in page.text


async def test_filters_by_person_key_and_type_and_names_keys_by_last_four(
    factory: Factory,
) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    project = await factory.project(org)
    member = org.members[Role.MEMBER]
    token = await factory.key(org.id, member, "member's bot")
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        made = await keyed.post(
            "/api/issues",
            json={"project_id": str(project.id), "title": "by the bot"},
            headers={"X-Org-Id": str(org.id)},
        )
        assert made.status_code == 201, made.text
        bot_issue = made.json()["id"]
        deleted = await keyed.delete(f"/api/issues/{bot_issue}", headers={"X-Org-Id": str(org.id)})
        assert deleted.status_code == 204
        key_id = (await keyed.get("/api/api-keys", headers={"X-Org-Id": str(org.id)})).json()[0][
            "id"
        ]
    owner_issue = await _issue(org, project.id, "by the owner")
    owner = _current(org.owner, org)

    everything = await owner.client.get(AUDIT)
    assert everything.status_code == 200
    seqs = [seq for seq, _ in _rows(everything.text)]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) >= 4
    assert token not in everything.text
    assert f"···{token[-4:]}" in everything.text

    by_member = await owner.client.get(AUDIT, params={"person": str(member.user_id)})
    rows = _rows(by_member.text)
    # The member's key: created for them (by the factory, as themselves), then two writes.
    assert [kind for _, kind in rows][:2] == ["issue.deleted", "issue.created"]
    assert owner_issue[:8] not in by_member.text and bot_issue[:8] in by_member.text

    by_key = await owner.client.get(AUDIT, params={"key": key_id})
    assert [kind for _, kind in _rows(by_key.text)] == ["issue.deleted", "issue.created"]
    assert "member&#39;s bot" in by_key.text and f"···{token[-4:]}" in by_key.text
    assert f'value="{key_id}" selected' in by_key.text

    by_type = await owner.client.get(AUDIT, params={"type": "issue.created"})
    kinds = {kind for _, kind in _rows(by_type.text)}
    assert kinds == {"issue.created"}
    assert owner_issue[:8] in by_type.text and bot_issue[:8] in by_type.text

    both = await owner.client.get(
        AUDIT, params={"person": str(member.user_id), "type": "issue.deleted"}
    )
    assert [kind for _, kind in _rows(both.text)] == ["issue.deleted"]

    nothing = await owner.client.get(AUDIT, params={"type": "sprint.started"})
    assert _rows(nothing.text) == [] and 'id="audit-empty"' in nothing.text


async def test_older_pages_newest_first_without_gaps_or_repeats(factory: Factory) -> None:
    org = await factory.org()
    project = await factory.project(org)
    for n in range(AUDIT_PAGE_SIZE + 5):
        await _issue(org, project.id, f"issue {n}")
    owner = _current(org.owner, org)
    first = await owner.client.get(AUDIT, params={"type": "issue.created"})
    older = _older(first.text)
    assert older is not None and "type=issue.created" in older
    second = await owner.client.get(older)
    assert second.status_code == 200
    shown = _rows(first.text) + _rows(second.text)
    assert len(_rows(first.text)) == AUDIT_PAGE_SIZE
    assert len(shown) == AUDIT_PAGE_SIZE + 5
    seqs = [seq for seq, _ in shown]
    assert seqs == sorted(set(seqs), reverse=True)
    assert _older(second.text) is None
    assert 'id="audit-newest"' in second.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"person": "not-an-id"}, "person filter is not a valid choice"),
        ({"key": "12345"}, "key filter is not a valid choice"),
        ({"type": "x" * 65}, "at most 64 characters"),
        ({"cursor": "!!not a cursor"}, "malformed"),
    ],
)
async def test_bad_filters_are_a_message_not_a_crash(
    factory: Factory, params: dict[str, str], message: str
) -> None:
    org = await factory.org()
    owner = _current(org.owner, org)
    page = await owner.client.get(AUDIT, params=params)
    assert page.status_code == 400
    assert message in page.text
    assert 'role="alert"' in page.text and 'id="audit-filters"' in page.text
    assert "audit-row" not in page.text


async def test_a_cursor_of_another_org_shows_nothing_of_it(factory: Factory) -> None:
    theirs = await factory.org()
    their_project = await factory.project(theirs)
    for n in range(AUDIT_PAGE_SIZE + 1):
        await _issue(theirs, their_project.id, f"secret {n}")
    foreign = _older((await _current(theirs.owner, theirs).client.get(AUDIT)).text)
    assert foreign is not None
    cursor = re.search(r"cursor=([^&]+)", foreign)
    assert cursor is not None
    mine = await factory.org()
    owner = _current(mine.owner, mine)
    page = await owner.client.get(AUDIT, params={"cursor": cursor.group(1)})
    assert page.status_code == 400
    assert "another organization" in page.text
    assert "audit-row" not in page.text


async def test_a_former_members_events_stay_and_filter_by_them(factory: Factory) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    project = await factory.project(org)
    member = org.members[Role.MEMBER]
    made = await member.client.post(
        "/api/issues",
        json={"project_id": str(project.id), "title": "before leaving"},
        headers=member.headers(org.id),
    )
    assert made.status_code == 201, made.text
    removed = await org.owner.client.delete(
        f"/api/team/{org.employee_ids[Role.MEMBER]}", headers=org.owner.headers(org.id)
    )
    assert removed.status_code == 204, removed.text
    owner = _current(org.owner, org)
    page = await owner.client.get(AUDIT, params={"person": str(member.user_id)})
    assert page.status_code == 200
    assert [kind for _, kind in _rows(page.text)][-1] == "issue.created"
    assert made.json()["id"][:8] in page.text
    assert f'value="{member.user_id}" selected>A former member' in page.text
