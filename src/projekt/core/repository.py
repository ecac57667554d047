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

    async def get_for_update(self, obj_id: uuid.UUID, *, deleting: bool = False) -> M | None:
        """The row as it is now, locked for this transaction; None if it is gone.

        Every update or delete path starts here, before it checks anything: on PostgreSQL a
        concurrent writer waits for our commit (and one that deleted the row first leaves us
        None, a 404, instead of an UPDATE that matches nothing); on SQLite, which ignores FOR
        UPDATE, the writing unit of work already holds the write lock since its BEGIN.
        ``populate_existing``: an earlier, unlocked read of the same row in this session must
        not be handed back unchanged. Updates take FOR NO KEY UPDATE, which still lets other
        transactions insert rows that reference this one (a comment on a locked issue).

        Lock order, so that two writers never wait for each other: project, then its sprint or
        milestone, then issues, then comments.
        """
        stmt = (
            self.select()
            .where(self.model.id == obj_id)
            .with_for_update(key_share=not deleting)
            .execution_options(populate_existing=True)
        )
        obj: M | None = (await self.session.execute(stmt)).scalar_one_or_none()
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
