"""JSON responses rendered by orjson: UUIDs, datetimes and dates natively, several times faster.

Timestamps come out as ``2026-05-28T09:14:02Z`` (UTC, seconds, Z), as API.md §2 documents.
"""

from __future__ import annotations

from typing import Any

import orjson
from asyncpg.pgproto.pgproto import UUID as AsyncpgUUID
from starlette.responses import JSONResponse as StarletteJSONResponse

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS


def _fallback(value: Any) -> str:
    # asyncpg hands back its own UUID class (a uuid.UUID subclass, which orjson serializes only
    # by exact type); str() is canonical. The exact-type test is the cheap one: a list of 50
    # issues comes here about 250 times.
    if type(value) is AsyncpgUUID:
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_fallback, option=JSON_OPTIONS)


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)
