"""If-Match is one mechanism: parsed by one dependency, checked by the write under its lock."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from projekt.core.conditional import IfMatch, get_if_match
from projekt.core.errors import PreconditionFailed

# Writes of resources that carry an ETag (API.md §2: PUT, PATCH, DELETE and state-changing
# POST …/{action}).
CONDITIONAL = {
    "replace_issue",
    "update_issue",
    "delete_issue",
    "transition_issue",
    "archive_issue",
    "unarchive_issue",
    "replace_project",
    "update_project",
    "delete_project",
    "replace_columns",
    "replace_sprint",
    "update_sprint",
    "delete_sprint",
    "start_sprint",
    "complete_sprint",
    "replace_milestone",
    "update_milestone",
    "delete_milestone",
}


def _depends_on_if_match(dependant: Dependant) -> bool:
    return any(
        dep.call is get_if_match or _depends_on_if_match(dep) for dep in dependant.dependencies
    )


def test_every_route_that_can_answer_412_takes_if_match_from_the_one_dependency(
    app: FastAPI,
) -> None:
    # Included routers stay nested (FastAPI >= 0.160): walk them as core.routes does.
    routes = [
        c.original_route
        for c in iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIRoute)
    ]
    declared = {r.name for r in routes if 412 in r.responses or "412" in r.responses}
    taking = {r.name for r in routes if _depends_on_if_match(r.dependant)}
    assert declared == taking
    assert taking >= CONDITIONAL, CONDITIONAL - taking


@pytest.mark.parametrize(
    ("header", "current", "passes"),
    [
        (None, '"a"', True),
        ("*", '"a"', True),
        ('"a"', '"a"', True),
        ('"b", "a"', '"a"', True),
        ('"b"', '"a"', False),
        ('W/"a"', '"a"', False),  # weak tags never match (RFC 9110 §13.1.1)
    ],
)
def test_if_match_compares_strongly(header: str | None, current: str, passes: bool) -> None:
    precondition = IfMatch.parse(header)
    if passes:
        precondition.check(current)
    else:
        with pytest.raises(PreconditionFailed):
            precondition.check(current)
