"""Every successful JSON answer the app sends during the whole suite, checked against the spec.

The busiest handlers render their JSON themselves (orjson, a raw ``Response``), so FastAPI's
``response_model`` validates nothing on them: the model is only what the spec shows. This sweep
closes that gap for every route at once, including routes added later: each 2xx JSON body the
suite's requests get is validated against the schema its operation declares for that status
(JSON Schema 2020-12, as the OpenAPI 3.1 document states it, formats included); an answer
whose status the operation does not declare fails too. Problems are collected and the session
fails at its end, naming the operation, the status, the request and the first error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from jsonschema import (  # type: ignore[import-untyped]  # no stubs installed; schemathesis brings it
    Draft202012Validator,
    FormatChecker,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_NO_SCHEMA = object()


@dataclass
class ResponseSweep:
    problems: dict[tuple[str, int], str] = field(default_factory=dict)
    checked: int = 0
    _validators: dict[tuple[int, str, int], Any] = field(default_factory=dict)
    _operations: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def wrap(self, app: FastAPI, inner: ASGIApp) -> ASGIApp:
        async def checker(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            status = 0
            json_body = False
            body = bytearray()

            async def watch(message: Message) -> None:
                nonlocal status, json_body
                if message["type"] == "http.response.start":
                    status = message["status"]
                    headers = dict(message.get("headers", ()))
                    kind = headers.get(b"content-type", b"").split(b";")[0].strip()
                    json_body = 200 <= status < 300 and kind == b"application/json"
                elif message["type"] == "http.response.body" and json_body:
                    body.extend(message.get("body", b""))
                await send(message)

            await inner(scope, receive, watch)
            if json_body and body:
                self.check(app, scope, status, bytes(body))

        return checker

    def _operation(self, app: FastAPI, name: str) -> dict[str, Any] | None:
        operations = self._operations.get(id(app))
        if operations is None:
            spec = getattr(app.state, "openapi", None)  # absent: an app built by hand
            operations = {}
            if spec is not None:
                document = spec.document()
                operations = {"": {"components": document.get("components", {})}}
                for item in document["paths"].values():
                    for operation in item.values():
                        if isinstance(operation, dict) and "operationId" in operation:
                            operations[operation["operationId"]] = operation
            self._operations[id(app)] = operations
        return operations.get(name)

    def _validator(self, app: FastAPI, name: str, status: int) -> Any:
        key = (id(app), name, status)
        found = self._validators.get(key)
        if found is None:
            found = _NO_SCHEMA
            operation = self._operation(app, name)
            if operation is not None:
                response = operation.get("responses", {}).get(str(status))
                if response is None:
                    found = None  # a status the operation does not declare
                else:
                    media = response.get("content", {}).get("application/json", {})
                    schema = media.get("schema")
                    if schema:
                        components = self._operations[id(app)][""]["components"]
                        document = {**schema, "components": components}
                        found = Draft202012Validator(document, format_checker=FormatChecker())
            self._validators[key] = found
        return found

    def check(self, app: FastAPI, scope: Scope, status: int, body: bytes) -> None:
        route = scope.get("route")
        name = getattr(route, "name", None)
        if name is None or getattr(route, "include_in_schema", True) is False:
            return
        validator = self._validator(app, name, status)
        if validator is _NO_SCHEMA:
            return  # not in this app's spec, or declared without a schema (health, metadata)
        where = f"{scope['method']} {scope['path']}"
        if validator is None:
            self.problems.setdefault((name, status), f"{name}: {status} not declared ({where})")
            return
        self.checked += 1
        error = next(iter(validator.iter_errors(json.loads(body))), None)
        if error is not None:
            at = "/".join(str(p) for p in error.absolute_path) or "(the body)"
            self.problems.setdefault(
                (name, status), f"{name} {status} ({where}): at {at}: {error.message[:300]}"
            )

    def report(self) -> list[str]:
        return [self.problems[key] for key in sorted(self.problems)]
