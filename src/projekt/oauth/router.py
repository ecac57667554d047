"""OAuth 2.1 endpoints: metadata, dynamic registration, authorize (with consent), token, revoke."""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from projekt.config import Settings
from projekt.core import scope as asgi
from projekt.core.context import CredentialKind, Principal
from projekt.core.deps import ServicesDep, SessionDep, UnitOfWorkDep
from projekt.core.errors import as_app_error
from projekt.core.responses import dumps
from projekt.oauth import openapi as spec
from projekt.oauth.cimd import MetadataFetcher, MetadataRefused
from projekt.oauth.redirects import redirect_problem
from projekt.oauth.schemas import Registration
from projekt.oauth.server import (
    SCOPE,
    Answer,
    FormRequest,
    Grantee,
    Server,
    begin,
)
from projekt.oauth.service import OAuthStore
from projekt.orgs.service import OrgService, find_membership
from projekt.web.origin import require_same_origin
from projekt.web.pages import page


class _NoReferrerRoute(APIRoute):
    """Every answer of the authorization server says ``Referrer-Policy: no-referrer``: its
    pages and redirects carry codes, state and client addresses in their URLs, which must not
    leak to the next site through ``Referer`` (RFC 9700 §4.2)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_policy(request: Request) -> Response:
            response = await handler(request)
            response.headers["Referrer-Policy"] = "no-referrer"
            return response

        return with_policy


router = APIRouter(tags=["oauth"], route_class=_NoReferrerRoute)
SERVER = Server()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_json(
    status: int, body: Any, headers: list[tuple[str, str]] | dict[str, str] | None = None
) -> Response:
    response = Response(dumps(body), status, media_type="application/json")
    for key, value in dict(headers or {}).items():
        response.headers[key] = value
    for key, value in NO_STORE.items():
        response.headers[key] = value
    return response


def _refusal(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


def _error(status: int, error: str, description: str) -> Response:
    return _oauth_json(status, _refusal(error, description))


# -- metadata -----------------------------------------------------------------------------------


@router.get("/.well-known/oauth-authorization-server", responses={200: {"description": "RFC 8414"}})
async def authorization_server_metadata(services: ServicesDep) -> Response:
    """Authorization server metadata (RFC 8414)."""
    base = services.settings.base_url
    metadata = AuthorizationServerMetadata(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "registration_endpoint": f"{base}/oauth/register",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "scopes_supported": [SCOPE],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": [
                "none",
                "client_secret_basic",
                "client_secret_post",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "none",
                "client_secret_basic",
                "client_secret_post",
            ],
            "code_challenge_methods_supported": ["S256"],
            # An https URL as client_id, its metadata read from it (oauth.cimd).
            "client_id_metadata_document_supported": True,
            "authorization_response_iss_parameter_supported": True,
        }
    )
    if base.startswith("https://"):
        metadata.validate()  # authlib insists on an https issuer, as RFC 8414 does
    return Response(dumps(dict(metadata)), media_type="application/json")


def _resource_metadata(base: str, path: str = "/api", name: str = "Projekt API") -> Response:
    body = {
        "resource": f"{base}{path}",
        "authorization_servers": [base],
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
        "resource_name": name,
    }
    return Response(dumps(body), media_type="application/json")


def resources(settings: Settings) -> tuple[str, str]:
    """The audiences a grant may name (RFC 8707): the REST API and the MCP server."""
    return (settings.api_resource, settings.mcp_resource)


@router.get("/.well-known/oauth-protected-resource", responses={200: {"description": "RFC 9728"}})
async def protected_resource_metadata(services: ServicesDep) -> Response:
    """Protected resource metadata (RFC 9728)."""
    return _resource_metadata(services.settings.base_url)


@router.get(
    "/.well-known/oauth-protected-resource/api", responses={200: {"description": "RFC 9728"}}
)
async def protected_resource_metadata_api(services: ServicesDep) -> Response:
    """Protected resource metadata for the /api resource (RFC 9728 path-suffixed form)."""
    return _resource_metadata(services.settings.base_url)


@router.get(
    "/.well-known/oauth-protected-resource/mcp", responses={200: {"description": "RFC 9728"}}
)
async def protected_resource_metadata_mcp(services: ServicesDep) -> Response:
    """Protected resource metadata for the MCP server at /mcp (RFC 9728 path-suffixed form)."""
    return _resource_metadata(services.settings.base_url, "/mcp", "Projekt MCP server")


# -- dynamic client registration (RFC 7591) -----------------------------------------------------


def documents(request: Request) -> MetadataFetcher:
    """The app's client metadata document fetcher (one per app: its cache)."""
    fetcher: MetadataFetcher = request.app.state.client_documents
    return fetcher


