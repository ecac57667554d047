"""Outermost layer: request id, access log, and the last word on any escaped exception."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projekt.core.errors import as_app_error, report, send_error, was_reported

access_logger = logging.getLogger("projekt.access")
logger = logging.getLogger("projekt.errors")

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
HEADER = b"x-request-id"


class RequestIdMiddleware:
    """Tags every response with ``X-Request-Id`` and renders unexpected failures as the envelope.

    Exceptions that escape the app never reach Starlette's ServerErrorMiddleware, so a 500 still
    carries the request id and the generic body; the exception text only goes to the log. Every
    5xx is logged with its request id: by whoever rendered it, else here.
    """

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 0
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((HEADER, rid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            error = as_app_error(exc)
            report(error, rid)
            if response_started:
                raise
            await send_error(send_with_id, error)
        finally:
            if status >= 500 and not was_reported(rid):
                logger.error("request_id=%s answered %s", rid, status)
            if self.access_log:
                # The query string is left out on purpose: OAuth codes and states travel there.
                access_logger.info(
                    "%s %s %s %.1fms request_id=%s",
                    scope["method"],
                    scope["path"],
                    status,
                    (time.perf_counter() - started) * 1000,
                    rid,
                )


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            text = value.decode("latin-1")
            return text if _CLIENT_ID.match(text) else None
    return None
