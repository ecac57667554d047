"""``?dry_run=true`` on every write (API.md §9): the whole request, nothing kept.

A dry run is the real request: the same validation, authorization, ``If-Match`` under the row
lock, status and body. Only its transactions end differently: this layer marks the request
(``core.dry_run``) and every transaction owner rolls back where it would commit, without the
``after_commit`` hooks. The answer says ``Dry-Run: true`` and sets no cookie (a session that
was never stored is nothing to hold on to). It sits after identity and the rate limit, so a
dry run is counted as the write would be, and before the Idempotency-Key layer, which leaves
dry runs alone: a dry run neither stores an answer nor uses up its key.

Only ``true`` and ``false`` are values; anything else (``1``, ``yes``, an empty value, two
different values) is 400 ``bad_dry_run`` and nothing runs. Safe methods ignore the parameter:
they persist nothing to begin with, and the hot reads pay for no query parsing.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projekt.core.dry_run import dry_run
from projekt.core.errors import BadDryRun
from projekt.middleware.edge import send_refusal

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PARAMETER = "dry_run"
HEADER = (b"dry-run", b"true")
VALUES = {"true": True, "false": False}


def requested(query_string: bytes) -> bool | None:
    """``True``/``False`` as the query asks, ``None`` for a value that is neither."""
    if b"dry" not in query_string and b"%" not in query_string:
        return False  # the common write: no parsing at all
    # Decoded as Starlette decodes ``request.query_params``, so both read the same parameter.
    values = {
        value
        for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        if name == PARAMETER
    }
    if not values:
        return False
    if len(values) > 1:
        return None
    return VALUES.get(values.pop())


class DryRunMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        wanted = requested(scope["query_string"])
        if wanted is None:
            await send_refusal(scope, send, BadDryRun())
            return
        if not wanted:
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"set-cookie"]
                message = {**message, "headers": [*headers, HEADER]}
            await send(message)

        with dry_run():
            await self.app(scope, receive, marked)


# -- OpenAPI ---------------------------------------------------------------------------------


def openapi_parameter() -> dict[str, Any]:
    return {
        "name": PARAMETER,
        "in": "query",
        "required": False,
        "description": (
            "`true`: run the write in full (validation, authorization, If-Match, the status and "
            "body it would answer) and keep nothing: no row, no event, no Idempotency-Key use. "
            "The answer carries `Dry-Run: true`. Only `true` and `false` are accepted "
            "(400 `bad_dry_run`)."
        ),
        "schema": {"type": "boolean", "default": False},
    }


def openapi_response_header() -> dict[str, Any]:
    return {
        "description": "`true` when the request was a dry run: nothing it answers was kept.",
        "schema": {"type": "string", "enum": ["true"]},
    }


def document(spec: dict[str, Any], skip: Collection[str] = ()) -> None:
    """Declare ``dry_run``, the ``Dry-Run`` header and the 400 on every write operation of
    ``spec`` but those named in ``skip`` (operation ids)."""
    for path_item in spec.get("paths", {}).values():
        for method, operation in path_item.items():
            if method.upper() not in WRITE_METHODS or operation.get("operationId") in skip:
                continue
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == PARAMETER and p.get("in") == "query" for p in parameters):
                parameters.append(openapi_parameter())
            responses = operation.setdefault("responses", {})
            for response in responses.values():
                if "$ref" not in response:
                    response.setdefault("headers", {})["Dry-Run"] = openapi_response_header()
            declared = responses.setdefault("400", {"description": _BAD})
            if _BAD not in declared.get("description", ""):
                declared["description"] = f"{declared.get('description', '')} {_BAD}".strip()
            # The refusal is JSON also where the route's own 400 is a page (the consent form).
            declared.setdefault("content", {}).setdefault("application/json", _JSON_ERROR)


_BAD = "`bad_dry_run`: dry_run is neither `true` nor `false`."
_JSON_ERROR = {"schema": {"$ref": "#/components/schemas/Error"}}