def display_host(uri: str) -> str:
    """The host a redirect really goes to, as the consent page names it (never user info)."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port is not None else host


@router.post(
    "/oauth/register",
    status_code=201,
    responses=spec.REGISTER_RESPONSES,
    openapi_extra=spec.register_request(Registration),
)
async def register_client(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Register a client (RFC 7591): public (token_endpoint_auth_method none) or confidential."""
    try:
        raw = await request.json()
        data = Registration.model_validate(raw if isinstance(raw, dict) else {})
    except (ValueError, TypeError) as exc:
        return _error(400, "invalid_client_metadata", str(exc)[:300])
    for uri in data.redirect_uris:
        if problem := redirect_problem(uri):
            return _error(400, "invalid_redirect_uri", f"{uri[:100]}: {problem}")
    if not set(data.grant_types) <= {"authorization_code", "refresh_token"} or (
        "authorization_code" not in data.grant_types
    ):
        return _error(
            400, "invalid_client_metadata", "grant_types: authorization_code[, refresh_token]"
        )
    if data.response_types != ["code"]:
        return _error(400, "invalid_client_metadata", 'response_types must be ["code"]')
    method = data.token_endpoint_auth_method
    if method not in ("none", "client_secret_basic", "client_secret_post"):
        return _error(400, "invalid_client_metadata", "unsupported token_endpoint_auth_method")
    store = OAuthStore(session, services)
    metadata = data.model_dump()
    client_id, secret = await store.register(metadata, confidential=method != "none")
    body: dict[str, Any] = {
        "client_id": client_id,
        "client_id_issued_at": int(time.time()),
        **metadata,
    }
    if secret:
        body |= {"client_secret": secret, "client_secret_expires_at": 0}
    return _oauth_json(201, body)


# -- authorize ----------------------------------------------------------------------------------


def _form_request(request: Request, form: list[tuple[str, str]] | None = None) -> FormRequest:
    base = request.app.state.services.settings.base_url
    # authlib refuses plain-http URIs; transport security is the deployment's (TLS at the edge).
    uri = "https://" + base.split("://", 1)[1] + request.url.path
    headers = request.headers  # case-insensitive, as authlib expects
    return FormRequest(
        request.method, uri, headers, list(request.query_params.multi_items()), form or []
    )


def _session_user(request: Request) -> Principal | None:
    principal: Principal | None = asgi.principal(request.scope)
    return principal if principal is not None and principal.kind is CredentialKind.SESSION else None


def _error_page(request: Request, message: str) -> Response:
    return page(request, "oauth_error.html", 400, message=message)


def _redirect_error(
    redirect_uri: str, error: str, description: str, state: str | None, iss: str
) -> Response:
    params = {"error": error, "error_description": description, "iss": iss}
    if state:
        params["state"] = state
    glue = "&" if urlsplit(redirect_uri).query else "?"
    return RedirectResponse(redirect_uri + glue + urlencode(params), status_code=303)


