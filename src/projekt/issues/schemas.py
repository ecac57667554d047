from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from projekt.core.schemas import (
    NOT_BLANK,
    Day,
    InputModel,
    OutputModel,
    Timestamp,
    Uuid,
    omitted,
)

Priority = Literal["low", "medium", "high", "urgent"]
IssueType = Literal["task", "bug", "story", "epic", "spike", "chore"]
PRIORITIES: tuple[str, ...] = ("low", "medium", "high", "urgent")
ISSUE_TYPES: tuple[str, ...] = ("task", "bug", "story", "epic", "spike", "chore")
Label = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=NOT_BLANK)]


class IssueFields(InputModel):
    description: str | None = Field(default=None, max_length=100_000)
    status: str = omitted(
        min_length=1, max_length=60, pattern=NOT_BLANK, description="A column of the project."
    )
    assignee_id: Uuid | None = None
    labels: list[Label] = omitted(max_length=30, description="Send [] to remove every label.")
    estimated_hours: float | None = Field(default=None, ge=0, le=100_000)
    sprint_id: Uuid | None = None
    milestone_id: Uuid | None = None
    parent_id: Uuid | None = None
    due_date: Day | None = None
    external_ref: str | None = Field(default=None, max_length=255)


class IssueCreate(IssueFields):
    project_id: Uuid
    title: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK)
    priority: Priority = "medium"
    type: IssueType = "task"


class IssueUpdate(IssueFields):
    """PUT and PATCH alike: only the fields sent change; ``null`` clears a nullable one."""

    title: str = omitted(min_length=1, max_length=500, pattern=NOT_BLANK)
    priority: Priority = omitted()
    type: IssueType = omitted()


class Transition(InputModel):
    status: str = Field(min_length=1, max_length=60, pattern=NOT_BLANK)


BulkAction = Literal[
    "set_status",
    "set_priority",
    "set_type",
    "set_assignee",
    "set_sprint",
    "set_milestone",
    "add_label",
    "remove_label",
    "archive",
    "unarchive",
    "delete",
    # The Kiket/Projekt plugins' names (API.md §10), taken as the actions they name.
    "status",
    "priority",
    "type",
    "assignee",
    "sprint",
    "milestone",
]
PLUGIN_ACTIONS = {
    name: f"set_{name}"
    for name in ("status", "priority", "type", "assignee", "sprint", "milestone")
}


def _canonical_action(action: str) -> str:
    return PLUGIN_ACTIONS.get(action, action)


class BulkRequest(InputModel):
    issue_ids: list[Uuid] = Field(min_length=1, max_length=200)
    action: Annotated[BulkAction, AfterValidator(_canonical_action)]
    value: Any = None


class BulkResult(OutputModel):
    updated: int
    skipped: list[uuid.UUID]
    errors: list[dict[str, str]]


class CommentIn(InputModel):
    text: str = Field(min_length=1, max_length=50_000, pattern=NOT_BLANK)
    parent_id: Uuid | None = None


class CommentEdit(InputModel):
    text: str = Field(min_length=1, max_length=50_000, pattern=NOT_BLANK)


class CommentRead(OutputModel):
    id: uuid.UUID
    issue_id: uuid.UUID
    author_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    text: str
    created_at: Timestamp
    updated_at: Timestamp


class CommentItem(CommentRead):
    """A comment as its own resource: with the validator an edit or delete sends as If-Match."""

    etag: str = Field(description="The comment's ETag, for If-Match on PATCH and DELETE.")


class IssueRead(OutputModel):
    id: uuid.UUID
    key: str
    number: int
    project_id: uuid.UUID
    title: str
    description: str | None
    status: str
    priority: Priority
    type: IssueType
    assignee_id: uuid.UUID | None
    reporter_id: uuid.UUID | None
    labels: list[str]
    estimated_hours: float | None
    sprint_id: uuid.UUID | None
    milestone_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    due_date: date | None
    external_ref: str | None
    archived: bool
    created_at: Timestamp
    updated_at: Timestamp
    time_spent_minutes: int = Field(
        description="Minutes logged on the issue: the sum of its time entries (a running "
        "timer counts once stopped)."
    )


class IssueDetail(IssueRead):
    comments: list[CommentRead]


class ActivityRead(OutputModel):
    """One event of the record (API.md §9) about the issue or one of its comments."""

    id: uuid.UUID
    seq: int
    type: str
    # The type without "issue." ("created", "transitioned"; "comment.created" stays whole).
    action: str
    resource_type: str
    resource_id: uuid.UUID
    actor_id: uuid.UUID | None
    credential_kind: str
    credential_id: uuid.UUID | None
    oauth_client_id: str | None
    request_id: str | None
    changes: dict[str, Any]
    created_at: Timestamp


class StatusRead(OutputModel):
    key: str
    name: str
    category: str
    position: int


class IssueSchema(OutputModel):
    issue_types: list[str]
    priorities: list[str]
    statuses: list[StatusRead]
    custom_fields: list[dict[str, Any]]
