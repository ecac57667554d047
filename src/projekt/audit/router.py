from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from projekt.audit.errors import BadCursor
from projekt.audit.repository import AuditFilters
from projekt.audit.schemas import AuditPage, ChangesPage
from projekt.audit.service import AuditService
from projekt.core.deps import OrgDep, ServicesDep, SessionDep
from projekt.core.errors import BadPaging, ValidationFailed
from projekt.core.openapi import IN_ORG, ROLE, errors

router = APIRouter(tags=["audit"])

DEFAULT_LIMIT, MAX_LIMIT = 50, 200


async def get_audit_service(
    session: SessionDep, services: ServicesDep, ctx: OrgDep
) -> AuditService:
    return AuditService(session, services, ctx)


AuditServiceDep = Annotated[AuditService, Depends(get_audit_service)]


def _limit(raw: str | None) -> int:
    """``limit`` as the lists read it (API.md §2): 1 to 200, else 400."""
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadPaging(f"The limit must be a whole number from 1 to {MAX_LIMIT}.")
    return int(raw)


LimitQuery = Annotated[
    str | None, Query(description=f"Events per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).")
]


@router.get(
    "/api/audit",
    response_model=AuditPage,
    responses=errors(*IN_ORG, *ROLE, BadCursor, BadPaging, ValidationFailed),
)
async def audit_log(
    audit: AuditServiceDep,
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
    since: Annotated[datetime | None, Query(description="Events at or after this time.")] = None,
    until: Annotated[datetime | None, Query(description="Events before this time.")] = None,
) -> AuditPage:
    """The org's record, newest first: who changed what, when, and with which credential."""
    filters = AuditFilters(
        actor_id=actor_id,
        credential_id=credential_id,
        credential_kind=credential_kind,
        resource_type=resource_type,
        resource_id=resource_id,
        type=type,
        project_id=project_id,
        since=since,
        until=until,
    )
    return await audit.audit(filters, cursor, _limit(limit))


@router.get(
    "/api/changes",
    response_model=ChangesPage,
    responses=errors(*IN_ORG, BadCursor, BadPaging, ValidationFailed),
)
async def list_changes(
    audit: AuditServiceDep,
    since: Annotated[
        str | None, Query(description="A `cursor` or `next_cursor` this feed returned.")
    ] = None,
    limit: LimitQuery = None,
) -> ChangesPage:
    """What changed since a cursor, oldest first, each resource as it is now (null: deleted)."""
    return await audit.changes(since, _limit(limit))
