"""The remembered analysis of each declared parameter is FastAPI's own answer for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.dependencies.utils as fastapi_deps
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from projekt.config import Settings
from projekt.main import create_app

# Not re-exported by the module (mypy): looked up by name.
SEQUENCE = "field_annotation_is_sequence"


def _params(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.path_params
    yield from dependant.query_params
    yield from dependant.header_params
    yield from dependant.cookie_params
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _params(sub)


def _fields(app: FastAPI) -> list[Any]:
    fields: list[Any] = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            fields.extend(_params(context.dependant))
    return fields


def test_each_answer_is_fastapis(settings: Settings) -> None:
    app = create_app(settings)
    fields = _fields(app)
    assert len(fields) > 300  # the app's parameters, not an empty sweep
    kinds = set()
    for _ in range(2):  # the second pass answers from what the first remembered
        for field in fields:
            for name in ("_get_param_model", "_is_json_field"):
                cached = getattr(fastapi_deps, name)
                assert cached(field) == cached.__wrapped__(field), (name, field.name)
            aliases: Any = fastapi_deps._get_param_aliases
            for convert in (False, True):
                got = aliases(field, convert_underscores=convert)
                assert list(got) == aliases.__wrapped__(field, convert_underscores=convert)
            annotation = field.field_info.annotation
            sequence: Any = getattr(fastapi_deps, SEQUENCE)
            assert sequence(annotation) == sequence.__wrapped__(annotation), field.name
            kinds.add(sequence(annotation))
    assert kinds == {True, False}  # both answers occur among the app's parameters


def test_installed_once(settings: Settings) -> None:
    create_app(settings)
    wrapped = getattr(fastapi_deps, SEQUENCE)
    create_app(settings)
    assert getattr(fastapi_deps, SEQUENCE) is wrapped
    assert not hasattr(wrapped.__wrapped__, "__wrapped__")  # one wrapper, not two
