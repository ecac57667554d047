"""Server-rendered pages under /app. They call the same services as the JSON API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from starlette.responses import RedirectResponse, Response

from projekt.api_keys.schemas import ApiKeyCreate
from projekt.api_keys.service import ApiKeyService
from projekt.auth.cookies import clear_session_cookies, set_session_cookies
from projekt.auth.schemas import SignupIn
from projekt.auth.service import AuthService
from projekt.config import Settings
from projekt.core.context import CredentialKind, OrgContext, Principal, Role
from projekt.core.deps import ServicesDep, SessionDep
from projekt.core.errors import AppError
from projekt.core.record import Actor
from projekt.orgs.schemas import OrgCreate
from projekt.orgs.service import OrgService, find_membership
from projekt.web.origin import require_same_origin
from projekt.web.pages import org_cookie_name, page

INTEGRATIONS = "/app/organization/settings/general/integraciones"

# Every form of these pages, present and future, is checked for where it was posted from.
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_same_origin)])


class LoginRequired(Exception):
    pass


def install_web_handlers(app: FastAPI) -> None:
    async def to_login(_request: Request, _exc: Exception) -> Response:
        return RedirectResponse("/app/login", status_code=303)

    app.add_exception_handler(LoginRequired, to_login)


async def web_principal(request: Request) -> Principal:
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None or principal.kind is not CredentialKind.SESSION:
        raise LoginRequired()
    return principal


WebPrincipal = Annotated[Principal, Depends(web_principal)]


async def _current_org(
    request: Request, principal: Principal, session: SessionDep
) -> OrgContext | None:
    cookie = org_cookie_name(request.app.state.services.settings)
    try:
        org_id = uuid.UUID(request.cookies.get(cookie, ""))
    except ValueError:
        return None
    found = await find_membership(session, org_id, principal.user_id)
    if found is None:
        return None
    membership_id, role = found
    return OrgContext(
        principal, org_id, role, membership_id, request.scope["state"].get("request_id")
    )


# The pages beside this module (web/webhooks.py) find the org the same way.
current_org = _current_org


# -- sign-up, sign-in, sign-out -----------------------------------------------------------------


@router.get("/app/signup")
async def web_signup_page(request: Request) -> Response:
    return page(request, "signup.html")


@router.post("/app/signup")
async def web_signup(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    name: Annotated[str, Form()],
) -> Response:
    try:
        data = SignupIn(email=email, password=password, name=name)
        _, raw = await AuthService(session, services).signup(data)
    except AppError as exc:
        return page(request, "signup.html", exc.status, error=exc.message, email=email, name=name)
    except ValueError as exc:
        message = _first_message(exc)
        return page(request, "signup.html", 422, error=message, email=email, name=name)
    response = RedirectResponse("/app", status_code=303)
    set_session_cookies(response, services.settings, raw)
    return response


def _safe_next(value: str | None) -> str:
    """Only a path on this server: never an open redirect to another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/app"


@router.get("/app/login")
async def web_login_page(request: Request) -> Response:
    return page(request, "login.html", next=_safe_next(request.query_params.get("next")))


