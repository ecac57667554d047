from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from projekt.core.schemas import OutputModel, Timestamp


class CredentialRef(OutputModel):
    """The credential behind a change, by name: never a token, a digest or a secret."""

    id: uuid.UUID | None
    kind: str = Field(description="pat, oauth, session, extension or system.")
    name: str | None = Field(description="A key's name, or the OAuth client's name.")
    last_four: str | None = Field(description="A key's last four characters.")


class ActorRead(OutputModel):
    user_id: uuid.UUID | None
    user_name: str | None
    credential_kind: str
    credential: CredentialRef
    oauth_client_id: str | None


class AuditEntry(OutputModel):
    id: uuid.UUID
    seq: int
    cursor: str
    occurred_at: Timestamp
    type: str
    resource_type: str
    resource_id: uuid.UUID
    project_id: uuid.UUID | None
    actor: ActorRead
    request_id: str | None
    changes: dict[str, Any]


class CursorMeta(OutputModel):
    limit: int
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page.")


class AuditPage(OutputModel):
    data: list[AuditEntry]
    meta: CursorMeta


class Change(OutputModel):
    cursor: str
    type: str
    resource_type: str
    resource_id: uuid.UUID
    action: str = Field(description="upsert, or delete when the resource no longer exists.")
    resource: dict[str, Any] | None = Field(description="Its current representation.")


class ChangesPage(OutputModel):
    data: list[Change]
    next_cursor: str = Field(description="Pass as ?since= to resume after this page.")
