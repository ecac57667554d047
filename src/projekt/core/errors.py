"""One error hierarchy and one envelope for every non-2xx answer (API.md §2)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Send

from projekt.core import scope as asgi

logger = logging.getLogger("projekt.errors")

# Every AppError class, as each is defined (``all_error_classes``).
_REGISTRY: list[type[AppError]] = []


class AppError(Exception):
    """Every error the API answers with: one class per ``code`` (the registry below lists them
    all, and each route declares the classes it can raise through ``core.openapi.errors``)."""

    status: int = 500
    code: str = "internal_error"
    message: str = "Internal server error."

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY.append(cls)

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        errors: Mapping[str, list[str]] | None = None,
    ) -> None:
        self.message = message or type(self).message
        if code:
            self.code = code
        self.headers = dict(headers or {})
        self.errors = dict(errors) if errors else None
        super().__init__(self.message)


_REGISTRY.append(AppError)


class BadRequest(AppError):
    status, code, message = 400, "bad_request", "Bad request."


class Unauthorized(AppError):
    status, code, message = 401, "unauthorized", "Missing, expired or revoked credential."


class Forbidden(AppError):
    status, code, message = 403, "forbidden", "You may not do this."


class NotFound(AppError):
    status, code, message = 404, "not_found", "Not found."


class MethodNotAllowed(AppError):
    status, code, message = 405, "method_not_allowed", "Method not allowed."


class Conflict(AppError):
    status, code, message = 409, "conflict", "Conflict."


class PreconditionFailed(AppError):
    status, code, message = 412, "precondition_failed", "The resource changed since you read it."


class PayloadTooLarge(AppError):
    status, code, message = 413, "payload_too_large", "Request body too large."


class ValidationFailed(AppError):
    status, code, message = 422, "validation_failed", "Validation failed"


class TooManyRequests(AppError):
    status, code, message = 429, "rate_limited", "Too many requests."


class ServiceUnavailable(AppError):
    status, code, message = 503, "service_unavailable", "Service temporarily unavailable."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("Retry-After", "5")


class NotAcceptable(AppError):
    status, code, message = 406, "not_acceptable", "Not acceptable."


class UnsupportedMediaType(AppError):
    status, code, message = 415, "unsupported_media_type", "Unsupported media type."


# -- the codes of the layers every route passes through (edge, credentials, authorization,
# paging, the database). Each code has its class, so that a route can declare it and the
# registry can list it.


class MalformedJson(BadRequest):
    code, message = "malformed_json", "Malformed JSON body."


class BadHost(BadRequest):
    code, message = "bad_host", "This server does not answer for that host name."


class NulCharacter(BadRequest):
    code, message = "nul_character", "The request contains the NUL character (U+0000)."


class BadContentType(BadRequest):
    code, message = "bad_content_type", "Send one Content-Type header."


class AmbiguousCredentials(BadRequest):
    code, message = "ambiguous_credentials", "Send one credential per request."


class BadAuthorization(BadRequest):
    code, message = "bad_authorization", "Authorization must be 'Bearer <token>'."


class AmbiguousSessionCookie(BadRequest):
    code, message = "ambiguous_session_cookie", "The session cookie was sent more than once."


class BadOrgHeader(BadRequest):
    code, message = "bad_org_header", "X-Org-Id must be one organization's UUID."


class BadIdempotencyKey(BadRequest):
    code, message = "bad_idempotency_key", "Idempotency-Key must be printable ASCII."


class BadPaging(BadRequest):
    code, message = "bad_paging", "A paging parameter is out of range or not a number."


class BadSort(BadRequest):
    code, message = "bad_sort", "The sort names a field this list cannot sort by."


class BadDryRun(BadRequest):
    # Raised by middleware.dry_run.
    code, message = "bad_dry_run", "dry_run must be true or false."


class IdempotencyKeyInUse(Conflict):
    # Raised by middleware.idempotency; named here so routes can declare it.
    code, message = (
        "idempotency_key_in_use",
        "A request with this Idempotency-Key is still running; retry shortly.",
    )


class IdempotencyKeyReused(AppError):
    # Raised by middleware.idempotency.
    status, code = 422, "idempotency_key_reused"
    message = "This Idempotency-Key was used for a different request."


class OrgRequired(BadRequest):
    code, message = "org_required", "The X-Org-Id header is required for this endpoint."


class NoRule(Forbidden):
    code, message = "no_rule", "This route has no authorization rule."


class TokenForbidden(Forbidden):
    code, message = "token_forbidden", "API keys and OAuth tokens cannot use this endpoint."


class NotAMember(Forbidden):
    code, message = "not_a_member", "You are not a member of this organization."


class InsufficientRole(Forbidden):
    code, message = "insufficient_role", "Your role in this organization is too low for this."


class CsrfFailed(Forbidden):
    code, message = "csrf_failed", "Missing or invalid CSRF token."


class OrgMismatch(Forbidden):
    code, message = (
        "org_mismatch",
        "X-Org-Id does not match the organization this token is bound to.",
    )


class CrossSite(Forbidden):
    code, message = "cross_site", "Forms are accepted from this site's own pages only."


class DbUnavailable(ServiceUnavailable):
    code, message = "db_unavailable", "The database is unreachable or busy; retry shortly."


class RedisUnavailable(ServiceUnavailable):
    code, message = "redis_unavailable", "Redis is unreachable."


class IdempotencyUnavailable(ServiceUnavailable):
    code, message = (
        "idempotency_unavailable",
        "Idempotency keys cannot be checked right now; retry.",
    )


def all_error_classes() -> list[type[AppError]]:
    """Every error class loaded, by status then code: the data of the errors page.

    Domains define theirs in their ``errors.py``; the app imports every domain, so once it is
    built (``projekt.main``) the list is the API's whole vocabulary of codes.
    """
    return sorted(_REGISTRY, key=lambda cls: (cls.status, cls.code, cls.__qualname__))


def error_body(
    status: int, message: str, code: str, errors: Mapping[str, Any] | None = None
) -> bytes:
    body: dict[str, Any] = {"error": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return orjson.dumps(body)


# The request id of the last failure reported in this context: the request-id middleware's
# safety net logs any 5xx that no one reported (a route that rendered its own 503, say).
_reported: ContextVar[str | None] = ContextVar("projekt_reported_error", default=None)


def report(error: AppError, request_id: str) -> None:
    """Log a failure with its request id: the trace for unexpected ones, a line for other 5xx.

    Client errors (4xx) are the caller's business and only logged at debug level.
    """
    cause = error.__cause__
    if error.status >= 500:
        _reported.set(request_id)
    if error.code == "internal_error":
        exc_info = (type(cause), cause, cause.__traceback__) if cause is not None else True
        logger.error("unhandled error request_id=%s", request_id, exc_info=exc_info)
    elif error.status >= 500:
        logger.error(
            "request_id=%s answered %s %s%s",
            request_id,
            error.status,
            error.code,
            f" ({type(cause).__name__})" if cause is not None else "",
        )
    else:
        logger.debug("request_id=%s answered %s %s", request_id, error.status, error.code)


def was_reported(request_id: str) -> bool:
    return _reported.get() == request_id


def request_id_of(request: Request) -> str:
    rid: str = asgi.request_id(request.scope) or "-"
    return rid


async def send_error(
    send: Send, error: AppError, extra_headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Render the envelope straight onto an ASGI ``send`` (middleware short-circuits)."""
    headers = [(b"content-type", b"application/json")]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    headers += extra_headers
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    body = error_body(error.status, error.message, error.code, error.errors)
    await send({"type": "http.response.body", "body": body})


