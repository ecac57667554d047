"""What a request must look like before anything reads it: its host, its head, no NUL
(checked by ``middleware.front``).

- ``Host`` must name this server (the base URL's host, loopback, ``PROJEKT_ALLOWED_HOSTS``):
  nothing may build a link or a redirect from a name an attacker chose.
- The request head (target and headers) has a size limit: 431 above it. ``projekt serve``
  enforces the same limit while reading; this covers any other server in front of the app.
- U+0000 in the path, the query or a header is refused (400): PostgreSQL cannot store it in
  text, and no name, title or token of ours contains it. Bodies: ``body_text``.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import parse_qsl

import orjson
from starlette.types import Scope, Send

from projekt.core.errors import AppError, BadHost, BadRequest, NulCharacter, send_error

NUL = "\x00"
# The authorization server's machine endpoints answer in RFC 6749 / RFC 7591 error format.
OAUTH_ERRORS = {
    "/oauth/token": "invalid_request",
    "/oauth/revoke": "invalid_request",
    "/oauth/register": "invalid_client_metadata",
}


class HeadersTooLarge(AppError):
    status, code, message = 431, "headers_too_large", "Request headers too large."


class Edge:
    """The checks of a request's head; ``middleware.front`` answers the refusal."""

    def __init__(self, *, hosts: Collection[str] | None, max_header_bytes: int) -> None:
        self.hosts = frozenset(hosts) if hosts is not None else None
        self.max_header_bytes = max_header_bytes

    def refusal(self, scope: Scope) -> AppError | None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        query: bytes = scope.get("query_string", b"")
        size = len(scope.get("raw_path") or b"") + len(query)
        nul_in: bytes | None = None
        hosts: list[bytes] = []
        for name, value in headers:  # one pass: the size, NUL, the Host headers
            size += len(name) + len(value) + 4
            if nul_in is None and (b"\x00" in value or b"\x00" in name):
                nul_in = name
            if name == b"host":
                hosts.append(value)
        if size > self.max_header_bytes:
            return HeadersTooLarge(
                f"The request line and headers exceed the limit of {self.max_header_bytes} bytes."
            )
        if nul_in is not None:
            return _nul(f"The {nul_in.decode('latin-1').replace(NUL, '').title()} header")
        if NUL in scope["path"]:
            return _nul("The path")
        if b"\x00" in query or b"%00" in query:
            for key, text in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if NUL in key or NUL in text:
                    return _nul(f"The query parameter {key.replace(NUL, '')!r}")
        return self._host_refusal(hosts)

    def _host_refusal(self, values: list[bytes]) -> AppError | None:
        if len(values) > 1:
            return BadHost("Send one Host header.")
        if self.hosts is None or not values:
            return None  # no Host (HTTP/1.0): URLs are then built from the server's own address
        if _hostname(values[0].decode("latin-1")) not in self.hosts:
            return BadHost("This server does not answer for that host name.")
        return None


async def send_refusal(scope: Scope, send: Send, error: AppError) -> None:
    """The envelope, or on the OAuth machine endpoints the error format their clients read."""
    oauth_error = OAUTH_ERRORS.get(scope["path"])
    if oauth_error is None:
        await send_error(send, error)
        return
    description = error.message
    if error.errors:
        description = "; ".join(m for messages in error.errors.values() for m in messages)
    body = orjson.dumps({"error": oauth_error, "error_description": description})
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    # RFC 6749 §5.2 / RFC 7591 §3.2.2: a bad request is 400 there, also where the envelope
    # says 422; a limit keeps its own status (431).
    status = 400 if error.status in (400, 422) else error.status
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _nul(what: str) -> BadRequest:
    return NulCharacter(f"{what} contains the NUL character (U+0000).")


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host
