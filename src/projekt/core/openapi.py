"""Declare, per route, every error it can answer, by class (they become the OpenAPI docs).

``responses=errors(IssueNotFound, PreconditionFailed, *BODY)`` groups the classes by status;
each status is documented as the envelope whose ``code`` is one of that route's codes (an
enum), with a description naming each code. The codes the layers around every route can
answer (the edge, the credential parser, the limiter, the database) are added to every route;
the groups below name the codes of the other layers, by what a route has (a credential rule,
a body, paging, writes). ``tests/core/test_error_codes.py`` checks the groups against each
route's policy and, over the whole suite, every code a route answers against its declaration.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from projekt.core.errors import (
    AmbiguousCredentials,
    AmbiguousSessionCookie,
    AppError,
    BadAuthorization,
    BadContentType,
    BadDryRun,
    BadHost,
    BadIdempotencyKey,
    BadOrgHeader,
    BadPaging,
    BadRequest,
    BadSort,
    CsrfFailed,
    DbUnavailable,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    IdempotencyUnavailable,
    InsufficientRole,
    MalformedJson,
    NotAMember,
    NulCharacter,
    OrgMismatch,
    OrgRequired,
    PayloadTooLarge,
    ServiceUnavailable,
    TokenForbidden,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)


class ErrorEnvelope(BaseModel):
    error: str = Field(description="Human-readable description.")
    code: str = Field(description="Stable snake_case code.")
    errors: dict[str, list[str]] | None = Field(
        default=None, description="On 422: field → messages."
    )


ErrorClass = type[AppError]

#: What every route can answer: the edge (host, NUL bytes, headers), the credential parser,
#: the body limit, the rate limiter and the database.
EVERY_ROUTE: tuple[ErrorClass, ...] = (
    BadRequest,
    BadHost,
    NulCharacter,
    BadContentType,
    AmbiguousCredentials,
    BadAuthorization,
    AmbiguousSessionCookie,
    BadOrgHeader,
    PayloadTooLarge,
    TooManyRequests,
    DbUnavailable,
    ServiceUnavailable,
)
#: Any rule but ``public()``: no valid credential, or a token with another org's X-Org-Id.
SIGNED_IN: tuple[ErrorClass, ...] = (Unauthorized, OrgMismatch)
#: ``org(...)``: the org of the token or of X-Org-Id, and the caller's role in it.
IN_ORG: tuple[ErrorClass, ...] = (*SIGNED_IN, OrgRequired, NotAMember)
#: A rule whose role is above viewer.
ROLE: tuple[ErrorClass, ...] = (InsufficientRole,)
#: ``tokens=False``: API keys and OAuth tokens are refused.
NO_TOKENS: tuple[ErrorClass, ...] = (TokenForbidden,)
#: Every POST, PUT, PATCH and DELETE: the Idempotency-Key and dry-run layers.
WRITE: tuple[ErrorClass, ...] = (
    BadDryRun,
    BadIdempotencyKey,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    IdempotencyUnavailable,
)
#: A write a browser session can send: the CSRF check as well.
SESSION_WRITE: tuple[ErrorClass, ...] = (*WRITE, CsrfFailed)
#: A JSON body.
BODY: tuple[ErrorClass, ...] = (MalformedJson, ValidationFailed)
#: A list that pages and sorts (``core.pagination``).
PAGED: tuple[ErrorClass, ...] = (BadPaging, BadSort)

_DESCRIPTIONS = {
    400: "Malformed JSON, a bad header, or a bad paging/sort value.",
    401: "Missing, expired or revoked credential.",
    403: "Wrong role, token on a session-only endpoint, or X-Org-Id mismatch.",
    404: "Not found, or not visible to the caller.",
    409: "Conflict with the current state.",
    412: "If-Match did not match the current ETag.",
    413: "Body over the size limit.",
    422: "Validation failed.",
    429: "Rate limit exceeded.",
    503: "A backing service is unreachable; retry.",
}
# The envelope's schema, as the spec builder (projekt.spec) names it.
_ENVELOPE = "#/components/schemas/Error"


def errors(*declared: ErrorClass) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error classes it raises, plus those of ``EVERY_ROUTE``.

    Each status lists its codes as ``x-codes`` (which the spec builder, ``projekt.spec``,
    keeps) and in its description, and as the enum of the envelope's ``code``.
    """
    by_status: dict[int, dict[str, ErrorClass]] = {}
    for cls in (*declared, *EVERY_ROUTE):
        if not (isinstance(cls, type) and issubclass(cls, AppError)):
            raise TypeError(f"errors() takes AppError classes, not {cls!r}")
        by_status.setdefault(cls.status, {}).setdefault(cls.code, cls)
    return {status: _response(status, by_status[status]) for status in sorted(by_status)}


def declared_codes(responses: dict[int | str, dict[str, Any]]) -> dict[int, frozenset[str]]:
    """The codes an ``errors(...)`` declaration lists, by status (for checks and tools)."""
    found: dict[int, frozenset[str]] = {}
    for status, response in responses.items():
        codes = response.get("x-codes")
        if isinstance(status, int) and codes is not None:
            found[status] = frozenset(codes)
    return found


def _response(status: int, classes: dict[str, ErrorClass]) -> dict[str, Any]:
    codes = sorted(classes)
    lines = [f"- `{code}`: {classes[code].message}" for code in codes]
    description = f"{_DESCRIPTIONS.get(status, 'Error.')}\n\n" + "\n".join(lines)
    schema = {
        "allOf": [
            {"$ref": _ENVELOPE},
            {
                "type": "object",
                "properties": {"code": {"type": "string", "enum": codes}},
            },
        ]
    }
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        "x-codes": codes,
    }
