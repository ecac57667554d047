from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from projekt.auth.cookies import clear_session_cookies, set_session_cookies
from projekt.auth.dependencies import AuthServiceDep
from projekt.auth.errors import EmailTaken, InvalidCredentials, UsernameTaken, UserNotFound
from projekt.auth.schemas import LoginIn, MeRead, SessionRead, SignupIn
from projekt.core.deps import PrincipalDep, ServicesDep
from projekt.core.openapi import BODY, NO_TOKENS, SESSION_WRITE, SIGNED_IN, WRITE, errors

router = APIRouter(tags=["auth"])


@router.post(
    "/api/auth/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionRead,
    responses=errors(*WRITE, *BODY, EmailTaken, UsernameTaken),
)
async def signup(
    body: SignupIn, auth: AuthServiceDep, services: ServicesDep, response: Response
) -> SessionRead:
    """Create an account and sign in."""
    user, raw = await auth.signup(body)
    csrf = set_session_cookies(response, services.settings, raw)
    response.headers["Location"] = "/api/me"
    return SessionRead(user=MeRead.model_validate(user), csrf_token=csrf)


@router.post(
    "/api/auth/login",
    response_model=SessionRead,
    responses=errors(*WRITE, *BODY, InvalidCredentials),
)
async def login(
    body: LoginIn, auth: AuthServiceDep, services: ServicesDep, response: Response
) -> SessionRead:
    """Sign in with email and password; the same 401 for an unknown email and a wrong password."""
    await auth.throttle_login(body.email)
    user, raw = await auth.login(body.email, body.password)
    csrf = set_session_cookies(response, services.settings, raw)
    response.headers["Cache-Control"] = "no-store"
    return SessionRead(user=MeRead.model_validate(user), csrf_token=csrf)


@router.post(
    "/api/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*SIGNED_IN, *NO_TOKENS, *SESSION_WRITE),
)
async def logout(
    principal: PrincipalDep, auth: AuthServiceDep, services: ServicesDep, request: Request
) -> Response:
    """End the current browser session."""
    await auth.logout(principal.credential_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response, services.settings)
    return response


@router.get("/api/me", response_model=MeRead, responses=errors(*SIGNED_IN, UserNotFound))
async def get_me(principal: PrincipalDep, auth: AuthServiceDep) -> MeRead:
    """The person behind the credential."""
    return MeRead.model_validate(await auth.get_user(principal.user_id))
