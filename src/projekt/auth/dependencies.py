from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from projekt.auth.service import AuthService
from projekt.core.deps import ServicesDep, SessionDep


async def get_auth_service(session: SessionDep, services: ServicesDep) -> AuthService:
    return AuthService(session, services)


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]
