from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal, TypedDict

from pydantic import BeforeValidator, Field

from projekt.core.schemas import (
    Day,
    InputModel,
    OutputModel,
    Timestamp,
    Uuid,
    omitted,
    whole_number,
)

# A day has 1,440 minutes; one entry cannot hold more.
# Bounds before the validator, so the spec shows minimum/maximum (as core.schemas.Position).
Minutes = Annotated[int, Field(gt=0, le=1440), BeforeValidator(whole_number)]
Description = Annotated[str, Field(max_length=2_000)]
GroupBy = Literal["user", "project", "issue", "day", "week"]


class IssueTimeIn(InputModel):
    """Time logged on one issue (the Projekt route's own field names)."""

    duration_minutes: Minutes
    date: Day
    description: Description | None = None
    billable: bool = omitted()


class TimerStop(InputModel):
    description: Description | None = None


class TimeEntryCreate(InputModel):
    minutes: Minutes
    entry_date: Day
    project_id: Uuid
    issue_id: Uuid | None = None
    description: Description | None = None
    billable: bool = omitted()
    user_id: Uuid = omitted(description="Whose time it is (managers and above); default: yours.")


class TimeEntryUpdate(InputModel):
    minutes: Minutes = omitted()
    entry_date: Day = omitted()
    issue_id: Uuid | None = None
    description: Description | None = None
    billable: bool = omitted()


class TimerStart(InputModel):
    project_id: Uuid
    issue_id: Uuid | None = None
    description: Description | None = None
    billable: bool = omitted()


class TimeEntryRead(OutputModel):
    id: uuid.UUID
    project_id: uuid.UUID
    issue_id: uuid.UUID | None
    user_id: uuid.UUID | None
    minutes: int | None = Field(description="null while the timer runs.")
    entry_date: date
    description: str | None
    billable: bool
    running: bool
    started_at: Timestamp | None
    ended_at: Timestamp | None
    auto_stopped: bool = Field(description="The timer ran past the limit and stopped there.")
    invoiced: bool
    invoice_id: uuid.UUID | None
    created_at: Timestamp
    updated_at: Timestamp


class TimerStarted(OutputModel):
    timer_id: uuid.UUID
    started_at: Timestamp
    entry: TimeEntryRead


class TimerStopped(OutputModel):
    duration_minutes: int
    entry: TimeEntryRead


class UserTime(OutputModel):
    user_id: uuid.UUID | None
    user_name: str | None
    total_minutes: int
    entry_count: int


class IssueTimeSummary(OutputModel):
    total_minutes: int
    entry_count: int
    by_user: list[UserTime]


class SummaryGroup(OutputModel):
    key: str | None = Field(description="The user, project or issue id; the day; the ISO week.")
    label: str | None = Field(description="The name, project key, issue key, or the key again.")
    total_minutes: int
    billable_minutes: int
    entries_count: int


class TimeSummary(OutputModel):
    group_by: GroupBy
    from_date: date | None
    to_date: date | None
    total_minutes: int
    billable_minutes: int
    entries_count: int
    groups: list[SummaryGroup]


class SummaryGroupData(TypedDict):
    """``SummaryGroup`` as the summary's fast path builds it (its fields, in its order): the
    answer is written by orjson from these, not validated group by group (a month by issue is
    hundreds of groups)."""

    key: str | uuid.UUID | date | None
    label: str | uuid.UUID | date | None
    total_minutes: int
    billable_minutes: int
    entries_count: int


class TimeSummaryData(TypedDict):
    """``TimeSummary``'s fields, in its order (the route's answer, written by orjson)."""

    group_by: GroupBy
    from_date: date | None
    to_date: date | None
    total_minutes: int
    billable_minutes: int
    entries_count: int
    groups: list[SummaryGroupData]


class TimesheetRow(OutputModel):
    project_id: uuid.UUID
    project_key: str
    issue_id: uuid.UUID | None
    issue_key: str | None
    minutes_by_day: list[int] = Field(description="Monday to Sunday.")
    total_minutes: int


class Timesheet(OutputModel):
    user_id: uuid.UUID
    week: str
    days: list[date]
    rows: list[TimesheetRow]
    total_by_day: list[int]
    total_minutes: int
