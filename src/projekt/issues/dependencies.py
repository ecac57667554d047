from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from projekt.core.deps import OrgDep, ServicesDep, UnitOfWorkDep
from projekt.issues.service import IssueService


async def get_issue_service(uow: UnitOfWorkDep, services: ServicesDep, ctx: OrgDep) -> IssueService:
    return IssueService(uow, services, ctx)


IssueServiceDep = Annotated[IssueService, Depends(get_issue_service)]


async def get_issue_reader(services: ServicesDep, ctx: OrgDep) -> IssueService:
    """For routes that only read: everything runs on the fast path, so no unit of work (and
    no generator dependency, which FastAPI resolves at a cost on every request)."""
    return IssueService(None, services, ctx)


IssueReaderDep = Annotated[IssueService, Depends(get_issue_reader)]
IssueRef = Annotated[
    str, Path(max_length=64, description="The issue's UUID or its key, such as WEB-12.")
]
