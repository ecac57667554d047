"""Every statement on time entries. Reads apply project visibility; sums run in SQL."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    Integer,
    Row,
    Select,
    String,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    update,
)

from projekt.auth.models import User
from projekt.core.fastsql import FastSQL
from projekt.core.feed import among, uuid_text
from projekt.core.pagination import SortKeys, order_by
from projekt.core.repository import OrgScopedRepository
from projekt.issues.models import Issue
from projekt.orgs.models import Membership
from projekt.projects.models import Project
from projekt.projects.visibility import visible_to
from projekt.time_tracking.models import TimeEntry

SORTABLE = {
    "entry_date": TimeEntry.entry_date,
    "created_at": TimeEntry.created_at,
    "minutes": TimeEntry.minutes,
}
SORT_FIELDS: tuple[str, ...] = tuple(SORTABLE)  # what ``sort`` accepts on entry lists


def effective_minutes(cutoff: datetime | Any, limit: int | Any) -> ColumnElement[Any]:
    """What an entry counts for: its minutes; a timer that ran past the limit counts the limit
    (it stopped there, whether or not a write has recorded that yet); a running one, nothing.
    ``cutoff`` and ``limit`` are values, or bound parameters (the hot path's statements)."""
    return case(
        (TimeEntry.minutes.is_not(None), TimeEntry.minutes),
        (
            and_(TimeEntry.running, TimeEntry.started_at <= cutoff),
            limit if isinstance(limit, ColumnElement) else literal(limit),
        ),
        else_=None,
    )


class TimeEntryRepository(OrgScopedRepository[TimeEntry]):
    model = TimeEntry

    def _visible(self, viewer_id: uuid.UUID, *columns: Any) -> Any:
        return (
            self.select(*columns)
            .select_from(TimeEntry)
            .join(Project, Project.id == TimeEntry.project_id)
            .where(visible_to(viewer_id))
        )

    async def visible_one(self, entry_id: uuid.UUID, viewer_id: uuid.UUID) -> TimeEntry | None:
        stmt = self._visible(viewer_id, TimeEntry).where(TimeEntry.id == entry_id)
        found: TimeEntry | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def lock_person(self, user_id: uuid.UUID) -> bool:
        """Serialize one person's time writes in the org (the 24-hour rule and the one running
        timer are check-then-write); False if the person is not a member."""
        stmt = (
            update(Membership)
            .where(Membership.org_id == self.org_id, Membership.user_id == user_id)
            .values(id=Membership.id)
        )
        result = await self.session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))

    async def running_of(self, user_id: uuid.UUID) -> TimeEntry | None:
        stmt = (
            self.select()
            .where(TimeEntry.user_id == user_id, TimeEntry.running.is_(True))
            .execution_options(populate_existing=True)
        )
        found: TimeEntry | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def day_total(
        self, user_id: uuid.UUID, day: date, exclude: uuid.UUID | None = None
    ) -> int:
        stmt = self.select(func.coalesce(func.sum(TimeEntry.minutes), 0)).where(
            TimeEntry.user_id == user_id, TimeEntry.entry_date == day
        )
        if exclude is not None:
            stmt = stmt.where(TimeEntry.id != exclude)
        return int((await self.session.execute(stmt)).scalar_one())

    async def by_user(
        self, viewer_id: uuid.UUID, issue_id: uuid.UUID, minutes: ColumnElement[Any]
    ) -> list[Row[Any]]:
        stmt = (
            self._visible(
                viewer_id,
                TimeEntry.user_id,
                User.name,
                func.sum(minutes).label("total"),
                func.count().label("entries"),
            )
            .outerjoin(User, User.id == TimeEntry.user_id)
            .where(TimeEntry.issue_id == issue_id, minutes.is_not(None))
            .group_by(TimeEntry.user_id, User.name)
            .order_by(func.sum(minutes).desc(), User.name)
        )
        return list((await self.session.execute(stmt)).all())

    async def logged_on(
        self,
        viewer_id: uuid.UUID,
        issue_ids: Sequence[uuid.UUID],
        first: date,
        last: date,
        minutes: ColumnElement[Any],
    ) -> list[Row[Any]]:
        """Minutes per (person, day) logged on these issues from ``first`` to ``last``."""
        total = func.sum(minutes)
        stmt = (
            self._visible(viewer_id, TimeEntry.user_id, TimeEntry.entry_date, total.label("total"))
            .where(
                TimeEntry.issue_id.in_(issue_ids),
                TimeEntry.entry_date >= first,
                TimeEntry.entry_date <= last,
                minutes.is_not(None),
            )
            .group_by(TimeEntry.user_id, TimeEntry.entry_date)
            .order_by(TimeEntry.entry_date)
        )
        return list((await self.session.execute(stmt)).all())

    async def week_of(
        self,
        viewer_id: uuid.UUID,
        user_id: uuid.UUID,
        first: date,
        last: date,
        minutes: ColumnElement[Any],
    ) -> list[Row[Any]]:
        """One person's minutes per (project, issue, day) in a week, with the keys to show."""
        stmt = (
            self._visible(
                viewer_id,
                TimeEntry.project_id,
                Project.key.label("project_key"),
                TimeEntry.issue_id,
                Issue.number.label("issue_number"),
                TimeEntry.entry_date,
                func.sum(minutes).label("total"),
            )
            .outerjoin(Issue, Issue.id == TimeEntry.issue_id)
            .where(
                TimeEntry.user_id == user_id,
                TimeEntry.entry_date >= first,
                TimeEntry.entry_date <= last,
                minutes.is_not(None),
            )
            .group_by(
                TimeEntry.project_id,
                Project.key,
                TimeEntry.issue_id,
                Issue.number,
                TimeEntry.entry_date,
            )
            .order_by(Project.key, Issue.number, TimeEntry.entry_date)
        )
        return list((await self.session.execute(stmt)).all())

    async def delete(self, entry: TimeEntry) -> None:
        await self.session.delete(entry)
        await self.session.flush()