@router.post("/app/login")
async def web_login(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/app",
) -> Response:
    auth = AuthService(session, services)
    try:
        await auth.throttle_login(email)
        _, raw = await auth.login(email, password)
    except AppError as exc:
        return page(
            request, "login.html", exc.status, error=exc.message, email=email, next=_safe_next(next)
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookies(response, services.settings, raw)
    return response


@router.post("/app/logout")
async def web_logout(
    principal: WebPrincipal, session: SessionDep, services: ServicesDep
) -> Response:
    await AuthService(session, services).logout(principal.credential_id)
    response = RedirectResponse("/app/login", status_code=303)
    clear_session_cookies(response, services.settings)
    response.delete_cookie(
        org_cookie_name(services.settings), path="/", secure=services.settings.secure_cookies
    )
    return response


# -- orgs ---------------------------------------------------------------------------------------


@router.get("/app")
async def web_home(
    request: Request, principal: WebPrincipal, session: SessionDep, services: ServicesDep
) -> Response:
    orgs = OrgService(session, services)
    me = await AuthService(session, services).get_user(principal.user_id)
    current = await _current_org(request, principal, session)
    return page(
        request,
        "home.html",
        me=me,
        orgs=(await orgs.me_orgs(principal)).orgs,
        current=current,
    )


@router.post("/app/orgs")
async def web_create_org(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    name: Annotated[str, Form()],
) -> Response:
    orgs = OrgService(session, services)
    try:
        actor = Actor.of(principal, request.scope["state"].get("request_id"))
        created = await orgs.create_org(principal.user_id, OrgCreate(name=name), actor)
    except (AppError, ValueError) as exc:
        me = await AuthService(session, services).get_user(principal.user_id)
        message = exc.message if isinstance(exc, AppError) else _first_message(exc)
        listing = (await orgs.me_orgs(principal)).orgs
        return page(request, "home.html", 422, me=me, orgs=listing, current=None, error=message)
    return _switch_to(created.id, services.settings)


@router.post("/app/switch")
async def web_switch_org(
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    org_id: Annotated[str, Form()],
) -> Response:
    try:
        target = uuid.UUID(org_id)
    except ValueError:
        return RedirectResponse("/app", status_code=303)
    if await find_membership(session, target, principal.user_id) is None:
        return RedirectResponse("/app", status_code=303)
    return _switch_to(target, services.settings)


def _switch_to(org_id: uuid.UUID, settings: Settings) -> Response:
    response = RedirectResponse("/app", status_code=303)
    response.set_cookie(
        org_cookie_name(settings),
        str(org_id),
        path="/",
        samesite="lax",
        httponly=True,
        secure=settings.secure_cookies,
    )
    return response


# -- Organization → Settings → General → Integraciones ---------------------------------------


@router.get(INTEGRATIONS)
async def web_integrations(
    request: Request, principal: WebPrincipal, session: SessionDep, services: ServicesDep
) -> Response:
    return await _integrations(request, principal, session, services)


async def _integrations(
    request: Request,
    principal: Principal,
    session: SessionDep,
    services: ServicesDep,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    ctx = await _current_org(request, principal, session)
    if ctx is None:
        return RedirectResponse("/app", status_code=303)
    keys = await ApiKeyService(session, services).listing(ctx, everyone=False)
    org = await OrgService(session, services).get_org(ctx)
    return page(
        request,
        "integraciones.html",
        status_code,
        org=org,
        role=ctx.role,
        may_mint=ctx.role.at_least(Role.MANAGER),
        keys=keys,
        **extra,
    )


@router.post(f"{INTEGRATIONS}/keys")
async def web_mint_key(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    name: Annotated[str, Form()],
    expires_on: Annotated[str, Form()] = "",
) -> Response:
    ctx = await _current_org(request, principal, session)
    if ctx is None:
        return RedirectResponse("/app", status_code=303)
    if not ctx.role.at_least(Role.MANAGER):
        return await _integrations(
            request, principal, session, services, 403, error="Your role cannot create API keys."
        )
    try:
        expires_at = _end_of_day(expires_on) if expires_on else None
        created = await ApiKeyService(session, services).mint(
            ctx, ApiKeyCreate(name=name, expires_at=expires_at)
        )
    except AppError as exc:
        detail = "; ".join(m for msgs in (exc.errors or {}).values() for m in msgs)
        return await _integrations(
            request, principal, session, services, exc.status, error=detail or exc.message
        )
    except ValueError as exc:
        return await _integrations(
            request, principal, session, services, 422, error=_first_message(exc)
        )
    return await _integrations(request, principal, session, services, 201, created=created)


@router.post(f"{INTEGRATIONS}/keys/{{key_id}}/revoke")
async def web_revoke_key(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    key_id: uuid.UUID,
) -> Response:
    ctx = await _current_org(request, principal, session)
    if ctx is None:
        return RedirectResponse("/app", status_code=303)
    try:
        await ApiKeyService(session, services).revoke(ctx, key_id)
    except AppError as exc:
        return await _integrations(
            request, principal, session, services, exc.status, error=exc.message
        )
    return RedirectResponse(INTEGRATIONS, status_code=303)


def _end_of_day(value: str) -> datetime:
    day = datetime.strptime(value, "%Y-%m-%d").date()
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _first_message(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        return f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg"))
    return str(exc)
