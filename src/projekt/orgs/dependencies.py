from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from projekt.core.deps import ServicesDep, SessionDep
from projekt.orgs.service import OrgService


async def get_org_service(session: SessionDep, services: ServicesDep) -> OrgService:
    return OrgService(session, services)


OrgServiceDep = Annotated[OrgService, Depends(get_org_service)]
SearchQuery = Annotated[str, Query(min_length=1, max_length=100, description="Text to look for.")]
