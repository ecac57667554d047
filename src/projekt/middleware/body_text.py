"""No U+0000 in any string a body carries: JSON (422 naming the field) and forms (400).

JSON spells NUL as the escape ``\\u0000``, forms as ``%00``; PostgreSQL cannot store it in text
and turns it into a 500 on whatever column it reaches. Bodies are read (within the body limit,
which runs further out), checked, and handed on unchanged. Only bodies that contain the NUL
byte or its escape are parsed here; everything else passes after a substring scan.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projekt.core import scope as asgi
from projekt.core.errors import AppError, BadContentType, NulCharacter, ValidationFailed
from projekt.middleware.bodies import read_body, replaying
from projekt.middleware.edge import send_refusal

logger = logging.getLogger("projekt.errors")

NUL = "\x00"
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
AMBIGUOUS = "ambiguous"


class BodyTextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = _kind(scope) if scope["type"] == "http" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        if kind == AMBIGUOUS:
            # The app reads the first Content-Type; a check that read another would be skipped.
            await send_refusal(scope, send, BadContentType("Send one Content-Type header."))
            return
        messages, body = await read_body(receive)
        if messages[-1]["type"] == "http.disconnect":
            # The client left before its body ended: nobody is left to answer.
            logger.debug("request_id=%s the client went away", asgi.request_id(scope))
            return
        refusal = None
        if b"\x00" in body or (b"\\u0000" if kind == "json" else b"%00") in body:
            refusal = _json_refusal(body) if kind == "json" else await _form_refusal(scope, body)
        if refusal is not None:
            await send_refusal(scope, send, refusal)
            return
        await self.app(scope, replaying(messages, receive), send)


def _kind(scope: Scope) -> str | None:
    """How the app will parse the body: FastAPI reads a body without a Content-Type as JSON."""
    if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and not _has_body(scope):
        return None
    sent = [value for name, value in scope["headers"] if name == b"content-type"]
    if len(sent) > 1:
        return AMBIGUOUS
    content_type = sent[0].decode("latin-1").split(";")[0].strip().lower() if sent else ""
    if not content_type or content_type.endswith(("/json", "+json")):
        return "json"
    if content_type in FORMS:
        return "form"
    return None


def _has_body(scope: Scope) -> bool:
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"])


def _json_refusal(body: bytes) -> AppError | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None  # the app answers malformed JSON itself
    fields: dict[str, list[str]] = {}
    for path in _nul_paths(document, ()):
        field = ".".join(path) or "body"
        name = path[-1] if path else "body"
        fields.setdefault(field, []).append(
            f"The {name} must not contain the NUL character (U+0000)"
        )
    return ValidationFailed(errors=fields) if fields else None


def _nul_paths(value: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    if isinstance(value, str):
        return [path] if NUL in value else []
    found: list[tuple[str, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            clean = key.replace(NUL, "")
            if clean != key:
                found.append((*path, clean or "key"))
            found += _nul_paths(item, (*path, clean))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _nul_paths(item, (*path, str(index)))
    return found


async def _form_refusal(scope: Scope, body: bytes) -> AppError | None:
    sent = False

    async def once() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(scope, once).form()
    except Exception:
        return None
    try:
        for key, value in form.multi_items():
            text = (value.filename or "") if isinstance(value, UploadFile) else value
            if NUL in key or NUL in text:
                field = key.replace(NUL, "") or "field"
                return NulCharacter(
                    f"The form field {field!r} contains the NUL character (U+0000)."
                )
    finally:
        await form.close()
    return None
