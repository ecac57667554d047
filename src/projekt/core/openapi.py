"""Helpers to declare, per route, every error it can answer (they become the OpenAPI docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorEnvelope(BaseModel):
    error: str = Field(description="Human-readable description.")
    code: str = Field(description="Stable snake_case code.")
    errors: dict[str, list[str]] | None = Field(
        default=None, description="On 422: field → messages."
    )


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


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the listed statuses plus those every route can answer."""
    codes = sorted({*statuses, 400, 413, 429, 503})
    return {code: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[code]} for code in codes}
