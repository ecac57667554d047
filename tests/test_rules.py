"""API.md §9's rules for lists, If-Match and Location, as sweeps over every route of the app.

Each sweep finds its routes in the app itself (not in a list kept here), so a route added later
joins it; calling a route uses its recipe from ``tests/test_authz.py``, which every route must
have. A route that escapes a rule fails here, including one declared after this file was written.
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from projekt.core.conditional import get_if_match
from projekt.core.context import Role
from projekt.core.pagination import ListQuery, is_list_params, list_params
from tests.factories import Factory, Person
from tests.test_authz import RECIPES, ROLES, World, build_world, fresh_session, snapshot

META = {"total", "page", "per_page", "pages", "limit", "offset"}


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """The JSON API's routes (the web pages under /app answer HTML forms, not these rules)."""
    return [
        c.original_route
        for c in iter_route_contexts(routes)
        if isinstance(c.original_route, APIRoute) and not c.original_route.path.startswith("/app")
    ]


def _depends_on(dependant: Dependant, test: Callable[[Any], bool]) -> bool:
    return any(test(d.call) or _depends_on(d, test) for d in dependant.dependencies)


def uses_list_params(route: APIRoute) -> bool:
    return _depends_on(route.dependant, is_list_params)


def answers_a_list(route: APIRoute) -> bool:
    return typing.get_origin(route.response_model) is list


def list_routes(routes: list[Any]) -> list[APIRoute]:
    return [
        r
        for r in api_routes(routes)
        if "GET" in (r.methods or ()) and (answers_a_list(r) or uses_list_params(r))
    ]


def lists_escaping_the_mechanism(routes: list[Any]) -> list[str]:
    return [r.name for r in list_routes(routes) if not uses_list_params(r)]


def writes_of_existing_resources(routes: list[Any]) -> list[APIRoute]:
    """PUT/PATCH/DELETE, and POST …/{id}/action that changes the resource (not a create: 201)."""
    found = []
    for route in api_routes(routes):
        methods = route.methods or set()
        if "{" not in route.path:
            continue
        action = "POST" in methods and route.status_code != 201
        if methods & {"PUT", "PATCH", "DELETE"} or action:
            found.append(route)
    return found


def writes_escaping_if_match(routes: list[Any]) -> list[str]:
    return [
        r.name
        for r in writes_of_existing_resources(routes)
        if not _depends_on(r.dependant, lambda call: call is get_if_match)
    ]


# -- the sweeps catch a route that escapes them ------------------------------------------------


def test_the_sweeps_fail_for_a_route_declared_without_the_mechanisms() -> None:
    router = APIRouter()

    @router.get("/api/widgets", response_model=list[int])
    async def list_widgets() -> list[int]:
        return []

    @router.get("/api/gadgets", response_model=list[int])
    async def list_gadgets(
        listed: typing.Annotated[ListQuery, list_params_dep("name")],
    ) -> list[int]:
        return []

    @router.patch("/api/widgets/{widget_id}")
    async def update_widget(widget_id: uuid.UUID) -> None:
        return None

    @router.post("/api/widgets/{widget_id}/polish")
    async def polish_widget(widget_id: uuid.UUID) -> None:
        return None

    @router.post("/api/widgets/{widget_id}/parts", status_code=201)
    async def add_part(widget_id: uuid.UUID) -> None:
        return None

    assert lists_escaping_the_mechanism(router.routes) == ["list_widgets"]
    assert sorted(writes_escaping_if_match(router.routes)) == ["polish_widget", "update_widget"]


def list_params_dep(*fields: str) -> Any:
    from fastapi import Depends

    return Depends(list_params(*fields, default=fields[0]))


# -- lists --------------------------------------------------------------------------------------


def test_every_list_route_uses_the_list_mechanism(app: FastAPI) -> None:
    assert lists_escaping_the_mechanism(app.routes) == []
    names = {r.name for r in list_routes(app.routes)}
    # The lists issue 15 names, so an empty or shrunken sweep cannot pass unnoticed.
    assert names >= {
        "list_team", "list_orgs", "list_my_orgs", "list_api_keys", "list_comments",
        "issue_activity", "list_project_members", "list_milestones", "search_orgs",
        "search_crossorg_orgs", "search_people", "palette_search", "list_projects",
        "list_issues", "list_sprints", "list_invitations",
    }  # fmt: skip


