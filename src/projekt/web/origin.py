"""Web forms accept posts from our own pages only (login CSRF and every other form).

A session's CSRF token cannot protect sign-in and sign-up, which happen before there is a
session: a cross-site form would sign the victim in as the attacker. So every unsafe request to
a web form is checked for where it comes from, the way the OWASP cheat sheet orders it:

1. ``Sec-Fetch-Site`` (every current browser sends it): ``same-origin`` or ``none`` (typed or
   bookmarked by the person) passes; ``same-site`` and ``cross-site`` are refused (a sibling
   subdomain is another origin).
2. Without it, ``Origin`` must be ours: the base URL's origin or the one the request was
   addressed to (its host is already one we answer for). ``Origin: null`` is refused.
3. Without either, the request is not a browser's form post (or a browser too old to send
   ``Origin`` on a POST): it passes, and the session routes still want the CSRF token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from projekt.core.deps import services_of
from projekt.core.errors import CrossSite, Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALLOWED_SITES = frozenset({"same-origin", "none"})


async def require_same_origin(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site.strip().lower() not in ALLOWED_SITES:
            raise _refused()
        return
    origin = request.headers.get("origin")
    if origin is None:
        return
    if origin.strip().lower() not in _our_origins(request):
        raise _refused()


def _our_origins(request: Request) -> set[str]:
    base = urlsplit(services_of(request).settings.base_url)
    ours = {f"{base.scheme}://{base.netloc}".lower()}
    host = request.headers.get("host")
    if host:
        ours.add(f"{request.url.scheme}://{host}".lower())
    return ours


def _refused() -> Forbidden:
    return CrossSite("Forms are accepted from this site's own pages only.")
