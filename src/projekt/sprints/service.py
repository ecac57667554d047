"""Sprints: planning on top of issues, with stats, a burndown replayed from history, capacity."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.conditional import IfMatch, version_etag
from projekt.core.context import OrgContext
from projekt.core.deps import AppServices
from projekt.core.errors import ValidationFailed
from projekt.core.record import changes, record, snapshot
from projekt.issues.service import (
    lock_project,
    move_sprint_issues,
    sprint_history,
    sprint_issues,
)
from projekt.projects.errors import ProjectNotFound
from projekt.projects.models import Project
from projekt.projects.service import ProjectService
from projekt.sprints.errors import SprintAlreadyActive, SprintNotFound, SprintStateConflict
from projekt.sprints.models import Sprint
from projekt.sprints.repository import SprintRepository
from projekt.sprints.schemas import (
    Burndown,
    BurndownPoint,
    Capacity,
    CapacityRow,
    CategoryStats,
    SprintCreate,
    SprintStats,
    SprintUpdate,
)
from projekt.time_tracking.service import LoggedTime, TimeService

DEFAULT_HOURS_PER_DAY = 6.0
# What a sprint's events compare.
RECORDED = ("name", "goal", "start_date", "end_date", "state", "started_at", "completed_at")


def sprint_etag(sprint: Sprint) -> str:
    return version_etag("sprint", sprint.id, sprint.version)


def working_days(start: date, end: date) -> int:
    """Mondays to Fridays from ``start`` to ``end`` inclusive, counted without a loop."""
    total = (end - start).days + 1
    if total <= 0:
        return 0
    weeks, rest = divmod(total, 7)
    extra = sum(1 for n in range(rest) if (start.weekday() + n) % 7 < 5)
    return weeks * 5 + extra


def sprint_days(start: date, end: date) -> int:
    """How many days a sprint covers (both ends included): one burndown point each."""
    return (end - start).days + 1


class SprintService:
    def __init__(self, session: AsyncSession, services: AppServices, ctx: OrgContext) -> None:
        self.session = session
        self.services = services
        self.ctx = ctx
        self.sprints = SprintRepository(session, ctx.org_id)

    async def _project(self, project_id: uuid.UUID, field: str | None = None) -> Project:
        try:
            return await ProjectService(self.session, self.services).get_visible(
                self.ctx, project_id
            )
        except ProjectNotFound:
            if field:
                raise ValidationFailed(errors={field: [f"The {field} does not exist"]}) from None
            raise SprintNotFound() from None

    async def get(self, sprint_id: uuid.UUID) -> Sprint:
        sprint = await self.sprints.get(sprint_id)
        if sprint is None:
            raise SprintNotFound()
        await self._project(sprint.project_id)  # a private project's sprints stay hidden
        return sprint

    async def listing(
        self, project_id: uuid.UUID | None, state: str | None, limit: int, offset: int
    ) -> tuple[list[Sprint], int]:
        return await self.sprints.listing(self.ctx.user_id, project_id, state, limit, offset)

    async def locked(
        self, sprint_id: uuid.UUID, if_match: IfMatch, *, moves_issues: bool = False
    ) -> Sprint:
        """The sprint locked for a write, with ``If-Match`` checked against the locked row.

        ``moves_issues``: the write re-homes the sprint's issues (delete, complete), which also
        updates the project's counters, so the project is locked first (see ``lock_project``).
        """
        found = await self.get(sprint_id)
        if moves_issues:
            await lock_project(self.session, self.ctx.org_id, found.project_id)
        sprint = await self.sprints.get_for_update(sprint_id, deleting=moves_issues)
        if sprint is None:  # deleted since it was read
            raise SprintNotFound()
        if_match.check(sprint_etag(sprint))
        return sprint

    def _check_dates(self, start: date, end: date) -> None:
        if end <= start:
            raise ValidationFailed(errors={"end_date": ["The end_date must be after start_date"]})
        limit = self.services.settings.max_sprint_days
        if sprint_days(start, end) > limit:
            # Burndown and capacity work per day of the sprint: an unbounded range would let
            # one request keep a worker busy for as long as it likes.
            raise ValidationFailed(errors={"end_date": [f"A sprint covers at most {limit} days"]})

    async def create(self, data: SprintCreate) -> Sprint:
        self._check_dates(data.start_date, data.end_date)
        await self._project(data.project_id, "project_id")
        now = self.services.clock.now()
        sprint = Sprint(
            id=uuid.uuid4(),
            org_id=self.ctx.org_id,
            project_id=data.project_id,
            name=data.name,
            goal=data.goal,
            start_date=data.start_date,
            end_date=data.end_date,
            state="planned",
            started_at=None,
            completed_at=None,
            committed=None,
            version=1,
            created_at=now,
            updated_at=now,
        )
        added = await self.sprints.add(sprint)
        self._record("sprint.created", sprint, changes(None, snapshot(sprint, RECORDED)))
        return added

    async def update(self, sprint_id: uuid.UUID, data: SprintUpdate, if_match: IfMatch) -> Sprint:
        changes = data.model_dump(exclude_unset=True)
        sprint = await self.locked(sprint_id, if_match)
        start = changes.get("start_date", sprint.start_date)
        end = changes.get("end_date", sprint.end_date)
        self._check_dates(start, end)
        if sprint.state == "completed" and ({"start_date", "end_date"} & changes.keys()):
            raise SprintStateConflict("A completed sprint's dates are history.")
        before = snapshot(sprint, RECORDED)
        for field, value in changes.items():
            setattr(sprint, field, value)
        await self._touch(sprint)
        self._record_diff("sprint.updated", sprint, before)
        return sprint

    async def delete(self, sprint_id: uuid.UUID, if_match: IfMatch) -> None:
        """Unassigns its issues in the same transaction (each records its event)."""
        sprint = await self.locked(sprint_id, if_match, moves_issues=True)
        issues = await sprint_issues(self.session, self.ctx.org_id, sprint.id, for_update=True)
        await move_sprint_issues(self.session, self.ctx, self.services, issues, None)
        await self.session.delete(sprint)
        await self.session.flush()
        self._record("sprint.deleted", sprint, changes(snapshot(sprint, RECORDED), None))

    async def start(self, sprint_id: uuid.UUID, if_match: IfMatch) -> Sprint:
        sprint = await self.locked(sprint_id, if_match)
        if sprint.state != "planned":
            raise SprintStateConflict("Only a planned sprint can start.")
        issues = await sprint_issues(self.session, self.ctx.org_id, sprint.id)
        now = self.services.clock.now()
        before = snapshot(sprint, RECORDED)
        try:
            async with self.session.begin_nested():
                started = await self.sprints.change_state(
                    sprint,
                    "planned",
                    "active",
                    started_at=now,
                    committed={str(i.id): i.estimated_hours for i in issues},
                    updated_at=now,
                )
        except IntegrityError:  # the partial unique index: another sprint is active
            raise SprintAlreadyActive() from None
        if not started:
            raise SprintStateConflict("Only a planned sprint can start.")
        self._record_diff("sprint.started", sprint, before)
        return sprint

    async def complete(self, sprint_id: uuid.UUID, move_open_to: str, if_match: IfMatch) -> Sprint:
        sprint = await self.locked(sprint_id, if_match, moves_issues=True)
        if sprint.state != "active":
            raise SprintStateConflict("Only an active sprint can be completed.")
        target: uuid.UUID | None = None
        if move_open_to != "backlog":
            target = await self._target(sprint, move_open_to)
        now = self.services.clock.now()
        before = snapshot(sprint, RECORDED)
        if not await self.sprints.change_state(
            sprint, "active", "completed", completed_at=now, updated_at=now
        ):
            raise SprintStateConflict("Only an active sprint can be completed.")
        self._record_diff("sprint.completed", sprint, before)
        project = await self._project(sprint.project_id)
        done = _done_statuses(project)
        issues = await sprint_issues(self.session, self.ctx.org_id, sprint.id, for_update=True)
        still_open = [i for i in issues if i.status not in done]
        await move_sprint_issues(self.session, self.ctx, self.services, still_open, target)
        return sprint

    def _record(self, kind: str, sprint: Sprint, diff: dict[str, Any]) -> None:
        record(self.session, self.ctx, kind, sprint.id, project_id=sprint.project_id,
               changes=diff)  # fmt: skip

    def _record_diff(self, kind: str, sprint: Sprint, before: dict[str, Any]) -> None:
        diff = changes(before, snapshot(sprint, RECORDED), RECORDED)
        if diff:
            self._record(kind, sprint, diff)

    async def _target(self, sprint: Sprint, raw: str) -> uuid.UUID:
        error = ValidationFailed(
            errors={"move_open_to": ['The move_open_to must be "backlog" or an open sprint id']}
        )
        try:
            target_id = uuid.UUID(raw)
        except ValueError:
            raise error from None
        target = await self.sprints.get(target_id)
        if (
            target is None
            or target.id == sprint.id
            or target.project_id != sprint.project_id
            or target.state == "completed"
        ):
            raise error
        return target.id

    async def _touch(self, sprint: Sprint) -> None:
        sprint.version += 1
        sprint.updated_at = self.services.clock.now()
        await self.session.flush()

    # -- reports ----------------------------------------------------------------------------

    async def stats(self, sprint: Sprint) -> SprintStats:
        project = await self._project(sprint.project_id)
        categories = _categories(project)
        issues = await sprint_issues(self.session, self.ctx.org_id, sprint.id)
        by_category = {c: CategoryStats(issues=0, hours=0.0) for c in _CATEGORIES}
        for issue in issues:
            bucket = by_category[categories.get(issue.status, "todo")]
            bucket.issues += 1
            bucket.hours += issue.estimated_hours or 0.0
        total = len(issues)
        hours = sum(i.estimated_hours or 0.0 for i in issues)
        logged = await self._logged(sprint, [i.id for i in issues])
        done = by_category["done"]
        committed = sprint.committed
        now_ids = {str(i.id) for i in issues}
        return SprintStats(
            sprint_id=sprint.id,
            state=sprint.state,
            by_category=by_category,
            total_issues=total,
            total_hours=hours,
            committed_issues=len(committed) if committed is not None else None,
            committed_hours=(
                sum(v or 0.0 for v in committed.values()) if committed is not None else None
            ),
            added_issues=len(now_ids - set(committed)) if committed is not None else 0,
            removed_issues=len(set(committed) - now_ids) if committed is not None else 0,
            completion_percent=round(100.0 * done.issues / total, 1) if total else 0.0,
            completion_percent_hours=round(100.0 * done.hours / hours, 1) if hours else 0.0,
            logged_hours=_hours(sum(t.minutes for t in logged)),
        )

    async def burndown(self, sprint: Sprint) -> Burndown:
        """Each day's remaining work as it stood at the end of that day, replayed from the
        issues' activity (not from today's state).

        One pass over each issue's history for all days together: the work is the sprint's
        days times its issues plus their activity, and the days are bounded by
        ``max_sprint_days`` (a sprint stored before that bound existed is cut at it).
        """
        project = await self._project(sprint.project_id)
        done = _done_statuses(project)
        issues, activity = await sprint_history(
            self.session, self.ctx.org_id, sprint.id, sprint.project_id
        )
        events: dict[uuid.UUID, list[Any]] = {i.id: [] for i in issues}
        for entry in activity:
            events[entry.resource_id].append(entry)
        today = self.services.clock.now().date()
        length = min(
            sprint_days(sprint.start_date, sprint.end_date), self.services.settings.max_sprint_days
        )
        days = [sprint.start_date + timedelta(days=n) for n in range(length)]
        past = [day for day in days if day <= today]
        cutoffs = [datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC) for day in past]
        histories = [[(e.occurred_at, e.changes) for e in events[i.id]] for i in issues]
        # Plain CPU over plain data: in a worker thread, so the event loop keeps serving.
        hours_by_day, count_by_day = await asyncio.to_thread(
            _remaining_by_day, histories, cutoffs, str(sprint.id), done
        )
        remaining_by_day: list[tuple[float, int] | None] = [
            *zip(hours_by_day, count_by_day, strict=True),
            *([None] * (len(days) - len(past))),
        ]
        # Time logged on the sprint's issues (as they are now) on its days, summed up each day.
        current = [i.id for i in issues if i.sprint_id == sprint.id]
        logged_on: dict[date, int] = {}
        for entry in await self._logged(sprint, current):
            logged_on[entry.day] = logged_on.get(entry.day, 0) + entry.minutes
        logged_by_day: list[float | None] = []
        so_far = 0
        for day in days:
            so_far += logged_on.get(day, 0)
            logged_by_day.append(_hours(so_far) if day <= today else None)
        first = next((r for r in remaining_by_day if r is not None), (0.0, 0))
        start_hours = (
            sum(v or 0.0 for v in sprint.committed.values()) if sprint.committed else first[0]
        )
        span = max(len(days) - 1, 1)
        points = [
            BurndownPoint(
                date=day,
                remaining_hours=remaining[0] if remaining else None,
                remaining_issues=remaining[1] if remaining else None,
                ideal_hours=round(start_hours * (1 - n / span), 2),
                logged_hours=logged,
            )
            for n, (day, remaining, logged) in enumerate(
                zip(days, remaining_by_day, logged_by_day, strict=True)
            )
        ]
        return Burndown(
            sprint_id=sprint.id,
            start_date=sprint.start_date,
            end_date=sprint.end_date,
            points=points,
        )

    async def capacity(self, sprint: Sprint) -> Capacity:
        issues = await sprint_issues(self.session, self.ctx.org_id, sprint.id)
        committed: dict[uuid.UUID, float] = {}
        for issue in issues:
            if issue.assignee_id is not None:
                committed[issue.assignee_id] = committed.get(issue.assignee_id, 0.0) + (
                    issue.estimated_hours or 0.0
                )
        logged: dict[uuid.UUID, int] = {}
        for entry in await self._logged(sprint, [i.id for i in issues]):
            if entry.user_id is not None:
                logged[entry.user_id] = logged.get(entry.user_id, 0) + entry.minutes
        days = working_days(sprint.start_date, sprint.end_date)
        rates = await self.sprints.member_rates(sprint.project_id)
        people = set(committed) | set(rates) | set(logged)
        names = await self.sprints.names(people)
        members = []
        for user_id in sorted(people, key=lambda u: names.get(u, "")):
            per_day = rates.get(user_id) or DEFAULT_HOURS_PER_DAY
            hours = committed.get(user_id, 0.0)
            members.append(
                CapacityRow(
                    user_id=user_id,
                    name=names.get(user_id, ""),
                    committed_hours=hours,
                    capacity_hours=per_day * days,
                    hours_per_day=per_day,
                    over=hours > per_day * days,
                    logged_hours=_hours(logged.get(user_id, 0)),
                )
            )
        return Capacity(sprint_id=sprint.id, working_days=days, members=members)

    async def _logged(self, sprint: Sprint, issue_ids: list[uuid.UUID]) -> list[LoggedTime]:
        """Time logged on these issues on the sprint's days (docs/decisions.md, "Sprints")."""
        time_tracking = TimeService(self.session, self.services, self.ctx)
        return await time_tracking.logged_on_issues(issue_ids, sprint.start_date, sprint.end_date)


