from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from projekt.auth.schemas import Email
from projekt.core.context import Role
from projekt.core.schemas import NOT_BLANK, InputModel, OutputModel, Timestamp, omitted

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
RoleName = Literal["owner", "admin", "manager", "member", "viewer"]


class OrgCreate(InputModel):
    name: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    slug: str = omitted(
        pattern=SLUG_PATTERN, max_length=63, description="Made from the name when left out."
    )


class OrgUpdate(InputModel):
    name: str = omitted(min_length=1, max_length=120, pattern=NOT_BLANK)
    slug: str = omitted(pattern=SLUG_PATTERN, max_length=63)
    discoverable: bool = omitted()


class OrgRead(OutputModel):
    id: uuid.UUID
    name: str
    slug: str
    discoverable: bool
    role: Role
    created_at: Timestamp
    updated_at: Timestamp


class ProjectRef(OutputModel):
    id: uuid.UUID
    name: str
    key: str


class MeOrg(OutputModel):
    employee_id: uuid.UUID
    org_id: uuid.UUID
    org_name: str
    org_slug: str
    role: Role
    projects: list[ProjectRef]


class MeOrgs(OutputModel):
    orgs: list[MeOrg]
    count: int


class TeamMember(OutputModel):
    employee_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    email: str
    role: Role
    joined_at: Timestamp
    etag: str = Field(description="The member's ETag, for If-Match on a role change or removal.")


class RoleChange(InputModel):
    role: RoleName


class InvitationCreate(InputModel):
    email: Email | None = Field(default=None, description="Only this address may join.")
    role: RoleName = "member"


class InvitationRead(OutputModel):
    id: uuid.UUID
    code: str = Field(description="Give this to the invitee; it is shown only once.")
    expires_at: Timestamp
    role: Role
    email: str | None


InvitationStatus = Literal["pending", "used", "expired"]


class InvitationInfo(OutputModel):
    """An invitation as the org sees it later: its code is never shown again."""

    id: uuid.UUID
    email: str | None
    role: Role
    status: InvitationStatus = Field(
        description="pending (may still be used), used, or expired (never used in time)."
    )
    created_at: Timestamp
    expires_at: Timestamp
    used_at: Timestamp | None
    etag: str = Field(description="The invitation's ETag, for If-Match on its revocation.")


class JoinIn(InputModel):
    code: str = Field(min_length=1, max_length=128, pattern=NOT_BLANK)


class Joined(OutputModel):
    employee_id: uuid.UUID
    org_id: uuid.UUID
    org_name: str
    org_slug: str
    role: Role


class OrgHit(OutputModel):
    id: uuid.UUID
    name: str
    slug: str


class PersonHit(OutputModel):
    employee_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    username: str | None
    email: str
    role: Role
