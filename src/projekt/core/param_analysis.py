"""FastAPI's analysis of a declared parameter, done once per parameter instead of per request.

For every query, header, cookie and path parameter of every request, FastAPI's
``request_params_to_args`` asks again what the declaration already fixed: is the parameter a
model, which names may carry it, is its annotation a sequence (twice), is it JSON. On the issue
list (some 14 query parameters) that was about a tenth of a request's CPU. The answers depend on
the declaration alone (a ``ModelField`` and its annotation, built when the route is), so they
are remembered on first use; the values a request carries are still read and validated by
FastAPI, from the same declarations, on every request.

``install`` wraps those four helpers of ``fastapi.dependencies.utils`` (module globals it
calls them through); ``tests/core/test_param_analysis.py`` checks that each cached answer equals
FastAPI's own for every parameter of the app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastapi.dependencies.utils as fastapi_deps

# Annotations are shared objects (``int | None``, ``list[str]``) and few; the bound only guards
# against a process that builds annotations without end.
MAX_ANNOTATIONS = 4096
_INSTALLED = "_projekt_param_analysis"
# The helpers of fastapi.dependencies.utils that are wrapped (each keeps ``__wrapped__``).
WRAPPED = (
    "_get_param_model",
    "_is_json_field",
    "_get_param_aliases",
    "field_annotation_is_sequence",
)
_MISSING = object()


def _per_field(original: Callable[..., Any], attribute: str) -> Callable[..., Any]:
    def cached(field: Any) -> Any:
        try:
            return field.__dict__[attribute]
        except KeyError:
            answer = field.__dict__[attribute] = original(field)
            return answer

    cached.__wrapped__ = original  # type: ignore[attr-defined]
    return cached


def _aliases(original: Callable[..., Any]) -> Callable[..., Any]:
    def cached(field: Any, *, convert_underscores: bool = False) -> Any:
        attribute = "_projekt_aliases_converted" if convert_underscores else "_projekt_aliases"
        found = field.__dict__.get(attribute, _MISSING)
        if found is _MISSING:
            found = original(field, convert_underscores=convert_underscores)
            # A tuple: every caller only iterates the pairs; a shared list could be changed.
            found = field.__dict__[attribute] = tuple(found)
        return found

    cached.__wrapped__ = original  # type: ignore[attr-defined]
    return cached


def _per_annotation(original: Callable[[object], bool]) -> Callable[[object], bool]:
    # By identity: the annotation stays referenced by the entry, so its id cannot be reused.
    answers: dict[int, tuple[object, bool]] = {}

    def cached(annotation: object) -> bool:
        found = answers.get(id(annotation))
        if found is not None and found[0] is annotation:
            return found[1]
        answer = original(annotation)
        if len(answers) >= MAX_ANNOTATIONS:
            answers.clear()
        answers[id(annotation)] = (annotation, answer)
        return answer

    cached.__wrapped__ = original  # type: ignore[attr-defined]
    return cached


def install() -> None:
    """Idempotent: every app of the process shares FastAPI's module."""
    if getattr(fastapi_deps, _INSTALLED, False):
        return
    wrappers: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
        "_get_param_model": lambda f: _per_field(f, "_projekt_param_model"),
        "_is_json_field": lambda f: _per_field(f, "_projekt_json"),
        "_get_param_aliases": _aliases,
        "field_annotation_is_sequence": _per_annotation,
    }
    assert set(wrappers) == set(WRAPPED)
    for name, wrap in wrappers.items():
        original = getattr(fastapi_deps, name, None)
        if original is None:  # a FastAPI that renamed it analyses that part per request again
            continue
        setattr(fastapi_deps, name, wrap(original))
    setattr(fastapi_deps, _INSTALLED, True)
