from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from projekt.core.conditional import IfMatchDep
from projekt.core.deps import OrgDep, ServicesDep, SessionDep, org_context_of, services_of
from projekt.core.errors import PreconditionFailed, ValidationFailed
from projekt.core.openapi import BODY, IN_ORG, PAGED, ROLE, SESSION_WRITE, errors
from projekt.core.pagination import ListQuery, list_params
from projekt.core.responses import dumps
from projekt.issues.dependencies import IssueRef
from projekt.issues.errors import IssueNotFound
from projekt.orgs.errors import MemberNotFound
from projekt.projects.errors import ProjectNotFound
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
from projekt.time_tracking.schemas import (
    GroupBy,
    IssueTimeIn,
    IssueTimeSummary,
    TimeEntryCreate,
    TimeEntryRead,
    TimeEntryUpdate,
    TimerStart,
    TimerStarted,
    TimerStop,
    TimerStopped,
    Timesheet,
    TimeSummary,
)
from projekt.time_tracking.service import (
    SORT_FIELDS,
    EntryFilters,
    TimeFastPath,
    TimeService,
    entry_etag,
)

router = APIRouter(tags=["time tracking"])


async def get_time_service(session: SessionDep, services: ServicesDep, ctx: OrgDep) -> TimeService:
    return TimeService(session, services, ctx)


TimeServiceDep = Annotated[TimeService, Depends(get_time_service)]


async def get_time_fast_path(request: Request) -> TimeFastPath:
    """For the summary, which reads on the fast path only: no unit of work (a generator
    dependency costs an exit stack per request) and no sub-dependencies to resolve."""
    return TimeFastPath(services_of(request), org_context_of(request))


TimeFastPathDep = Annotated[TimeFastPath, Depends(get_time_fast_path)]
EntryList = Annotated[ListQuery, Depends(list_params(*SORT_FIELDS, default="-entry_date"))]
ISSUE_BASE = "/api/projects/{project_id}/issues/{ref}"
BASE = "/api/time-entries"
ENTRY = BASE + "/{entry_id}"
WEEK = r"^[0-9]{4}-W(0[1-9]|[1-4][0-9]|5[0-3])$"
WRITE = (*IN_ORG, *ROLE, *SESSION_WRITE, ValidationFailed)
LOGGING = (*WRITE, *BODY, ProjectNotFound, IssueNotFound, FutureDate, DayOverLimit)
CHANGING = (*WRITE, TimeEntryNotFound, NotYourEntry, EntryInvoiced, PreconditionFailed)


def _tag(response: Response, entry: TimeEntry, service: TimeService) -> TimeEntryRead:
    response.headers["ETag"] = entry_etag(entry)
    return service.read(entry)


def _created(response: Response, entry: TimeEntry, service: TimeService) -> TimeEntryRead:
    response.headers["Location"] = f"{BASE}/{entry.id}"
    return _tag(response, entry, service)


# -- on one issue (the Projekt routes) --------------------------------------------------------


@router.post(
    ISSUE_BASE + "/time-entries",
    status_code=status.HTTP_201_CREATED,
    response_model=TimeEntryRead,
    responses=errors(*LOGGING),
)
async def log_issue_time(
    project_id: uuid.UUID,
    ref: IssueRef,
    body: IssueTimeIn,
    response: Response,
    time: TimeServiceDep,
) -> TimeEntryRead:
    """Log minutes you spent on an issue on a day (24 hours a day at most)."""
    return _created(response, await time.log_on_issue(project_id, ref, body), time)


@router.post(
    ISSUE_BASE + "/time-entries/timer-start",
    status_code=status.HTTP_201_CREATED,
    response_model=TimerStarted,
    responses={
        200: {"model": TimerStarted, "description": "The timer was already running on it."},
        **errors(*WRITE, ProjectNotFound, IssueNotFound, TimerAlreadyRunning),
    },
)
async def start_issue_timer(
    project_id: uuid.UUID, ref: IssueRef, response: Response, time: TimeServiceDep
) -> TimerStarted:
    """Start your timer on the issue: 201, or 200 with the timer already running on it."""
    entry, started = await time.start_on_issue(project_id, ref)
    read = _tag(response, entry, time)
    if started:
        response.headers["Location"] = f"{BASE}/{entry.id}"
    else:
        response.status_code = status.HTTP_200_OK
    return TimerStarted(timer_id=entry.id, started_at=read.started_at, entry=read)


