"""Errors declared by class: the registry of codes, ``errors(...)``, and each route's declaration
checked against its policy and its shape (the answers themselves are swept over the whole suite by
``tests/error_sweep.py``)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from projekt.authz import Audience, Rule
from projekt.core.conditional import get_if_match
from projekt.core.context import Role
from projekt.core.errors import (
    AppError,
    NotFound,
    PreconditionFailed,
    all_error_classes,
)
from projekt.core.openapi import EVERY_ROUTE, errors
from projekt.issues.errors import IssueNotFound
from projekt.orgs.errors import OrgNotFound
from tests.error_sweep import ErrorSweep, declared_codes

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# The codes of the authorization layer (projekt.authz and the credential lookup).
AUTHZ = {"unauthorized", "org_mismatch", "org_required", "not_a_member", "token_forbidden"}


def test_registry_lists_every_error_class_with_one_status_per_code(app: FastAPI) -> None:
    classes = all_error_classes()
    names = {cls.__name__ for cls in classes}
    assert {"AppError", "IssueNotFound", "OrgNotFound", "BulkFailed", "InsufficientRole"} <= names
    statuses: dict[str, set[int]] = {}
    for cls in classes:
        assert SNAKE.match(cls.code), f"{cls.__qualname__}: {cls.code!r} is not snake_case"
        assert cls.message, cls
        statuses.setdefault(cls.code, set()).add(cls.status)
    clashes = {code: found for code, found in statuses.items() if len(found) > 1}
    assert not clashes, f"one code, several statuses: {clashes}"


def test_every_declared_code_has_a_class(app: FastAPI) -> None:
    known = {cls.code for cls in all_error_classes()}
    spec = app.state.openapi.document()
    for operation, statuses in declared_codes(spec).items():
        for status, codes in statuses.items():
            assert codes <= known, (operation, status, codes - known)


def test_errors_groups_classes_by_status_and_names_each_code() -> None:
    responses = errors(IssueNotFound, OrgNotFound, PreconditionFailed)
    assert responses[404]["x-codes"] == ["issue_not_found", "org_not_found"]
    schema = responses[404]["content"]["application/json"]["schema"]
    assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}
    assert schema["allOf"][1]["properties"]["code"]["enum"] == ["issue_not_found", "org_not_found"]
    assert "- `issue_not_found`: Issue not found." in responses[404]["description"]
    assert responses[412]["x-codes"] == ["precondition_failed"]
    # What every route can answer comes with it.
    for cls in EVERY_ROUTE:
        assert cls.code in responses[cls.status]["x-codes"]


def test_errors_takes_classes_only() -> None:
    with pytest.raises(TypeError):
        errors(404)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        errors(ValueError)  # type: ignore[arg-type]


def test_the_spec_lists_each_status_codes(app: FastAPI) -> None:
    """Each declared status of the served spec names its codes: ``x-codes`` and, but on 422
    (whose description the spec builder writes), the description."""
    spec = app.state.openapi.document()
    seen = 0
    for item in spec["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if "x-codes" not in response:
                    continue
                codes = response["x-codes"]
                assert codes and codes == sorted(codes), (operation["operationId"], status)
                if status != "422":
                    for code in codes:
                        assert f"`{code}`" in response["description"], (code, status)
                seen += 1
    assert seen > 500


def _routes(app: FastAPI) -> list[APIRoute]:
    return [
        context.original_route
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and context.original_route.path.startswith("/api/")
    ]


def _calls(dependant: Any) -> set[Any]:
    found = set()
    for dependency in dependant.dependencies:
        found.add(dependency.call)
        found |= _calls(dependency)
    return found


def _implied(rule: Rule, method: str) -> set[str]:
    """The authorization codes a route's rule can answer (projekt.authz, auth.credentials)."""
    codes: set[str] = set()
    if rule.audience is Audience.PUBLIC:
        return codes
    codes |= {"unauthorized", "org_mismatch"}
    if not rule.tokens:
        codes.add("token_forbidden")
    if rule.audience is Audience.ORG:
        codes |= {"org_required", "not_a_member"}
    return codes


def test_every_api_route_declares_what_its_layers_answer(app: FastAPI) -> None:
    """The sweep over every route: what its policy, body, If-Match and path imply is declared."""
    spec = app.state.openapi.document()
    declared = declared_codes(spec)
    policy: dict[str, Rule] = app.state.policy
    routes = _routes(app)
    assert len(routes) > 60
    for route in routes:
        method = sorted(route.methods or ())[0]
        assert route.name in declared, f"{route.name}: responses=errors(...) missing"
        codes = {code for found in declared[route.name].values() for code in found}
        rule = policy[route.name]
        implied = _implied(rule, method)
        assert codes & AUTHZ == implied, (route.name, sorted(codes & AUTHZ), sorted(implied))
        above_viewer = rule.audience in (Audience.ORG, Audience.PATH_ORG) and (
            rule.min_role is not Role.VIEWER
        )
        if above_viewer:
            assert "insufficient_role" in codes, route.name
        if rule.audience is Audience.PATH_ORG:
            assert "org_not_found" in codes, route.name
        if method in UNSAFE:
            assert {"bad_idempotency_key", "bad_dry_run"} <= codes, route.name
            assert ("csrf_failed" in codes) == (rule.audience is not Audience.PUBLIC), route.name
        else:
            assert "csrf_failed" not in codes, route.name
        if route.body_field is not None:
            assert {"malformed_json", "validation_failed"} <= codes, route.name
        if route.dependant.path_params:  # a malformed id is a 422 naming it
            assert "validation_failed" in codes, route.name
        if get_if_match in _calls(route.dependant):
            assert "precondition_failed" in codes, route.name
        if "{" in route.path:
            assert 404 in declared[route.name], route.name


def test_the_sweep_flags_a_code_its_route_does_not_declare(app: FastAPI) -> None:
    sweep = ErrorSweep()
    scope = {"type": "http", "method": "GET", "path": "/api/issues/WEB-1"}
    body = b'{"error": "Comment not found.", "code": "comment_not_found"}'
    sweep.record(app, scope, 404, body)
    sweep.record(app, scope, 404, b'{"error": "Issue not found.", "code": "issue_not_found"}')
    problems = sweep.undeclared()
    assert len(problems) == 1
    assert "get_issue answered 404 'comment_not_found'" in problems[0]


def test_the_sweep_flags_a_code_without_a_class(app: FastAPI) -> None:
    sweep = ErrorSweep()
    scope = {"type": "http", "method": "GET", "path": "/api/nowhere"}
    sweep.record(app, scope, 404, b'{"error": "?", "code": "made_up"}')
    assert sweep.undeclared() == ["'made_up' (404, GET /api/nowhere) has no error class"]


def test_every_error_class_is_an_app_error() -> None:
    assert all(issubclass(cls, AppError) for cls in all_error_classes())
    assert NotFound in all_error_classes()
