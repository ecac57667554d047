"""Every error envelope the app sends during the whole suite, checked against the spec at its end.

Each route declares the error classes it can raise (``core.openapi.errors``); the spec lists,
per operation and status, the codes they stand for. The suite is the largest run of bad input
we have: if any route answers a ``code`` its operation does not declare for that status, the
session fails at its end, naming the route, the status and the code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projekt.core.errors import all_error_classes
from projekt.core.routes import route_table

# Statuses no operation declares by code: a 500 is a bug the rest of the suite reports, 405
# and 404-without-a-route answer for no operation, 304 has no body.
UNDECLARED_STATUSES = frozenset({405, 500})


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    route: str | None
    status: int
    code: str


@dataclass
class ErrorSweep:
    """Records (app, answer) for every non-2xx JSON envelope an app of the suite sends."""

    answers: dict[int, set[Answer]] = field(default_factory=dict)
    apps: dict[int, FastAPI] = field(default_factory=dict)

    def wrap(self, app: FastAPI, inner: ASGIApp) -> ASGIApp:
        async def recorder(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            status = 0
            body = bytearray()

            async def watch(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                elif message["type"] == "http.response.body" and status >= 400:
                    body.extend(message.get("body", b""))
                await send(message)

            try:
                await inner(scope, receive, watch)
            finally:
                if status >= 400:
                    self.record(app, scope, status, bytes(body))

        return recorder

    def record(self, app: FastAPI, scope: Scope, status: int, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            return
        if not isinstance(payload, dict) or not isinstance(payload.get("code"), str):
            return  # not the envelope (the OAuth endpoints answer RFC 6749 errors)
        route = scope.get("route")
        name = getattr(route, "name", None)
        answer = Answer(scope["method"], scope["path"], name, status, payload["code"])
        self.apps[id(app)] = app
        self.answers.setdefault(id(app), set()).add(answer)

    def undeclared(self) -> list[str]:
        problems: dict[tuple[str, int, str], str] = {}
        known = {cls.code for cls in all_error_classes()}
        for key, answers in self.answers.items():
            for answer in answers:
                if answer.code not in known:
                    problems.setdefault(
                        ("", answer.status, answer.code),
                        f"{answer.code!r} ({answer.status}, {answer.method} {answer.path}) "
                        "has no error class",
                    )
            app = self.apps[key]
            spec = getattr(app.state, "openapi", None)
            if spec is None:
                continue  # an app the suite built by hand, without the spec
            declared = declared_codes(spec.document())
            resolve = _resolver(app)
            for answer in answers:
                if answer.status in UNDECLARED_STATUSES:
                    continue
                name = answer.route or resolve(answer.method, answer.path)
                if name is None or name not in declared:
                    continue  # no operation (an unknown path), or one outside the spec
                codes = declared[name].get(answer.status, frozenset())
                if answer.code not in codes:
                    problems.setdefault(
                        (name, answer.status, answer.code),
                        f"{name} answered {answer.status} {answer.code!r} (e.g. {answer.method} "
                        f"{answer.path}); it declares {sorted(codes)}",
                    )
        return [problems[key] for key in sorted(problems)]


def declared_codes(spec: dict[str, Any]) -> dict[str, dict[int, frozenset[str]]]:
    """operationId → status → the codes its responses declare (``x-codes``; none for a status
    without them), for the operations declared through ``core.openapi.errors``."""
    found: dict[str, dict[int, frozenset[str]]] = {}
    for item in spec["paths"].values():
        for operation in item.values():
            responses = operation.get("responses", {})
            if not any("x-codes" in response for response in responses.values()):
                continue  # its own format (the OAuth protocol endpoints, health checks)
            found[operation["operationId"]] = {
                int(status): frozenset(response.get("x-codes", ()))
                for status, response in responses.items()
                if status.isdigit()
            }
    return found


def _resolver(app: FastAPI) -> Callable[[str, str], str | None]:
    """Method and path → the route's name, for answers sent before routing (middleware)."""
    table = [(compile_path(info.path)[0], info.methods, info.name) for info in route_table(app)]

    def resolve(method: str, path: str) -> str | None:
        for regex, methods, name in table:
            if regex.match(path) and method in methods:
                return name
        return None

    return resolve
