"""The authorization matrix, driven from the policy itself: every route × every principal.

Each route gets a recipe (how to call it in a fresh org); a route without a recipe, or without a
rule, fails the suite, so new routes join the sweep automatically. The same recipes, pointed at
another org's ids, drive the isolation sweep.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from projekt.authz import Audience, Rule
from projekt.core.context import Role
from projekt.core.routes import route_table
from projekt.policy import POLICY
from tests.factories import PASSWORD, Factory, Org, Person

ROLES = (Role.OWNER, Role.ADMIN, Role.MANAGER, Role.MEMBER, Role.VIEWER)
OTHER_ROLES = ROLES[1:]


@dataclass
class World:
    """An org with one member per role and some objects to aim at."""

    org: Org
    key_id: uuid.UUID
    project_id: uuid.UUID
    login_email: str
    issue_id: uuid.UUID
    comment_id: uuid.UUID
    sprint_id: uuid.UUID
    milestone_id: uuid.UUID
    invitation_id: uuid.UUID
    time_entry_id: uuid.UUID  # the owner's logged time
    timer_id: uuid.UUID  # the owner's running timer, on the issue
    webhook_id: uuid.UUID
    delivery_id: uuid.UUID
    doc_id: uuid.UUID


def _doc(w: World, rest: str = "") -> str:
    return f"/api/projects/{w.project_id}/docs/{w.doc_id}{rest}"


def _project_key() -> str:
    return "M" + uuid.uuid4().hex[:6].upper().replace("0", "Q").replace("1", "R")


COLUMNS = [
    {"key": "backlog", "name": "Backlog", "category": "todo"},
    {"key": "todo", "name": "To Do", "category": "todo"},
    {"key": "in_progress", "name": "In Progress", "category": "in_progress"},
    {"key": "in_review", "name": "In Review", "category": "in_progress"},
    {"key": "done", "name": "Done", "category": "done"},
    {"key": "qa", "name": "QA", "category": "in_progress"},  # a change: the write records it
]


Recipe = Callable[[World], tuple[str, str, Any]]

# How to call each route: (method, path, json body). Paths use the world's ids.
RECIPES: dict[str, Recipe] = {
    "healthz": lambda w: ("GET", "/healthz", None),
    "readyz": lambda w: ("GET", "/readyz", None),
    "openapi_json": lambda w: ("GET", "/openapi.json", None),
    "openapi_yaml": lambda w: ("GET", "/openapi.yaml", None),
    "metrics": lambda w: ("GET", "/metrics", None),
    "developers_index": lambda w: ("GET", "/developers/", None),
    "developers_page": lambda w: ("GET", "/developers/quickstart.html", None),
    "developers_markdown": lambda w: ("GET", "/developers/quickstart.md", None),
    "developers_reference": lambda w: ("GET", "/developers/reference.html", None),
    "developers_asset": lambda w: ("GET", "/developers/assets/reference.js", None),
    "llms_index": lambda w: ("GET", "/llms.txt", None),
    "llms_full": lambda w: ("GET", "/llms-full.txt", None),
    "signup": lambda w: (
        "POST",
        "/api/auth/signup",
        {"email": f"m{uuid.uuid4().hex[:10]}@example.test", "password": "x" * 12, "name": "M"},
    ),
    "login": lambda w: ("POST", "/api/auth/login", {"email": w.login_email, "password": PASSWORD}),
    "logout": lambda w: ("POST", "/api/auth/logout", None),
    "get_me": lambda w: ("GET", "/api/me", None),
    "list_orgs": lambda w: ("GET", "/api/orgs", None),
    "create_org": lambda w: ("POST", "/api/orgs", {"name": "Matrix org"}),
    "search_orgs": lambda w: ("GET", "/api/orgs/search?q=org", None),
    "search_crossorg_orgs": lambda w: ("GET", "/api/crossorg/orgs/search?q=org", None),
    "join_org": lambda w: ("POST", "/api/orgs/join", {"code": "not-a-real-code"}),
    "list_my_orgs": lambda w: ("GET", "/api/me/orgs", None),
    "get_org": lambda w: ("GET", f"/api/orgs/{w.org.id}", None),
    "update_org": lambda w: ("PATCH", f"/api/orgs/{w.org.id}", {"name": "Renamed"}),
    "delete_org": lambda w: ("DELETE", f"/api/orgs/{w.org.id}", None),
    "create_invitation": lambda w: ("POST", "/api/orgs/invitations", {"role": "member"}),
    "list_invitations": lambda w: ("GET", "/api/orgs/invitations", None),
    "get_invitation": lambda w: ("GET", f"/api/orgs/invitations/{w.invitation_id}", None),
    "revoke_invitation": lambda w: (
        "DELETE",
        f"/api/orgs/invitations/{w.invitation_id}",
        None,
    ),
    "list_team": lambda w: ("GET", "/api/team", None),
    "change_member_role": lambda w: (
        "PATCH",
        f"/api/team/{w.org.employee_ids[Role.VIEWER]}",
        {"role": "member"},
    ),
    "remove_member": lambda w: ("DELETE", f"/api/team/{w.org.employee_ids[Role.VIEWER]}", None),
    "search_people": lambda w: ("GET", "/api/people/search?q=person", None),
    "palette_search": lambda w: ("GET", "/api/palette/search?q=project", None),
    "mint_api_key": lambda w: ("POST", "/api/api-keys", {"name": "matrix"}),
    "list_api_keys": lambda w: ("GET", "/api/api-keys", None),
    "get_api_key": lambda w: ("GET", f"/api/api-keys/{w.key_id}", None),
    "revoke_api_key": lambda w: ("DELETE", f"/api/api-keys/{w.key_id}", None),
    "list_projects": lambda w: ("GET", "/api/projects", None),
    "create_project": lambda w: ("POST", "/api/projects", {"key": _project_key(), "name": "M"}),
    "get_project": lambda w: ("GET", f"/api/projects/{w.project_id}", None),
    "replace_project": lambda w: ("PUT", f"/api/projects/{w.project_id}", {"name": "R"}),
    "update_project": lambda w: ("PATCH", f"/api/projects/{w.project_id}", {"name": "U"}),
    "delete_project": lambda w: ("DELETE", f"/api/projects/{w.project_id}", None),
    "get_columns": lambda w: ("GET", f"/api/projects/{w.project_id}/columns", None),
    "replace_columns": lambda w: ("PUT", f"/api/projects/{w.project_id}/columns", COLUMNS),
    "list_project_members": lambda w: ("GET", f"/api/projects/{w.project_id}/members", None),
    "add_project_member": lambda w: (
        "POST",
        f"/api/projects/{w.project_id}/members",
        {"user_id": str(w.org.members[Role.MEMBER].user_id)},
    ),
    "get_project_member": lambda w: (
        "GET",
        f"/api/projects/{w.project_id}/members/{w.org.members[Role.VIEWER].user_id}",
        None,
    ),
    "remove_project_member": lambda w: (
        "DELETE",
        f"/api/projects/{w.project_id}/members?user_id={w.org.members[Role.VIEWER].user_id}",
        None,
    ),
    "list_issues": lambda w: ("GET", f"/api/issues?project_id={w.project_id}", None),
    "create_issue": lambda w: (
        "POST",
        "/api/issues",
        {"project_id": str(w.project_id), "title": "Matrix issue"},
    ),
    "bulk_issues": lambda w: (
        "POST",
        "/api/issues/bulk",
        {"issue_ids": [str(w.issue_id)], "action": "set_priority", "value": "high"},
    ),
    "issue_schema": lambda w: ("GET", f"/api/issue_schema?project_id={w.project_id}", None),
    "get_issue": lambda w: ("GET", f"/api/issues/{w.issue_id}", None),
    "replace_issue": lambda w: ("PUT", f"/api/issues/{w.issue_id}", {"title": "Put"}),
    "update_issue": lambda w: ("PATCH", f"/api/issues/{w.issue_id}", {"title": "Patch"}),
    "delete_issue": lambda w: ("DELETE", f"/api/issues/{w.issue_id}", None),
    "transition_issue": lambda w: (
        "POST",
        f"/api/issues/{w.issue_id}/transition",
        {"status": "Done"},
    ),
    "archive_issue": lambda w: ("POST", f"/api/issues/{w.issue_id}/archive", None),
    "unarchive_issue": lambda w: ("POST", f"/api/issues/{w.issue_id}/unarchive", None),
    "duplicate_issue": lambda w: ("POST", f"/api/issues/{w.issue_id}/duplicate", None),
    "list_comments": lambda w: ("GET", f"/api/issues/{w.issue_id}/comments", None),
    "add_comment": lambda w: ("POST", f"/api/issues/{w.issue_id}/comments", {"text": "Hi"}),
    "get_comment": lambda w: (
        "GET",
        f"/api/issues/{w.issue_id}/comments/{w.comment_id}",
        None,
    ),
    "edit_comment": lambda w: (
        "PATCH",
        f"/api/issues/{w.issue_id}/comments/{w.comment_id}",
        {"text": "Edited"},
    ),
    "delete_comment": lambda w: (
        "DELETE",
        f"/api/issues/{w.issue_id}/comments/{w.comment_id}",
        None,
    ),
    "issue_activity": lambda w: ("GET", f"/api/issues/{w.issue_id}/activity", None),
    "list_sprints": lambda w: ("GET", f"/api/sprints?project_id={w.project_id}", None),
    "create_sprint": lambda w: (
        "POST",
        "/api/sprints",
        {
            "project_id": str(w.project_id),
            "name": "S",
            "start_date": "2026-01-05",
            "end_date": "2026-01-16",
        },
    ),
    "get_sprint": lambda w: ("GET", f"/api/sprints/{w.sprint_id}", None),
    "replace_sprint": lambda w: ("PUT", f"/api/sprints/{w.sprint_id}", {"name": "R"}),
    "update_sprint": lambda w: ("PATCH", f"/api/sprints/{w.sprint_id}", {"goal": "G"}),
    "delete_sprint": lambda w: ("DELETE", f"/api/sprints/{w.sprint_id}", None),
    "start_sprint": lambda w: ("POST", f"/api/sprints/{w.sprint_id}/start", None),
    "complete_sprint": lambda w: ("POST", f"/api/sprints/{w.sprint_id}/complete", {}),
    "sprint_stats": lambda w: ("GET", f"/api/sprints/{w.sprint_id}/stats", None),
    "sprint_burndown": lambda w: ("GET", f"/api/sprints/{w.sprint_id}/burndown", None),
    "sprint_capacity": lambda w: ("GET", f"/api/sprints/{w.sprint_id}/capacity", None),
    "authorization_server_metadata": lambda w: (
        "GET",
        "/.well-known/oauth-authorization-server",
        None,
    ),
    "protected_resource_metadata": lambda w: ("GET", "/.well-known/oauth-protected-resource", None),
    "protected_resource_metadata_api": lambda w: (
        "GET",
        "/.well-known/oauth-protected-resource/api",
        None,
    ),
    "protected_resource_metadata_mcp": lambda w: (
        "GET",
        "/.well-known/oauth-protected-resource/mcp",
        None,
    ),
    "register_client": lambda w: (
        "POST",
        "/oauth/register",
        {"client_name": "M", "redirect_uris": ["https://example.com/cb"]},
    ),
    "token": lambda w: ("POST", "/oauth/token", None),
    "revoke": lambda w: ("POST", "/oauth/revoke", None),
    "audit_log": lambda w: ("GET", "/api/audit", None),
    "list_changes": lambda w: ("GET", "/api/changes", None),
    "list_milestones": lambda w: ("GET", f"/api/projects/{w.project_id}/milestones", None),
    "create_milestone": lambda w: (
        "POST",
        f"/api/projects/{w.project_id}/milestones",
        {"name": "v1", "target_date": "2027-01-01"},
    ),
    "get_milestone": lambda w: (
        "GET",
        f"/api/projects/{w.project_id}/milestones/{w.milestone_id}",
        None,
    ),
    "replace_milestone": lambda w: (
        "PUT",
        f"/api/projects/{w.project_id}/milestones/{w.milestone_id}",
        {"name": "v2"},
    ),
    "update_milestone": lambda w: (
        "PATCH",
        f"/api/projects/{w.project_id}/milestones/{w.milestone_id}",
        {"status": "active"},
    ),
    "delete_milestone": lambda w: (
        "DELETE",
        f"/api/projects/{w.project_id}/milestones/{w.milestone_id}",
        None,
    ),
    "log_issue_time": lambda w: (
        "POST",
        f"/api/projects/{w.project_id}/issues/{w.issue_id}/time-entries",
        {"duration_minutes": 30, "date": "2026-01-05"},
    ),
    "start_issue_timer": lambda w: (
        "POST",
        f"/api/projects/{w.project_id}/issues/{w.issue_id}/time-entries/timer-start",
        None,
    ),
    "stop_issue_timer": lambda w: (
        "POST",
        f"/api/projects/{w.project_id}/issues/{w.issue_id}/time-entries/timer-stop",
        {"description": "Done"},
    ),
    "issue_time_summary": lambda w: (
        "GET",
        f"/api/projects/{w.project_id}/issues/{w.issue_id}/time-summary",
        None,
    ),
    "list_time_entries": lambda w: ("GET", "/api/time-entries", None),
    "create_time_entry": lambda w: (
        "POST",
        "/api/time-entries",
        {"minutes": 15, "entry_date": "2026-01-06", "project_id": str(w.project_id)},
    ),
    "start_timer": lambda w: (
        "POST",
        "/api/time-entries/start",
        {"project_id": str(w.project_id), "issue_id": str(w.issue_id)},
    ),
    "active_timer": lambda w: ("GET", "/api/time-entries/active", None),
    "time_summary": lambda w: ("GET", "/api/time-entries/summary?group_by=user", None),
    "timesheet": lambda w: ("GET", "/api/timesheets?week=2026-W02", None),
    "get_time_entry": lambda w: ("GET", f"/api/time-entries/{w.time_entry_id}", None),
    "replace_time_entry": lambda w: (
        "PUT",
        f"/api/time-entries/{w.time_entry_id}",
        {"minutes": 20},
    ),
    "update_time_entry": lambda w: (
        "PATCH",
        f"/api/time-entries/{w.time_entry_id}",
        {"description": "Changed"},
    ),
    "delete_time_entry": lambda w: ("DELETE", f"/api/time-entries/{w.time_entry_id}", None),
    "stop_time_entry": lambda w: ("POST", f"/api/time-entries/{w.timer_id}/stop", None),
    "list_webhooks": lambda w: ("GET", "/api/webhooks", None),
    "create_webhook": lambda w: (
        "POST",
        "/api/webhooks",
        {"url": "http://127.0.0.1:9/matrix", "events": ["issue.*"], "active": False},
    ),
    "get_webhook": lambda w: ("GET", f"/api/webhooks/{w.webhook_id}", None),
    "update_webhook": lambda w: (
        "PATCH",
        f"/api/webhooks/{w.webhook_id}",
        {"description": "Changed"},
    ),
    "delete_webhook": lambda w: ("DELETE", f"/api/webhooks/{w.webhook_id}", None),
    "rotate_webhook_secret": lambda w: (
        "POST",
        f"/api/webhooks/{w.webhook_id}/rotate-secret",
        None,
    ),
    "ping_webhook": lambda w: ("POST", f"/api/webhooks/{w.webhook_id}/ping", None),
    "list_webhook_deliveries": lambda w: (
        "GET",
        f"/api/webhooks/{w.webhook_id}/deliveries",
        None,
    ),
    "get_webhook_delivery": lambda w: (
        "GET",
        f"/api/webhooks/{w.webhook_id}/deliveries/{w.delivery_id}",
        None,
    ),
    "redeliver_webhook_delivery": lambda w: (
        "POST",
        f"/api/webhooks/{w.webhook_id}/deliveries/{w.delivery_id}/redeliver",
        None,
    ),
    "replay_webhook": lambda w: (
        "POST",
        f"/api/webhooks/{w.webhook_id}/replay",
        {"since": "2026-01-01T00:00:00Z"},
    ),
    "list_docs": lambda w: ("GET", f"/api/projects/{w.project_id}/docs", None),
    "create_doc": lambda w: (
        "POST",
        f"/api/projects/{w.project_id}/docs",
        {"title": "Guide", "markdown": "# Guide\n\n- one\n- two"},
    ),
    "get_doc": lambda w: ("GET", _doc(w), None),
    "replace_doc": lambda w: ("PUT", _doc(w), {"title": "Renamed"}),
    "update_doc": lambda w: ("PATCH", _doc(w), {"icon": "📘"}),
    "delete_doc": lambda w: ("DELETE", _doc(w), None),
    "list_doc_versions": lambda w: ("GET", _doc(w, "/versions"), None),
    "get_doc_version": lambda w: ("GET", _doc(w, "/versions/1"), None),
    "diff_doc_versions": lambda w: ("GET", _doc(w, "/versions/1/diff/1"), None),
    "restore_doc": lambda w: ("POST", _doc(w, "/restore"), {"version": 1}),
}

# A 403 that a route's rule admitted: the object itself refuses (someone else's comment).
RESOURCE_DENIALS = {"not_comment_author", "not_your_entry"}

# Web pages answer a redirect to sign-in instead of 401; they are checked in tests/web and
# tests/oauth (the consent page).
WEB_ROUTES = {name for name in POLICY if name.startswith("web_")} | {
    "authorize_page",
    "authorize_decision",
}


def test_every_route_has_a_rule_and_a_recipe(app: FastAPI) -> None:
    names = {route.name for route in route_table(app)}
    assert names - set(POLICY) == set(), "routes without an authorization rule"
    assert set(POLICY) - names == set(), "rules for routes that do not exist"
    assert names - WEB_ROUTES - set(RECIPES) == set(), "routes missing from the matrix"


def test_documented_rules_are_pinned() -> None:
    """API.md §3–4 in a few lines, so loosening the policy by accident fails here."""
    for name in ("create_org", "join_org", "search_orgs", "search_crossorg_orgs"):
        assert POLICY[name].tokens is False, name
    assert POLICY["mint_api_key"] == Rule(Audience.ORG, Role.MANAGER, tokens=False)
    assert POLICY["revoke_api_key"].tokens is False
    assert POLICY["delete_org"].min_role is Role.OWNER
    assert POLICY["update_org"].min_role is Role.ADMIN
    assert POLICY["change_member_role"].min_role is Role.ADMIN
    assert POLICY["create_invitation"].min_role is Role.ADMIN
    assert POLICY["list_invitations"].min_role is Role.ADMIN
    assert POLICY["revoke_invitation"].min_role is Role.ADMIN


@dataclass(frozen=True)
class Principal:
    kind: str  # anon | session | pat | outsider
    role: Role | None = None

    def __str__(self) -> str:
        return f"{self.kind}-{self.role.value}" if self.role else self.kind


PRINCIPALS = (
    [Principal("anon"), Principal("outsider")]
    + [Principal("session", r) for r in ROLES]
    + [Principal("pat", r) for r in ROLES]
)


def expected_denial(rule: Rule, who: Principal) -> int | None:
    """The status a principal must get from a route's rule, or None when it is let through."""
    if rule.audience is Audience.PUBLIC:
        return None
    if who.kind == "anon":
        return 401
    if who.kind == "pat" and not rule.tokens:
        return 403
    if rule.audience is Audience.USER:
        return None
    if who.kind == "outsider":
        return 404 if rule.audience is Audience.PATH_ORG else 403
    assert who.role is not None
    return None if who.role.at_least(rule.min_role) else 403


