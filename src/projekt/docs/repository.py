"""Every statement on docs and their versions. Reads join the doc's project through
``projects.visibility.visible_to``: a private project's docs exist only for who sees it.

A project's list and one doc are the hot reads: ``DocReads`` runs them on the fast path
(``core.fastsql``: compiled once, asyncpg on PostgreSQL, the reader thread on SQLite) and hands
back typed rows; the writes and the rest stay on the unit of work's session."""

from __future__ import annotations

import functools
import re
import uuid
from datetime import datetime
from typing import Any, NamedTuple, TypedDict

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Row,
    Select,
    String,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal_column,
    select,
)

from projekt.core.fastsql import FastSQL
from projekt.core.pagination import SortKeys, order_by
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
        self, doc_id: uuid.UUID, sort: SortKeys, limit: int, offset: int
    ) -> tuple[list[Row[Any]], int]:
        stmt = (
            select(*VERSION_SUMMARY, func.count().over().label("total"))
            .where(DocVersion.org_id == self.org_id, DocVersion.doc_id == doc_id)
            .order_by(*order_by(sort, VERSION_SORTABLE), DocVersion.number)
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


# -- the hot path: a project's list and one doc, run through FastSQL ----------------------------


class DocSummaryRow(TypedDict):
    """A doc as a list shows it (``schemas.DocSummary``'s fields, in its order)."""

    id: uuid.UUID
    project_id: uuid.UUID
    parent_doc_id: uuid.UUID | None
    title: str
    icon: str | None
    position: int
    is_archived: bool
    version: int
    size: int
    created_by_id: uuid.UUID | None
    updated_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class DocBody(NamedTuple):
    """One doc as read: its summary, its revision (the ETag) and its blocks as JSON text (a
    list), passed through as stored rather than decoded and encoded again."""

    summary: DocSummaryRow
    revision: int
    blocks_json: str


class DocPage(NamedTuple):
    rows: list[DocSummaryRow]
    total: int


P = bindparam
_LISTED = [getattr(Doc, name) for name in DocSummaryRow.__annotations__]
_NAMES = tuple(DocSummaryRow.__annotations__)
# The org is checked on the doc and on its project (a doc shares its project's org); the
# project's visibility is in the statement, so a warm read is one statement.
_IN_PROJECT = (
    Doc.project_id == P("project_id"),
    Doc.org_id == P("org_id"),
    Project.org_id == P("org_id"),
    visible_to(P("user_id")),
)
DOC_BODY = (
    select(*_LISTED, Doc.revision, cast(Doc.blocks, Text).label("blocks_json"))
    .join(Project, Project.id == Doc.project_id)
    .where(Doc.id == P("doc_id"), *_IN_PROJECT)
)
DOC_REVISION = (
    select(Doc.revision)
    .join(Project, Project.id == Doc.project_id)
    .where(Doc.id == P("doc_id"), *_IN_PROJECT)
)


def _fts_match(query: Any) -> ColumnElement[bool]:
    return FTS_DOCUMENT.op("@@")(func.to_tsquery(literal_column("'simple'"), cast(query, String)))


def _tsquery(words: list[str]) -> str:
    """Every word as a word prefix (``search_words`` leaves no tsquery syntax in a word)."""
    return " & ".join(f"{word}:*" for word in words)


@functools.lru_cache(maxsize=256)
def list_statements(
    sort: SortKeys, include_archived: bool, words: int, postgres: bool
) -> tuple[Select[Any], Select[Any]]:
    """A page of a project's docs with its total, and the project's visibility with the total
    (for an empty page: 404 or past the end), built once per shape."""
    conditions: list[ColumnElement[bool]] = []
    if not include_archived:
        conditions.append(Doc.is_archived.is_(False))
    if words and postgres:
        conditions.append(_fts_match(P("tsquery")))
    elif words:
        conditions.extend(Doc.search_text.like(P(f"word{n}", type_=String)) for n in range(words))
    order = [SORTABLE[name].desc() if desc else SORTABLE[name].asc() for name, desc in sort]
    page = (
        select(*_LISTED, func.count().over().label("total"))
        .join(Project, Project.id == Doc.project_id)
        .where(*_IN_PROJECT, *conditions)
        .order_by(*order, Doc.id)
        .limit(P("limit"))
        .offset(P("offset"))
    )
    counted = (
        select(func.count())
        .where(Doc.project_id == Project.id, Doc.org_id == Project.org_id, *conditions)
        .scalar_subquery()
    )
    head = select(Project.id, counted.label("total")).where(
        Project.id == P("project_id"), Project.org_id == P("org_id"), visible_to(P("user_id"))
    )
    return page, head


class DocReads:
    """The reads of a project's docs that every docs request makes, for one caller in one org."""

    def __init__(self, fast: FastSQL, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self.fast = fast
        self.scope = {"org_id": org_id, "user_id": user_id}

    async def page(
        self,
        project_id: uuid.UUID,
        *,
        include_archived: bool,
        words: list[str],
        sort: SortKeys,
        limit: int,
        offset: int,
    ) -> DocPage | None:
        """A page of the project's docs (without content) and how many there are; None when
        the caller does not see the project. Usually one statement: only an empty page asks
        about the project (is it there, and how many docs are before this page)."""
        page, head = list_statements(sort, include_archived, len(words), self.fast.postgres)
        params: dict[str, Any] = {
            **self.scope,
            "project_id": project_id,
            "limit": limit,
            "offset": offset,
        }
        if words and self.fast.postgres:
            params["tsquery"] = _tsquery(words)
        else:
            params.update({f"word{n}": f"%{word}%" for n, word in enumerate(words)})
        rows = await self.fast.fetch(page, params)
        if rows:
            return DocPage([_summary(row) for row in rows], int(rows[0]["total"]))
        found = await self.fast.fetchrow(head, params)
        return None if found is None else DocPage([], int(found["total"]))

    async def project_seen(self, project_id: uuid.UUID) -> bool:
        """Whether the caller sees the project (a list that needs no rows)."""
        _, head = list_statements((("position", False),), True, 0, self.fast.postgres)
        params = {**self.scope, "project_id": project_id}
        return await self.fast.fetchrow(head, params) is not None

    async def body(self, project_id: uuid.UUID, doc_id: uuid.UUID) -> DocBody | None:
        params = {**self.scope, "project_id": project_id, "doc_id": doc_id}
        row = await self.fast.fetchrow(DOC_BODY, params)
        if row is None:
            return None
        return DocBody(_summary(row), int(row["revision"]), row["blocks_json"])

    async def revision(self, project_id: uuid.UUID, doc_id: uuid.UUID) -> int | None:
        """The doc's revision alone (what its ETag is made of): a 304 reads no content."""
        params = {**self.scope, "project_id": project_id, "doc_id": doc_id}
        row = await self.fast.fetchrow(DOC_REVISION, params)
        return None if row is None else int(row["revision"])


def _summary(row: Any) -> DocSummaryRow:
    # The first columns of every hot statement are the summary's, in order (asyncpg records,
    # the SQLite reader's dicts and SQLAlchemy's mappings all have ``values()``).
    return dict(zip(_NAMES, row.values(), strict=False))  # type: ignore[return-value]