async def _validated(
    request: Request, session: SessionDep, services: ServicesDep, params: dict[str, str]
) -> tuple[Any, Response | None]:
    """authlib's validation of the authorization request; a bad client or redirect is a page."""
    store = OAuthStore(session, services)
    exchange = store.exchange()
    try:
        exchange.client = await store.client(params.get("client_id"), documents=documents(request))
    except MetadataRefused as refused:
        # No redirect: until its document is read, nothing says where the client lives.
        return None, _error_page(request, str(refused))
    begin(exchange)
    client = exchange.client
    redirect_uri = params.get("redirect_uri") or (
        client.get_default_redirect_uri() if client else None
    )
    if client is None:
        return None, _error_page(request, "Unknown client.")
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        # Never redirect to an unregistered address (open redirector).
        return None, _error_page(request, "This redirect address is not registered for the client.")
    if redirect_problem(redirect_uri):
        # Registered before the rules were tightened: refused rather than followed.
        return None, _error_page(request, "This redirect address is not acceptable.")
    try:
        grant = SERVER.get_consent_grant(
            _form_request(request, list(params.items()))
            if request.method == "POST"
            else _form_request(request)
        )
    except OAuth2Error as error:
        return None, _redirect_error(
            redirect_uri,
            error.error,
            error.description or "",
            params.get("state"),
            services.settings.base_url,
        )
    if params.get("resource") not in resources(services.settings):
        return None, _redirect_error(
            redirect_uri,
            "invalid_target",
            "resource must be one of " + ", ".join(resources(services.settings)),
            params.get("state"),
            services.settings.base_url,
        )
    return (grant, exchange, store, redirect_uri), None


