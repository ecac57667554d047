from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from projekt.core.schemas import InputModel, OutputModel, Timestamp

PROJECT_KEY_PATTERN = r"^[A-Z][A-Z0-9]{1,9}$"
Category = Literal["todo", "in_progress", "done", "cancelled"]
Visibility = Literal["org", "private"]
ProjectStatus = Literal["active", "archived"]


class ColumnIn(InputModel):
    key: str | None = Field(default=None, pattern=r"^[a-z0-9_]{1,40}$")
    name: str = Field(min_length=1, max_length=60)
    category: Category = "todo"
    position: int | None = Field(default=None, ge=0)


class ColumnRead(OutputModel):
    key: str
    name: str
    category: Category
    position: int


class ProjectCreate(InputModel):
    key: str = Field(pattern=PROJECT_KEY_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20000)
    visibility: Visibility = "org"
    status: ProjectStatus = "active"
    lead_id: uuid.UUID | None = None
    columns: list[ColumnIn] | None = Field(default=None, min_length=1, max_length=20)


class ProjectUpdate(InputModel):
    key: str | None = Field(default=None, pattern=PROJECT_KEY_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20000)
    visibility: Visibility | None = None
    status: ProjectStatus | None = None
    lead_id: uuid.UUID | None = None


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
    user_id: uuid.UUID
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
