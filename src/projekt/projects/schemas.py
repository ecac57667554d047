from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from projekt.core.schemas import (
    NOT_BLANK,
    InputModel,
    OutputModel,
    Position,
    Timestamp,
    Uuid,
    omitted,
)

PROJECT_KEY_PATTERN = r"^[A-Z][A-Z0-9]{1,9}$"
COLUMN_KEY_PATTERN = r"^[a-z0-9_]{1,40}$"
MAX_COLUMNS = 20
Category = Literal["todo", "in_progress", "done", "cancelled"]
Visibility = Literal["org", "private"]
ProjectStatus = Literal["active", "archived"]


class ColumnIn(InputModel):
    key: str | None = Field(
        default=None, pattern=COLUMN_KEY_PATTERN, description="Made from the name when null."
    )
    name: str = Field(min_length=1, max_length=60, pattern=NOT_BLANK)
    category: Category = "todo"
    position: Position | None = None


class ColumnRead(OutputModel):
    key: str
    name: str
    category: Category
    position: int


class ProjectCreate(InputModel):
    key: str = Field(pattern=PROJECT_KEY_PATTERN)
    name: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    description: str | None = Field(default=None, max_length=20000)
    visibility: Visibility = "org"
    status: ProjectStatus = "active"
    lead_id: Uuid | None = None
    columns: list[ColumnIn] = omitted(
        min_length=1, max_length=MAX_COLUMNS, description="Backlog … Done when left out."
    )


class ProjectUpdate(InputModel):
    key: str = omitted(pattern=PROJECT_KEY_PATTERN)
    name: str = omitted(min_length=1, max_length=200, pattern=NOT_BLANK)
    description: str | None = Field(default=None, max_length=20000)
    visibility: Visibility = omitted()
    status: ProjectStatus = omitted()
    lead_id: Uuid | None = None


class ProjectRead(OutputModel):
    id: uuid.UUID
    key: str
    name: str
    description: str | None
    visibility: Visibility
    status: ProjectStatus
    lead_id: uuid.UUID | None
    columns: list[ColumnRead]
    created_at: Timestamp
    updated_at: Timestamp


class ProjectMemberIn(InputModel):
    user_id: Uuid
    capacity_hours_per_day: float | None = Field(
        default=None, gt=0, le=24, description="Sprint capacity; unset means 6 h per working day."
    )


class ProjectMemberRead(OutputModel):
    user_id: uuid.UUID
    name: str
    email: str
    added_at: Timestamp
    capacity_hours_per_day: float | None
    etag: str = Field(description="The membership's ETag, for If-Match on its removal.")
