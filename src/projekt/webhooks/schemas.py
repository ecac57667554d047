from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator

from projekt.core.schemas import (
    InputModel,
    Instant,
    OutputModel,
    Timestamp,
    Uuid,
    omitted,
)
from projekt.webhooks.events import SUBSCRIBABLE

DeliveryStatus = Literal["pending", "succeeded", "failed"]
DeliveryKind = Literal["event", "redelivery", "replay", "ping"]
EVENTS_DOC = 'Event types ("issue.created"), families ("issue.*"), or ["*"] for all.'
# An absolute http(s) URL (the guard then checks where it points).
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+"
# What an entry of ``events`` may be (the service says which entry is unknown, with a 422).
EventName = Annotated[str, Field(json_schema_extra={"enum": list(SUBSCRIBABLE)})]


class WebhookCreate(InputModel):
    url: str = Field(
        min_length=1, max_length=2048, pattern=URL_PATTERN, json_schema_extra={"format": "uri"}
    )
    events: list[EventName] = Field(min_length=1, max_length=100, description=EVENTS_DOC)
    project_id: Uuid | None = Field(default=None, description="Only this project's events.")
    description: str | None = Field(default=None, max_length=500)
    active: bool = True


class WebhookUpdate(InputModel):
    url: str = omitted(
        min_length=1, max_length=2048, pattern=URL_PATTERN, json_schema_extra={"format": "uri"}
    )
    events: list[EventName] = omitted(min_length=1, max_length=100, description=EVENTS_DOC)
    project_id: Uuid | None = Field(default=None, description="null: every project's events.")
    description: str | None = Field(default=None, max_length=500)
    active: bool = omitted(description="false pauses; true resumes (and clears a disable).")


class WebhookRead(OutputModel):
    id: uuid.UUID
    org_id: uuid.UUID
    url: str
    events: list[str]
    project_id: uuid.UUID | None
    description: str | None
    active: bool
    disabled_reason: str | None = Field(description="Why the server disabled it, if it did.")
    disabled_at: Timestamp | None
    failing_since: Timestamp | None = Field(description="Since when every attempt failed.")
    secret_rotated_at: Timestamp | None
    previous_secret_expires_at: Timestamp | None = Field(
        description="Until then the previous secret signs beside the current one."
    )
    created_by_id: uuid.UUID | None
    created_at: Timestamp
    updated_at: Timestamp


class WebhookCreated(WebhookRead):
    secret: str = Field(description="The signing secret (whsec_…). Shown in this response only.")


class ReplayRequest(InputModel):
    since: Instant = Field(description="Queue again every matching event from this instant on.")

    @field_validator("since")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ReplayQueued(OutputModel):
    queued: int = Field(description="Deliveries queued, oldest event first.")


class DeliveryRead(OutputModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID = Field(description="The webhook-id header: the same on every attempt.")
    event_type: str
    kind: DeliveryKind
    status: DeliveryStatus
    attempts: int
    next_attempt_at: Timestamp | None
    last_attempt_at: Timestamp | None
    response_status: int | None
    response_time_ms: int | None
    last_error: str | None
    created_at: Timestamp
    completed_at: Timestamp | None