def error_response(exc: AppError) -> Response:
    return Response(
        error_body(exc.status, exc.message, exc.code, exc.errors),
        status_code=exc.status,
        headers=exc.headers,
        media_type="application/json",
    )


# Connection-class failures of the database, by SQLSTATE class or code: the server is gone,
# shutting down, starting, out of resources, or cancelled the statement (statement_timeout).
# Whatever the driver layer that raised them (asyncpg on the fast path, SQLAlchemy's wrappers of
# the same errors on the ORM path), they answer 503: the request may succeed when retried.
_OUTAGE_SQLSTATE_CLASSES = ("08", "53", "57", "58")
_OUTAGE_SQLSTATES = frozenset({"55P03", "25P03"})  # lock_not_available, idle-in-tx timeout
_OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    asyncpg.InterfaceError,  # "connection is closed", "pool is closing", …
    # asyncpg's protocol out of step with a server that died mid-operation ("cannot switch to
    # state 15; another operation is in progress", seen under pg_ctl stop).
    asyncpg.InternalClientError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def is_db_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the database cannot serve right now."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, _OUTAGE_TYPES):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES or sqlstate in _OUTAGE_SQLSTATES
        ):
            return True
        wrapped = getattr(current, "orig", None)  # SQLAlchemy's DBAPIError → the driver's error
        current = (
            wrapped if isinstance(wrapped, BaseException) else current.__cause__
        ) or current.__context__
    return False


