from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from projekt.core.deps import (
    OrgDep,
    ServicesDep,
    UnitOfWorkDep,
    org_context_of,
    services_of,
)
from projekt.core.pagination import ListQuery, list_params
from projekt.issues.service import SORT_FIELDS, IssueFastPath, IssueService


async def get_issue_service(uow: UnitOfWorkDep, services: ServicesDep, ctx: OrgDep) -> IssueService:
    return IssueService(uow.session, services, ctx)


IssueServiceDep = Annotated[IssueService, Depends(get_issue_service)]


async def get_issue_fast_path(request: Request) -> IssueFastPath:
    """For the routes that run on the fast path only (the reads, the create): no unit of work
    (and no generator dependency, which FastAPI resolves at a cost on every request). It reads
    the request itself rather than depending on ServicesDep and OrgDep: each dependency costs
    a resolution on every request of the busiest routes."""
    return IssueFastPath(services_of(request), org_context_of(request))


IssueFastPathDep = Annotated[IssueFastPath, Depends(get_issue_fast_path)]
IssueList = Annotated[ListQuery, Depends(list_params(*SORT_FIELDS, default="-created_at"))]
IssueRef = Annotated[
    str, Path(max_length=64, description="The issue's UUID or its key, such as WEB-12.")
]
