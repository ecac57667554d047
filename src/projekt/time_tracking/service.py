"""Time tracking: entries, timers and the sums made of them.

Members change their own entries, managers and above everyone's; an invoiced entry never
changes. One person's time writes in an org take a lock on their membership row first, so the
24-hour day and the single running timer hold under concurrent requests (the partial unique
index on running timers is the net under that).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.conditional import IfMatch, version_etag
from projekt.core.context import OrgContext, Role
from projekt.core.deps import AppServices
from projekt.core.pagination import SortKeys
from projekt.core.record import changes, record, snapshot
from projekt.issues.errors import IssueNotFound
from projekt.issues.service import (
    IssueFastPath,
    lock_for_time,
    time_changed,
    time_entries_counted,
)
from projekt.orgs.errors import MemberNotFound
from projekt.orgs.service import find_membership
from projekt.projects.service import ProjectService
from projekt.time_tracking.errors import (
    BadWeek,
    DayOverLimit,
    EntryInvoiced,
    FutureDate,
    NoRunningTimer,
    NotYourEntry,
    TimeEntryNotFound,
    TimerAlreadyRunning,
)
from projekt.time_tracking.models import TimeEntry
from projekt.time_tracking.repository import (
    SORT_FIELDS,
    EntryRow,
    TimeEntryRepository,
    TimeReads,
    effective_minutes,
)
from projekt.time_tracking.schemas import (
    GroupBy,
    IssueTimeIn,
    IssueTimeSummary,
    SummaryGroupData,
    TimeEntryCreate,
    TimeEntryRead,
    TimeEntryUpdate,
    TimerStart,
    TimerStop,
    Timesheet,
    TimesheetRow,
    TimeSummaryData,
    UserTime,
)

DAY_MINUTES = 24 * 60
# What the record keeps of an entry (API.md §9: the changed fields, before and after).
RECORDED = (
    "user_id",
    "issue_id",
    "minutes",
    "entry_date",
    "description",
    "billable",
    "running",
    "started_at",
    "ended_at",
    "auto_stopped",
)

# What ``sort`` accepts on entry lists: the router declares its list with it.
__all__ = ["SORT_FIELDS", "EntryFilters", "TimeFastPath", "TimeService", "entry_etag"]

# The last time zone to start a day is UTC+14: a date is "in the future" only once it has not
# begun anywhere on Earth.
EARLIEST_ZONE = timedelta(hours=14)


def entry_etag(entry: TimeEntry) -> str:
    return version_etag("time_entry", entry.id, entry.revision)


@dataclass(frozen=True, slots=True)
class EntryFilters:
    project_id: uuid.UUID | None = None
    issue_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    from_date: date | None = None
    to_date: date | None = None
    billable: bool | None = None
    invoiced: bool | None = None

    def sent(self) -> dict[str, Any]:
        """The filters given, by name, as ``TimeReads.listing`` takes them."""
        found: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("project_id", "issue_id", "user_id", "from_date", "to_date", "billable")
            if getattr(self, name) is not None
        }
        if self.invoiced is not None:
            found["invoiced" if self.invoiced else "uninvoiced"] = None
        return found


@dataclass(frozen=True, slots=True)
class LoggedTime:
    """Minutes one person logged on one day (``user_id`` None: a deleted account's)."""

    user_id: uuid.UUID | None
    day: date
    minutes: int


def parse_week(text: str) -> tuple[str, date]:
    """``2026-W48`` → the label and that week's Monday."""
    year, sep, week = text.partition("-W")
    if not (sep and len(year) == 4 and year.isdigit() and len(week) == 2 and week.isdigit()):
        raise BadWeek(errors={"week": [BadWeek.message]})
    try:
        monday = date.fromisocalendar(int(year), int(week), 1)
        monday + timedelta(days=6)  # the week's Sunday exists too (not past 9999-12-31)
    except (ValueError, OverflowError):
        raise BadWeek(errors={"week": [BadWeek.message]}) from None
    return text, monday


def week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


class TimeFastPath:
    """The time summary, which reads on the fast path only (``TimeReads``). It takes no
    session, so it cannot open one: the route never pays for a unit of work. ``TimeService``
    adds the work of the request's unit of work."""

    def __init__(self, services: AppServices, ctx: OrgContext) -> None:
        self.services = services
        self.ctx = ctx
        self.reads = TimeReads(services.fast, ctx.org_id, ctx.user_id)
        self.limit_minutes = services.settings.timer_limit_hours * 60

    def _now(self) -> datetime:
        return self.services.clock.now()

    def entry_data(self, values: EntryRow) -> dict[str, Any]:
        """An entry as the API shows it (``TimeEntryRead``, as plain data for orjson). A timer
        past the limit shows as stopped there, whether or not a write has recorded that yet."""
        data = dict(zip(EntryRow._fields, values, strict=True))
        started = data["started_at"]
        if self._past_limit(data["running"], started):
            data.update(running=False, minutes=self.limit_minutes, auto_stopped=True)
            data["ended_at"] = started + timedelta(minutes=self.limit_minutes)
        return data

    def _past_limit(self, running: bool, started: datetime | None) -> bool:
        """A timer that has run for the limit or longer (it stopped there)."""
        limit = timedelta(minutes=self.limit_minutes)
        return running and started is not None and self._now() - started >= limit

    async def listing(
        self, filters: EntryFilters, sort: SortKeys, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the entries the caller sees, as plain data (``entry_data``), and their
        total, on the fast path."""
        rows, total = await self.reads.listing(filters.sent(), sort, limit, offset)
        return [self.entry_data(row) for row in rows], total

    async def summary(self, group_by: GroupBy, filters: EntryFilters) -> TimeSummaryData:
        """``TimeSummary`` as plain data for orjson: ids and days stay native (orjson writes
        them as the model would), and nothing is validated per group."""
        weekly = group_by == "week"
        rows = await self.reads.summary(
            "day" if weekly else group_by,
            cutoff=self._now() - timedelta(minutes=self.limit_minutes),
            limit_minutes=self.limit_minutes,
            project_id=filters.project_id,
            user_id=filters.user_id,
            from_date=filters.from_date,
            to_date=filters.to_date,
            billable=filters.billable,
        )
        groups: list[SummaryGroupData] = []
        total = billable = entries = 0
        for key, label, minutes, billed, count in rows:
            groups.append(
                {
                    "key": key,
                    "label": label,
                    "total_minutes": minutes,
                    "billable_minutes": billed,
                    "entries_count": count,
                }
            )
            total += minutes
            billable += billed
            entries += count
        return {
            "group_by": group_by,
            "from_date": filters.from_date,
            "to_date": filters.to_date,
            "total_minutes": total,
            "billable_minutes": billable,
            "entries_count": entries,
            "groups": _by_week(groups) if weekly else groups,
        }


class TimeService(TimeFastPath):
    """Time entries and timers in the request's unit of work (``session``), and the summary."""

    def __init__(self, session: AsyncSession, services: AppServices, ctx: OrgContext) -> None:
        super().__init__(services, ctx)
        self.session = session
        self.entries = TimeEntryRepository(session, ctx.org_id)

    # -- what an entry is, now ---------------------------------------------------------------

    def _minutes(self) -> ColumnElement[Any]:
        cutoff = self._now() - timedelta(minutes=self.limit_minutes)
        return effective_minutes(cutoff, self.limit_minutes)

    def _expired(self, entry: TimeEntry) -> bool:
        return self._past_limit(entry.running, entry.started_at)

    def read(self, entry: TimeEntry) -> TimeEntryRead:
        """An entry as the API shows it (``entry_data``)."""
        values = EntryRow._make(
            entry.invoice_id is not None if name == "invoiced" else getattr(entry, name)
            for name in EntryRow._fields
        )
        return TimeEntryRead(**self.entry_data(values))

    # -- reads -------------------------------------------------------------------------------

    async def get(self, entry_id: uuid.UUID) -> TimeEntry:
        entry = await self.entries.visible_one(entry_id, self.ctx.user_id)
        if entry is None:
            raise TimeEntryNotFound()
        return entry

    async def active(self) -> TimeEntry | None:
        entry = await self.entries.running_of(self.ctx.user_id)
        if entry is None or self._expired(entry):
            return None
        return entry

    async def logged_on_issues(
        self, issue_ids: Sequence[uuid.UUID], first: date, last: date
    ) -> list[LoggedTime]:
        """Minutes logged on these issues from ``first`` to ``last`` (both included), per
        person and day, counted as the sums count them (a timer past its limit counts the
        limit, a running one nothing); what sprints report beside their estimates."""
        if not issue_ids:
            return []
        rows = await self.entries.logged_on(
            self.ctx.user_id, issue_ids, first, last, self._minutes()
        )
        return [LoggedTime(row.user_id, row.entry_date, int(row.total)) for row in rows]

    async def issue_summary(self, project_id: uuid.UUID, ref: str) -> IssueTimeSummary:
        issue_id = await self._issue_in(project_id, ref)
        rows = await self.entries.by_user(self.ctx.user_id, issue_id, self._minutes())
        people = [
            UserTime(
                user_id=row.user_id,
                user_name=row.name,
                total_minutes=int(row.total),
                entry_count=int(row.entries),
            )
            for row in rows
        ]
        return IssueTimeSummary(
            total_minutes=sum(p.total_minutes for p in people),
            entry_count=sum(p.entry_count for p in people),
            by_user=people,
        )

    async def timesheet(self, user_id: uuid.UUID | None, week: str | None) -> Timesheet:
        person = user_id or self.ctx.user_id
        # Anyone reads the time logged on the projects they see (decisions.md, "Who"), as the
        # entry list and the summaries show it: a week of it is no different. Someone who is
        # not in the org has no timesheet here (not an empty one).
        if (
            person != self.ctx.user_id
            and await find_membership(self.session, self.ctx.org_id, person) is None
        ):
            raise MemberNotFound()
        label, monday = parse_week(week) if week else (week_label(self._today()), None)
        monday = monday or date.fromisocalendar(*self._today().isocalendar()[:2], 1)
        days = [monday + timedelta(days=n) for n in range(7)]
        rows = await self.entries.week_of(
            self.ctx.user_id, person, days[0], days[-1], self._minutes()
        )
        lines: dict[tuple[uuid.UUID, uuid.UUID | None], TimesheetRow] = {}
        for row in rows:
            line = lines.get((row.project_id, row.issue_id)) or TimesheetRow(
                project_id=row.project_id,
                project_key=row.project_key,
                issue_id=row.issue_id,
                issue_key=(
                    f"{row.project_key}-{row.issue_number}"
                    if row.issue_number is not None
                    else None
                ),
                minutes_by_day=[0] * 7,
                total_minutes=0,
            )
            line.minutes_by_day[(row.entry_date - monday).days] += int(row.total)
            line.total_minutes += int(row.total)
            lines[(row.project_id, row.issue_id)] = line
        found = list(lines.values())
        by_day = [sum(line.minutes_by_day[n] for line in found) for n in range(7)]
        return Timesheet(
            user_id=person,
            week=label,
            days=days,
            rows=found,
            total_by_day=by_day,
            total_minutes=sum(by_day),
        )

    # -- writes ------------------------------------------------------------------------------

    async def log_on_issue(self, project_id: uuid.UUID, ref: str, data: IssueTimeIn) -> TimeEntry:
        issue_id = await self._issue_in(project_id, ref)
        sent = data.model_dump(exclude_unset=True)
        return await self._log(
            self.ctx.user_id,
            project_id,
            issue_id,
            data.duration_minutes,
            data.date,
            data.description,
            sent.get("billable", True),
            fields=("duration_minutes", "date"),
        )

    async def create(self, data: TimeEntryCreate) -> TimeEntry:
        sent = data.model_dump(exclude_unset=True)
        person = sent.get("user_id", self.ctx.user_id)
        if person != self.ctx.user_id and not self.ctx.role.at_least(Role.MANAGER):
            raise NotYourEntry()
        await self._project(data.project_id)
        if data.issue_id is not None:
            await self._issue_in(data.project_id, str(data.issue_id), field="issue_id")
        return await self._log(
            person,
            data.project_id,
            data.issue_id,
            data.minutes,
            data.entry_date,
            data.description,
            sent.get("billable", True),
            fields=("minutes", "entry_date"),
        )

    async def update(
        self, entry_id: uuid.UUID, data: TimeEntryUpdate, if_match: IfMatch
    ) -> TimeEntry:
        sent = data.model_dump(exclude_unset=True)
        entry = await self._writable(entry_id, if_match, also=sent.get("issue_id"))
        if entry.running and {"minutes", "entry_date"} & sent.keys():
            raise TimerAlreadyRunning("Stop the timer before changing its minutes or date.")
        if "issue_id" in sent and sent["issue_id"] is not None:
            await self._issue_in(entry.project_id, str(sent["issue_id"]), field="issue_id")
        day = sent.get("entry_date", entry.entry_date)
        if "entry_date" in sent:
            self._check_date(day, "entry_date")
        if entry.minutes is not None and {"minutes", "entry_date"} & sent.keys():
            minutes = sent.get("minutes", entry.minutes)
            await self._check_day(entry.user_id, day, minutes, "minutes", entry.id)
        before = snapshot(entry, RECORDED)
        for field, value in sent.items():
            setattr(entry, field, value)
        self._touch(entry)
        await self.session.flush()
        await self._record("time_entry.updated", entry, before)
        return entry

    async def delete(self, entry_id: uuid.UUID, if_match: IfMatch) -> None:
        entry = await self._writable(entry_id, if_match, deleting=True)
        before = snapshot(entry, RECORDED)
        await self.entries.delete(entry)
        await time_entries_counted(self.session, self.ctx.org_id, entry.project_id, -1)
        await self._record("time_entry.deleted", entry, before, gone=True)

    async def start(self, data: TimerStart) -> TimeEntry:
        await self._project(data.project_id)
        if data.issue_id is not None:
            await self._issue_in(data.project_id, str(data.issue_id), field="issue_id")
        running = await self._running_settled()
        if running is not None:
            raise TimerAlreadyRunning()
        sent = data.model_dump(exclude_unset=True)
        return await self._start(
            data.project_id, data.issue_id, data.description, sent.get("billable", True)
        )

    async def start_on_issue(self, project_id: uuid.UUID, ref: str) -> tuple[TimeEntry, bool]:
        """The timer on this issue, and whether this request started it (201) or found it
        already running (200)."""
        issue_id = await self._issue_in(project_id, ref)
        running = await self._running_settled()
        if running is not None:
            if running.issue_id == issue_id:
                return running, False
            raise TimerAlreadyRunning()
        return await self._start(project_id, issue_id, None, True), True

    async def stop(self, entry_id: uuid.UUID, if_match: IfMatch) -> TimeEntry:
        entry = await self._writable(entry_id, if_match)
        if not entry.running and not entry.auto_stopped:
            raise NoRunningTimer("This entry is not a running timer.")
        if entry.running:
            await self._stop(entry, None)
        return entry

    async def stop_on_issue(
        self, project_id: uuid.UUID, ref: str, data: TimerStop, if_match: IfMatch
    ) -> TimeEntry:
        issue_id = await self._issue_in(project_id, ref)
        await self._lock_person(self.ctx.user_id)
        await self._lock_logged(project_id, {issue_id})
        entry = await self.entries.running_of(self.ctx.user_id)
        if entry is None or entry.issue_id != issue_id:
            raise NoRunningTimer()
        if_match.check(entry_etag(entry))
        await self._stop(entry, data.model_dump(exclude_unset=True).get("description"))
        return entry

    # -- the rules ---------------------------------------------------------------------------

    async def _project(self, project_id: uuid.UUID) -> None:
        await ProjectService(self.session, self.services).get_visible(self.ctx, project_id)

    async def _issue_in(
        self, project_id: uuid.UUID, ref: str, *, field: str | None = None
    ) -> uuid.UUID:
        """The issue (by key or id) if the caller sees it and it belongs to the project."""
        await self._project(project_id)
        try:
            row = await IssueFastPath(self.services, self.ctx).resolve(ref)
        except IssueNotFound:
            row = None
        if row is None or row["project_id"] != project_id:
            if field is not None:
                raise IssueNotFound(errors={field: ["No such issue in this project."]})
            raise IssueNotFound()
        issue_id: uuid.UUID = row["id"]
        return issue_id

    def _today(self) -> date:
        return self._now().date()

    def _check_date(self, day: date, field: str) -> None:
        if day > (self._now() + EARLIEST_ZONE).date():
            raise FutureDate(errors={field: [FutureDate.message]})

    async def _check_day(
        self,
        person: uuid.UUID | None,
        day: date,
        minutes: int,
        field: str,
        exclude: uuid.UUID | None = None,
    ) -> None:
        """One person's entries of a day hold 24 hours at most (``exclude``: the entry being
        changed, whose old minutes do not count)."""
        if person is None:
            return
        logged = await self.entries.day_total(person, day, exclude)
        if logged + minutes > DAY_MINUTES:
            left = max(0, DAY_MINUTES - logged)
            raise DayOverLimit(errors={field: [f"{day.isoformat()} has {left} minutes left."]})

    async def _lock_person(self, user_id: uuid.UUID) -> None:
        if not await self.entries.lock_person(user_id):
            raise NotYourEntry("That person is not a member of this organization.")

    async def _log(
        self,
        person: uuid.UUID,
        project_id: uuid.UUID,
        issue_id: uuid.UUID | None,
        minutes: int,
        day: date,
        description: str | None,
        billable: bool,
        *,
        fields: tuple[str, str],
    ) -> TimeEntry:
        minutes_field, date_field = fields
        self._check_date(day, date_field)
        await self._lock_person(person)
        await self._settle(person)
        await self._lock_logged(project_id, {issue_id})
        await self._check_day(person, day, minutes, minutes_field)
        now = self._now()
        entry = TimeEntry(
            id=uuid.uuid4(),
            org_id=self.ctx.org_id,
            project_id=project_id,
            issue_id=issue_id,
            user_id=person,
            minutes=minutes,
            entry_date=day,
            description=description,
            billable=billable,
            running=False,
            auto_stopped=False,
            revision=1,
            created_at=now,
            updated_at=now,
        )
        await self.entries.add(entry)
        await time_entries_counted(self.session, self.ctx.org_id, project_id, 1)
        await self._record("time_entry.created", entry, None)
        return entry

    async def _running_settled(self) -> TimeEntry | None:
        """The caller's running timer after settling one that ran past the limit (locked)."""
        await self._lock_person(self.ctx.user_id)
        await self._settle(self.ctx.user_id)
        return await self.entries.running_of(self.ctx.user_id)

    async def _settle(self, person: uuid.UUID) -> None:
        """Record the stop of a timer that ran past the limit, at the limit."""
        entry = await self.entries.running_of(person)
        if entry is not None and self._expired(entry) and entry.started_at is not None:
            await self._lock_logged(entry.project_id, {entry.issue_id}, required=False)
            before = snapshot(entry, RECORDED)
            entry.running = False
            entry.minutes = self.limit_minutes
            entry.ended_at = entry.started_at + timedelta(minutes=self.limit_minutes)
            entry.auto_stopped = True
            self._touch(entry)
            await self.session.flush()
            await self._record("time_entry.stopped", entry, before)

    async def _start(
        self,
        project_id: uuid.UUID,
        issue_id: uuid.UUID | None,
        description: str | None,
        billable: bool,
    ) -> TimeEntry:
        await self._lock_logged(project_id, {issue_id})
        now = self._now()
        entry = TimeEntry(
            id=uuid.uuid4(),
            org_id=self.ctx.org_id,
            project_id=project_id,
            issue_id=issue_id,
            user_id=self.ctx.user_id,
            minutes=None,
            entry_date=now.date(),
            description=description,
            billable=billable,
            running=True,
            started_at=now,
            auto_stopped=False,
            revision=1,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.session.begin_nested():
                await self.entries.add(entry)
        except IntegrityError:  # the unique index: another start won
            raise TimerAlreadyRunning() from None
        await time_entries_counted(self.session, self.ctx.org_id, project_id, 1)
        await self._record("time_entry.started", entry, None)
        return entry

    async def _stop(self, entry: TimeEntry, description: str | None) -> None:
        started = entry.started_at or self._now()
        # Whole seconds elapsed, rounded up to minutes: 61 s is 2 minutes, 0 s still 1.
        seconds = int((self._now() - started).total_seconds())
        minutes = max(1, math.ceil(seconds / 60))
        if minutes >= self.limit_minutes:
            minutes, entry.auto_stopped = self.limit_minutes, True
        await self._check_day(
            entry.user_id, entry.entry_date, minutes, "duration_minutes", entry.id
        )
        before = snapshot(entry, RECORDED)
        entry.running = False
        entry.minutes = minutes
        limit = started + timedelta(minutes=self.limit_minutes)
        entry.ended_at = limit if entry.auto_stopped else self._now()
        if description is not None:
            entry.description = description
        self._touch(entry)
        await self.session.flush()
        await self._record("time_entry.stopped", entry, before)

    async def _writable(
        self,
        entry_id: uuid.UUID,
        if_match: IfMatch,
        *,
        deleting: bool = False,
        also: uuid.UUID | None = None,
    ) -> TimeEntry:
        """The entry locked for a write, after the rules: visible, the caller's own (or a
        manager's), not invoiced, and the If-Match on the locked row."""
        seen = await self.get(entry_id)
        if seen.user_id is not None:
            # Every write of a person's entries takes the person first (a manager's too), then
            # settles their timer that ran past the limit.
            await self.entries.lock_person(seen.user_id)
            await self._settle(seen.user_id)
        await self._lock_logged(seen.project_id, {seen.issue_id, also}, required=False)
        entry = await self.entries.get_for_update(entry_id, deleting=deleting)
        if entry is None:
            raise TimeEntryNotFound()
        if entry.user_id != self.ctx.user_id and not self.ctx.role.at_least(Role.MANAGER):
            raise NotYourEntry()
        if entry.invoice_id is not None:
            raise EntryInvoiced()
        if_match.check(entry_etag(entry))
        return entry

    async def _lock_logged(
        self,
        project_id: uuid.UUID,
        issue_ids: Collection[uuid.UUID | None],
        *,
        required: bool = True,
    ) -> None:
        """Before a write touches an entry: lock its project (its entry counter) and the
        issues whose logged minutes it may move (``issues.service.lock_for_time``: the order
        of an issue's delete, which then clears its entries' issue). The lock order of time
        writes is the person, the project, the issues, the entries (docs/architecture.md).
        ``required``: an issue deleted before its lock is not there to log on (404);
        otherwise a deleted issue is left to the caller's own checks (an entry whose issue
        went keeps its minutes)."""
        wanted = {i for i in issue_ids if i is not None}
        # The project even with no issue: creates and deletes move its entry counter.
        found = await lock_for_time(self.session, self.ctx.org_id, project_id, wanted)
        if required and found != wanted:
            raise IssueNotFound()

    async def _record(
        self, kind: str, entry: TimeEntry, before: dict[str, Any] | None, *, gone: bool = False
    ) -> None:
        after = None if gone else snapshot(entry, RECORDED)
        diff = changes(before, after, RECORDED)
        record(self.session, self.ctx, kind, entry.id, project_id=entry.project_id, changes=diff)
        # The issues whose logged minutes (their time_spent_minutes) this write moved.
        was, now = _logged(before), _logged(after)
        if was != now:
            moved = {issue_id for issue_id, _ in (was, now) if issue_id is not None}
            await time_changed(self.session, self.ctx.org_id, entry.project_id, moved)

    def _touch(self, entry: TimeEntry) -> None:
        entry.revision += 1
        entry.updated_at = self._now()


def _logged(state: dict[str, Any] | None) -> tuple[uuid.UUID | None, int]:
    """The issue an entry's minutes count on, and how many (a running timer counts none)."""
    if state is None or not state["minutes"]:
        return None, 0
    return state["issue_id"], state["minutes"]


def _by_week(days: list[SummaryGroupData]) -> list[SummaryGroupData]:
    """Days' sums folded into ISO weeks (the days come in order, so the weeks do too)."""
    weeks: dict[str, SummaryGroupData] = {}
    for day in days:
        assert isinstance(day["key"], date)  # the summary by day keys its groups by day
        label = week_label(day["key"])
        week = weeks.get(label)
        if week is None:
            weeks[label] = {**day, "key": label, "label": label}
        else:
            week["total_minutes"] += day["total_minutes"]
            week["billable_minutes"] += day["billable_minutes"]
            week["entries_count"] += day["entries_count"]
    return list(weeks.values())