@pytest.fixture(scope="module")
async def people(app: FastAPI) -> dict[str, Person]:
    factory = Factory(app)
    pool = {role.value: await factory.person() for role in ROLES}
    pool["outsider"] = await factory.person()
    return pool


async def build_world(factory: Factory, people: dict[str, Person]) -> World:
    org = await factory.org(owner=people["owner"])
    for role in OTHER_ROLES:
        org.employee_ids[role] = await factory.add_member(org.id, people[role.value], role)
        org.members[role] = people[role.value]
    project = await factory.project(org)
    token = await factory.key(org.id, people["viewer"], "target")  # a key to revoke
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        key_id = uuid.UUID((await keyed.get("/api/api-keys")).json()[0]["id"])
    owner = people["owner"]
    headers = owner.headers(org.id)
    await owner.client.post(
        f"/api/projects/{project.id}/members",
        json={"user_id": str(people["viewer"].user_id)},
        headers=headers,
    )
    issue = await owner.client.post(
        "/api/issues", json={"project_id": str(project.id), "title": "Target"}, headers=headers
    )
    issue_id = uuid.UUID(issue.json()["id"])
    comment = await owner.client.post(
        f"/api/issues/{issue_id}/comments", json={"text": "Target"}, headers=headers
    )
    comment_id = uuid.UUID(comment.json()["id"])
    sprint = await owner.client.post(
        "/api/sprints",
        json={
            "project_id": str(project.id),
            "name": "Target",
            "start_date": "2026-01-05",
            "end_date": "2026-01-16",
        },
        headers=headers,
    )
    sprint_id = uuid.UUID(sprint.json()["id"])
    milestone = await owner.client.post(
        f"/api/projects/{project.id}/milestones", json={"name": "Target"}, headers=headers
    )
    milestone_id = uuid.UUID(milestone.json()["id"])
    invitation = await owner.client.post(
        "/api/orgs/invitations", json={"role": "member"}, headers=headers
    )
    invitation_id = uuid.UUID(invitation.json()["id"])
    logged = await owner.client.post(
        f"/api/projects/{project.id}/issues/{issue_id}/time-entries",
        json={"duration_minutes": 45, "date": "2026-01-05"},
        headers=headers,
    )
    timer = await owner.client.post(
        f"/api/projects/{project.id}/issues/{issue_id}/time-entries/timer-start",
        headers=headers,
    )
    webhook = await owner.client.post(
        "/api/webhooks",
        # Paused: the suite's endpoints stay out of the deliverers that tests/webhooks drives.
        json={
            "url": "http://127.0.0.1:9/target",
            "events": ["*"],
            "description": "Target",
            "active": False,
        },
        headers=headers,
    )
    webhook_id = uuid.UUID(webhook.json()["id"])
    ping = await owner.client.post(f"/api/webhooks/{webhook_id}/ping", headers=headers)
    delivery_id = uuid.UUID(ping.json()["id"])
    doc = await owner.client.post(
        f"/api/projects/{project.id}/docs",
        json={"title": "Target", "blocks": {"blocks": [{"type": "paragraph",
                                                        "data": {"text": "Target"}}]}},
        headers=headers,
    )  # fmt: skip
    doc_id = uuid.UUID(doc.json()["id"])
    return World(
        org,
        key_id,
        project.id,
        people["viewer"].email,
        issue_id,
        comment_id,
        sprint_id,
        milestone_id,
        invitation_id,
        uuid.UUID(logged.json()["id"]),
        uuid.UUID(timer.json()["timer_id"]),
        webhook_id,
        delivery_id,
        doc_id,
    )