# -- the hot path: the org-wide summary, run through FastSQL ----------------------------------


class SummaryRow(NamedTuple):
    """One group of a summary: its key (a user, project or issue id, or a day) and label."""

    key: uuid.UUID | date | None
    label: str | uuid.UUID | date | None
    total: int
    billable: int
    entries: int


SUMMARY_FILTERS = ("project_id", "user_id", "from_date", "to_date", "billable")
P = bindparam
_COUNTED = effective_minutes(P("cutoff"), P("limit_minutes", type_=Integer))


@functools.lru_cache(maxsize=256)
def summary_statement(by: str, active: tuple[str, ...]) -> Select[Any]:
    """One grouped statement per grouping and set of filters, built once.

    The sums are made over the entries alone (joined to their projects for the org and the
    caller's visibility), and the groups' labels are joined to the few groups afterwards: joined
    before grouping, a generic plan that expected a handful of entries in the period looped
    over the users table once per entry. The org's entries of a period are one range of
    ``ix_time_entries_org_id_entry_date`` (migration 0014), so a month's summary reads that
    month's entries whatever the table holds (bench: ``time_summary_1m``).
    """
    minutes = _COUNTED
    conditions: list[ColumnElement[bool]] = [
        TimeEntry.org_id == P("org_id"),
        # Also on the project: without an index on the period (a summary of all time), the
        # planner walks only the org's projects, not every project of every org.
        Project.org_id == P("org_id"),
        visible_to(P("user_id")),
        minutes.is_not(None),
    ]
    for name in active:
        if name == "project_id":
            conditions.append(TimeEntry.project_id == P("f_project_id"))
        elif name == "user_id":
            conditions.append(TimeEntry.user_id == P("f_user_id"))
        elif name == "from_date":
            conditions.append(TimeEntry.entry_date >= P("f_from_date", type_=Date))
        elif name == "to_date":
            conditions.append(TimeEntry.entry_date <= P("f_to_date", type_=Date))
        elif name == "billable":
            conditions.append(TimeEntry.billable == P("f_billable", type_=Boolean))
    column = {
        "user": TimeEntry.user_id,
        "project": TimeEntry.project_id,
        "issue": TimeEntry.issue_id,
        "day": TimeEntry.entry_date,  # weeks are days folded by the service
    }[by]
    sums = (
        select(
            column.label("key"),
            func.coalesce(func.sum(minutes), 0).label("total"),
            func.coalesce(func.sum(case((TimeEntry.billable, minutes), else_=0)), 0).label(
                "billable"
            ),
            func.count().label("entries"),
        )
        .select_from(TimeEntry)
        .join(Project, Project.id == TimeEntry.project_id)
        .where(*conditions)
        .group_by(column)
        .subquery("sums")
    )
    label: Any
    stmt = select(sums.c.key)
    if by == "user":
        label = User.name
        stmt = stmt.outerjoin(User, User.id == sums.c.key)
    elif by == "project":
        label = Project.key
        stmt = stmt.outerjoin(Project, Project.id == sums.c.key)
    elif by == "issue":
        label = Project.key + "-" + cast(Issue.number, String)
        stmt = stmt.outerjoin(Issue, Issue.id == sums.c.key).outerjoin(
            Project, Project.id == Issue.project_id
        )
    else:
        label = sums.c.key
    stmt = stmt.add_columns(
        label.label("label"), sums.c.total, sums.c.billable, sums.c.entries
    ).order_by(sums.c.key)
    return stmt


