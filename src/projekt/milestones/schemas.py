from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from projekt.core.schemas import NOT_BLANK, Day, InputModel, OutputModel, Timestamp, omitted

MilestoneStatus = Literal["planning", "active", "completed", "cancelled"]


class MilestoneCreate(InputModel):
    name: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    description: str | None = Field(default=None, max_length=20_000)
    target_date: Day | None = None
    status: MilestoneStatus = "planning"
    version: str | None = Field(default=None, max_length=40)


class MilestoneUpdate(InputModel):
    name: str = omitted(min_length=1, max_length=120, pattern=NOT_BLANK)
    description: str | None = Field(default=None, max_length=20_000)
    target_date: Day | None = None
    status: MilestoneStatus = omitted()
    version: str | None = Field(default=None, max_length=40)


class MilestoneRead(OutputModel):
    id: uuid.UUID
    name: str
    description: str | None
    target_date: date | None
    status: MilestoneStatus
    version: str | None
    project_id: uuid.UUID
    created_by_id: uuid.UUID | None
    issue_count: int
    completed_issue_count: int
    progress: float = Field(description="Completed issues as a percentage of all its issues.")
    days_remaining: int | None = Field(description="Days until the target date (negative: past).")
    overdue: bool
    created_at: Timestamp
    updated_at: Timestamp
