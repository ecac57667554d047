"""``?dry_run=true`` (API.md §9): every write runs in full and keeps nothing.

The sweep sends every write route of the app as a dry run, checks that no table changed, and
then sends the same request for real: a dry run answers what the write answers.
"""

from __future__ import annotations

import hashlib
import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.authz import Audience
from projekt.core.context import Role
from projekt.db_registry import metadata
from projekt.middleware.dry_run import document, requested
from projekt.policy import POLICY
from tests.factories import Factory, Person
from tests.records import RECORDS, EventMarks
from tests.test_authz import RECIPES, ROLES, WEB_ROUTES, World, build_world
from tests.test_rules import TAG_SOURCES, Caller, owner_of

DRY = "dry_run=true"
# Identification's bookkeeping (at most once a minute per key, ten per session): it happens
# before the request is known to be a dry run, and changes nothing a credential may do.
TOUCHES = {"last_used_at", "last_seen_at"}


def dry(path: str, query: str = DRY) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}"


async def snapshot(app: FastAPI, org_id: uuid.UUID) -> dict[str, Any]:
    """Row counts of every table, and a digest of every row of the org's tables."""
    counts: dict[str, Any] = {}
    rows = hashlib.sha256()
    async with app.state.services.db.read() as session:
        for table in metadata.sorted_tables:
            counts[table.name] = await session.scalar(select(func.count()).select_from(table))
            rows.update(await _org_rows(session, table, org_id))
    counts["org rows"] = rows.hexdigest()
    return counts


async def _org_rows(session: AsyncSession, table: Table, org_id: uuid.UUID) -> bytes:
    column = table.c.get("org_id")
    if column is None and table.name == "orgs":
        column = table.c.id
    if column is None:
        return b""
    kept = [c for c in table.c if c.name not in TOUCHES]
    found = await session.execute(
        select(*kept).where(column == org_id).order_by(*table.primary_key)
    )
    return repr((table.name, found.all())).encode()


def write_routes(app: FastAPI) -> list[APIRoute]:
    """The API's writes; the HTML forms (``/app``, the consent page) run through the same
    transaction owners and are checked on their own below."""
    return [
        c.original_route
        for c in iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIRoute)
        and c.original_route.name not in WEB_ROUTES
        and (c.original_route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
    ]


def test_the_sweep_covers_every_write(app: FastAPI) -> None:
    names = {route.name for route in write_routes(app)}
    assert names >= {
        "create_issue", "bulk_issues", "transition_issue", "delete_org", "login",
        "revoke_invitation",
    }  # fmt: skip
    assert names - set(RECIPES) == set()
    # Each write says what it records (tests/records.py), or that it records nothing.
    assert names - set(RECORDS) == set(), "say what the route records"
    # The snapshot compares every table, the record's among them.
    assert {"events", "event_counters"} <= {table.name for table in metadata.sorted_tables}


def record_failures(
    name: str, response: httpx.Response, appended: list[Any], rid: str, user_id: uuid.UUID
) -> list[str]:
    """What is wrong with the events one real call appended (``RECORDS``)."""
    kinds = tuple(event.type for event in appended)
    if response.status_code >= 300:
        return [f"{name}: refused ({response.status_code}) yet recorded {kinds}"] if kinds else []
    expected = RECORDS[name] or ()
    if kinds != expected:
        return [f"{name}: recorded {kinds}, expected {expected}"]
    wrong = [
        event.type
        for event in appended
        if (event.request_id, event.actor_user_id, event.credential_kind)
        != (rid, user_id, "session")
    ]
    return [f"{name}: {wrong} do not name the caller and the request"] if wrong else []


def test_the_record_check_fails_a_write_that_records_nothing_or_the_wrong_thing() -> None:
    ok = httpx.Response(200)
    user = uuid.uuid4()
    nothing = record_failures("update_issue", ok, [], "r", user)
    assert nothing == ["update_issue: recorded (), expected ('issue.updated',)"]
    wrong = SimpleNamespace(type="issue.deleted", request_id="r", actor_user_id=user,
                            credential_kind="session")  # fmt: skip
    assert record_failures("update_issue", ok, [wrong], "r", user) != []
    right = SimpleNamespace(type="issue.updated", request_id="r", actor_user_id=user,
                            credential_kind="session")  # fmt: skip
    assert record_failures("update_issue", ok, [right], "r", user) == []
    assert record_failures("update_issue", ok, [right], "other", user) != []
    refused = httpx.Response(422)
    assert record_failures("update_issue", refused, [right], "r", user) != []
    assert record_failures("update_issue", refused, [], "r", user) == []