class EntryRow(NamedTuple):
    """An entry's fields as ``TimeEntryRead`` shows them, in its order (``invoiced`` follows
    from ``invoice_id``; every other one is a column). Ids are text when read by a list."""

    id: Any
    project_id: Any
    issue_id: Any
    user_id: Any
    minutes: int | None
    entry_date: date
    description: str | None
    billable: bool
    running: bool
    started_at: datetime | None
    ended_at: datetime | None
    auto_stopped: bool
    invoiced: bool
    invoice_id: Any
    created_at: datetime
    updated_at: datetime


# The filters of a list, each a condition on bound ``f_<name>`` (``invoiced`` and ``uninvoiced``
# bind nothing; ``ids`` is the changes feed's page of entries).
_LIST_FILTERS: dict[str, Any] = {
    "project_id": lambda: TimeEntry.project_id == P("f_project_id", type_=Uuid()),
    "issue_id": lambda: TimeEntry.issue_id == P("f_issue_id", type_=Uuid()),
    "user_id": lambda: TimeEntry.user_id == P("f_user_id", type_=Uuid()),
    "from_date": lambda: TimeEntry.entry_date >= P("f_from_date", type_=Date),
    "to_date": lambda: TimeEntry.entry_date <= P("f_to_date", type_=Date),
    "billable": lambda: TimeEntry.billable == P("f_billable", type_=Boolean),
    "invoiced": lambda: TimeEntry.invoice_id.is_not(None),
    "uninvoiced": lambda: TimeEntry.invoice_id.is_(None),
    "ids": lambda: among(TimeEntry.id, "f_ids"),
}