@router.post(
    ISSUE_BASE + "/time-entries/timer-stop",
    response_model=TimerStopped,
    responses=errors(
        *WRITE,
        *BODY,
        ProjectNotFound,
        IssueNotFound,
        NoRunningTimer,
        DayOverLimit,
        PreconditionFailed,
    ),
)
async def stop_issue_timer(
    project_id: uuid.UUID,
    ref: IssueRef,
    if_match: IfMatchDep,
    response: Response,
    time: TimeServiceDep,
    body: TimerStop | None = None,
) -> TimerStopped:
    """Stop your timer on the issue; its entry gets the minutes, rounded up (1 at least).
    ``If-Match`` compares the timer's tag (``GET /api/time-entries/active``)."""
    entry = await time.stop_on_issue(project_id, ref, body or TimerStop(), if_match)
    read = _tag(response, entry, time)
    return TimerStopped(duration_minutes=read.minutes or 0, entry=read)


@router.get(
    ISSUE_BASE + "/time-summary",
    response_model=IssueTimeSummary,
    responses=errors(*IN_ORG, ProjectNotFound, IssueNotFound, ValidationFailed),
)
async def issue_time_summary(
    project_id: uuid.UUID, ref: IssueRef, time: TimeServiceDep
) -> IssueTimeSummary:
    """Minutes logged on the issue, in all and per person."""
    return await time.issue_summary(project_id, ref)


# -- the organization's entries ---------------------------------------------------------------


@router.get(
    BASE,
    response_model=list[TimeEntryRead],
    responses=errors(*IN_ORG, *PAGED, ValidationFailed),
)
async def list_time_entries(
    time: TimeFastPathDep,
    listed: EntryList,
    project_id: uuid.UUID | None = None,
    issue_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    billable: bool | None = None,
    invoiced: bool | None = None,
) -> Response:
    """Time entries of the projects you can see, newest day first."""
    filters = EntryFilters(project_id, issue_id, user_id, from_, to, billable, invoiced)
    found, total = await time.listing(filters, listed.sort, listed.limit, listed.offset)
    return listed.respond(found, total)


@router.post(
    BASE,
    status_code=status.HTTP_201_CREATED,
    response_model=TimeEntryRead,
    responses=errors(*LOGGING, NotYourEntry),
)
async def create_time_entry(
    body: TimeEntryCreate, response: Response, time: TimeServiceDep
) -> TimeEntryRead:
    """Log time on a project (and maybe one of its issues); managers may log for others."""
    return _created(response, await time.create(body), time)


@router.post(
    BASE + "/start",
    status_code=status.HTTP_201_CREATED,
    response_model=TimeEntryRead,
    responses=errors(*WRITE, *BODY, ProjectNotFound, IssueNotFound, TimerAlreadyRunning),
)
async def start_timer(body: TimerStart, response: Response, time: TimeServiceDep) -> TimeEntryRead:
    """Start your timer (one per person and organization: 409 while another runs)."""
    return _created(response, await time.start(body), time)


@router.get(BASE + "/active", response_model=TimeEntryRead | None, responses=errors(*IN_ORG))
async def active_timer(response: Response, time: TimeServiceDep) -> TimeEntryRead | None:
    """Your running timer (its ``ETag`` is what stopping it compares), or null."""
    entry = await time.active()
    return None if entry is None else _tag(response, entry, time)


