"""Turns the credential a request presents into a Principal: one indexed lookup per request."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, select, update

from projekt.api_keys.models import ApiKey
from projekt.auth.models import User, WebSession
from projekt.config import Settings
from projekt.core.clock import Clock
from projekt.core.context import CredentialKind, Principal, Role
from projekt.core.deps import unauthorized
from projekt.core.errors import Forbidden
from projekt.core.fastsql import FastSQL
from projekt.core.security import PAT_PREFIX, digest, looks_like_pat
from projekt.oauth.models import OAuthToken
from projekt.oauth.server import ACCESS_PREFIX
from projekt.orgs.models import Membership

logger = logging.getLogger("projekt.auth")

# last_used_at / last_seen_at are refreshed at most this often, so a busy key costs no write
# per request.
TOUCH_EVERY = timedelta(minutes=1)
SESSION_TOUCH_EVERY = timedelta(minutes=10)

PAT_LOOKUP = (
    select(
        ApiKey.id,
        ApiKey.user_id,
        ApiKey.org_id,
        ApiKey.expires_at,
        ApiKey.revoked_at,
        ApiKey.last_used_at,
        Membership.id.label("membership_id"),
        Membership.role,
        User.is_active,
    )
    .join(User, User.id == ApiKey.user_id)
    .outerjoin(
        Membership, and_(Membership.org_id == ApiKey.org_id, Membership.user_id == ApiKey.user_id)
    )
    .where(ApiKey.token_hash == bindparam("token_hash"))
)
SESSION_LOOKUP = (
    select(
        WebSession.id,
        WebSession.user_id,
        WebSession.created_at,
        WebSession.last_seen_at,
        WebSession.ended_at,
        Membership.id.label("membership_id"),
        Membership.role,
        User.is_active,
    )
    .join(User, User.id == WebSession.user_id)
    .outerjoin(
        Membership,
        and_(Membership.user_id == WebSession.user_id, Membership.org_id == bindparam("org_id")),
    )
    .where(WebSession.token_hash == bindparam("token_hash"))
)
OAUTH_LOOKUP = (
    select(
        OAuthToken.id,
        OAuthToken.user_id,
        OAuthToken.org_id,
        OAuthToken.resource,
        OAuthToken.revoked_at,
        OAuthToken.access_expires_at,
        OAuthToken.family_expires_at,
        Membership.id.label("membership_id"),
        Membership.role,
        User.is_active,
    )
    .join(User, User.id == OAuthToken.user_id)
    .outerjoin(
        Membership,
        and_(Membership.org_id == OAuthToken.org_id, Membership.user_id == OAuthToken.user_id),
    )
    .where(OAuthToken.access_hash == bindparam("token_hash"))
)
TOUCH_KEY = (
    update(ApiKey)
    .where(ApiKey.id == bindparam("key_id"))
    .values(last_used_at=bindparam("now", type_=ApiKey.last_used_at.type))
)
TOUCH_SESSION = (
    update(WebSession)
    .where(WebSession.id == bindparam("session_id"))
    .values(last_seen_at=bindparam("now", type_=WebSession.last_seen_at.type))
)


class CredentialResolver:
    def __init__(self, settings: Settings, fast: FastSQL, clock: Clock) -> None:
        self.settings = settings
        self.fast = fast
        self.clock = clock

    async def from_token(self, token: str, org_header: uuid.UUID | None) -> Principal:
        if token.startswith(PAT_PREFIX) and looks_like_pat(token):
            return await self._pat(token, org_header)
        if token.startswith(ACCESS_PREFIX) and len(token) < 200:
            return await self._oauth(token, org_header)
        raise unauthorized(self.settings, "Invalid, expired or revoked token.")

    async def _oauth(self, token: str, org_header: uuid.UUID | None) -> Principal:
        """An OAuth access token: like a key, bound to one org, acting with the live role, and
        only for its audience (RFC 8707: the resource it was issued for)."""
        token_hash = digest(token)
        row = await self.fast.fetchrow(OAUTH_LOOKUP, {"token_hash": token_hash})
        now = self.clock.now()
        if (
            row is None
            or row["revoked_at"] is not None
            or row["access_expires_at"] <= now
            or row["family_expires_at"] <= now
            or row["resource"] != self.settings.api_resource
            or not row["is_active"]
            or row["role"] is None
        ):
            raise unauthorized(self.settings, "Invalid, expired or revoked token.")
        return _bound(row, CredentialKind.OAUTH, token_hash, org_header)

    async def _pat(self, token: str, org_header: uuid.UUID | None) -> Principal:
        token_hash = digest(token)
        row = await self.fast.fetchrow(PAT_LOOKUP, {"token_hash": token_hash})
        now = self.clock.now()
        if (
            row is None
            or row["revoked_at"] is not None
            or (row["expires_at"] is not None and row["expires_at"] <= now)
            or not row["is_active"]
            or row["role"] is None  # the creator has left the org: the key speaks for no one
        ):
            raise unauthorized(self.settings, "Invalid, expired or revoked token.")
        principal = _bound(row, CredentialKind.PAT, token_hash, org_header)
        last_used = row["last_used_at"]
        if last_used is None or now - last_used >= TOUCH_EVERY:
            await self.fast.execute(TOUCH_KEY, {"key_id": row["id"], "now": now})
        return principal

    async def from_session(self, raw: str, org_header: uuid.UUID | None) -> Principal | None:
        """The session behind a cookie, or None when it is unknown, ended or expired."""
        token_hash = digest(raw)
        row = await self.fast.fetchrow(
            SESSION_LOOKUP, {"token_hash": token_hash, "org_id": org_header}
        )
        now = self.clock.now()
        if (
            row is None
            or row["ended_at"] is not None
            or not row["is_active"]
            or now >= row["last_seen_at"] + self.settings.session_idle
            or now >= row["created_at"] + self.settings.session_absolute
        ):
            return None
        if now - row["last_seen_at"] >= SESSION_TOUCH_EVERY:
            await self.fast.execute(TOUCH_SESSION, {"session_id": row["id"], "now": now})
        return Principal(
            user_id=row["user_id"],
            kind=CredentialKind.SESSION,
            credential_id=row["id"],
            credential_hash=token_hash,
            org_id=org_header,
            role=Role(row["role"]) if row["role"] else None,
            membership_id=row["membership_id"],
        )


def _bound(
    row: Mapping[str, Any], kind: CredentialKind, token_hash: str, org_header: uuid.UUID | None
) -> Principal:
    """A token's caller, in the one org it is bound to (X-Org-Id may only repeat it)."""
    if org_header is not None and org_header != row["org_id"]:
        raise Forbidden(
            "X-Org-Id does not match the organization this token is bound to.",
            code="org_mismatch",
        )
    return Principal(
        user_id=row["user_id"],
        kind=kind,
        credential_id=row["id"],
        credential_hash=token_hash,
        org_id=row["org_id"],
        role=Role(row["role"]),
        membership_id=row["membership_id"],
    )
