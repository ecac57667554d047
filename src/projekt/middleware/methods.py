"""HEAD answers like GET without a body, and a 405 lists every method its path has.

FastAPI's routes declare GET only, and the router answers a method it does not know with the
``Allow`` of the first route whose path matched, though a path usually has several routes (GET
and PATCH and DELETE of one issue). Both are fixed here for every route, including later ones:
HEAD runs as GET (same authorization, same headers, ``Content-Length`` of the GET body), and a
405's ``Allow`` is rebuilt from the app's route table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class PathMethods:
    path: re.Pattern[str]
    methods: frozenset[str]


class MethodsMiddleware:
    def __init__(self, app: ASGIApp, *, table: Sequence[PathMethods]) -> None:
        self.app = app
        self.table = table  # filled once the routes exist, before the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        path: str = scope["path"]

        async def send_fixed(message: Message) -> None:
            allow = self.allow(path) if message.get("status") == 405 else ""
            if message["type"] == "http.response.start" and allow:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message["headers"] = [*headers, (b"allow", allow.encode())]
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_fixed)

    def allow(self, path: str) -> str:
        methods: set[str] = set()
        for entry in self.table:
            if entry.path.match(path):
                methods |= entry.methods
        if "GET" in methods:
            methods.add("HEAD")
        return ", ".join(sorted(methods))  # empty for a mount (static files): theirs stays
