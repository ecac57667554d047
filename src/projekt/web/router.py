"""Server-rendered pages under /app. They call the same services as the JSON API."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from starlette.responses import RedirectResponse, Response

from projekt.api_keys.schemas import ApiKeyCreate
from projekt.api_keys.service import ApiKeyService
from projekt.audit.service import AuditFilters, AuditLog
from projekt.auth.cookies import clear_session_cookies, set_session_cookies
from projekt.auth.schemas import SignupIn
from projekt.auth.service import AuthService
from projekt.config import Settings
from projekt.core import scope as asgi
from projekt.core.conditional import IfMatch
from projekt.core.context import CredentialKind, OrgContext, Principal, Role
from projekt.core.deps import ServicesDep, SessionDep
from projekt.core.errors import AppError
from projekt.core.record import Actor
from projekt.orgs.schemas import InvitationCreate, OrgCreate, OrgUpdate, RoleChange
from projekt.orgs.service import OrgService, find_membership
from projekt.web.forms import Shown, again_with, submit
from projekt.web.origin import require_same_origin
from projekt.web.pages import org_cookie_name, page

INTEGRATIONS = "/app/organization/settings/general/integraciones"
GENERAL = "/app/organization/settings/general"
PEOPLE = "/app/organization/settings/people"
AUDIT = "/app/organization/settings/audit"

# Every form of these pages, present and future, is checked for where it was posted from.
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_same_origin)])


class LoginRequired(Exception):
    pass


def install_web_handlers(app: FastAPI) -> None:
    async def to_login(_request: Request, _exc: Exception) -> Response:
        return RedirectResponse("/app/login", status_code=303)

    async def show(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Shown)
        return exc.response

    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(Shown, show)


async def web_principal(request: Request) -> Principal:
    principal: Principal | None = asgi.principal(request.scope)
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
    return OrgContext(principal, org_id, role, membership_id, asgi.request_id(request.scope))


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
    async def again(status_code: int, message: str) -> Response:
        return page(request, "signup.html", status_code, error=message, email=email, name=name)

    auth = AuthService(session, services)
    _, raw = await submit(
        lambda: auth.signup(SignupIn(email=email, password=password, name=name)), again
    )
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
    async def again(status_code: int, message: str) -> Response:
        return page(
            request, "login.html", status_code, error=message, email=email, next=_safe_next(next)
        )

    async def sign_in() -> str:
        await auth.throttle_login(email)
        return (await auth.login(email, password))[1]

    auth = AuthService(session, services)
    raw = await submit(sign_in, again)
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
    listing = (await orgs.me_orgs(principal)).orgs
    chosen = False
    if current is None and len(listing) == 1:
        # One org: it is the current one, no "Switch" first (issue 20).
        only = listing[0]
        current = OrgContext(principal, only.org_id, only.role, only.employee_id)
        chosen = True
    response = page(
        request, "home.html", me=me, orgs=listing, current=current, role=_role_of(current)
    )
    if chosen and current is not None:
        _set_org_cookie(response, current.org_id, services.settings)
    return response


def _role_of(ctx: OrgContext | None) -> Role | None:
    return ctx.role if ctx is not None else None


@router.post("/app/orgs")
async def web_create_org(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    name: Annotated[str, Form()],
) -> Response:
    orgs = OrgService(session, services)

    async def again(_status_code: int, message: str) -> Response:
        me = await AuthService(session, services).get_user(principal.user_id)
        listing = (await orgs.me_orgs(principal)).orgs
        return page(request, "home.html", 422, me=me, orgs=listing, current=None, error=message)

    actor = Actor.of(principal, asgi.request_id(request.scope))
    created = await submit(
        lambda: orgs.create_org(principal.user_id, OrgCreate(name=name), actor), again
    )
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
    _set_org_cookie(response, org_id, settings)
    return response


def _set_org_cookie(response: Response, org_id: uuid.UUID, settings: Settings) -> None:
    response.set_cookie(
        org_cookie_name(settings),
        str(org_id),
        path="/",
        samesite="lax",
        httponly=True,
        secure=settings.secure_cookies,
    )


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
    admin = ctx.role.at_least(Role.ADMIN)
    # Admins see and revoke every key of the org (the API's ?all=true); others their own.
    keys = await ApiKeyService(session, services).listing(ctx, everyone=admin)
    owners = {m.user_id: m.name for m in await OrgService(session, services).team(ctx)}
    return await _org_page(
        request,
        principal,
        session,
        services,
        ctx,
        "integraciones.html",
        status_code,
        may_mint=ctx.role.at_least(Role.MANAGER),
        keys=keys,
        everyone=admin,
        owners=owners,
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
    again = again_with(_integrations, request, principal, session, services)
    if not ctx.role.at_least(Role.MANAGER):
        return await again(403, "Your role cannot create API keys.")

    async def mint() -> Any:
        expires_at = _end_of_day(expires_on) if expires_on else None
        data = ApiKeyCreate(name=name, expires_at=expires_at)
        return await ApiKeyService(session, services).mint(ctx, data)

    created = await submit(mint, again)
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
    await submit(
        lambda: ApiKeyService(session, services).revoke(ctx, key_id),
        again_with(_integrations, request, principal, session, services),
    )
    return RedirectResponse(INTEGRATIONS, status_code=303)


# -- Organization → Settings: General and People (issue 20) --------------------------------
# The admin's pages. Each form posts to a route of its own and runs the same service as the
# API; a refusal the service decides (the last owner, a stale form) is shown on the page.


async def _org_page(
    request: Request,
    principal: Principal,
    session: SessionDep,
    services: ServicesDep,
    ctx: OrgContext,
    template: str,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    """A page of the current org, with the header every page keeps (name, org, sign-out)."""
    me = await AuthService(session, services).get_user(principal.user_id)
    org, org_tag = await OrgService(session, services).get_org_tagged(ctx)
    return page(
        request,
        template,
        status_code,
        me=me,
        org=org,
        org_etag=org_tag,
        role=ctx.role,
        current=ctx,
        **extra,
    )


async def _admin_ctx(
    request: Request, principal: Principal, session: SessionDep, services: ServicesDep
) -> OrgContext:
    """The current org if the caller administers it; else ``Shown`` with where they go."""
    ctx = await _current_org(request, principal, session)
    if ctx is None:
        raise Shown(RedirectResponse("/app", status_code=303))
    if not ctx.role.at_least(Role.ADMIN):
        denied = await _org_page(
            request,
            principal,
            session,
            services,
            ctx,
            "denied.html",
            403,
            error=f"Your role here is {ctx.role.value}: only admins and owners manage "
            "the organization's settings and people.",
        )
        raise Shown(denied)
    return ctx


@router.get(GENERAL)
async def web_settings_general(
    request: Request, principal: WebPrincipal, session: SessionDep, services: ServicesDep
) -> Response:
    ctx = await _admin_ctx(request, principal, session, services)
    saved = request.query_params.get("saved") == "1"
    return await _org_page(
        request, principal, session, services, ctx, "settings_general.html", saved=saved
    )


@router.post(GENERAL)
async def web_update_org(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    name: Annotated[str, Form()],
    slug: Annotated[str, Form()],
    etag: Annotated[str, Form()] = "",
    discoverable: Annotated[str, Form()] = "",
) -> Response:
    ctx = await _admin_ctx(request, principal, session, services)
    await submit(
        lambda: OrgService(session, services).update_org(
            ctx, OrgUpdate(name=name, slug=slug, discoverable=discoverable == "on"),
            _form_if_match(etag),
        ),
        again_with(_org_page, request, principal, session, services, ctx, "settings_general.html"),
    )  # fmt: skip
    return RedirectResponse(f"{GENERAL}?saved=1", status_code=303)


@router.post(f"{GENERAL}/delete")
async def web_delete_org(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    confirm: Annotated[str, Form()] = "",
    etag: Annotated[str, Form()] = "",
) -> Response:
    ctx = await _admin_ctx(request, principal, session, services)
    orgs = OrgService(session, services)
    org = await orgs.get_org(ctx)
    again = again_with(
        _org_page, request, principal, session, services, ctx, "settings_general.html"
    )
    if ctx.role is not Role.OWNER:
        return await again(403, "Only owners can delete the organization.")
    if confirm.strip() != org.slug:
        return await again(422, f"Type the organization's slug, {org.slug}, to confirm.")
    await submit(lambda: orgs.delete_org(ctx, _form_if_match(etag)), again)
    response = RedirectResponse("/app", status_code=303)
    response.delete_cookie(
        org_cookie_name(services.settings), path="/", secure=services.settings.secure_cookies
    )
    return response


async def _people(
    request: Request,
    principal: Principal,
    session: SessionDep,
    services: ServicesDep,
    ctx: OrgContext,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    orgs = OrgService(session, services)
    return await _org_page(
        request,
        principal,
        session,
        services,
        ctx,
        "people.html",
        status_code,
        team=await orgs.team(ctx),
        invitations=await orgs.invitations(ctx, "pending"),
        roles=[r.value for r in Role],
        **extra,
    )


@router.get(PEOPLE)
async def web_people(
    request: Request, principal: WebPrincipal, session: SessionDep, services: ServicesDep
) -> Response:
    ctx = await _admin_ctx(request, principal, session, services)
    return await _people(request, principal, session, services, ctx)


@router.post(f"{PEOPLE}/invite")
async def web_invite(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    role: Annotated[str, Form()],
    email: Annotated[str, Form()] = "",
) -> Response:
    ctx = await _admin_ctx(request, principal, session, services)
    invited = await submit(
        lambda: OrgService(session, services).invite(
            ctx, InvitationCreate.model_validate({"email": email.strip() or None, "role": role})
        ),
        again_with(_people, request, principal, session, services, ctx),
    )
    link = f"{str(request.base_url).rstrip('/')}/app/join?{urlencode({'code': invited.code})}"
    return await _people(
        request, principal, session, services, ctx, 201, invited=invited, join_link=link
    )


@router.post(f"{PEOPLE}/{{employee_id}}/role")
async def web_change_role(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    employee_id: uuid.UUID,
    role: Annotated[str, Form()],
    etag: Annotated[str, Form()] = "",
) -> Response:
    ctx = await _admin_ctx(request, principal, session, services)
    await submit(
        lambda: OrgService(session, services).change_role(
            ctx, employee_id, Role(RoleChange.model_validate({"role": role}).role),
            _form_if_match(etag),
        ),
        again_with(_people, request, principal, session, services, ctx),
    )  # fmt: skip
    return RedirectResponse(PEOPLE, status_code=303)


@router.post(f"{PEOPLE}/{{employee_id}}/remove")
async def web_remove_member(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    employee_id: uuid.UUID,
    etag: Annotated[str, Form()] = "",
) -> Response:
    ctx = await _admin_ctx(request, principal, session, services)
    await submit(
        lambda: OrgService(session, services).remove_member(ctx, employee_id, _form_if_match(etag)),
        again_with(_people, request, principal, session, services, ctx),
    )
    if employee_id == ctx.membership_id:  # they left: the org is no longer theirs to show
        return RedirectResponse("/app", status_code=303)
    return RedirectResponse(PEOPLE, status_code=303)


@router.post(f"{PEOPLE}/invitations/{{invitation_id}}/revoke")
async def web_revoke_invitation(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    invitation_id: uuid.UUID,
    etag: Annotated[str, Form()] = "",
) -> Response:
    ctx = await _admin_ctx(request, principal, session, services)
    await submit(
        lambda: OrgService(session, services).revoke_invitation(
            ctx, invitation_id, _form_if_match(etag)
        ),
        again_with(_people, request, principal, session, services, ctx),
    )
    return RedirectResponse(PEOPLE, status_code=303)


@router.get("/app/join")
async def web_join_page(
    request: Request, principal: WebPrincipal, session: SessionDep, services: ServicesDep
) -> Response:
    me = await AuthService(session, services).get_user(principal.user_id)
    return page(request, "join.html", me=me, code=request.query_params.get("code", ""))


@router.post("/app/join")
async def web_join(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    code: Annotated[str, Form()],
) -> Response:
    async def again(status_code: int, message: str) -> Response:
        me = await AuthService(session, services).get_user(principal.user_id)
        return page(request, "join.html", status_code, me=me, code=code, error=message)

    joined = await submit(
        lambda: OrgService(session, services).join(principal.user_id, code.strip()), again
    )
    return _switch_to(joined.org_id, services.settings)


def _form_if_match(etag: str) -> IfMatch:
    """A form carries the ETag of what it showed: a change made meanwhile answers 412."""
    return IfMatch.parse(etag) if etag else IfMatch()


# -- Organization → Settings → Audit (issue 16) ----------------------------------------------
# The org's record for its admins, newest first, through the same AuditLog as
# GET /api/audit: filters by person, key and event type, and an "Older" link that carries the
# page's cursor. Credentials are shown by name and last four only (the record holds no secret).

AUDIT_PAGE_SIZE = 25
# What the type field suggests; any type (a later domain's too) can be typed in.
AUDIT_TYPES = (
    "issue.created", "issue.updated", "issue.status_changed", "issue.transitioned",
    "issue.assigned", "issue.closed", "issue.archived", "issue.deleted",
    "comment.created", "comment.updated", "comment.deleted",
    "project.created", "project.updated", "project.archived", "project.deleted",
    "sprint.created", "sprint.updated", "sprint.started", "sprint.completed", "sprint.deleted",
    "milestone.created", "milestone.updated", "milestone.completed", "milestone.deleted",
    "org.created", "org.updated",
    "member.added", "member.updated", "member.removed", "member.invited", "member.joined",
    "member.invitation_revoked", "api_key.created", "api_key.revoked",
    "time_entry.created", "time_entry.updated", "time_entry.deleted",
    "time_entry.started", "time_entry.stopped",
)  # fmt: skip
AUDIT_TYPE_MAX = 64  # as GET /api/audit's ?type=
CHANGE_SHOWN = 80  # characters of a changed value shown in a row


class BadAuditFilter(ValueError):
    pass


def _audit_filter_id(request: Request, name: str) -> uuid.UUID | None:
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadAuditFilter(f"The {name} filter is not a valid choice.") from None


def _audit_query(**params: str | None) -> str:
    return urlencode({k: v for k, v in params.items() if v})


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= CHANGE_SHOWN else text[: CHANGE_SHOWN - 1] + "…"


def _change_shown(field: str, pair: Any) -> tuple[str, str, str]:
    if isinstance(pair, list) and len(pair) == 2:
        before, after = pair
        return (
            field,
            "" if before is None else _shown(before),
            "—" if after is None else _shown(after),
        )
    return field, "", _shown(pair)


@router.get(AUDIT)
async def web_audit(
    request: Request, principal: WebPrincipal, session: SessionDep, services: ServicesDep
) -> Response:
    ctx = await _admin_ctx(request, principal, session, services)
    query = request.query_params
    chosen = {
        "person": query.get("person", "").strip(),
        "key": query.get("key", "").strip(),
        "type": query.get("type", "").strip(),
    }
    team = await OrgService(session, services).team(ctx)
    keys = await ApiKeyService(session, services).listing(ctx, everyone=True)
    owners = {m.user_id: m.name for m in team}
    shown: dict[str, Any] = {
        "team": team,
        "keys": keys,
        "owners": owners,
        "chosen": chosen,
        "types": AUDIT_TYPES,
        "entries": [],
        "older": None,
        "newest": f"{AUDIT}?{_audit_query(**chosen)}" if query.get("cursor") else None,
    }
    try:
        if len(chosen["type"]) > AUDIT_TYPE_MAX:
            raise BadAuditFilter(f"An event type has at most {AUDIT_TYPE_MAX} characters.")
        filters = AuditFilters(
            actor_id=_audit_filter_id(request, "person"),
            credential_id=_audit_filter_id(request, "key"),
            type=chosen["type"] or None,
        )
        found = await AuditLog(services, ctx).page(
            filters, query.get("cursor") or None, AUDIT_PAGE_SIZE
        )
    except BadAuditFilter as exc:
        return await _org_page(
            request, principal, session, services, ctx, "audit.html", 400, error=str(exc), **shown
        )
    except AppError as exc:  # a malformed or foreign cursor
        return await _org_page(
            request, principal, session, services, ctx, "audit.html", exc.status,
            error=exc.message, **shown,
        )  # fmt: skip
    shown["entries"] = [
        {
            "entry": entry,
            "changes": [_change_shown(k, v) for k, v in entry["changes"].items()],
        }
        for entry in found["data"]
    ]
    if found["meta"]["next_cursor"]:
        older = found["meta"]["next_cursor"]
        shown["older"] = f"{AUDIT}?{_audit_query(**chosen, cursor=older)}"
    return await _org_page(request, principal, session, services, ctx, "audit.html", **shown)


# -- end of Organization → Settings ----------------------------------------------------------


def _end_of_day(value: str) -> datetime:
    day = datetime.strptime(value, "%Y-%m-%d").date()
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
