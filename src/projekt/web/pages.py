"""What every server-rendered page shares: the templates, the headers pages carry, the org cookie.

The pages under ``/app`` (``web.router``) and the authorization server's consent and error pages
(``oauth.router``) both render here. It imports core only, so a domain can show a page without
depending on the web layer that sits above every domain.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.responses import Response

from projekt.config import Settings
from projekt.core.security import csrf_token_for

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


@functools.cache
def templates() -> Jinja2Templates:
    """The pages' templates, loaded with Jinja on the first page a worker renders: one that
    serves only the API never pays for either."""
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(directory=str(HERE / "templates"))


ORG_COOKIE = "projekt_org"


def org_cookie_name(settings: Settings) -> str:
    """The org the pages show; named and flagged like the session cookie (``__Host-`` on https)."""
    return f"__Host-{ORG_COOKIE}" if settings.secure_cookies else ORG_COOKIE


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    session_cookie = request.app.state.services.settings.session_cookie_name
    raw = request.cookies.get(session_cookie)
    context.setdefault("csrf_token", csrf_token_for(raw) if raw else "")
    response = templates().TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    # Our pages are never framed (clickjacking on the consent and key pages).
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'; default-src 'self'"
    return response
