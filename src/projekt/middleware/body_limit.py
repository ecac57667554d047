"""Refuse bodies over the limit: by Content-Length up front, by counting for chunked ones."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projekt.core.errors import PayloadTooLarge, error_response


class BodyTooLarge(HTTPException):
    """An HTTPException on purpose: FastAPI re-raises those from body parsing untouched,
    while any other exception there would turn into a 400."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _framing(scope)
        if declared is None and not chunked and scope["method"] in ("GET", "HEAD"):
            # No body announced on a read (HTTP/1.1 then has none): nothing to count.
            await self.app(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            message = f"Request body exceeds the limit of {self.max_bytes} bytes."
            await error_response(PayloadTooLarge(message))(scope, receive, send)
            return
        seen = 0
        limit = self.max_bytes

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised into whoever reads the body; the front layer renders it as 413.
                    raise _too_large(limit)
            return message

        await self.app(scope, counted_receive, send)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(413, f"Request body exceeds the limit of {limit} bytes.")


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None when absent or malformed), and whether a
    Transfer-Encoding was sent."""
    length: int | None = None
    seen_length = chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length" and not seen_length:
            seen_length = True
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked or (seen_length and length is None)