@router.get(
    "/oauth/authorize",
    response_class=Response,
    responses=spec.AUTHORIZE_RESPONSES,
    openapi_extra=spec.AUTHORIZE_PARAMETERS,
)
async def authorize_page(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Sign in if needed, then the consent page (PKCE S256 and `resource` required)."""
    params = dict(request.query_params)
    validated, refusal = await _validated(request, session, services, params)
    if refusal is not None:
        return refusal
    user = _session_user(request)
    if user is None:
        target = request.url.path + "?" + request.url.query
        return RedirectResponse("/app/login?" + urlencode({"next": target}), status_code=303)
    _, exchange, _, redirect_uri = validated
    orgs = (await OrgService(session, services).me_orgs(user)).orgs
    return page(
        request,
        "consent.html",
        client_name=exchange.client.row.client_name,
        redirect_host=display_host(redirect_uri),
        orgs=orgs,
        params=params,
    )


@router.post(
    "/oauth/authorize",
    response_class=Response,
    dependencies=[Depends(require_same_origin)],
    responses=spec.AUTHORIZE_DECISION_RESPONSES,
    openapi_extra=spec.AUTHORIZE_DECISION,
)
async def authorize_decision(
    request: Request, session: SessionDep, services: ServicesDep
) -> Response:
    """The consent form's answer: back to the client with a code, or with access_denied."""
    form = await request.form()
    params = {k: str(v) for k, v in form.items() if k not in ("csrf_token", "org_id", "decision")}
    validated, refusal = await _validated(request, session, services, params)
    if refusal is not None:
        return refusal
    user = _session_user(request)
    if user is None:
        return RedirectResponse("/app/login", status_code=303)
    grant, exchange, store, redirect_uri = validated
    iss = services.settings.base_url
    if form.get("decision") != "approve":
        return _redirect_error(
            redirect_uri, "access_denied", "The user declined.", params.get("state"), iss
        )
    try:
        org_id = uuid.UUID(str(form.get("org_id", "")))
    except ValueError:
        return _error_page(request, "Pick one of your organizations.")
    if await find_membership(session, org_id, user.user_id) is None:
        return _error_page(request, "Pick one of your organizations.")
    exchange.user = Grantee(user.user_id, org_id)
    answer = SERVER.create_authorization_response(
        _form_request(request, list(params.items())), grant_user=exchange.user, grant=grant
    )
    answer = await store.apply(exchange, answer)
    location = answer.location
    if location is None:
        return _error_page(request, "The authorization could not be completed.")
    return RedirectResponse(location, status_code=303)


# -- token and revocation -----------------------------------------------------------------------


def _client_id(request: Request, form: dict[str, str]) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return unquote(decoded.split(":", 1)[0])
    return form.get("client_id")


async def _token_exchange(
    request: Request, uow: UnitOfWorkDep, services: ServicesDep, endpoint: str
) -> Response:
    try:
        form_data = await request.form()
        form = {k: str(v) for k, v in form_data.items()}
        store = OAuthStore(uow.session, services)
        exchange = store.exchange()
        exchange.client = await store.client(_client_id(request, form))
        audiences = resources(services.settings)
        if endpoint == "token":
            if form.get("grant_type") == "authorization_code":
                exchange.code = await store.code(form.get("code"))
            elif form.get("grant_type") == "refresh_token":
                exchange.token = await store.token(form.get("refresh_token"))
                if exchange.token is not None:
                    exchange.grant_holds = await store.grant_holds(exchange.token)
        else:
            exchange.token = await store.token(form.get("token"))
        begin(exchange)
        oauth_request = _form_request(request, list(form_data.multi_items()))  # type: ignore[arg-type]
        if endpoint != "token":
            answer = SERVER.create_endpoint_response("revocation", oauth_request)
        elif form.get("resource") and (
            form["resource"] not in audiences
            or (exchange.token is not None and form["resource"] != exchange.token.resource)
        ):
            # Still a failed redemption: the store burns the code it names. A refresh keeps
            # the audience of its grant (one resource per grant: nothing to narrow to). A code
            # names its resource itself; a mismatch there is invalid_grant (CodeGrant).
            audience = exchange.token.resource if exchange.token else " or ".join(audiences)
            answer = Answer(400, _refusal("invalid_target", f"resource must be {audience}"), [])
        else:
            answer = SERVER.create_token_response(oauth_request)
        answer = await store.apply(exchange, answer)
        # The request's unit of work commits now rather than at the edge, inside the ``try``:
        # a failed commit answers in RFC 6749's format (``temporarily_unavailable``) rather
        # than the API's envelope and leaves nothing behind, and a burned code or rotated
        # refresh token is durable before any token leaves in the body.
        await uow.commit_now()
        if isinstance(answer.body, dict) and answer.body.get("error") == "invalid_client":
            answer = _client_refused(answer)
    except Exception as exc:
        error = as_app_error(exc)
        if error.status == 503:
            # An outage is never "your grant is bad": clients would drop a good credential.
            response = _error(503, "temporarily_unavailable", "Try again shortly.")
            response.headers["Retry-After"] = "5"
            return response
        raise
    return _oauth_json(answer.status, answer.body if answer.body != "" else {}, answer.headers)


def _client_refused(answer: Answer) -> Answer:
    """RFC 6749 §5.2: failed client authentication is 401 with a challenge. authlib answers
    400 for an unknown client_id sent in the form, and no realm on its Basic challenge."""
    headers = [(k, v) for k, v in answer.headers if k.lower() != "www-authenticate"]
    headers.append(("WWW-Authenticate", 'Basic realm="oauth", error="invalid_client"'))
    return Answer(401, answer.body, headers)


@router.post("/oauth/token", responses=spec.TOKEN_RESPONSES, openapi_extra=spec.TOKEN_REQUEST)
async def token(request: Request, uow: UnitOfWorkDep, services: ServicesDep) -> Response:
    """Exchange a code (with its PKCE verifier) or rotate a refresh token (RFC 6749)."""
    return await _token_exchange(request, uow, services, "token")


@router.post("/oauth/revoke", responses=spec.REVOKE_RESPONSES, openapi_extra=spec.REVOKE_REQUEST)
async def revoke(request: Request, uow: UnitOfWorkDep, services: ServicesDep) -> Response:
    """Revoke an access or refresh token (RFC 7009)."""
    return await _token_exchange(request, uow, services, "revoke")