@pytest.fixture(scope="module")
async def people(app: FastAPI) -> dict[str, Person]:
    factory = Factory(app)
    pool = {role.value: await factory.person() for role in ROLES}
    pool["outsider"] = await factory.person()
    return pool


def _shape(response: httpx.Response) -> Any:
    """What a dry run and the real write must share beyond the status: the error code, or the
    fields of the answer (ids and times differ between two creates)."""
    if not response.content or "json" not in response.headers.get("content-type", ""):
        return None
    body = response.json()
    if response.status_code >= 400:
        return body.get("code", body.get("error"))
    return sorted(body) if isinstance(body, dict) else type(body).__name__


async def test_every_write_dry_runs_and_then_answers_the_same_for_real(
    app: FastAPI, people: dict[str, Person]
) -> None:
    factory = Factory(app)
    world = await build_world(factory, people)
    owner = await owner_of(factory, world, people)
    # Routes anyone may call (sign-in would change the owner's cookie) go without a session.
    anonymous = Caller(factory.client(), {})
    failures: list[str] = []
    succeeded: list[str] = []
    recorded: list[str] = []
    marks = EventMarks(app)
    # Deletes end what later calls aim at, and deleting the org and signing out end the
    # session's standing: they go last.
    names = sorted(
        (route.name for route in write_routes(app)),
        key=lambda n: (
            n == "logout",
            n == "delete_org",
            RECIPES[n](world)[0] == "DELETE",
            n == "complete_sprint",  # after start_sprint
            n,
        ),
    )
    try:
        for name in names:
            method, path, body = RECIPES[name](world)
            public = POLICY[name].audience is Audience.PUBLIC and name != "logout"
            caller = anonymous if public else owner
            before = await snapshot(app, world.org.id)
            trial = await caller.request(method, dry(path), body)
            after = await snapshot(app, world.org.id)
            changed = sorted(k for k in before if before[k] != after[k])
            if changed:
                failures.append(f"{name}: the dry run changed {changed}")
            if trial.headers.get("dry-run") != "true":
                failures.append(f"{name}: no Dry-Run header ({trial.status_code})")
            if "set-cookie" in trial.headers:
                failures.append(f"{name}: the dry run set a cookie")
            await marks.mark()
            rid = f"sweep-{uuid.uuid4().hex[:12]}"
            real = await caller.request(method, path, body, **{"X-Request-Id": rid})
            appended = await marks.appended()
            failures += record_failures(name, real, appended, rid, people["owner"].user_id)
            recorded += [name] if appended else []
            if "dry-run" in real.headers:
                failures.append(f"{name}: the real write says Dry-Run")
            if (trial.status_code, _shape(trial)) != (real.status_code, _shape(real)):
                failures.append(
                    f"{name}: dry {trial.status_code} {_shape(trial)}, "
                    f"real {real.status_code} {_shape(real)}"
                )
            elif real.status_code < 300:
                succeeded.append(name)
    finally:
        await owner.client.aclose()
        await anonymous.client.aclose()
    assert failures == []
    # Not a sweep of refusals: most writes succeed for the owner, and record.
    assert len(succeeded) >= 30, sorted(set(names) - set(succeeded))
    assert len(recorded) >= 30, sorted(set(names) - set(recorded))


# -- the fast path, bulk, transitions --------------------------------------------------------


@pytest.fixture
async def world(app: FastAPI, people: dict[str, Person]) -> World:
    return await build_world(Factory(app), people)


@pytest.fixture
async def owner(app: FastAPI, world: World, people: dict[str, Person]) -> Any:
    caller = await owner_of(Factory(app), world, people)
    yield caller
    await caller.client.aclose()


async def test_a_dry_create_takes_no_number(app: FastAPI, world: World, owner: Caller) -> None:
    body = {"project_id": str(world.project_id), "title": "Trial"}
    before = await snapshot(app, world.org.id)
    trial = await owner.request("POST", dry("/api/issues"), body)
    assert trial.status_code == 201, trial.text
    assert trial.headers["dry-run"] == "true"
    assert await snapshot(app, world.org.id) == before
    gone = await owner.request("GET", f"/api/issues/{trial.json()['id']}")
    assert gone.status_code == 404
    real = await owner.request("POST", "/api/issues", body)
    assert real.status_code == 201
    assert real.json()["key"] == trial.json()["key"]


