"""The headers every response carries, whoever produced it (applied by ``middleware.front``).

``nosniff`` on everything (a JSON error must never be sniffed into HTML); HSTS when the public
URL is https; and caching rules for answers to a signed-in caller. Those are ``private`` (never
in a shared cache): with an ``ETag`` they are ``no-cache``, so a browser or client may keep them
but revalidates every time (the 304 path keeps working), and without one they are ``no-store``.
A route that chose its own ``Cache-Control`` (pages, OAuth) keeps it.
"""

from __future__ import annotations

from starlette.types import Scope

from projekt.core import scope as asgi

# One year, the minimum the ASVS asks for; subdomains are not ours to commit.
HSTS = (b"strict-transport-security", b"max-age=31536000")
NOSNIFF = (b"x-content-type-options", b"nosniff")
REVALIDATE = b"private, no-cache"
NO_STORE = b"no-store"


class SecurityHeaders:
    def __init__(self, *, https: bool) -> None:
        self.fixed = (NOSNIFF, HSTS) if https else (NOSNIFF,)

    def add(self, headers: list[tuple[bytes, bytes]], scope: Scope) -> None:
        """Complete a response head's headers (in place)."""
        names = {name.lower() for name, _ in headers}
        for header in self.fixed:
            if header[0] not in names:
                headers.append(header)
        if b"cache-control" not in names and _signed_in(scope):
            headers.append((b"cache-control", REVALIDATE if b"etag" in names else NO_STORE))


def _signed_in(scope: Scope) -> bool:
    # AccessMiddleware (further in) puts the identified caller into the shared state dict.
    return asgi.principal(scope) is not None
