"""Organization → Settings without a browser: who may see what, and what each form changes."""

from __future__ import annotations

import re
import uuid

import pytest

from projekt.core.context import Role
from tests.factories import Factory, Org, Person

SETTINGS = "/app/organization/settings"
GENERAL = f"{SETTINGS}/general"
PEOPLE = f"{SETTINGS}/people"
INTEGRATIONS = f"{GENERAL}/integraciones"


def _current(person: Person, org: Org) -> Person:
    person.client.cookies.set("projekt_org", str(org.id))
    return person


def _hidden(html: str, marker: str, name: str = "etag") -> str:
    """The value of a hidden field in the form that follows ``marker``."""
    start = html.index(marker)
    found = re.search(rf'name="{name}" value="([^"]*)"', html[start:])
    assert found is not None
    return found.group(1).replace("&#34;", '"').replace("&quot;", '"')


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", GENERAL),
        ("POST", GENERAL),
        ("POST", f"{GENERAL}/delete"),
        ("GET", PEOPLE),
        ("POST", f"{PEOPLE}/invite"),
        ("POST", f"{PEOPLE}/{uuid.UUID(int=1)}/role"),
        ("POST", f"{PEOPLE}/{uuid.UUID(int=2)}/remove"),
        ("POST", f"{PEOPLE}/invitations/{uuid.UUID(int=3)}/revoke"),
        ("GET", "/app/join"),
        ("POST", "/app/join"),
    ],
)
async def test_signed_out_visitors_go_to_sign_in(factory: Factory, method: str, path: str) -> None:
    async with factory.client() as client:
        response = await client.request(method, path, data={"name": "x", "role": "member"})
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login"


@pytest.mark.parametrize("role", [Role.MANAGER, Role.MEMBER, Role.VIEWER])
async def test_below_admin_sees_no_admin_page_and_changes_nothing(
    factory: Factory, role: Role
) -> None:
    org = await factory.org(roles=(role,))
    person = _current(org.members[role], org)
    home = await person.client.get("/app")
    assert "settings-link" not in home.text and "people-link" not in home.text
    for path in (GENERAL, PEOPLE):
        page = await person.client.get(path)
        assert page.status_code == 403
        assert "only admins and owners" in page.text
        assert "sign-out" in page.text
    csrf = {"csrf_token": person.csrf}
    invited = await person.client.post(f"{PEOPLE}/invite", data={**csrf, "role": "member"})
    assert invited.status_code == 403
    renamed = await person.client.post(GENERAL, data={**csrf, "name": "Mine now", "slug": org.slug})
    assert renamed.status_code == 403
    owner = org.owner
    read = await owner.client.get(f"/api/orgs/{org.id}", headers=owner.headers(org.id))
    assert read.json()["name"] != "Mine now"
    listed = await owner.client.get("/api/orgs/invitations", headers=owner.headers(org.id))
    assert listed.json() == []


async def test_one_org_is_current_after_sign_in_and_settings_are_one_click_away(
    factory: Factory,
) -> None:
    org = await factory.org()
    owner = org.owner
    home = await owner.client.get("/app")
    assert "current-org" in home.text
    assert f'href="{GENERAL}" id="settings-link"' in home.text
    assert "projekt_org" in home.headers["set-cookie"]
    settings = await owner.client.get(GENERAL)
    assert settings.status_code == 200
    assert org.slug in settings.text


async def test_every_page_keeps_the_header(factory: Factory) -> None:
    org = await factory.org()
    owner = _current(org.owner, org)
    for path in ("/app", GENERAL, PEOPLE, INTEGRATIONS, "/app/join"):
        page = await owner.client.get(path)
        assert page.status_code == 200, path
        assert 'id="sign-out"' in page.text, path
        assert owner.name in page.text, path


async def test_general_settings_save_and_a_stale_form_is_refused(factory: Factory) -> None:
    org = await factory.org()
    owner = _current(org.owner, org)
    page = (await owner.client.get(GENERAL)).text
    etag = _hidden(page, 'id="org-settings"')
    slug = f"renamed-{uuid.uuid4().hex[:8]}"
    form = {"csrf_token": owner.csrf, "etag": etag, "name": "Renamed Org", "slug": slug}
    saved = await owner.client.post(GENERAL, data={**form, "discoverable": "on"})
    assert saved.status_code == 303
    read = (await owner.client.get(f"/api/orgs/{org.id}", headers=owner.headers(org.id))).json()
    assert (read["name"], read["slug"], read["discoverable"]) == ("Renamed Org", slug, True)
    stale = await owner.client.post(GENERAL, data={**form, "name": "Lost update"})
    assert stale.status_code == 412
    assert "changed this meanwhile" in stale.text
    bad = await owner.client.post(
        GENERAL, data={"csrf_token": owner.csrf, "name": "x", "slug": "Not A Slug"}
    )
    assert bad.status_code == 422
    assert 'role="alert"' in bad.text


