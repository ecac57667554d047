from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from projekt.core.deps import OrgDep, ServicesDep, SessionDep, org_context_of, services_of
from projekt.docs.service import DocFastPath, DocService


async def get_doc_service(session: SessionDep, services: ServicesDep, ctx: OrgDep) -> DocService:
    return DocService(session, services, ctx)


DocServiceDep = Annotated[DocService, Depends(get_doc_service)]


async def get_doc_fast_path(request: Request) -> DocFastPath:
    """For the list and the get, which read on the fast path only: no unit of work (a generator
    dependency costs an exit stack per request) and no sub-dependencies to resolve."""
    return DocFastPath(services_of(request), org_context_of(request))


DocFastPathDep = Annotated[DocFastPath, Depends(get_doc_fast_path)]
# A version number as the path names it (1 is the first save).
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="A version's number.")]
