"""Who is calling and in which org: resolved by middleware, read by dependencies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    MEMBER = "member"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANK = {Role.VIEWER: 1, Role.MEMBER: 2, Role.MANAGER: 3, Role.ADMIN: 4, Role.OWNER: 5}


class CredentialKind(StrEnum):
    SESSION = "session"
    PAT = "pat"
    OAUTH = "oauth"
    # Not yet presented by any caller; the record (API.md §9) names them already: extension
    # keys (Kiket extensions) and the server itself (jobs, the cli).
    EXTENSION = "extension"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``org_id`` is the org in effect: the bound org of a token, or the ``X-Org-Id`` a session sent.
    ``role`` and ``membership_id`` are the caller's *current* membership there, or None.
    """

    user_id: uuid.UUID
    kind: CredentialKind
    credential_id: uuid.UUID
    credential_hash: str
    org_id: uuid.UUID | None
    role: Role | None
    membership_id: uuid.UUID | None
    # The OAuth client a token was issued to (OAuth tokens only): the record names it.
    oauth_client_id: str | None = None

    @property
    def is_token(self) -> bool:
        return self.kind is not CredentialKind.SESSION

    @property
    def bound_org_id(self) -> uuid.UUID | None:
        return self.org_id if self.is_token else None


@dataclass(frozen=True, slots=True)
class OrgContext:
    """What an org-scoped route runs with, after authorization."""

    principal: Principal
    org_id: uuid.UUID
    role: Role
    membership_id: uuid.UUID
    # The request's X-Request-Id, which every event the request records carries.
    request_id: str | None = None

    @property
    def user_id(self) -> uuid.UUID:
        return self.principal.user_id