def test_list_parameters_are_in_the_spec(app: FastAPI) -> None:
    spec = app.openapi()
    for route in list_routes(app.routes):
        method = "get"
        operation = spec["paths"][route.path_format][method]
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert names >= {"limit", "offset", "page", "per_page", "sort"}, route.name


@pytest.fixture(scope="module")
async def people(app: FastAPI) -> dict[str, Person]:
    factory = Factory(app)
    pool = {role.value: await factory.person() for role in ROLES}
    pool["outsider"] = await factory.person()
    return pool


class Caller:
    """The org's owner on a fresh browser session (CSRF and org header), or on a key."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    async def request(
        self, method: str, path: str, body: Any = None, **headers: str
    ) -> httpx.Response:
        return await self.client.request(
            method, path, json=body, headers={**self.headers, **headers}
        )


async def owner_of(factory: Factory, world: World, people: dict[str, Person]) -> Caller:
    client, csrf = await fresh_session(factory, people["owner"])
    return Caller(client, {"X-CSRF-Token": csrf, "X-Org-Id": str(world.org.id)})


def _with(path: str, query: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}"


async def test_every_list_route_pages_sorts_and_refuses_bad_values(
    app: FastAPI, people: dict[str, Person]
) -> None:
    factory = Factory(app)
    world = await build_world(factory, people)
    caller = await owner_of(factory, world, people)
    failures: list[str] = []
    routes = list_routes(app.routes)
    assert routes
    try:
        for route in routes:
            assert route.name in RECIPES, f"{route.name}: add a recipe to tests/test_authz.py"
            method, path, _ = RECIPES[route.name](world)
            plain = await caller.request(method, path)
            if plain.status_code != 200 or "x-total-count" not in plain.headers:
                failures.append(f"{route.name}: plain call {plain.status_code}, no X-Total-Count")
                continue
            total = int(plain.headers["x-total-count"])
            body = plain.json()
            items = body["orgs"] if route.name == "list_my_orgs" else body  # API.md §4's shape
            if not isinstance(items, list) or len(items) > 100 or len(items) != min(total, 100):
                failures.append(f"{route.name}: plain call is not a capped array")
            paged = await caller.request(method, _with(path, "limit=1"))
            page = paged.json()
            if paged.status_code != 200 or set(page) != {"data", "meta"}:
                failures.append(f"{route.name}: ?limit=1 answered {paged.status_code} {page}")
            elif len(page["data"]) > 1 or set(page["meta"]) != META or page["meta"]["limit"] != 1:
                failures.append(f"{route.name}: ?limit=1 page {page}")
            elif total > 1 and 'rel="next"' not in paged.headers.get("link", ""):
                failures.append(f"{route.name}: more than one item and no Link rel=next")
            for bad in ("limit=abc", "limit=1000", "offset=-1", "page=0", "sort=no_such_field"):
                refused = await caller.request(method, _with(path, bad))
                if refused.status_code != 400 or "code" not in refused.json():
                    failures.append(f"{route.name}: ?{bad} answered {refused.status_code}")
    finally:
        await caller.client.aclose()
    assert failures == []


async def test_a_list_sorts_by_its_declared_fields(app: FastAPI, people: dict[str, Person]) -> None:
    factory = Factory(app)
    world = await build_world(factory, people)
    caller = await owner_of(factory, world, people)
    try:
        forward = (await caller.request("GET", "/api/team?sort=email")).json()
        backward = (await caller.request("GET", "/api/team?sort=-email")).json()
        emails = [m["email"] for m in forward]
        assert emails == sorted(emails) and len(emails) == len(ROLES)
        assert [m["email"] for m in backward] == emails[::-1]
        second = (await caller.request("GET", "/api/team?sort=email&limit=1&offset=1")).json()
        assert second["data"][0]["email"] == emails[1]
        assert second["meta"] == {
            "total": len(ROLES), "page": 2, "per_page": 1, "pages": len(ROLES),
            "limit": 1, "offset": 1,
        }  # fmt: skip
    finally:
        await caller.client.aclose()


# -- If-Match -----------------------------------------------------------------------------------

# Where a client reads the tag it sends: a GET's ETag header, or an `etag` field of a list item.
TagSource = Callable[[World], tuple[str, Callable[[Any], str] | None]]


def _viewer_in_team(w: World) -> tuple[str, Callable[[Any], str]]:
    employee_id = str(w.org.employee_ids[Role.VIEWER])
    return "/api/team", lambda items: next(
        i["etag"] for i in items if i["employee_id"] == employee_id
    )


TAG_SOURCES: dict[str, TagSource] = {
    **dict.fromkeys(
        ("replace_issue", "update_issue", "delete_issue", "transition_issue", "archive_issue",
         "unarchive_issue"),
        lambda w: (f"/api/issues/{w.issue_id}", None),
    ),
    **dict.fromkeys(
        ("replace_project", "update_project", "delete_project", "replace_columns"),
        lambda w: (f"/api/projects/{w.project_id}", None),
    ),
    **dict.fromkeys(
        ("replace_sprint", "update_sprint", "delete_sprint", "start_sprint", "complete_sprint"),
        lambda w: (f"/api/sprints/{w.sprint_id}", None),
    ),
    **dict.fromkeys(
        ("replace_milestone", "update_milestone", "delete_milestone"),
        lambda w: (f"/api/projects/{w.project_id}/milestones/{w.milestone_id}", None),
    ),
    **dict.fromkeys(
        ("replace_doc", "update_doc", "delete_doc", "restore_doc"),
        lambda w: (f"/api/projects/{w.project_id}/docs/{w.doc_id}", None),
    ),
    **dict.fromkeys(
        ("edit_comment", "delete_comment"),
        lambda w: (f"/api/issues/{w.issue_id}/comments/{w.comment_id}", None),
    ),
    **dict.fromkeys(("update_org", "delete_org"), lambda w: (f"/api/orgs/{w.org.id}", None)),
    **dict.fromkeys(
        ("change_member_role", "remove_member"),
        _viewer_in_team,
    ),
    **dict.fromkeys(
        ("replace_time_entry", "update_time_entry", "delete_time_entry"),
        lambda w: (f"/api/time-entries/{w.time_entry_id}", None),
    ),
    "stop_time_entry": lambda w: (f"/api/time-entries/{w.timer_id}", None),
    "stop_issue_timer": lambda w: ("/api/time-entries/active", None),
    **dict.fromkeys(
        ("update_webhook", "delete_webhook", "rotate_webhook_secret", "replay_webhook"),
        lambda w: (f"/api/webhooks/{w.webhook_id}", None),
    ),
    "revoke_api_key": lambda w: (f"/api/api-keys/{w.key_id}", None),
    "revoke_invitation": lambda w: (f"/api/orgs/invitations/{w.invitation_id}", None),
    "remove_project_member": lambda w: (
        f"/api/projects/{w.project_id}/members/{w.org.members[Role.VIEWER].user_id}",
        None,
    ),
}  # fmt: skip


def test_every_write_of_an_existing_resource_takes_if_match(app: FastAPI) -> None:
    assert writes_escaping_if_match(app.routes) == []
    names = {r.name for r in writes_of_existing_resources(app.routes)}
    assert names - set(TAG_SOURCES) == set(), "say where a client reads the tag it sends"
    assert names >= {
        "edit_comment", "delete_comment", "update_org", "delete_org", "change_member_role",
        "remove_member", "revoke_api_key", "remove_project_member", "revoke_invitation",
    }  # fmt: skip


WRITES = sorted(TAG_SOURCES)


@pytest.mark.parametrize("route", WRITES)
async def test_a_stale_if_match_is_412_and_writes_nothing(
    app: FastAPI, people: dict[str, Person], route: str
) -> None:
    factory = Factory(app)
    world = await build_world(factory, people)
    caller = await owner_of(factory, world, people)
    method, path, body = RECIPES[route](world)
    try:
        before = await snapshot(factory, world)
        stale = await caller.request(method, path, body, **{"If-Match": '"stale-tag"'})
        assert stale.status_code == 412, stale.text
        assert stale.json()["code"] == "precondition_failed"
        assert await snapshot(factory, world) == before
        # The tag a client can read is the one the write compares: sending it passes.
        source, pick = TAG_SOURCES[route](world)
        read = await caller.request("GET", source)
        assert read.status_code == 200, read.text
        tag = read.headers["etag"] if pick is None else pick(read.json())
        fresh = await caller.request(method, path, body, **{"If-Match": tag})
        assert fresh.status_code != 412, fresh.text
        assert fresh.status_code < 300 or fresh.json()["code"] != "precondition_failed"
    finally:
        await caller.client.aclose()


# -- Location -----------------------------------------------------------------------------------

# RFC 7591 registration answers the client's metadata; there is no client configuration
# endpoint to point at (RFC 7592 is not implemented).
NO_LOCATION = {"register_client"}
# What must happen before a create can answer 201 in a world where the resource already
# exists: one running timer per person, so a timer start first stops the caller's timer.
PREPARE: dict[str, Callable[[World], tuple[str, str]]] = {
    **dict.fromkeys(
        ("start_issue_timer", "start_timer"),
        lambda w: (
            "POST",
            f"/api/projects/{w.project_id}/issues/{w.issue_id}/time-entries/timer-stop",
        ),
    ),
}


def creating_routes(app: FastAPI) -> list[str]:
    return sorted(
        c.original_route.name
        for c in iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIRoute) and c.original_route.status_code == 201
    )


def test_the_location_sweep_covers_the_creates(app: FastAPI) -> None:
    names = set(creating_routes(app)) - NO_LOCATION
    assert names >= {"add_comment", "create_invitation", "add_project_member", "mint_api_key"}
    assert names - set(RECIPES) == set()


@pytest.mark.parametrize("credential", ["session", "pat"])
async def test_every_201_has_a_location_that_a_get_follows(
    app: FastAPI, people: dict[str, Person], credential: str
) -> None:
    factory = Factory(app)
    world = await build_world(factory, people)
    caller = await owner_of(factory, world, people)
    token = await factory.key(world.org.id, people["owner"], "location sweep")
    keyed = Caller(factory.client(Authorization=f"Bearer {token}"), {})
    failures = []
    try:
        for name in sorted(set(creating_routes(app)) - NO_LOCATION):
            method, path, body = RECIPES[name](world)
            who = keyed if credential == "pat" else caller
            if name == "signup":  # signs a new person in: follow with that session
                who = Caller(factory.client(), {})
            if name in PREPARE:
                await who.request(*PREPARE[name](world), None)
            created = await who.request(method, path, body)
            if created.status_code == 403 and created.json()["code"] == "token_forbidden":
                continue  # the route refuses keys (API.md §3); the session leg covers it
            if created.status_code != 201:
                failures.append(f"{name}: {created.status_code} {created.text}")
                continue
            location = created.headers.get("location")
            if not location:
                failures.append(f"{name}: 201 without Location")
                continue
            followed = await who.request("GET", location)
            if followed.status_code != 200:
                failures.append(f"{name}: GET {location} answered {followed.status_code}")
            elif None not in (ids := (created.json().get("id"), followed.json().get("id"))) and (
                ids[0] != ids[1]
            ):
                failures.append(f"{name}: Location names another resource")
    finally:
        await caller.client.aclose()
        await keyed.client.aclose()
    assert failures == []


async def test_an_api_key_reads_like_its_list_item_and_never_shows_the_secret(
    app: FastAPI, people: dict[str, Person]
) -> None:
    factory = Factory(app)
    world = await build_world(factory, people)
    caller = await owner_of(factory, world, people)
    try:
        minted = await caller.request("POST", "/api/api-keys", {"name": "read me"})
        token = minted.json()["token"]
        one = await caller.request("GET", minted.headers["location"])
        assert one.status_code == 200
        assert token not in one.text and "token" not in one.json()
        listed = (await caller.request("GET", "/api/api-keys")).json()
        assert one.json() in listed
        # Someone else's key is not there for a non-admin (as in the list); admins see it.
        member = org_member(people, Role.MEMBER)
        client, csrf = await fresh_session(factory, member)
        try:
            theirs = await client.get(
                minted.headers["location"], headers={"X-Org-Id": str(world.org.id)}
            )
            assert theirs.status_code == 404
        finally:
            await client.aclose()
        # A revoked key is gone.
        revoked = await caller.request("DELETE", minted.headers["location"])
        assert revoked.status_code == 204
        assert (await caller.request("GET", minted.headers["location"])).status_code == 404
    finally:
        await caller.client.aclose()


def org_member(people: dict[str, Person], role: Role) -> Person:
    return people[role.value]