@router.get(
    BASE + "/summary",
    response_model=TimeSummary,
    responses=errors(*IN_ORG, ValidationFailed),
)
async def time_summary(
    time: TimeFastPathDep,
    group_by: GroupBy = "project",
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    project_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    billable: bool | None = None,
) -> Response:
    """Minutes in all, billable, and per user, project, issue, day or ISO week."""
    filters = EntryFilters(project_id, None, user_id, from_, to, billable)
    # Written by orjson from plain data (``TimeSummaryData``): ``TimeSummary`` documents it.
    body = dumps(await time.summary(group_by, filters))
    return Response(body, media_type="application/json")


@router.get(
    "/api/timesheets",
    response_model=Timesheet,
    responses={
        **errors(*IN_ORG, ValidationFailed, BadWeek, MemberNotFound),
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    },
)
async def timesheet(
    request: Request,
    time: TimeServiceDep,
    user_id: uuid.UUID | None = None,
    week: Annotated[
        str | None, Query(pattern=WEEK, description="An ISO week, such as 2026-W48.")
    ] = None,
) -> Timesheet | Response:
    """A person's week (yours by default) per project and issue, Monday to Sunday; CSV with
    ``Accept: text/csv``."""
    sheet = await time.timesheet(user_id, week)
    if "text/csv" not in request.headers.get("accept", ""):
        return sheet
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["project", "issue", *(d.isoformat() for d in sheet.days), "total"])
    for row in sheet.rows:
        writer.writerow(
            [row.project_key, row.issue_key or "", *row.minutes_by_day, row.total_minutes]
        )
    writer.writerow(["total", "", *sheet.total_by_day, sheet.total_minutes])
    name = f"timesheet-{sheet.week}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(out.getvalue(), media_type="text/csv", headers=headers)


@router.get(
    ENTRY,
    response_model=TimeEntryRead,
    responses=errors(*IN_ORG, TimeEntryNotFound, ValidationFailed),
)
async def get_time_entry(
    entry_id: uuid.UUID, response: Response, time: TimeServiceDep
) -> TimeEntryRead:
    """One time entry."""
    return _tag(response, await time.get(entry_id), time)


@router.put(
    ENTRY,
    response_model=TimeEntryRead,
    responses=errors(
        *CHANGING, *BODY, IssueNotFound, FutureDate, DayOverLimit, TimerAlreadyRunning
    ),
)
async def replace_time_entry(
    entry_id: uuid.UUID,
    body: TimeEntryUpdate,
    if_match: IfMatchDep,
    response: Response,
    time: TimeServiceDep,
) -> TimeEntryRead:
    """Update a time entry (PATCH semantics, as the Projekt apps send PUT)."""
    return _tag(response, await time.update(entry_id, body, if_match), time)


@router.patch(
    ENTRY,
    response_model=TimeEntryRead,
    responses=errors(
        *CHANGING, *BODY, IssueNotFound, FutureDate, DayOverLimit, TimerAlreadyRunning
    ),
)
async def update_time_entry(
    entry_id: uuid.UUID,
    body: TimeEntryUpdate,
    if_match: IfMatchDep,
    response: Response,
    time: TimeServiceDep,
) -> TimeEntryRead:
    """Change the fields sent of your entry (anyone's, as a manager)."""
    return _tag(response, await time.update(entry_id, body, if_match), time)


@router.delete(
    ENTRY,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*CHANGING, ValidationFailed),
)
async def delete_time_entry(
    entry_id: uuid.UUID, if_match: IfMatchDep, time: TimeServiceDep
) -> Response:
    """Delete your entry (anyone's, as a manager); invoiced entries stay."""
    await time.delete(entry_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    ENTRY + "/stop",
    response_model=TimeEntryRead,
    responses=errors(*CHANGING, NoRunningTimer, DayOverLimit, ValidationFailed),
)
async def stop_time_entry(
    entry_id: uuid.UUID, if_match: IfMatchDep, response: Response, time: TimeServiceDep
) -> TimeEntryRead:
    """Stop a running timer; its minutes are rounded up (1 at least)."""
    return _tag(response, await time.stop(entry_id, if_match), time)
