"""Repository bases. Org-scoped tables are only ever read through ``OrgScopedRepository``."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.db import Base

M = TypeVar("M", bound=Base)


class Repository(Generic[M]):
    model: ClassVar[type[Any]]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, obj: M) -> M:
        self.session.add(obj)
        await self.session.flush()
        return obj


class OrgScopedRepository(Repository[M]):
    """Adds ``org_id = :bound_org`` to every statement it builds; nobody writes that by hand."""

    def __init__(self, session: AsyncSession, org_id: uuid.UUID) -> None:
        super().__init__(session)
        self.org_id = org_id

    def select(self, *columns: Any) -> Select[Any]:
        stmt = select(*columns) if columns else select(self.model)
        return stmt.where(self.model.org_id == self.org_id)

    def scoped(self, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(self.model.org_id == self.org_id)

    async def get(self, obj_id: uuid.UUID) -> M | None:
        result = await self.session.execute(self.select().where(self.model.id == obj_id))
        obj: M | None = result.scalar_one_or_none()
        return obj


def like_pattern(q: str) -> str:
    """A case-folded ``%q%`` with LIKE's wildcards escaped (use with ``escape="\\\\"``)."""
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def lock_row(session: AsyncSession, model: type[Any], row_id: uuid.UUID) -> bool:
    """Serialize writers on one row until the transaction ends; False if the row is gone.

    A no-op UPDATE rather than SELECT … FOR UPDATE: it takes the row lock on PostgreSQL and the
    write lock on SQLite (which ignores FOR UPDATE), so check-then-insert rules hold on both.
    """
    stmt = update(model).where(model.id == row_id).values(id=model.id)
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))
