"""Time tracking through MCP: log time, run your timer, and read what was spent."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import Field

from projekt.core.conditional import IfMatch
from projekt.core.pagination import SortKeys
from projekt.core.responses import dumps
from projekt.core.schemas import Day, InputModel, Uuid
from projekt.mcp.registry import Call, Result, Tools
from projekt.time_tracking.errors import NoRunningTimer
from projekt.time_tracking.models import TimeEntry
from projekt.time_tracking.schemas import GroupBy, TimeEntryCreate, TimerStart
from projekt.time_tracking.service import EntryFilters, TimeService

tools = Tools()


class EntryQuery(InputModel):
    project_id: Uuid | None = None
    issue_id: Uuid | None = None
    user_id: Uuid | None = None
    from_date: Day | None = None
    to_date: Day | None = None
    limit: int = Field(default=25, ge=1, le=100)
    offset: int = Field(default=0, ge=0)


class NoInput(InputModel):
    pass


class SummaryQuery(InputModel):
    group_by: GroupBy = "project"
    from_date: Day | None = None
    to_date: Day | None = None
    project_id: Uuid | None = None
    user_id: Uuid | None = None


def _service(call: Call) -> TimeService:
    return TimeService(call.uow.session, call.services, call.ctx)


def _entry(time: TimeService, entry: TimeEntry) -> dict[str, Any]:
    return time.read(entry).model_dump(mode="json")


def _line(entry: dict[str, Any]) -> str:
    spent = "running" if entry["running"] else f"{entry['minutes']} min"
    return f"{entry['entry_date']} {spent} on project {entry['project_id']} ({entry['id']})"


@tools.tool("list_time_entries", title="List time entries", route="list_time_entries",
            input=EntryQuery, read_only=True)  # fmt: skip
async def list_time_entries(call: Call, args: EntryQuery) -> Result:
    """List logged time of the projects you can see, newest day first; filter by project,
    issue (its UUID), person and a date range (YYYY-MM-DD, inclusive)."""
    time = _service(call)
    filters = EntryFilters(
        args.project_id, args.issue_id, args.user_id, args.from_date, args.to_date
    )
    newest: SortKeys = (("entry_date", True), ("created_at", True))
    found, total = await time.listing(filters, newest, args.limit, args.offset)
    items = orjson.loads(dumps(found))  # as the route answers them: ids and days as text
    text = f"{len(items)} of {total} entries" + (
        ":\n" + "\n".join(_line(e) for e in items) if items else "."
    )
    return Result({"entries": items, "total": total}, text)


@tools.tool("log_time", title="Log time", route="create_time_entry", input=TimeEntryCreate)
async def log_time(call: Call, args: TimeEntryCreate) -> Result:
    """Log minutes spent on a project (optionally one of its issues, by UUID) on a day that
    has begun. One person's day holds 24 hours at most; managers may log for another member
    with user_id."""
    time = _service(call)
    entry = _entry(time, await time.create(args))
    return Result(entry, f"Logged {entry['minutes']} min on {entry['entry_date']} ({entry['id']})")


@tools.tool("start_timer", title="Start your timer", route="start_timer", input=TimerStart)
async def start_timer(call: Call, args: TimerStart) -> Result:
    """Start your timer on a project (optionally one of its issues). One timer runs per person:
    stop the running one first."""
    time = _service(call)
    entry = _entry(time, await time.start(args))
    return Result(entry, f"Timer started at {entry['started_at']} ({entry['id']})")


@tools.tool("stop_timer", title="Stop your timer", route="stop_time_entry", input=NoInput)
async def stop_timer(call: Call, args: NoInput) -> Result:
    """Stop your running timer; its entry gets the minutes elapsed, rounded up (1 at least)."""
    time = _service(call)
    running = await time.active()
    if running is None:
        raise NoRunningTimer()
    entry = _entry(time, await time.stop(running.id, IfMatch()))
    return Result(entry, f"Timer stopped: {entry['minutes']} min ({entry['id']})")


@tools.tool("my_timer", title="Your running timer", route="active_timer", input=NoInput,
            read_only=True)  # fmt: skip
async def my_timer(call: Call, args: NoInput) -> Result:
    """Your running timer, if any: when it started and on what."""
    time = _service(call)
    running = await time.active()
    if running is None:
        return Result({"timer": None}, "No timer is running.")
    entry = _entry(time, running)
    return Result({"timer": entry}, f"Running since {entry['started_at']} ({entry['id']})")


@tools.tool("time_summary", title="Time summary", route="time_summary", input=SummaryQuery,
            read_only=True)  # fmt: skip
async def time_summary(call: Call, args: SummaryQuery) -> Result:
    """Minutes logged in all and billable, grouped by user, project, issue, day or ISO week,
    optionally in a date range and for one project or person."""
    filters = EntryFilters(args.project_id, None, args.user_id, args.from_date, args.to_date)
    summary = await _service(call).summary(args.group_by, filters)
    data = orjson.loads(dumps(summary))  # as the route answers it: ids and days as text
    lines = [f"{g['label'] or g['key']}: {g['total_minutes']} min" for g in data["groups"]]
    head = f"{summary['total_minutes']} min ({summary['billable_minutes']} billable)"
    return Result(data, head + (":\n" + "\n".join(lines) if lines else "."))
