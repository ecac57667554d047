"""Every SQL statement over issues, comments and their activity (SQLAlchemy Core), the fast
path's included: the service above never sees a statement, a bind parameter or a driver row.

What leaves this module is typed: an issue as the API shows it (``IssueData``, built in one
place, ``issue_data``), a project's head (``ProjectHead``), ORM objects for writes. Activity is
read from the record (``core.record``): the events of an issue and its comments."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any, NamedTuple, NotRequired, Protocol, TypedDict
from typing import cast as typed

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Select,
    String,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.fastsql import FastSQL, FastTransaction, prefixed
from projekt.core.pagination import SortKeys, order_by
from projekt.core.record import Draft, Event, append_one, numbered_event
from projekt.core.repository import OrgScopedRepository, like_pattern
from projekt.issues.models import Comment, Issue
from projekt.issues.schemas import IssueType, Priority
from projekt.milestones.models import Milestone
from projekt.orgs.models import Membership
from projekt.projects.models import Project
from projekt.projects.visibility import visible_to
from projekt.sprints.models import Sprint
from projekt.time_tracking.models import TimeEntry

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
    "milestone_id",
    "parent_id",
    "due_date",
    "external_ref",
    "archived",
    "created_at",
    "updated_at",
)
# The minutes logged on the issue (its time entries' sum; a running timer counts once stopped)
# are a column of the issue, kept by time tracking's writes (``time_changed``), which move the
# issue's version too, so its ETag follows the sum. (A correlated sum per row kept reads one
# statement too, but added about a third to a 50-row page's statement: docs/architecture.md.)
# What a read returns of an issue: its fields in order (``issue_data`` zips them), then the
# version and project key its ETag is made of.
READ_FIELDS = (*ISSUE_FIELDS, "time_spent_minutes")
_COLUMNS = [getattr(Issue, name) for name in READ_FIELDS]
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
SORT_FIELDS: tuple[str, ...] = tuple(SORTABLE)  # what ``sort`` accepts on issue lists
COMMENT_FIELDS = ("id", "issue_id", "author_id", "parent_id", "text", "created_at", "updated_at")
_COMMENT_COLUMNS = [getattr(Comment, name) for name in COMMENT_FIELDS]


class IssueData(TypedDict):
    """An issue as the API shows it (``schemas.IssueRead``): what every read and write returns."""

    id: uuid.UUID
    key: str
    number: int
    project_id: uuid.UUID
    title: str
    description: str | None
    status: str
    priority: Priority
    type: IssueType
    assignee_id: uuid.UUID | None
    reporter_id: uuid.UUID | None
    labels: list[str]
    estimated_hours: float | None
    sprint_id: uuid.UUID | None
    milestone_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    due_date: date | None
    external_ref: str | None
    archived: bool
    created_at: datetime
    updated_at: datetime
    time_spent_minutes: int


class CommentData(TypedDict):
    id: uuid.UUID
    issue_id: uuid.UUID
    author_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    text: str
    created_at: datetime
    updated_at: datetime


class Versioned(NamedTuple):
    """An issue and the version its ETag is made of."""

    issue: IssueData
    version: int


class Detail(NamedTuple):
    """An issue, its version and its comments, oldest first."""

    issue: IssueData
    version: int
    comments: list[CommentData]


class ProjectHead(TypedDict):
    """What the issues domain reads of a project: the list validator and counters."""

    id: uuid.UUID
    key: str
    issues_version: int
    columns: NotRequired[list[dict[str, Any]]]  # not on a list's head (it rides on the page)
    open_issues: int
    archived_issues: int


_N = len(READ_FIELDS)
_AFTER_ID = READ_FIELDS[1:]


def issue_data(values: Sequence[Any], project_key: str) -> IssueData:
    """The one place an issue's API shape is built: ``values`` are READ_FIELDS in order (a read's
    row, or a write's values), the key is derived from the project's current key."""
    data = {"id": values[0], "key": f"{project_key}-{values[1]}"}
    data.update(zip(_AFTER_ID, values[1:_N], strict=True))
    return typed(IssueData, data)


def _row_issue(row: Mapping[str, Any]) -> IssueData:
    return issue_data(tuple(row.values()), row["project_key"])


def _row_versioned(row: Mapping[str, Any]) -> Versioned:
    return Versioned(_row_issue(row), row["version"])


def written_issue(issue: Issue | Mapping[str, Any], project_key: str) -> IssueData:
    """An issue after a write (its ORM object, or the values a create inserted)."""
    get: Callable[[str], Any] = (
        (lambda f: getattr(issue, f)) if isinstance(issue, Issue) else issue.__getitem__
    )
    return issue_data([get(f) for f in READ_FIELDS], project_key)


def comment_data(source: Comment | Mapping[str, Any]) -> CommentData:
    """A comment as the API shows it, from its ORM object or a read's row (a driver's row is
    not a ``Mapping`` to ``isinstance``: only the ORM object is told apart)."""
    if isinstance(source, Comment):
        return typed(CommentData, {name: getattr(source, name) for name in COMMENT_FIELDS})
    return typed(CommentData, {name: source[name] for name in COMMENT_FIELDS})


def _detail(row: Mapping[str, Any] | None) -> Detail | None:
    if row is None:
        return None
    comments = [
        typed(CommentData, dict(zip(COMMENT_FIELDS, c, strict=True))) for c in row["comments"] or ()
    ]
    return Detail(_row_issue(row), row["version"], comments)


# -- the hot path: statements compiled once, run through FastSQL --------------------------------

P = bindparam
_READABLE = (
    select(*_READ_COLUMNS)
    .join(Project, Project.id == Issue.project_id)
    .where(Issue.org_id == P("org_id"), visible_to(P("user_id")))
)
# A project's issues: the org is checked on the project row (its issues share its org). With
# issues.org_id in the WHERE clause instead, PostgreSQL's generic plan intersected two bitmap
# scans and sorted the whole project rather than reading the newest rows off
# ix_issues_project_id_archived_created_at_id.
_READABLE_IN_PROJECT = (
    select(*_READ_COLUMNS)
    .join(Project, Project.id == Issue.project_id)
    .where(Project.org_id == P("org_id"), visible_to(P("user_id")))
)
ISSUE_BY_ID = _READABLE.where(Issue.id == P("issue_id"))
ISSUE_BY_KEY = _READABLE.where(Project.key == P("project_key"), Issue.number == P("number"))
COMMENTS_OF = (
    select(*_COMMENT_COLUMNS)
    .where(Comment.org_id == P("org_id"), Comment.issue_id == P("issue_id"))
    .order_by(Comment.created_at, Comment.id)
)
# On PostgreSQL an issue's detail brings its comments along as an array of rows (asyncpg decodes
# them with their types), so a get is one statement; SQLite reads them with COMMENTS_OF.
_COMMENTS_ARRAY = (
    select(
        func.array_agg(
            aggregate_order_by(func.row(*_COMMENT_COLUMNS), Comment.created_at, Comment.id)
        )
    )
    .where(Comment.issue_id == Issue.id, Comment.org_id == Issue.org_id)
    .scalar_subquery()
    .label("comments")
)
DETAIL_BY_ID = ISSUE_BY_ID.add_columns(_COMMENTS_ARRAY)
DETAIL_BY_KEY = ISSUE_BY_KEY.add_columns(_COMMENTS_ARRAY)
PROJECT_HEAD = select(
    Project.id,
    Project.key,
    Project.issues_version,
    Project.columns,
    Project.open_issues,
    Project.archived_issues,
).where(Project.id == P("project_id"), Project.org_id == P("org_id"), visible_to(P("user_id")))
# Takes the project's next issue number atomically (and marks its lists changed): concurrent
# creates queue on the project row, so numbers have no gaps or duplicates, and a rolled-back
# create gives its number back.
ALLOCATE_NUMBER = (
    update(Project)
    # Binds of an UPDATE may not share a column's name: hence the_org_id.
    .where(
        Project.id == P("project_id"), Project.org_id == P("the_org_id"), visible_to(P("user_id"))
    )
    .values(
        issue_seq=Project.issue_seq + 1,
        issues_version=Project.issues_version + 1,
        open_issues=Project.open_issues + 1,
    )
    .returning(Project.issue_seq, Project.key, Project.columns)
)
INSERT_ISSUE = insert(Issue).values(
    {c.name: P(f"v_{c.name}", type_=c.type) for c in Issue.__table__.columns}
)


def create_at_once_statement(recorded: bool = True) -> Any:
    """A plain create (no status given, no references to check) in one statement: the number
    (``ALLOCATE_NUMBER``), the row with the project's first column as its status, and its
    event (``numbered_event``, the org's counter taken last) as data-modifying CTEs. The
    issue's values are bound as ``INSERT_ISSUE``'s, the event's prefixed ``e_``; it returns
    the number, status and project key (no row: no such project for this caller).
    ``recorded=False`` leaves the event out: the benchmark's create without its event
    (``bench/unrecorded.py``); the app has no such create."""
    allocated = ALLOCATE_NUMBER.cte("numbered")
    first_column = func.json_extract_path_text(
        allocated.c["columns"], literal_column("'0'"), literal_column("'name'")
    )
    picked = {"number": allocated.c.issue_seq, "status": first_column}
    columns = Issue.__table__.columns
    row = select(*[picked.get(c.name, P(f"v_{c.name}", type_=c.type)) for c in columns])
    inserted = (
        insert(Issue)
        .from_select([c.name for c in columns], row.select_from(allocated))
        .returning(Issue.number, Issue.status)
        .cte("inserted")
    )
    status_change = func.jsonb_build_object(
        literal_column("'status'"), func.jsonb_build_array(null(), inserted.c.status)
    )
    answer = (
        select(inserted.c.number, inserted.c.status, allocated.c.key)
        .select_from(inserted)
        .select_from(allocated)
    )
    if not recorded:
        return answer
    counter, event = numbered_event("e_", after=inserted, more_changes=status_change)
    return answer.add_cte(counter, event.cte("recorded"))


CREATE_AT_ONCE = create_at_once_statement()


ORG_MEMBER = select(Membership.id).where(
    Membership.org_id == P("org_id"), Membership.user_id == P("user_id")
)
MILESTONE_OF = select(Milestone.project_id).where(
    Milestone.id == P("milestone_id"), Milestone.org_id == P("org_id")
)
SPRINT_OF = select(Sprint.project_id, Sprint.state).where(
    Sprint.id == P("sprint_id"), Sprint.org_id == P("org_id")
)
ISSUE_VISIBLE = (
    select(Issue.id)
    .join(Project, Project.id == Issue.project_id)
    .where(Issue.id == P("issue_id"), Issue.org_id == P("org_id"), visible_to(P("user_id")))
)
_HEAD_COLUMNS = (
    Project.issues_version.label("head_issues_version"),
    Project.open_issues.label("head_open_issues"),
    Project.archived_issues.label("head_archived_issues"),
)
_FILTERS = ("project_id", "priority", "type", "assignee_id", "sprint_id", "archived")
# A project's whole list (archived or not) takes its total from the project's counters.
COUNTED_SHAPE = ("archived", "project_id")


@functools.lru_cache(maxsize=512)
def list_statements(
    active: tuple[str, ...], has_q: bool, keys: SortKeys, sort: str, dialect: str
) -> tuple[Select[Any], Select[Any]]:
    """The page query and its count for one shape of filters and sort, built once per shape.

    The page carries its total through a window function, except for a project's whole list,
    whose total comes from the project row (the window would count every issue of the project
    on every request, which grows with the project).
    """
    conditions: list[ColumnElement[bool]] = []
    for name in active:
        if name in _FILTERS:
            conditions.append(getattr(Issue, name) == P(f"f_{name}"))
        elif name == "status":
            conditions.append(func.lower(Issue.status) == P("f_status"))
        elif name == "label":
            conditions.append(label_filter(P("f_label"), dialect))
    if has_q:
        conditions.append(text_search(P("q"), dialect))
    counted = active == COUNTED_SHAPE and not has_q
    in_project = "project_id" in active
    page = _READABLE_IN_PROJECT if in_project else _READABLE
    if not counted:
        page = page.add_columns(func.count().over().label("total"))
    if in_project:
        # The project's head rides on every row: its validator (and counters) come with the page.
        page = page.add_columns(*_HEAD_COLUMNS)
    # Ties are broken by id in the direction of the last key, so that the default order
    # (-created_at) is exactly ix_issues_project_id_archived_created_at_id read backwards.
    tiebreak = Issue.id.desc() if sort.split(",")[-1].strip().startswith("-") else Issue.id.asc()
    order = order_by(keys, SORTABLE)
    page = page.where(*conditions).order_by(*order, tiebreak).limit(P("limit")).offset(P("offset"))
    count = (
        select(func.count())
        .select_from(Issue)
        .join(Project, Project.id == Issue.project_id)
        .where(Issue.org_id == P("org_id"), visible_to(P("user_id")), *conditions)
    )
    return page, count


MAX_ISSUE_NUMBER = 2**31 - 1  # issues.number is a 32-bit integer
ISSUE_KEY = re.compile(r"^([A-Z][A-Z0-9]{1,9})-([1-9][0-9]{0,9})$")


def parse_issue_key(text: str) -> tuple[str, int] | None:
    """``WEB-12`` → ``("WEB", 12)``; None for anything that is not a key the table can hold
    (ASCII digits only: "²" is a digit to ``isdigit()`` but not to ``int()``; a number past the
    32-bit column would overflow its bound parameter)."""
    match = ISSUE_KEY.match(text.upper())
    if match is None or int(match[2]) > MAX_ISSUE_NUMBER:
        return None
    return match[1], int(match[2])


class IssueReads:
    """The reads every issue request makes, for one caller in one org (on the fast path)."""

    def __init__(self, fast: FastSQL, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self.fast = fast
        self.scope = {"org_id": org_id, "user_id": user_id}

    async def project_head(self, project_id: uuid.UUID) -> ProjectHead | None:
        row = await self.fast.fetchrow(PROJECT_HEAD, {**self.scope, "project_id": project_id})
        return None if row is None else typed(ProjectHead, dict(row))

    async def by_id(self, issue_id: uuid.UUID) -> Versioned | None:
        row = await self.fast.fetchrow(ISSUE_BY_ID, {**self.scope, "issue_id": issue_id})
        return None if row is None else _row_versioned(row)

    async def by_key(self, project_key: str, number: int) -> Versioned | None:
        params = {**self.scope, "project_key": project_key, "number": number}
        row = await self.fast.fetchrow(ISSUE_BY_KEY, params)
        return None if row is None else _row_versioned(row)

    async def comments(self, issue_id: uuid.UUID) -> list[CommentData]:
        rows = await self.fast.fetch(COMMENTS_OF, {**self.scope, "issue_id": issue_id})
        return [comment_data(row) for row in rows]

    async def detail_by_id(self, issue_id: uuid.UUID) -> Detail | None:
        if not self.fast.postgres:
            return await self._with_comments(await self.by_id(issue_id))
        row = await self.fast.fetchrow(DETAIL_BY_ID, {**self.scope, "issue_id": issue_id})
        return _detail(row)

    async def detail_by_key(self, project_key: str, number: int) -> Detail | None:
        if not self.fast.postgres:
            return await self._with_comments(await self.by_key(project_key, number))
        params = {**self.scope, "project_key": project_key, "number": number}
        return _detail(await self.fast.fetchrow(DETAIL_BY_KEY, params))

    async def _with_comments(self, found: Versioned | None) -> Detail | None:
        if found is None:
            return None
        return Detail(found.issue, found.version, await self.comments(found.issue["id"]))

    async def listing(
        self,
        filters: Mapping[str, Any],
        q: str | None,
        sort: SortKeys,
        sort_text: str,
        limit: int,
        offset: int,
    ) -> Listing:
        """Usually one statement: the page, its total and, for a project, the project's head.

        An empty page of a project reads the head on its own (is the project there at all?),
        and an empty page past the end of a filtered list counts separately.
        """
        dialect = "postgresql" if self.fast.postgres else "sqlite"
        active = tuple(sorted(name for name, value in filters.items() if value is not None))
        page, count = list_statements(active, bool(q), sort, sort_text, dialect)
        params: dict[str, Any] = {**self.scope, "limit": limit, "offset": offset}
        for name in active:
            value = filters[name]
            params[f"f_{name}"] = value.lower() if name == "status" else value
        if q:
            params["q"] = q if dialect == "postgresql" else like_pattern(q)
        rows = await self.fast.fetch(page, params)
        items = [_row_issue(row) for row in rows]
        head: ProjectHead | None = None
        if "project_id" in active:
            head = _head_of(rows[0]) if rows else await self.project_head(filters["project_id"])
            if head is None:  # not there, or not for this caller
                return Listing([], 0, None)
            if active == COUNTED_SHAPE and not q:
                counter = "archived_issues" if filters["archived"] else "open_issues"
                return Listing(items, int(head[counter]), head)  # type: ignore[literal-required]
        if rows or not offset:
            return Listing(items, int(rows[0]["total"]) if rows else 0, head)
        # Past the end: the window had no row to ride on, so count separately.
        counted = await self.fast.fetch(count, params)
        return Listing([], int(next(iter(counted[0].values()))) if counted else 0, head)


class Listing(NamedTuple):
    items: list[IssueData]
    total: int
    head: ProjectHead | None  # the project's head when the list is one project's


def _head_of(row: Mapping[str, Any]) -> ProjectHead:
    return typed(
        ProjectHead,
        {
            "id": row["project_id"],
            "key": row["project_key"],
            "issues_version": row["head_issues_version"],
            "open_issues": row["head_open_issues"],
            "archived_issues": row["head_archived_issues"],
        },
    )


class Allocated(NamedTuple):
    """A create's number, its project's key and columns (the status it may take)."""

    number: int
    project_key: str
    columns: list[dict[str, Any]]


class SprintRef(NamedTuple):
    project_id: uuid.UUID
    state: str


class _Runs(Protocol):
    async def fetchrow(self, stmt: Any, params: Mapping[str, Any]) -> Mapping[str, Any] | None: ...


class _OnSession:
    """The fast path's ``fetchrow``, on a unit of work's own session and connection."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def fetchrow(self, stmt: Any, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        row = (await self._session.execute(stmt, dict(params))).first()
        return None if row is None else typed(Mapping[str, Any], row._mapping)


class References:
    """The look-ups that check the ids in a body: each names something of the caller's org
    that they may see. They run where the write runs (see ``IssueWrites.references``)."""

    def __init__(self, run: _Runs, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self._run = run
        self._org_id = org_id
        self._scope = {"org_id": org_id, "user_id": user_id}

    async def is_member(self, user_id: uuid.UUID) -> bool:
        found = await self._run.fetchrow(ORG_MEMBER, {"org_id": self._org_id, "user_id": user_id})
        return found is not None

    async def issue_visible(self, issue_id: uuid.UUID) -> bool:
        return (
            await self._run.fetchrow(ISSUE_VISIBLE, {**self._scope, "issue_id": issue_id})
            is not None
        )

    async def sprint(self, sprint_id: uuid.UUID) -> SprintRef | None:
        row = await self._run.fetchrow(SPRINT_OF, {"org_id": self._org_id, "sprint_id": sprint_id})
        return None if row is None else SprintRef(row["project_id"], row["state"])

    async def milestone_project(self, milestone_id: uuid.UUID) -> uuid.UUID | None:
        params = {"org_id": self._org_id, "milestone_id": milestone_id}
        row = await self._run.fetchrow(MILESTONE_OF, params)
        return None if row is None else typed(uuid.UUID, row["project_id"])


class Creation:
    """An issue create's one transaction on the fast path: number, checks, row, event."""

    def __init__(self, tx: FastTransaction, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self._tx = tx
        self._scope = {"the_org_id": org_id, "user_id": user_id}
        # A second pool connection while holding one could starve the pool: the checks run here.
        self.references = References(tx, org_id, user_id)

    async def allocate(self, project_id: uuid.UUID) -> Allocated | None:
        """The project's next number (None: no such project for this caller)."""
        row = await self._tx.fetchrow(ALLOCATE_NUMBER, {**self._scope, "project_id": project_id})
        return None if row is None else Allocated(row["issue_seq"], row["key"], row["columns"])

    async def insert(self, values: Mapping[str, Any]) -> None:
        await self._tx.fetch(INSERT_ISSUE, prefixed(values))

    async def append(self, event: Draft, at: datetime) -> None:
        """The event: the transaction's last statement (it takes the org's record lock)."""
        await append_one(self._tx, event, at)


class IssueWrites:
    """Where an issue write's statements run, chosen here rather than by the service."""

    def __init__(self, fast: FastSQL, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self._fast = fast
        self._org_id = org_id
        self._user_id = user_id

    @asynccontextmanager
    async def creating(self) -> AsyncIterator[Creation]:
        """The create's own transaction (committed when the block ends; rolled back in a dry
        run). It has no session, so no ``before_commit``/``after_commit`` hook runs: it writes
        its one event itself, and the only ``after_commit`` hook (credential changes) watches
        tables it never writes."""
        async with self._fast.transaction() as tx:
            yield Creation(tx, self._org_id, self._user_id)

    @property
    def at_once(self) -> bool:
        """Whether a plain create runs as one statement (``create_at_once``): on PostgreSQL."""
        return self._fast.postgres

    async def create_at_once(
        self, values: Mapping[str, Any], event: Draft
    ) -> tuple[int, str, str] | None:
        """A plain create in one round trip (``CREATE_AT_ONCE``): its number, status and
        project key, or None (no such project for this caller, nothing written)."""
        params = {
            **prefixed(values),
            **prefixed(event.row(0, values["created_at"]), "e_"),
            "project_id": values["project_id"],
            "the_org_id": self._org_id,
            "user_id": self._user_id,
        }
        rows = await self._fast.write(CREATE_AT_ONCE, params)
        return (rows[0]["number"], rows[0]["status"], rows[0]["key"]) if rows else None

    def references(self, session: AsyncSession) -> References:
        """An update's look-ups: on the fast path on PostgreSQL; on SQLite through the unit of
        work's ``session``, because the fast path shares the engine's pool there, and a writer
        holding the write lock while it waits for a connection held by writers queued behind
        that lock would wait for them until both time out."""
        run: _Runs = self._fast if self._fast.postgres else _OnSession(session)
        return References(run, self._org_id, self._user_id)


class ProjectHeads(OrgScopedRepository[Project]):
    """A project's row as the issues domain keeps it: locked before an issue write (every such
    write moves the project's issue counters, as the create's fast statement does), and those
    counters (``issues_version``, ``open_issues``, ``archived_issues``)."""

    model = Project

    async def issues_changed(self, project_ids: Collection[uuid.UUID]) -> None:
        """Move the list validators of projects whose issues changed outside their own writes."""
        if project_ids:
            await self.session.execute(
                update(Project)
                .where(Project.id.in_(project_ids), Project.org_id == self.org_id)
                .values(issues_version=Project.issues_version + 1)
            )

    async def time_entries_counted(self, project_id: uuid.UUID, change: int) -> None:
        """Time tracking added (1) or deleted (-1) an entry of the project: the counter its
        org-wide entry list totals from (``projects.time_entries``)."""
        await self.session.execute(
            update(Project)
            .where(Project.id == project_id, Project.org_id == self.org_id)
            .values(time_entries=Project.time_entries + change)
        )

    async def issue_deleted(self, project_id: uuid.UUID, archived: bool) -> None:
        counter = Project.archived_issues if archived else Project.open_issues
        stmt = (
            update(Project)
            .where(Project.id == project_id, Project.org_id == self.org_id)
            .values({"issues_version": Project.issues_version + 1, counter.key: counter - 1})
        )
        await self.session.execute(stmt)


class IssueRepository(OrgScopedRepository[Issue]):
    model = Issue

    def _readable(self, user_id: uuid.UUID) -> Select[Any]:
        return (
            select(*_READ_COLUMNS)
            .join(Project, Project.id == Issue.project_id)
            .where(Issue.org_id == self.org_id, visible_to(user_id))
        )

    async def locked(self, issue_id: uuid.UUID, *, deleting: bool = False) -> Issue | None:
        """The issue row for a write, locked until the transaction ends."""
        return await self.get_for_update(issue_id, deleting=deleting)

    async def projects_of(self, ids: Sequence[uuid.UUID], user_id: uuid.UUID) -> set[uuid.UUID]:
        stmt = (
            select(Issue.project_id)
            .join(Project, Project.id == Issue.project_id)
            .where(Issue.org_id == self.org_id, Issue.id.in_(ids), visible_to(user_id))
            .distinct()
        )
        return set((await self.session.execute(stmt)).scalars())

    async def many(self, ids: Sequence[uuid.UUID], user_id: uuid.UUID) -> list[Issue]:
        stmt = (
            select(Issue)
            .join(Project, Project.id == Issue.project_id)
            .where(Issue.org_id == self.org_id, Issue.id.in_(ids), visible_to(user_id))
            .order_by(Issue.id)
            .with_for_update(of=Issue)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def in_sprint(self, sprint_id: uuid.UUID, *, for_update: bool = False) -> list[Issue]:
        stmt = self.select().where(Issue.sprint_id == sprint_id).order_by(Issue.number)
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return list((await self.session.execute(stmt)).scalars())

    async def in_milestone(self, milestone_id: uuid.UUID) -> list[Issue]:
        """The milestone's issues, locked for a write that moves them."""
        stmt = (
            self.select()
            .where(Issue.milestone_id == milestone_id)
            .order_by(Issue.number)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def ever_in_sprint(self, sprint_id: uuid.UUID, project_id: uuid.UUID) -> list[Issue]:
        """Issues in the sprint now, or whose activity shows them in it at some time.

        Only the sprint's project is searched: an issue can only join a sprint of its own
        project, so the activity of the rest of the org is never read.
        """
        mentioned = (
            select(Event.resource_id)
            .where(Event.org_id == self.org_id, Event.project_id == project_id)
            .where(Event.resource_type == "issue")
            .where(cast(Event.changes, String).contains(str(sprint_id)))
        )
        stmt = self.select().where(
            Issue.project_id == project_id,
            or_(Issue.sprint_id == sprint_id, Issue.id.in_(mentioned)),
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

    async def delete(self, issue_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Delete an issue; returns its children as (id, project id): they lost their parent.

        The children are orphaned here rather than by the foreign key's SET NULL, so that their
        versions move (an ETag must never vouch for a representation that changed).
        """
        orphaned = await self.session.execute(
            update(Issue)
            .where(Issue.org_id == self.org_id, Issue.parent_id == issue_id)
            .values(parent_id=None, version=Issue.version + 1)
            .returning(Issue.id, Issue.project_id)
        )
        children = [(child_id, project_id) for child_id, project_id in orphaned]
        await self.session.execute(
            delete(Issue).where(Issue.id == issue_id, Issue.org_id == self.org_id)
        )
        return children

    async def status_counts(self, project_id: uuid.UUID) -> dict[str, int]:
        stmt = (
            select(Issue.status, func.count())
            .where(Issue.org_id == self.org_id, Issue.project_id == project_id)
            .group_by(Issue.status)
        )
        return {status: int(n) for status, n in (await self.session.execute(stmt)).all()}

    async def rename_status(self, project_id: uuid.UUID, old: str, new: str) -> list[uuid.UUID]:
        """Move the project's issues from status ``old`` to ``new``; returns the ones moved."""
        stmt = (
            update(Issue)
            .where(Issue.org_id == self.org_id, Issue.project_id == project_id)
            .where(Issue.status == old)
            .values(status=new, version=Issue.version + 1)
            .returning(Issue.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def time_changed(self, issue_ids: Collection[uuid.UUID]) -> None:
        """Their logged minutes changed: sum them again (in the same transaction as the entries'
        write) and move their versions (their ETags show the sum)."""
        logged = (
            select(func.coalesce(func.sum(TimeEntry.minutes), 0))
            .where(TimeEntry.issue_id == Issue.id, TimeEntry.org_id == Issue.org_id)
            .correlate(Issue)
            .scalar_subquery()
        )
        await self.session.execute(
            update(Issue)
            .where(Issue.id.in_(issue_ids), Issue.org_id == self.org_id)
            .values(time_spent_minutes=logged, version=Issue.version + 1)
            .execution_options(synchronize_session=False)
        )

    async def search(self, user_id: uuid.UUID, q: str, limit: int) -> list[IssueData]:
        pattern = like_pattern(q)
        conditions: list[ColumnElement[bool]] = [func.lower(Issue.title).like(pattern, escape="\\")]
        parsed = parse_issue_key(q.strip())
        if parsed is not None:
            key, number = parsed
            conditions.append((Project.key == key) & (Issue.number == number))
        stmt = (
            self._readable(user_id)
            .where(or_(*conditions), Issue.archived.is_(False))
            .order_by(Issue.updated_at.desc(), Issue.id)
            .limit(limit)
        )
        return [_row_issue(row._mapping) for row in await self.session.execute(stmt)]


class CommentRepository(OrgScopedRepository[Comment]):
    model = Comment

    async def locked(self, comment_id: uuid.UUID) -> Comment | None:
        return await self.get_for_update(comment_id)


class ActivityRepository(OrgScopedRepository[Event]):
    """The record, read as issue activity (oldest first)."""

    model = Event

    async def for_issues(self, issue_ids: Sequence[uuid.UUID]) -> list[Event]:
        """The events of these issues themselves (what a burndown replays)."""
        if not issue_ids:
            return []
        stmt = (
            self.select()
            .where(Event.resource_type == "issue", Event.resource_id.in_(issue_ids))
            .order_by(Event.seq)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def for_issue(self, issue_id: uuid.UUID) -> list[Event]:
        """The issue's events and those of its comments."""
        stmt = (
            self.select()
            .where(or_(Event.resource_id == issue_id, Event.parent_id == issue_id))
            .order_by(Event.seq)
        )
        return list((await self.session.execute(stmt)).scalars())


# Exactly the expression of the GIN index ix_issues_fts (migration 0002), constants inlined.
FTS_DOCUMENT: ColumnClause[Any] = literal_column(
    "to_tsvector('simple', coalesce(issues.title, '') || ' ' || coalesce(issues.description, ''))"
)


def label_filter(label: Any, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return Issue.labels.op("@>")(func.jsonb_build_array(cast(label, String)))
    each = func.json_each(Issue.labels).table_valued("value")
    return exists(select(literal_column("1")).select_from(each).where(each.c.value == label))


def text_search(q: Any, dialect: str) -> ColumnElement[bool]:
    """PostgreSQL full-text search (GIN-indexed); a case-folded LIKE on SQLite.

    ``q`` is the query text on PostgreSQL and an escaped ``%…%`` pattern on SQLite.
    """
    if dialect == "postgresql":
        return FTS_DOCUMENT.op("@@")(
            func.websearch_to_tsquery(literal_column("'simple'"), cast(q, String))
        )
    pattern = q
    return or_(
        func.lower(Issue.title).like(pattern, escape="\\"),
        func.lower(func.coalesce(Issue.description, "")).like(pattern, escape="\\"),
    )
