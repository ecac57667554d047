from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator

from projekt.audit.errors import BadCursor
from projekt.audit.schemas import AuditPage, ChangesPage
from projekt.audit.service import AuditFilters, AuditLog, ChangesFeed
from projekt.core.deps import (
    org_context_of,
    services_of,
)
from projekt.core.errors import BadPaging, ValidationFailed
from projekt.core.openapi import IN_ORG, ROLE, errors
from projekt.core.pagination import MAX_LIMIT, cursor_limit
from projekt.core.responses import dumps
from projekt.core.schemas import in_utc_range

router = APIRouter(tags=["audit"])

DEFAULT_LIMIT = 50


async def get_audit_log(request: Request) -> AuditLog:
    # As the changes feed: one dependency reading the request, no unit of work.
    return AuditLog(services_of(request), org_context_of(request))


AuditLogDep = Annotated[AuditLog, Depends(get_audit_log)]


async def get_changes_feed(request: Request) -> ChangesFeed:
    # One dependency reading the request (as the issue reader does), and no unit of work: the
    # feed only reads; a reader that needs a session opens a read-only one (core.feed.Read).
    return ChangesFeed(services_of(request), org_context_of(request))


ChangesFeedDep = Annotated[ChangesFeed, Depends(get_changes_feed)]


def _aware(moment: datetime | None) -> datetime | None:
    """A time without an offset is read as UTC (API.md §2: timestamps are UTC)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


# Parsed by ``cursor_limit`` (a bad value is 400, as on every list), documented as the number
# it is.
LimitQuery = Annotated[
    str | None,
    Query(
        description=f"Events per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
        json_schema_extra={
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
        },
    ),
]


@router.get(
    "/api/audit",
    response_model=AuditPage,
    responses=errors(*IN_ORG, *ROLE, BadCursor, BadPaging, ValidationFailed),
)
async def audit_log(
    audit: AuditLogDep,
    cursor: Annotated[
        str | None, Query(description="`meta.next_cursor` of the page before.")
    ] = None,
    limit: LimitQuery = None,
    actor_id: uuid.UUID | None = None,
    credential_id: uuid.UUID | None = None,
    credential_kind: Literal["pat", "oauth", "session", "extension", "system"] | None = None,
    resource_type: Annotated[str | None, Query(max_length=32)] = None,
    resource_id: uuid.UUID | None = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    project_id: uuid.UUID | None = None,
    since: Annotated[
        datetime | None,
        Query(description="Events at or after this time."),
        AfterValidator(in_utc_range),
    ] = None,
    until: Annotated[
        datetime | None,
        Query(description="Events before this time."),
        AfterValidator(in_utc_range),
    ] = None,
) -> Response:
    """The org's record, newest first: who changed what, when, and with which credential."""
    filters = AuditFilters(
        actor_id=actor_id,
        credential_id=credential_id,
        credential_kind=credential_kind,
        resource_type=resource_type,
        resource_id=resource_id,
        type=type,
        project_id=project_id,
        since=_aware(since),
        until=_aware(until),
    )
    # Written by orjson from plain data, as the changes feed is (``AuditPage`` documents it).
    page = await audit.page(filters, cursor, cursor_limit(limit, DEFAULT_LIMIT))
    return Response(dumps(page), media_type="application/json")


@router.get(
    "/api/changes",
    response_model=ChangesPage,
    responses=errors(*IN_ORG, BadCursor, BadPaging, ValidationFailed),
)
async def list_changes(
    feed: ChangesFeedDep,
    since: Annotated[
        str | None, Query(description="A `cursor` or `next_cursor` this feed returned.")
    ] = None,
    limit: LimitQuery = None,
) -> Response:
    """What changed since a cursor, oldest first, each resource as it is now (null: deleted)."""
    # Rendered by orjson as the issue list is: the readers answer JSON-ready representations,
    # and validating a page of them again would cost more than reading them.
    page = await feed.page(since, cursor_limit(limit, DEFAULT_LIMIT))
    return Response(dumps(page), media_type="application/json")
