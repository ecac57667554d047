"""The outermost layer: what every request and every answer goes through, in one pass.

Four concerns, each in its own module, applied here with one wrapper around ``send`` (they used
to be four layers, and each layer's call and closure cost CPU on every request):

- ``request_id``: the id (the client's ``X-Request-Id`` when sensible, else a fresh one) in
  ``scope["state"]`` and on the answer, and the access log line;
- ``edge``: refusals of the request's head (foreign ``Host``, oversized head, NUL);
- ``methods``: HEAD runs as GET and answers without a body; a 405 lists every method its path has;
- ``security_headers``: ``nosniff``, HSTS and the caching rule on every answer, refusals included.

It is also the last word on an exception that escaped the app: the error envelope with the
request id (a generic 500, the exception text only in the log, or a 503 for a database outage),
never Starlette's plain-text page. Every 5xx is logged with its request id: by whoever rendered
it, else here.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projekt.core import scope as asgi
from projekt.core.errors import as_app_error, report, send_error, was_reported
from projekt.middleware.edge import Edge, send_refusal
from projekt.middleware.methods import Methods
from projekt.middleware.request_id import HEADER, log_access, request_id
from projekt.middleware.security_headers import SecurityHeaders

logger = logging.getLogger("projekt.errors")


class FrontMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        edge: Edge,
        methods: Methods,
        security: SecurityHeaders,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.edge = edge
        self.methods = methods
        self.security = security
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        asgi.set_request_id(scope, rid)
        rid_header = (HEADER, rid.encode())
        started = time.perf_counter()
        head = scope["method"] == "HEAD"
        security, methods = self.security, self.methods
        status = 0

        async def front_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if status == 405:
                    headers = methods.fix_405(headers, scope["path"])
                headers.append(rid_header)
                security.add(headers, scope)
                message["headers"] = headers
            elif head and message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        try:
            refusal = self.edge.refusal(scope)
            if refusal is not None:
                await send_refusal(scope, front_send, refusal)
                return
            await self.app({**scope, "method": "GET"} if head else scope, receive, front_send)
        except Exception as exc:
            error = as_app_error(exc)
            report(error, rid)
            if status:  # the answer had begun: nothing else can be sent
                raise
            await send_error(front_send, error)
        finally:
            if status >= 500 and not was_reported(rid):
                logger.error("request_id=%s answered %s", rid, status)
            if self.access_log:
                log_access(scope, status, started, rid)
