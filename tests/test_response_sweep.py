"""The response sweep (tests/response_sweep.py) catches what a raw ``Response`` would let by."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from projekt.core.context import Role
from tests.factories import Factory
from tests.response_sweep import ResponseSweep


def _scope(app: FastAPI, name: str, path: str) -> dict[str, Any]:
    contexts = iter_route_contexts(app.routes)
    route = next(
        c.original_route for c in contexts if getattr(c.original_route, "name", "") == name
    )
    return {"method": "GET", "path": path, "route": route}


async def test_a_body_off_its_schema_or_an_undeclared_status_is_reported(
    app: FastAPI, factory: Factory
) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    project = await factory.project(org, key="WEB")
    member = org.members[Role.MEMBER]
    headers = member.headers(org.id)
    created = await member.client.post(
        "/api/issues", json={"project_id": str(project.id), "title": "Swept"}, headers=headers
    )
    body = (await member.client.get(f"/api/issues/{created.json()['id']}", headers=headers)).content
    scope = _scope(app, "get_issue", "/api/issues/WEB-1")

    sweep = ResponseSweep()
    sweep.check(app, scope, 200, body)
    assert sweep.report() == []
    assert sweep.checked == 1

    sweep.check(
        app, scope, 200, body.replace(b'"time_spent_minutes":0', b'"time_spent_minutes":"0"')
    )
    sweep.check(app, _scope(app, "list_issues", "/api/issues"), 200, b'[{"id": "nope"}]')
    sweep.check(app, _scope(app, "create_issue", "/api/issues"), 200, body)
    problems = sweep.report()
    assert len(problems) == 3, problems
    assert any("time_spent_minutes" in p for p in problems)
    assert any("create_issue: 200 not declared" in p for p in problems)
