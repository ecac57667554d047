from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import Field, field_validator

from projekt.core.schemas import NOT_BLANK, InputModel, Instant, OutputModel, Timestamp


class ApiKeyCreate(InputModel):
    name: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK)
    expires_at: Instant | None = Field(
        default=None, description="Optional expiry; the key answers 401 from this instant on."
    )

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ApiKeyRead(OutputModel):
    id: uuid.UUID
    name: str
    last_four: str
    org_id: uuid.UUID
    user_id: uuid.UUID
    created_at: Timestamp
    expires_at: Timestamp | None
    last_used_at: Timestamp | None


class ApiKeyCreated(ApiKeyRead):
    token: str = Field(description="The plaintext token. Shown in this response only.")
