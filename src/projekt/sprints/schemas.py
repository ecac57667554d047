from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from projekt.core.schemas import NOT_BLANK, Day, InputModel, OutputModel, Timestamp, Uuid, omitted

SprintState = Literal["planned", "active", "completed"]


class SprintCreate(InputModel):
    project_id: Uuid
    name: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    goal: str | None = Field(default=None, max_length=5000)
    start_date: Day
    end_date: Day

    @model_validator(mode="after")
    def _ordered(self) -> SprintCreate:
        if self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        return self


class SprintUpdate(InputModel):
    name: str = omitted(min_length=1, max_length=120, pattern=NOT_BLANK)
    goal: str | None = Field(default=None, max_length=5000)
    start_date: Day = omitted()
    end_date: Day = omitted()


class SprintComplete(InputModel):
    move_open_to: str = Field(
        default="backlog", description='"backlog", or the id of a planned or active sprint'
    )


class SprintRead(OutputModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    goal: str | None
    start_date: date
    end_date: date
    state: SprintState
    started_at: Timestamp | None
    completed_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class CategoryStats(OutputModel):
    issues: int
    hours: float


class SprintStats(OutputModel):
    sprint_id: uuid.UUID
    state: SprintState
    by_category: dict[str, CategoryStats]
    total_issues: int
    total_hours: float
    committed_issues: int | None
    committed_hours: float | None
    added_issues: int
    removed_issues: int
    completion_percent: float
    completion_percent_hours: float
    logged_hours: float = Field(
        description="Hours logged on the sprint's issues on the sprint's days (time tracking), "
        "beside the estimates of total_hours."
    )


class BurndownPoint(OutputModel):
    date: date
    remaining_hours: float | None
    remaining_issues: int | None
    ideal_hours: float
    logged_hours: float | None = Field(
        description="Hours logged on the sprint's issues from its first day through this one "
        "(null after today); the remaining line stays the open estimates."
    )


class Burndown(OutputModel):
    sprint_id: uuid.UUID
    start_date: date
    end_date: date
    points: list[BurndownPoint]


class CapacityRow(OutputModel):
    user_id: uuid.UUID
    name: str
    committed_hours: float
    capacity_hours: float
    hours_per_day: float
    over: bool
    logged_hours: float = Field(
        description="Hours this person logged on the sprint's issues on the sprint's days."
    )


class Capacity(OutputModel):
    sprint_id: uuid.UUID
    working_days: int
    members: list[CapacityRow]
