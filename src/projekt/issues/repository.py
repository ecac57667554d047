"""Every SQL statement over issues, comments and their activity (SQLAlchemy Core)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Row,
    Select,
    case,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)

from projekt.core.repository import OrgScopedRepository, like_pattern
from projekt.issues.models import Comment, Issue, IssueActivity
from projekt.projects.models import Project
from projekt.projects.repository import visible_to

ISSUE_FIELDS = (
    "id",
    "number",
    "project_id",
    "title",
    "description",
    "status",
    "priority",
    "type",
    "assignee_id",
    "reporter_id",
    "labels",
    "estimated_hours",
    "sprint_id",
    "parent_id",
    "due_date",
    "external_ref",
    "archived",
    "created_at",
    "updated_at",
)
_COLUMNS = [getattr(Issue, name) for name in ISSUE_FIELDS]
_READ_COLUMNS = [*_COLUMNS, Issue.version, Project.key.label("project_key")]

PRIORITY_RANK = case({"low": 1, "medium": 2, "high": 3, "urgent": 4}, value=Issue.priority, else_=0)
SORTABLE: dict[str, Any] = {
    "created_at": Issue.created_at,
    "updated_at": Issue.updated_at,
    "number": Issue.number,
    "title": Issue.title,
    "status": Issue.status,
    "priority": PRIORITY_RANK,
    "due_date": Issue.due_date,
    "estimated_hours": Issue.estimated_hours,
}
COMMENT_FIELDS = ("id", "issue_id", "author_id", "parent_id", "text", "created_at", "updated_at")
_COMMENT_COLUMNS = [getattr(Comment, name) for name in COMMENT_FIELDS]


def issue_dict(row: Row[Any]) -> dict[str, Any]:
    """A result row as the API's issue object (key derived from the project's current key)."""
    data = dict(zip(ISSUE_FIELDS, row[: len(ISSUE_FIELDS)], strict=True))
    data = {"id": data.pop("id"), "key": f"{row.project_key}-{row.number}", **data}
    return data


def comment_dict(row: Row[Any]) -> dict[str, Any]:
    return dict(zip(COMMENT_FIELDS, row, strict=True))


class IssueRepository(OrgScopedRepository[Issue]):
    model = Issue

    def _readable(self, user_id: uuid.UUID) -> Select[Any]:
        return (
            select(*_READ_COLUMNS)
            .join(Project, Project.id == Issue.project_id)
            .where(Issue.org_id == self.org_id, visible_to(user_id))
        )

    async def by_id(self, issue_id: uuid.UUID, user_id: uuid.UUID) -> Row[Any] | None:
        stmt = self._readable(user_id).where(Issue.id == issue_id)
        row: Row[Any] | None = (await self.session.execute(stmt)).first()
        return row

    async def by_key(self, project_key: str, number: int, user_id: uuid.UUID) -> Row[Any] | None:
        stmt = self._readable(user_id).where(
            Project.key == project_key, Project.org_id == self.org_id, Issue.number == number
        )
        row: Row[Any] | None = (await self.session.execute(stmt)).first()
        return row

    async def listing(
        self,
        user_id: uuid.UUID,
        filters: dict[str, Any],
        q: str | None,
        order: list[ColumnElement[Any]],
        limit: int,
        offset: int,
        dialect: str,
    ) -> tuple[list[Row[Any]], int]:
        """One statement: the page and, through a window function, the total."""
        stmt = self._readable(user_id).add_columns(func.count().over().label("total"))
        stmt = self._filter(stmt, filters, q, dialect)
        stmt = stmt.order_by(*order, Issue.id).limit(limit).offset(offset)
        rows = list((await self.session.execute(stmt)).all())
        if rows or not offset:
            return rows, int(rows[0].total) if rows else 0
        # Past the end: the window had no row to ride on, so count separately.
        count = self._filter(
            select(func.count())
            .select_from(Issue)
            .join(Project, Project.id == Issue.project_id)
            .where(Issue.org_id == self.org_id, visible_to(user_id)),
            filters,
            q,
            dialect,
        )
        return [], int((await self.session.execute(count)).scalar_one())

    def _filter(
        self, stmt: Select[Any], filters: dict[str, Any], q: str | None, dialect: str
    ) -> Select[Any]:
        for name in ("project_id", "priority", "type", "assignee_id", "sprint_id", "archived"):
            if filters.get(name) is not None:
                stmt = stmt.where(getattr(Issue, name) == filters[name])
        if filters.get("status") is not None:
            stmt = stmt.where(func.lower(Issue.status) == filters["status"].lower())
        if filters.get("label") is not None:
            stmt = stmt.where(label_filter(filters["label"], dialect))
        if q:
            stmt = stmt.where(text_search(q, dialect))
        return stmt

    async def comments(self, issue_id: uuid.UUID) -> list[dict[str, Any]]:
        stmt = (
            select(*_COMMENT_COLUMNS)
            .where(Comment.org_id == self.org_id, Comment.issue_id == issue_id)
            .order_by(Comment.created_at, Comment.id)
        )
        return [comment_dict(row) for row in (await self.session.execute(stmt)).all()]

    async def allocate_number(self, project_id: uuid.UUID, user_id: uuid.UUID) -> Row[Any] | None:
        """Take the project's next issue number atomically (and mark its lists changed).

        A single UPDATE … RETURNING: concurrent creates queue on the project row, so numbers
        have no gaps or duplicates; a rolled-back create gives its number back.
        """
        stmt = (
            update(Project)
            .where(Project.id == project_id, Project.org_id == self.org_id, visible_to(user_id))
            .values(issue_seq=Project.issue_seq + 1, issues_version=Project.issues_version + 1)
            .returning(Project.issue_seq, Project.key, Project.columns)
        )
        return (await self.session.execute(stmt)).first()

    async def insert(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(Issue).values(**values))

    async def locked(self, issue_id: uuid.UUID) -> Issue | None:
        """The issue row for a write, locked on PostgreSQL until the transaction ends."""
        stmt = select(Issue).where(Issue.id == issue_id, Issue.org_id == self.org_id)
        stmt = stmt.with_for_update()
        issue: Issue | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return issue

    async def many(self, ids: Sequence[uuid.UUID], user_id: uuid.UUID) -> list[Issue]:
        stmt = (
            select(Issue)
            .join(Project, Project.id == Issue.project_id)
            .where(Issue.org_id == self.org_id, Issue.id.in_(ids), visible_to(user_id))
            .with_for_update(of=Issue)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def ancestors(self, issue_id: uuid.UUID, depth: int = 50) -> list[uuid.UUID]:
        chain: list[uuid.UUID] = []
        current: uuid.UUID | None = issue_id
        while current is not None and len(chain) < depth:
            chain.append(current)
            stmt = select(Issue.parent_id).where(Issue.id == current, Issue.org_id == self.org_id)
            current = (await self.session.execute(stmt)).scalar_one_or_none()
        return chain

    async def exists_in_org(self, issue_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        stmt = (
            select(Issue.id)
            .join(Project, Project.id == Issue.project_id)
            .where(Issue.id == issue_id, Issue.org_id == self.org_id, visible_to(user_id))
        )
        return (await self.session.execute(stmt)).first() is not None

    async def delete(self, issue_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(Issue).where(Issue.id == issue_id, Issue.org_id == self.org_id)
        )

    async def status_counts(self, project_id: uuid.UUID) -> dict[str, int]:
        stmt = (
            select(Issue.status, func.count())
            .where(Issue.org_id == self.org_id, Issue.project_id == project_id)
            .group_by(Issue.status)
        )
        return {status: int(n) for status, n in (await self.session.execute(stmt)).all()}

    async def rename_status(self, project_id: uuid.UUID, old: str, new: str) -> None:
        stmt = (
            update(Issue)
            .where(Issue.org_id == self.org_id, Issue.project_id == project_id)
            .where(Issue.status == old)
            .values(status=new, version=Issue.version + 1)
        )
        await self.session.execute(stmt)

    async def search(self, user_id: uuid.UUID, q: str, limit: int) -> list[Row[Any]]:
        pattern = like_pattern(q)
        conditions: list[ColumnElement[bool]] = [func.lower(Issue.title).like(pattern, escape="\\")]
        key, _, number = q.strip().upper().rpartition("-")
        if key and number.isdigit():
            conditions.append((Project.key == key) & (Issue.number == int(number)))
        stmt = (
            self._readable(user_id)
            .where(or_(*conditions), Issue.archived.is_(False))
            .order_by(Issue.updated_at.desc(), Issue.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())


class CommentRepository(OrgScopedRepository[Comment]):
    model = Comment


class ActivityRepository(OrgScopedRepository[IssueActivity]):
    model = IssueActivity

    async def record(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(IssueActivity).values(org_id=self.org_id, **values))

    async def for_issue(self, issue_id: uuid.UUID) -> list[IssueActivity]:
        stmt = (
            self.select()
            .where(IssueActivity.issue_id == issue_id)
            .order_by(IssueActivity.created_at, IssueActivity.id)
        )
        return list((await self.session.execute(stmt)).scalars())


# Exactly the expression of the GIN index ix_issues_fts (migration 0002), constants inlined.
FTS_DOCUMENT: ColumnClause[Any] = literal_column(
    "to_tsvector('simple', coalesce(issues.title, '') || ' ' || coalesce(issues.description, ''))"
)


def label_filter(label: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return Issue.labels.op("@>")(func.jsonb_build_array(label))
    each = func.json_each(Issue.labels).table_valued("value")
    return exists(select(literal_column("1")).select_from(each).where(each.c.value == label))


def text_search(q: str, dialect: str) -> ColumnElement[bool]:
    """PostgreSQL full-text search (GIN-indexed); a case-folded LIKE on SQLite."""
    if dialect == "postgresql":
        return FTS_DOCUMENT.op("@@")(func.websearch_to_tsquery(literal_column("'simple'"), q))
    pattern = like_pattern(q)
    return or_(
        func.lower(Issue.title).like(pattern, escape="\\"),
        func.lower(func.coalesce(Issue.description, "")).like(pattern, escape="\\"),
    )