_CATEGORIES = ("todo", "in_progress", "done", "cancelled")


def _hours(minutes: int) -> float:
    return round(minutes / 60, 2)


def _categories(project: Project) -> dict[str, str]:
    return {c["name"]: c["category"] for c in project.columns}


def _done_statuses(project: Project) -> set[str]:
    return {c["name"] for c in project.columns if c["category"] in ("done", "cancelled")}


def _remaining_by_day(
    histories: list[list[tuple[datetime, dict[str, Any] | None]]],
    cutoffs: list[datetime],
    sprint_key: str,
    done: set[str],
) -> tuple[list[float], list[int]]:
    """Open hours and issues of the sprint at each cutoff (ascending), replayed from each
    issue's activity (oldest first): one walk per issue serves every cutoff."""
    hours = [0.0] * len(cutoffs)
    counts = [0] * len(cutoffs)
    for entries in histories:
        state: dict[str, Any] | None = None  # None until the issue exists
        position = 0
        for n, cutoff in enumerate(cutoffs):
            while position < len(entries) and entries[position][0] < cutoff:
                state = state if state is not None else {}
                for field, change in (entries[position][1] or {}).items():
                    if isinstance(change, list) and len(change) == 2:
                        state[field] = change[1]
                position += 1
            if state is None or state.get("sprint_id") != sprint_key:
                continue
            if state.get("status") in done or state.get("archived"):
                continue
            hours[n] += float(state.get("estimated_hours") or 0.0)
            counts[n] += 1
    return hours, counts
