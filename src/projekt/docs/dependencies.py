from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from projekt.core.deps import OrgDep, ServicesDep, SessionDep
from projekt.docs.service import DocService


async def get_doc_service(session: SessionDep, services: ServicesDep, ctx: OrgDep) -> DocService:
    return DocService(session, services, ctx)


DocServiceDep = Annotated[DocService, Depends(get_doc_service)]
# A version number as the path names it (1 is the first save).
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="A version's number.")]