async def test_bulk_and_transition_dry_runs_answer_and_change_nothing(
    app: FastAPI, world: World, owner: Caller
) -> None:
    issue = f"/api/issues/{world.issue_id}"
    read = await owner.request("GET", issue)
    before = await snapshot(app, world.org.id)
    moved = await owner.request("POST", dry(f"{issue}/transition"), {"status": "Done"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "Done"
    bulk = {"issue_ids": [str(world.issue_id)], "action": "set_priority", "value": "high"}
    changed = await owner.request("POST", dry("/api/issues/bulk"), bulk)
    assert changed.status_code == 200, changed.text
    assert changed.headers["dry-run"] == "true"
    assert await snapshot(app, world.org.id) == before
    again = await owner.request("GET", issue)
    assert (again.json(), again.headers["etag"]) == (read.json(), read.headers["etag"])


async def test_a_stale_if_match_is_412_in_a_dry_run_too(world: World, owner: Caller) -> None:
    for name in ("update_issue", "transition_issue", "delete_project", "revoke_api_key"):
        method, path, body = RECIPES[name](world)
        stale = await owner.request(method, dry(path), body, **{"If-Match": '"stale"'})
        assert stale.status_code == 412, (name, stale.text)
        assert stale.headers["dry-run"] == "true"
        source, pick = TAG_SOURCES[name](world)
        read = await owner.request("GET", source)
        tag = read.headers["etag"] if pick is None else pick(read.json())
        fresh = await owner.request(method, dry(path), body, **{"If-Match": tag})
        assert fresh.status_code < 300, (name, fresh.text)


async def test_a_viewers_dry_run_of_a_write_is_403(app: FastAPI, world: World) -> None:
    viewer = world.org.members[Role.VIEWER]
    before = await snapshot(app, world.org.id)
    for name in ("create_issue", "create_project", "delete_issue"):
        method, path, body = RECIPES[name](world)
        refused = await viewer.client.request(
            method, dry(path), json=body, headers=viewer.headers(world.org.id)
        )
        assert refused.status_code == 403, (name, refused.text)
        assert refused.headers["dry-run"] == "true"
    assert await snapshot(app, world.org.id) == before


# -- the parameter ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["dry_run=maybe", "dry_run=1", "dry_run=True", "dry_run=", "dry_run=true&dry_run=false"],
)
async def test_a_bad_dry_run_is_400_and_runs_nothing(
    app: FastAPI, world: World, owner: Caller, query: str
) -> None:
    before = await snapshot(app, world.org.id)
    body = {"project_id": str(world.project_id), "title": "Never"}
    refused = await owner.request("POST", dry("/api/issues", query), body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "bad_dry_run"
    assert "dry-run" not in refused.headers
    assert await snapshot(app, world.org.id) == before


async def test_dry_run_false_is_the_real_write(world: World, owner: Caller) -> None:
    body = {"project_id": str(world.project_id), "title": "Real"}
    created = await owner.request("POST", dry("/api/issues", "dry_run=false"), body)
    assert created.status_code == 201
    assert "dry-run" not in created.headers
    found = await owner.request("GET", f"/api/issues/{created.json()['id']}")
    assert found.status_code == 200


async def test_reads_ignore_dry_run(world: World, owner: Caller) -> None:
    read = await owner.request("GET", dry(f"/api/issues/{world.issue_id}", "dry_run=maybe"))
    assert read.status_code == 200
    assert "dry-run" not in read.headers


def test_the_parameter_is_parsed_as_starlette_reads_queries() -> None:
    assert requested(b"") is False
    assert requested(b"a=1") is False
    assert requested(b"dry_run=true") is True
    assert requested(b"dry%5Frun=true") is True
    assert requested(b"dry_run=true&dry_run=true") is True
    assert requested(b"dry_run=false") is False
    assert requested(b"dry_runs=maybe") is False
    assert requested(b"dry_run=TRUE") is None


# -- what else a write touches -----------------------------------------------------------------


async def test_a_dry_run_leaves_its_idempotency_key_unused(
    app: FastAPI, world: World, owner: Caller
) -> None:
    key = {"Idempotency-Key": f"dry-{uuid.uuid4()}"}
    body = {"project_id": str(world.project_id), "title": "Keyed"}
    trial = await owner.request("POST", dry("/api/issues"), body, **key)
    assert trial.status_code == 201
    assert "idempotent-replayed" not in trial.headers
    # The same key on the same dry run runs it again; the real request then runs too.
    again = await owner.request("POST", dry("/api/issues"), body, **key)
    assert "idempotent-replayed" not in again.headers
    real = await owner.request("POST", "/api/issues", body, **key)
    assert real.status_code == 201
    assert "idempotent-replayed" not in real.headers
    assert real.json()["key"] == trial.json()["key"]
    replay = await owner.request("POST", "/api/issues", body, **key)
    assert replay.headers["idempotent-replayed"] == "true"


async def test_no_after_commit_hook_runs_in_a_dry_run(
    app: FastAPI, world: World, owner: Caller
) -> None:
    ran: list[object] = []

    async def hook(session: AsyncSession) -> None:
        ran.append(session)

    hooks = app.state.services.db.after_commit
    hooks.append(hook)
    try:
        path = f"/api/projects/{world.project_id}"
        trial = await owner.request("PATCH", dry(path), {"name": "Trial"})
        assert trial.status_code == 200, trial.text
        assert ran == []
        real = await owner.request("PATCH", path, {"name": "Real"})
        assert real.status_code == 200
        assert len(ran) == 1
    finally:
        hooks.remove(hook)


async def test_a_dry_revoke_leaves_the_key_working(
    app: FastAPI, world: World, people: dict[str, Person]
) -> None:
    factory = Factory(app)
    token = await factory.key(world.org.id, people["owner"], "dry revoke")
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        key_id = (await keyed.get("/api/api-keys")).json()
        mine = next(k["id"] for k in key_id if k["name"] == "dry revoke")
        session = people["owner"]
        trial = await session.client.delete(
            dry(f"/api/api-keys/{mine}"), headers=session.headers(world.org.id)
        )
        assert trial.status_code == 204, trial.text
        assert (await keyed.get("/api/api-keys")).status_code == 200


async def test_a_dry_sign_in_sets_no_cookie_and_keeps_no_session(
    app: FastAPI, world: World, people: dict[str, Person]
) -> None:
    person = people["member"]
    before = await snapshot(app, world.org.id)
    async with Factory(app).client() as anonymous:
        trial = await anonymous.post(
            dry("/api/auth/login"), json={"email": person.email, "password": "wrong password"}
        )
        assert trial.status_code == 401
        from tests.factories import PASSWORD

        signed = await anonymous.post(
            dry("/api/auth/login"), json={"email": person.email, "password": PASSWORD}
        )
        assert signed.status_code == 200, signed.text
        assert "set-cookie" not in signed.headers
        assert (await anonymous.get("/api/me")).status_code == 401
    assert await snapshot(app, world.org.id) == before


async def test_a_dry_run_counts_against_the_rate_limit(world: World, owner: Caller) -> None:
    first = await owner.request("GET", "/api/me")
    if "x-ratelimit-remaining" not in first.headers:
        pytest.skip("rate limiting is off in this configuration")
    body = {"project_id": str(world.project_id), "title": "Counted"}
    trial = await owner.request("POST", dry("/api/issues"), body)
    after = await owner.request("GET", "/api/me")
    assert int(trial.headers["x-ratelimit-remaining"]) < int(first.headers["x-ratelimit-remaining"])
    assert int(after.headers["x-ratelimit-remaining"]) < int(trial.headers["x-ratelimit-remaining"])


# -- OpenAPI ----------------------------------------------------------------------------------


def test_every_write_operation_documents_dry_run(app: FastAPI) -> None:
    spec = app.state.openapi.document()  # what the app serves
    again = app.state.openapi.document()
    document(again)  # twice changes nothing more
    assert again == spec
    writes = 0

    def name_of(param: dict[str, Any]) -> str:
        return str(param.get("name") or param["$ref"].rsplit("/", 1)[-1])

    for item in spec["paths"].values():
        for method, operation in item.items():
            if method not in ("post", "put", "patch", "delete"):
                assert "dry_run" not in {name_of(p) for p in operation.get("parameters", [])}
                continue
            writes += 1
            names = [name_of(p) for p in operation["parameters"] if p.get("in") == "query"]
            assert names.count("dry_run") == 1, operation["operationId"]
            for response in operation["responses"].values():
                assert "Dry-Run" in response["headers"]
            assert "bad_dry_run" in operation["responses"]["400"]["description"]
    assert writes >= 40
    public = {name for name, rule in POLICY.items() if rule.audience is Audience.PUBLIC}
    assert public  # public writes get dry runs too (docs/decisions.md)


async def test_a_web_form_dry_runs_through_the_same_unit_of_work(
    app: FastAPI, factory: Factory
) -> None:
    person = await factory.person()
    form = {"name": "Form org", "csrf_token": person.csrf}
    before = await snapshot(app, uuid.uuid4())
    trial = await person.client.post(dry("/app/orgs"), data=form)
    assert trial.status_code == 303, trial.text
    assert trial.headers["dry-run"] == "true"
    assert "set-cookie" not in trial.headers
    assert await snapshot(app, uuid.uuid4()) == before
    real = await person.client.post("/app/orgs", data=form)
    assert real.status_code == 303
    assert (await snapshot(app, uuid.uuid4()))["orgs"] == before["orgs"] + 1