def db_unavailable() -> ServiceUnavailable:
    return DbUnavailable()


def as_app_error(exc: BaseException) -> AppError:
    """Map any exception to the AppError that answers for it; unknown ones become a generic 500.

    The original exception is kept as the answer's ``__cause__`` so the log can name it.
    """
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, StarletteHTTPException):
        return _from_http_exception(exc)
    error = db_unavailable() if is_db_outage(exc) else AppError()
    error.__cause__ = exc
    return error


_HTTP_ERRORS: dict[int, type[AppError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        PayloadTooLarge,
        UnsupportedMediaType,
    )
}


class HttpError(AppError):
    """Any other status Starlette raises (none of the app's routes do)."""

    code, message = "http_error", "Request failed."


def _from_http_exception(exc: StarletteHTTPException) -> AppError:
    cls = _HTTP_ERRORS.get(exc.status_code, HttpError)
    message = cls.message
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = "No such endpoint."
    elif exc.status_code == 413 and exc.detail:
        message = str(exc.detail)
    error = cls(message, headers=exc.headers)
    error.status = exc.status_code
    return error


async def _starlette_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error = _from_http_exception(exc)
    if error.status >= 500:
        report(error, request_id_of(request))
    return error_response(error)


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if exc.status >= 500:
        report(exc, request_id_of(request))
    return error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(translate_validation(exc.errors()))


def translate_validation(errors: Sequence[Any]) -> AppError:
    """Pydantic's error list, rendered as the documented ``errors`` map of field → messages."""
    fields: dict[str, list[str]] = {}
    for err in errors:
        if err.get("type") == "json_invalid":
            return MalformedJson()
        loc = [
            str(part)
            for part in err.get("loc", ())
            if part not in ("body", "query", "path", "header")
        ]
        field = ".".join(loc) or "body"
        fields.setdefault(field, []).append(_message(field, err))
    return ValidationFailed(errors=fields)


def _message(field: str, err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    name = field.rsplit(".", 1)[-1]
    if kind == "missing":
        return f"The {name} field is required"
    if kind == "extra_forbidden":
        return f"The {name} field is not allowed"
    if err.get("input", 0) is None and kind != "missing":
        # null on a field that cannot be cleared (core.schemas: only nullable fields take it).
        return f"The {name} field cannot be null"
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"The {name} must be one of: {expected}"
    if kind == "string_too_short":
        return f"The {name} must be at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"The {name} may not be longer than {ctx.get('max_length')} characters"
    if kind == "uuid_parsing" or kind == "uuid_type":
        return f"The {name} must be a valid UUID"
    if kind == "model_attributes_type" or kind == "dict_type":
        return f"The {name} must be an object"
    msg = str(err.get("msg", "is invalid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"The {name} is invalid: {msg}"


async def _db_outage(request: Request, exc: Exception) -> Response:
    error = as_app_error(exc)
    report(error, request_id_of(request))
    return error_response(error)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _starlette_http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Every driver error is looked at: the outage ones answer 503, the others the generic 500
    # (both logged with the request id).
    for exc_type in (sa_exc.DBAPIError, sa_exc.TimeoutError, asyncpg.PostgresError, OSError):
        app.add_exception_handler(exc_type, _db_outage)
    app.add_exception_handler(asyncpg.InterfaceError, _db_outage)
