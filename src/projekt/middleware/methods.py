"""HEAD answers like GET without a body, and a 405 lists every method its path has (applied by
``middleware.front``).

FastAPI's routes declare GET only, and the router answers a method it does not know with the
``Allow`` of the first route whose path matched, though a path usually has several routes (GET
and PATCH and DELETE of one issue). Both are fixed for every route, including later ones: HEAD
runs as GET (same authorization, same headers, ``Content-Length`` of the GET body), and a 405's
``Allow`` is rebuilt from the app's route table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PathMethods:
    path: re.Pattern[str]
    methods: frozenset[str]


class Methods:
    def __init__(self, table: Sequence[PathMethods]) -> None:
        self.table = table  # filled once the routes exist, before the first request

    def fix_405(self, headers: list[tuple[bytes, bytes]], path: str) -> list[tuple[bytes, bytes]]:
        """A 405's headers with the ``Allow`` of every route of ``path``."""
        allow = self.allow(path)
        if not allow:
            return headers  # a mount (static files): theirs stays
        kept = [(k, v) for k, v in headers if k.lower() != b"allow"]
        return [*kept, (b"allow", allow.encode())]

    def allow(self, path: str) -> str:
        methods: set[str] = set()
        for entry in self.table:
            if entry.path.match(path):
                methods |= entry.methods
        if "GET" in methods:
            methods.add("HEAD")
        return ", ".join(sorted(methods))  # empty for a mount (static files): theirs stays