@functools.lru_cache(maxsize=256)
def listing_statement(active: tuple[str, ...], sort: SortKeys) -> Select[Any]:
    """A page (``:limit``, ``:offset``) of the entries the caller sees, matching the filters
    named in ``active``, with the total in a last column; built once per shape.

    With no filter but ``project_id``, if that, the total is the sum of the counters of the
    projects the caller sees (``projects.time_entries``), a handful of rows however many
    entries the org holds; otherwise a window over the filtered rows. That is the
    issue lists' rule (counters for the plain lists, windows for the filtered ones). Without the
    window, the default order is read off ``ix_time_entries_org_id_entry_date`` backwards and
    stops at the page.
    """
    total: ColumnElement[Any]
    if set(active) <= {"project_id"}:
        count = select(func.coalesce(func.sum(Project.time_entries), 0)).where(
            Project.org_id == P("org_id"), visible_to(P("user_id"))
        )
        if "project_id" in active:
            count = count.where(Project.id == P("f_project_id", type_=Uuid()))
        total = count.scalar_subquery()
    else:
        total = func.count().over()
    columns = [
        TimeEntry.invoice_id.is_not(None).label(name)
        if name == "invoiced"
        else uuid_text(getattr(TimeEntry, name)).label(name)
        for name in EntryRow._fields
    ]
    stmt = (
        select(*columns, total.label("total"))
        .select_from(TimeEntry)
        .join(Project, Project.id == TimeEntry.project_id)
        .where(TimeEntry.org_id == P("org_id"), visible_to(P("user_id")))
        .where(*[_LIST_FILTERS[name]() for name in active])
        .order_by(*order_by(sort, SORTABLE), TimeEntry.id)
        .limit(P("limit", type_=Integer))
        .offset(P("offset", type_=Integer))
    )
    return stmt


@functools.lru_cache(maxsize=256)
def listing_count_statement(active: tuple[str, ...]) -> Select[Any]:
    """The total alone, for a page past the end (no row carries it there)."""
    return (
        select(func.count())
        .select_from(TimeEntry)
        .join(Project, Project.id == TimeEntry.project_id)
        .where(TimeEntry.org_id == P("org_id"), visible_to(P("user_id")))
        .where(*[_LIST_FILTERS[name]() for name in active])
    )


class TimeReads:
    """The org-wide summary for one caller in one org, on the fast path."""

    def __init__(self, fast: FastSQL, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self.fast = fast
        self.scope = {"org_id": org_id, "user_id": user_id}

    async def summary(
        self,
        by: str,
        *,
        cutoff: datetime,
        limit_minutes: int,
        project_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
        billable: bool | None = None,
    ) -> list[SummaryRow]:
        """Minutes per group of the entries the caller sees (``by``: user, project, issue or
        day), in one statement."""
        sent = {
            "project_id": project_id,
            "user_id": user_id,
            "from_date": from_date,
            "to_date": to_date,
            "billable": billable,
        }
        active = tuple(name for name in SUMMARY_FILTERS if sent[name] is not None)
        params: dict[str, Any] = {
            **self.scope,
            "cutoff": cutoff,
            "limit_minutes": limit_minutes,
            **{f"f_{name}": sent[name] for name in active},
        }
        rows = await self.fast.fetch(summary_statement(by, active), params)
        # The statement's columns are SummaryRow's, in its order (the sums are integers on
        # both drivers: coalesced, never null).
        return [SummaryRow._make(row.values()) for row in rows]

    async def listing(
        self,
        sent: dict[str, Any],
        sort: SortKeys,
        limit: int,
        offset: int,
    ) -> tuple[list[EntryRow], int]:
        """A page of entries and their total, in one statement (two for a page past the end).
        ``sent``: the filters given, by name (``_LIST_FILTERS``; ``invoiced``/``uninvoiced``
        with the value None)."""
        active = tuple(sent)
        params: dict[str, Any] = {**self.scope, "limit": limit, "offset": offset}
        params.update({f"f_{name}": value for name, value in sent.items() if value is not None})
        rows = await self.fast.fetch(listing_statement(active, sort), params)
        if rows:
            found = [tuple(row.values()) for row in rows]
            return [EntryRow._make(row[:-1]) for row in found], int(found[0][-1])
        if offset == 0:
            return [], 0
        row = await self.fast.fetchrow(listing_count_statement(active), params)
        return [], int(next(iter(row.values()))) if row is not None else 0
