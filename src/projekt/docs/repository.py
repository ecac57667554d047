"""Every statement on docs and their versions. Reads join the doc's project through
``projects.visibility.visible_to``: a private project's docs exist only for who sees it."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Row,
    String,
    and_,
    cast,
    delete,
    exists,
    func,
    literal_column,
    select,
)

from projekt.core.repository import OrgScopedRepository, lock_row
from projekt.docs.models import Doc, DocVersion
from projekt.projects.models import Project
from projekt.projects.visibility import visible_to

# Exactly the expression of the GIN index ix_docs_fts (migration 0013).
FTS_DOCUMENT: ColumnClause[Any] = literal_column("to_tsvector('simple', docs.search_text)")

# What a list shows of a doc: everything but its content.
SUMMARY: tuple[Any, ...] = (
    Doc.id,
    Doc.project_id,
    Doc.parent_doc_id,
    Doc.title,
    Doc.icon,
    Doc.position,
    Doc.is_archived,
    Doc.size,
    Doc.version,
    Doc.revision,
    Doc.created_by_id,
    Doc.updated_by_id,
    Doc.created_at,
    Doc.updated_at,
)
SORTABLE: dict[str, Any] = {
    "position": Doc.position,
    "title": Doc.title,
    "created_at": Doc.created_at,
    "updated_at": Doc.updated_at,
}
VERSION_SUMMARY: tuple[Any, ...] = (
    DocVersion.number,
    DocVersion.title,
    DocVersion.size,
    DocVersion.restored_from,
    DocVersion.author_id,
    DocVersion.created_at,
)
VERSION_SORTABLE: dict[str, Any] = {
    "number": DocVersion.number,
    "created_at": DocVersion.created_at,
}


def search_words(q: str) -> list[str]:
    """The words of a query (letters and digits), case-folded; at most ten."""
    return [w.casefold() for w in re.findall(r"[^\W_]+", q)][:10]


class DocRepository(OrgScopedRepository[Doc]):
    model = Doc

    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _matches(self, words: list[str]) -> ColumnElement[bool]:
        """Every word, as a word prefix (PostgreSQL) or a substring (SQLite)."""
        if self._dialect() == "postgresql":
            query = " & ".join(f"{word}:*" for word in words)
            return FTS_DOCUMENT.op("@@")(
                func.to_tsquery(literal_column("'simple'"), cast(query, String))
            )
        return and_(*(Doc.search_text.like(f"%{word}%") for word in words))

    def _visible(self, user_id: uuid.UUID) -> ColumnElement[bool]:
        return exists().where(
            Project.id == Doc.project_id, Project.org_id == self.org_id, visible_to(user_id)
        )

    async def listing(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        *,
        include_archived: bool,
        words: list[str],
        order: list[ColumnElement[Any]],
        limit: int,
        offset: int,
    ) -> tuple[list[Row[Any]], int]:
        """A page of the project's docs (without content), and how many there are."""
        stmt = self.select(*SUMMARY, func.count().over().label("total")).where(
            Doc.project_id == project_id, self._visible(user_id)
        )
        if not include_archived:
            stmt = stmt.where(Doc.is_archived.is_(False))
        if words:
            stmt = stmt.where(self._matches(words))
        stmt = stmt.order_by(*order, Doc.id).limit(limit).offset(offset)
        rows = list((await self.session.execute(stmt)).all())
        return rows, int(rows[0].total) if rows else 0

    async def visible_one(
        self, user_id: uuid.UUID, project_id: uuid.UUID, doc_id: uuid.UUID
    ) -> Doc | None:
        stmt = self.select().where(
            Doc.id == doc_id, Doc.project_id == project_id, self._visible(user_id)
        )
        doc: Doc | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return doc

    async def search(self, user_id: uuid.UUID, words: list[str], limit: int) -> list[Row[Any]]:
        """Docs of every project the user sees whose words start with the query's (palette)."""
        stmt = (
            self.select(Doc.id, Doc.title, Doc.project_id, Project.name.label("project_name"))
            .join(Project, Project.id == Doc.project_id)
            .where(visible_to(user_id), Doc.is_archived.is_(False), self._matches(words))
            .order_by(Doc.updated_at.desc(), Doc.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())

    async def tree(self, project_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID | None]:
        """Each doc of the project and its parent."""
        stmt = select(Doc.id, Doc.parent_doc_id).where(
            Doc.org_id == self.org_id, Doc.project_id == project_id
        )
        return {row.id: row.parent_doc_id for row in await self.session.execute(stmt)}

    async def lock_project(self, project_id: uuid.UUID) -> bool:
        """Serialize the tree's writers (moves, deletes) on the project's row (lock order:
        the project first)."""
        return await lock_row(self.session, Project, project_id)

    async def many(self, doc_ids: list[uuid.UUID]) -> list[Doc]:
        stmt = self.select().where(Doc.id.in_(doc_ids)).with_for_update()
        return list((await self.session.execute(stmt)).scalars())

    async def delete_many(self, doc_ids: list[uuid.UUID]) -> None:
        await self.session.execute(
            delete(Doc)
            .where(Doc.org_id == self.org_id, Doc.id.in_(doc_ids))
            .execution_options(synchronize_session=False)
        )

    # -- versions -------------------------------------------------------------------------------

    async def add_version(self, version: DocVersion) -> None:
        self.session.add(version)
        await self.session.flush()

    async def versions(
        self, doc_id: uuid.UUID, order: list[ColumnElement[Any]], limit: int, offset: int
    ) -> tuple[list[Row[Any]], int]:
        stmt = (
            select(*VERSION_SUMMARY, func.count().over().label("total"))
            .where(DocVersion.org_id == self.org_id, DocVersion.doc_id == doc_id)
            .order_by(*order, DocVersion.number)
            .limit(limit)
            .offset(offset)
        )
        rows: list[Any] = list((await self.session.execute(stmt)).all())
        return rows, int(rows[0].total) if rows else 0

    async def version(self, doc_id: uuid.UUID, number: int) -> DocVersion | None:
        stmt = select(DocVersion).where(
            DocVersion.org_id == self.org_id,
            DocVersion.doc_id == doc_id,
            DocVersion.number == number,
        )
        found: DocVersion | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found
