from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from projekt.core.deps import OrgDep, ServicesDep, UnitOfWorkDep
from projekt.issues.service import IssueService


async def get_issue_service(uow: UnitOfWorkDep, services: ServicesDep, ctx: OrgDep) -> IssueService:
    return IssueService(uow, services, ctx)


IssueServiceDep = Annotated[IssueService, Depends(get_issue_service)]
IssueRef = Annotated[
    str, Path(max_length=64, description="The issue's UUID or its key, such as WEB-12.")
]