async def test_only_an_owner_deletes_and_only_with_the_typed_slug(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN,))
    admin = _current(org.members[Role.ADMIN], org)
    admin_page = await admin.client.get(GENERAL)
    assert "delete-org" not in admin_page.text
    refused = await admin.client.post(
        f"{GENERAL}/delete", data={"csrf_token": admin.csrf, "confirm": org.slug}
    )
    assert refused.status_code == 403
    owner = _current(org.owner, org)
    wrong = await owner.client.post(
        f"{GENERAL}/delete", data={"csrf_token": owner.csrf, "confirm": "nope"}
    )
    assert wrong.status_code == 422
    assert org.slug in wrong.text
    assert (await owner.client.get(f"/api/orgs/{org.id}")).status_code == 200
    deleted = await owner.client.post(
        f"{GENERAL}/delete", data={"csrf_token": owner.csrf, "confirm": org.slug}
    )
    assert deleted.status_code == 303
    assert (await owner.client.get(f"/api/orgs/{org.id}")).status_code == 404


async def test_people_invite_join_change_role_and_remove(factory: Factory) -> None:
    org = await factory.org()
    owner = _current(org.owner, org)
    invited = await owner.client.post(
        f"{PEOPLE}/invite", data={"csrf_token": owner.csrf, "role": "manager", "email": ""}
    )
    assert invited.status_code == 201
    code = re.search(r'id="join-code">([^<]+)<', invited.text)
    assert code is not None
    assert f"/app/join?code={code.group(1)}" in invited.text
    newcomer = await factory.person()
    join_page = await newcomer.client.get(f"/app/join?code={code.group(1)}")
    assert code.group(1) in join_page.text
    joined = await newcomer.client.post(
        "/app/join", data={"csrf_token": newcomer.csrf, "code": code.group(1)}
    )
    assert joined.status_code == 303
    roster = (await owner.client.get(PEOPLE)).text
    assert newcomer.email in roster
    employee_id = await factory.employee_id(org.id, newcomer)
    marker = f'data-employee-id="{employee_id}"'
    etag = _hidden(roster, marker)
    changed = await owner.client.post(
        f"{PEOPLE}/{employee_id}/role",
        data={"csrf_token": owner.csrf, "role": "admin", "etag": etag},
    )
    assert changed.status_code == 303
    team = (await owner.client.get("/api/team", headers=owner.headers(org.id))).json()
    assert {m["email"]: m["role"] for m in team}[newcomer.email] == "admin"
    stale = await owner.client.post(
        f"{PEOPLE}/{employee_id}/remove", data={"csrf_token": owner.csrf, "etag": etag}
    )
    assert stale.status_code == 412
    fresh = _hidden((await owner.client.get(PEOPLE)).text, marker)
    removed = await owner.client.post(
        f"{PEOPLE}/{employee_id}/remove", data={"csrf_token": owner.csrf, "etag": fresh}
    )
    assert removed.status_code == 303
    team = (await owner.client.get("/api/team", headers=owner.headers(org.id))).json()
    assert newcomer.email not in {m["email"] for m in team}


async def test_the_last_owner_rule_is_a_message_on_the_page(factory: Factory) -> None:
    org = await factory.org()
    owner = _current(org.owner, org)
    employee_id = org.employee_ids[Role.OWNER]
    for action, data in (("role", {"role": "admin"}), ("remove", {})):
        response = await owner.client.post(
            f"{PEOPLE}/{employee_id}/{action}", data={"csrf_token": owner.csrf, **data}
        )
        assert response.status_code == 409
        assert "The last owner cannot be removed or demoted." in response.text
        assert 'id="roster"' in response.text  # the page, not an error page


async def test_pending_invitations_are_listed_and_revoked(factory: Factory) -> None:
    org = await factory.org()
    owner = _current(org.owner, org)
    created = await owner.client.post(
        "/api/orgs/invitations",
        json={"role": "viewer", "email": "later@example.test"},
        headers=owner.headers(org.id),
    )
    invitation_id = created.json()["id"]
    page = (await owner.client.get(PEOPLE)).text
    assert "later@example.test" in page
    marker = f'data-invitation-id="{invitation_id}"'
    etag = _hidden(page, marker)
    revoked = await owner.client.post(
        f"{PEOPLE}/invitations/{invitation_id}/revoke",
        data={"csrf_token": owner.csrf, "etag": etag},
    )
    assert revoked.status_code == 303
    assert marker not in (await owner.client.get(PEOPLE)).text
    joiner = await factory.person()
    refused = await joiner.client.post(
        "/app/join", data={"csrf_token": joiner.csrf, "code": created.json()["code"]}
    )
    assert refused.status_code == 404
    assert "invalid, used or expired" in refused.text


async def test_admins_see_and_revoke_everyones_keys(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN, Role.MANAGER))
    manager = org.members[Role.MANAGER]
    token = await factory.key(org.id, manager, "manager's CI")
    admin = _current(org.members[Role.ADMIN], org)
    page = (await admin.client.get(INTEGRATIONS)).text
    assert "manager&#39;s CI" in page or "manager's CI" in page
    assert manager.name in page
    assert token[-4:] in page and token not in page
    manager_view = (await _current(manager, org).client.get(INTEGRATIONS)).text
    assert "all-keys-note" not in manager_view
    key_id = re.search(r'data-key-id="([^"]+)"', page)
    assert key_id is not None
    revoked = await admin.client.post(
        f"{INTEGRATIONS}/keys/{key_id.group(1)}/revoke", data={"csrf_token": admin.csrf}
    )
    assert revoked.status_code == 303
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        assert (await keyed.get("/api/me")).status_code == 401
