"""Every request body is strict (core.schemas.InputModel): a sweep over every route of the app.

For each body model reachable from a route, every field is fed values of the wrong JSON type
(the coercions pydantic would otherwise make) and must be refused, naming the field; ``null``
must be refused exactly where the field's schema does not say nullable.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError

from projekt.core.schemas import InputModel
from projekt.oauth.schemas import Registration
from tests.factories import Factory

# Wrong values per JSON type: each one is something lax validation would have taken.
WRONG: dict[str, list[Any]] = {
    "boolean": ["yes", "off", "true", 0, 1],
    "integer": ["5", False, True, 5.5],
    "number": ["5", "5.0", False, True],
    "string": [5, 5.0, True, ["x"]],
    "array": ["x", {"x": 1}, 5],
}
WRONG_FORMAT: dict[str, list[Any]] = {
    "date": [0, 1_700_000_000, "1700000000", "tomorrow"],
    "date-time": [0, 1_700_000_000, "1700000000"],
    "uuid": [0, 123456789],
}


def _models_of(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models_of(field.annotation)
        return
    for arg in typing.get_args(annotation):
        yield from _models_of(arg)


def iter_api_routes(app: FastAPI) -> Iterator[APIRoute]:
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context.original_route


def body_models(app: FastAPI) -> dict[type[BaseModel], str]:
    found: dict[type[BaseModel], str] = {Registration: "register_client"}
    for route in iter_api_routes(app):
        if route.body_field is not None:
            media = getattr(route.body_field.field_info, "media_type", "")
            if media != "application/json":
                continue  # web forms: HTML pages, out of the JSON API's contract
            for model in _models_of(route.body_field.field_info.annotation):
                found.setdefault(model, route.name)
    return found


def _branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    return list(prop.get("anyOf", [prop]))


def test_every_body_model_is_strict(app: FastAPI) -> None:
    models = body_models(app)
    assert len(models) > 10
    for model, route in models.items():
        assert issubclass(model, InputModel), f"{route}: {model.__name__} is not an InputModel"
        if model is not Registration:  # RFC 7591 §2: unknown client metadata is ignored
            assert model.model_config.get("extra") == "forbid", model.__name__
        assert model.model_config.get("strict") is True, model.__name__


def _cases(app: FastAPI) -> Iterator[tuple[type[BaseModel], str, Any, bool]]:
    """(model, field, value, accepted?) for every field of every body model."""
    for model in body_models(app):
        schema = model.model_json_schema()
        for name, prop in schema["properties"].items():
            branches = _branches(prop)
            types = {b.get("type") for b in branches}
            formats = {b.get("format") for b in branches}
            for kind in types:
                for value in WRONG.get(str(kind), []):
                    if kind == "string" and formats & WRONG_FORMAT.keys():
                        continue  # covered below
                    if any(_fits(value, b) for b in branches):
                        continue
                    yield model, name, value, False
            for fmt in formats & WRONG_FORMAT.keys():
                for value in WRONG_FORMAT[str(fmt)]:
                    yield model, name, value, False
            if "integer" in types:
                yield model, name, 1.0, True  # JSON's 1.0 is the integer 1 (RFC 8259 §6)
            yield model, name, None, "null" in types or types == {None}


def _fits(value: Any, branch: dict[str, Any]) -> bool:
    kind = branch.get("type")
    if isinstance(value, bool):
        return kind == "boolean"
    if isinstance(value, int):
        return kind in ("integer", "number")
    if isinstance(value, float):
        return kind == "number"
    if isinstance(value, str):
        return kind == "string" and "format" not in branch and "enum" not in branch
    if isinstance(value, list):
        return kind == "array"
    return kind == "object"


def test_no_field_takes_a_value_of_another_type(app: FastAPI) -> None:
    checked = 0
    for model, name, value, accepted in _cases(app):
        try:
            model.model_validate({name: value})
            errors: list[Any] = []
        except ValidationError as exc:
            errors = exc.errors()
        on_field = [e for e in errors if tuple(e["loc"][:1]) == (name,)]
        if accepted:
            assert not on_field, (model.__name__, name, value, on_field)
        else:
            assert on_field, f"{model.__name__}.{name} took {value!r}"
        checked += 1
    assert checked > 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"discoverable": "yes"}, "discoverable"),
        ({"discoverable": 0}, "discoverable"),
        ({"discoverable": "off"}, "discoverable"),
        ({"name": None}, "name"),
        ({"slug": None}, "slug"),
        ({"name": "   "}, "name"),
        ({"owner_id": "x"}, "owner_id"),
    ],
)
async def test_org_update_refuses_coercion_and_null(
    factory: Factory, body: dict[str, Any], field: str
) -> None:
    org = await factory.org()
    response = await org.owner.client.patch(
        f"/api/orgs/{org.id}", json=body, headers=org.owner.headers(org.id)
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert field in response.json()["errors"]
    after = await org.owner.client.get(f"/api/orgs/{org.id}", headers=org.owner.headers(org.id))
    assert after.json()["name"] == f"Org {org.slug}"


async def test_issue_and_milestone_bodies_refuse_coercion(factory: Factory) -> None:
    org = await factory.org()
    project = await factory.project(org)
    owner = org.owner
    headers = owner.headers(org.id)
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/api/issues", {"estimated_hours": "5"}, "estimated_hours"),
        ("POST", "/api/issues", {"due_date": 0}, "due_date"),
        ("POST", f"/api/projects/{project.id}/milestones", {"target_date": 0}, "target_date"),
        ("POST", "/api/projects", {"key": "ABC", "name": "x", "visibility": None}, "visibility"),
    ]
    for method, path, extra, field in cases:
        body = {"project_id": str(project.id), "title": "t", "name": "n", **extra}
        if path == "/api/projects":
            body = extra
        elif "milestones" in path:
            body = {"name": "n", **extra}
        response = await owner.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert field in response.json()["errors"], (path, response.text)
    columns = [{"name": "A", "position": False}]
    response = await owner.client.put(
        f"/api/projects/{project.id}/columns", json=columns, headers=headers
    )
    assert response.status_code == 422, response.text
    assert any("position" in k for k in response.json()["errors"]), response.text


async def test_strings_are_taken_as_sent(client: httpx.AsyncClient, factory: Factory) -> None:
    """No trimming: the spec's lengths and patterns are exactly what the server checks."""
    org = await factory.org()
    project = await factory.project(org)
    response = await org.owner.client.post(
        "/api/issues",
        json={"project_id": str(project.id), "title": " padded ", "labels": [" a "]},
        headers=org.owner.headers(org.id),
    )
    assert response.status_code == 201, response.text
    assert response.json()["title"] == " padded "
    assert response.json()["labels"] == [" a "]