async def fresh_session(factory: Factory, person: Person) -> tuple[httpx.AsyncClient, str]:
    """A new sign-in of the person, so a call that signs out or in changes no shared client."""
    client = factory.client()
    response = await client.post(
        "/api/auth/login", json={"email": person.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    return client, response.json()["csrf_token"]


async def call(
    factory: Factory, world: World, who: Principal, recipe: Recipe, people: dict[str, Person]
) -> httpx.Response:
    method, path, body = recipe(world)
    if who.kind == "anon":
        async with factory.client() as c:
            return await c.request(method, path, json=body)
    if who.kind == "pat":
        assert who.role is not None
        token = await factory.key(world.org.id, people[who.role.value], "matrix caller")
        async with factory.client(Authorization=f"Bearer {token}") as c:
            return await c.request(method, path, json=body)
    person = people["outsider"] if who.kind == "outsider" else people[str(who.role)]
    client, csrf = await fresh_session(factory, person)
    try:
        headers = {"X-CSRF-Token": csrf, "X-Org-Id": str(world.org.id)}
        return await client.request(method, path, json=body, headers=headers)
    finally:
        await client.aclose()


@pytest.mark.parametrize("who", PRINCIPALS, ids=str)
@pytest.mark.parametrize("route", sorted(RECIPES))
async def test_matrix(app: FastAPI, people: dict[str, Person], route: str, who: Principal) -> None:
    factory = Factory(app)
    world = await build_world(factory, people)
    response = await call(factory, world, who, RECIPES[route], people)
    denial = expected_denial(POLICY[route], who)
    if denial is None:
        if response.status_code == 403:
            assert response.json()["code"] in RESOURCE_DENIALS, response.text
        if route in ("token", "revoke"):  # RFC 6749 client authentication, not our authz
            assert response.status_code != 401 or response.json()["error"] == "invalid_client"
        else:
            assert response.status_code != 401, response.text
        if POLICY[route].audience is Audience.PATH_ORG:
            assert response.status_code != 404, response.text
    else:
        assert response.status_code == denial, response.text
    if response.status_code >= 400:
        assert "error" in response.json()  # the envelope, or RFC 6749's body on /oauth
    elif route not in ("metrics", "healthz", "readyz"):  # probes are not rate limited
        assert response.headers["x-ratelimit-limit"]


# -- isolation sweep: org A's credentials aimed at org B's ids ----------------------------------


def _takes_ids(app: FastAPI) -> list[str]:
    # Public routes (the developer portal's pages) take names, not any org's ids.
    return sorted(
        route.name
        for route in route_table(app)
        if "{" in route.path
        and route.name in RECIPES
        and POLICY[route.name].audience is not Audience.PUBLIC
    )


async def test_isolation_sweep_is_not_empty(app: FastAPI) -> None:
    assert len(_takes_ids(app)) >= 6


@pytest.mark.parametrize("credential", ["pat", "session"])
async def test_isolation_sweep(app: FastAPI, credential: str) -> None:
    factory = Factory(app)
    mine = await factory.org()
    theirs_owner = await factory.person()
    people_b = {role.value: await factory.person() for role in OTHER_ROLES}
    people_b["owner"] = theirs_owner
    world_b = await build_world(factory, people_b)
    before = await snapshot(factory, world_b)
    token = await factory.key(mine.id, mine.owner)
    for name in _takes_ids(app):
        method, path, body = RECIPES[name](world_b)
        if credential == "pat":
            async with factory.client(Authorization=f"Bearer {token}") as c:
                response = await c.request(method, path, json=body)
        else:
            owner = mine.owner
            response = await owner.client.request(
                method, path, json=body, headers=owner.headers(mine.id)
            )
        if credential == "pat" and not POLICY[name].tokens:
            # Refused for every id alike, the key's own org's included: it reveals nothing.
            assert response.json()["code"] == "token_forbidden", name
            continue
        assert response.status_code == 404, (name, response.text)
        assert str(world_b.org.id) not in response.text or name.endswith("_org")
    assert await snapshot(factory, world_b) == before


async def snapshot(factory: Factory, world: World) -> str:
    """Everything org B has, as text: nothing of it may change."""
    from sqlalchemy import text

    parts = []
    async with factory.services.db.read() as session:
        for table in (
            "orgs",
            "memberships",
            "api_keys",
            "projects",
            "project_members",
            "invitations",
            "issues",
            "comments",
            "events",
            "event_counters",
            "sprints",
            "milestones",
            "time_entries",
            "webhooks",
            "webhook_deliveries",
            "docs",
            "doc_versions",
        ):
            column = "id" if table == "orgs" else "org_id"
            rows = await session.execute(
                text(f"SELECT * FROM {table} WHERE {column} = :org ORDER BY 1"),
                {
                    "org": world.org.id
                    if factory.services.db.dialect != "sqlite"
                    else world.org.id.hex
                },
            )
            parts.append(repr(rows.all()))
    return "\n".join(parts)


# -- bad input: every route that takes a JSON object refuses an unknown field -------------------

# RFC 7591: unknown client metadata is ignored, not refused.
LENIENT = {"register_client"}


def _takes_json_object(recipe: Recipe) -> bool:
    """Whether the recipe sends a JSON object, judged on a stand-in world of fresh ids."""
    ids = SimpleNamespace(user_id=uuid.uuid4())
    org = SimpleNamespace(
        id=uuid.uuid4(),
        members=dict.fromkeys(ROLES, ids),
        employee_ids={role: uuid.uuid4() for role in ROLES},
    )
    world = SimpleNamespace(
        org=org, login_email="x@example.test",
        **{k: uuid.uuid4() for k in ("key_id", "project_id", "issue_id", "comment_id",
                                     "sprint_id", "milestone_id", "invitation_id",
                                     "time_entry_id", "timer_id",
                                     "webhook_id", "delivery_id", "doc_id")},
    )  # fmt: skip
    return isinstance(recipe(world)[2], dict)  # type: ignore[arg-type]


BODY_ROUTES = sorted(n for n, r in RECIPES.items() if n not in LENIENT and _takes_json_object(r))


def test_bad_input_sweep_is_not_empty() -> None:
    assert len(BODY_ROUTES) >= 20


@pytest.mark.parametrize("route", BODY_ROUTES)
async def test_unknown_body_fields_are_422_and_change_nothing(
    app: FastAPI, people: dict[str, Person], route: str
) -> None:
    factory = Factory(app)
    world = await build_world(factory, people)
    method, path, body = RECIPES[route](world)
    before = await snapshot(factory, world)
    client, csrf = await fresh_session(factory, people["owner"])
    try:
        response = await client.request(
            method,
            path,
            json={**body, "not_a_field": 1},
            headers={"X-CSRF-Token": csrf, "X-Org-Id": str(world.org.id)},
        )
    finally:
        await client.aclose()
    assert response.status_code == 422, response.text
    assert response.json()["errors"]["not_a_field"] == ["The not_a_field field is not allowed"]
    assert await snapshot(factory, world) == before
