"""The session and CSRF cookies, set and cleared the same way by the API and the web pages."""

from __future__ import annotations

from starlette.responses import Response

from projekt.config import Settings
from projekt.core.security import csrf_token_for


def csrf_cookie_name(settings: Settings) -> str:
    return "__Host-projekt_csrf" if settings.secure_cookies else "projekt_csrf"


def set_session_cookies(response: Response, settings: Settings, raw: str) -> str:
    """Set both cookies and return the CSRF token that goes with the session."""
    max_age = settings.session_idle_days * 86400
    csrf = csrf_token_for(raw)
    # SameSite=Lax, not Strict: OAuth's /authorize arrives as a top-level cross-site GET and
    # must see the sign-in.
    response.set_cookie(
        settings.session_cookie_name,
        raw,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )
    response.set_cookie(
        csrf_cookie_name(settings),
        csrf,
        max_age=max_age,
        path="/",
        httponly=False,
        secure=settings.secure_cookies,
        samesite="lax",
    )
    return csrf


def clear_session_cookies(response: Response, settings: Settings) -> None:
    for name in (settings.session_cookie_name, csrf_cookie_name(settings)):
        response.delete_cookie(
            name, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax"
        )
