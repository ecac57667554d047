"""Turns the credential a request presents into a Principal: one indexed lookup at most."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, select, update

from projekt.api_keys.models import ApiKey
from projekt.auth.cache import CredentialCache
from projekt.auth.models import User, WebSession
from projekt.config import Settings
from projekt.core.clock import Clock
from projekt.core.context import CredentialKind, Principal, Role
from projekt.core.deps import unauthorized
from projekt.core.errors import OrgMismatch
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
INVALID_TOKEN = "Invalid, expired or revoked token."

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
        Membership,
        and_(
            Membership.org_id == ApiKey.org_id,
            Membership.user_id == ApiKey.user_id,
            # As for OAuth grants: a key minted under a membership that has since ended speaks
            # for no one, even once the person is invited back.
            Membership.joined_at <= ApiKey.created_at,
        ),
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
        OAuthToken.client_id,
        Membership.id.label("membership_id"),
        Membership.role,
        User.is_active,
    )
    .join(User, User.id == OAuthToken.user_id)
    .outerjoin(
        Membership,
        and_(
            Membership.org_id == OAuthToken.org_id,
            Membership.user_id == OAuthToken.user_id,
            # A membership begun after the token was issued (left, then rejoined) is not the
            # one the grant was given under: the token speaks for no one.
            Membership.joined_at <= OAuthToken.created_at,
        ),
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


class Stamps:
    """When this worker last stamped each credential: a stamp is due once per interval, however
    many requests find it due at once.

    Requests of one credential arriving together (a client's connections after a quiet minute,
    or as the cache's rows expire) each read a stale ``last_used_at``; each wrote its own stamp,
    on the same row, one after another on the stamps' connection, and a burst of 64 waited
    behind up to 64 commits (bench/README.md: the p99 of a list after a quiet minute). The
    first request takes the stamp before it writes; the others skip it. A stamp that fails is
    not retried before the interval (it is bookkeeping)."""

    MAX_ENTRIES = 10_000

    def __init__(self, every: timedelta) -> None:
        self.every = every
        self._at: dict[uuid.UUID, datetime] = {}

    def take(self, credential_id: uuid.UUID, last: datetime | None, now: datetime) -> bool:
        """Whether this request writes the stamp (``last``: the row's own, maybe stale)."""
        if last is not None and now - last < self.every:
            return False
        at = self._at.get(credential_id)
        if at is not None and timedelta(0) <= now - at < self.every:  # a clock set back: due
            return False
        if len(self._at) >= self.MAX_ENTRIES:
            self._at.clear()  # at worst a credential is stamped once more
        self._at[credential_id] = now
        return True


@dataclass(slots=True)
class TokenLookup:
    """A bearer token's row, and where it came from (see ``projekt.auth.cache``)."""

    token: str
    token_hash: str
    kind: CredentialKind
    row: dict[str, Any] | None
    cached: bool
    seen: str | None  # the cache's epoch when the row was taken


class CredentialResolver:
    def __init__(
        self, settings: Settings, fast: FastSQL, clock: Clock, cache: CredentialCache | None
    ) -> None:
        self.settings = settings
        self.fast = fast
        self.clock = clock
        self.cache = cache
        self.key_stamps = Stamps(TOUCH_EVERY)
        self.session_stamps = Stamps(SESSION_TOUCH_EVERY)

    async def lookup(self, token: str, resource: str | None = None) -> TokenLookup:
        """The token's row: from the worker's cache, else one indexed read. ``resource``: the
        audience of the path it was sent to (``Settings.resource_for``), for the challenge."""
        if token.startswith(PAT_PREFIX) and looks_like_pat(token):
            kind = CredentialKind.PAT
        elif token.startswith(ACCESS_PREFIX) and len(token) < 200:
            kind = CredentialKind.OAUTH
        else:
            raise unauthorized(
                self.settings, INVALID_TOKEN, error="invalid_token", resource=resource
            )
        token_hash = digest(token)
        seen = self.cache.epoch if self.cache else None
        row = self.cache.get(token_hash) if self.cache else None
        if row is not None:
            return TokenLookup(token, token_hash, kind, row, True, seen)
        found = await self.fast.fetchrow(LOOKUPS[kind], {"token_hash": token_hash})
        return TokenLookup(token, token_hash, kind, _plain(found), False, seen)

    async def admit(
        self, lookup: TokenLookup, org_header: uuid.UUID | None, resource: str | None = None
    ) -> Principal:
        """The caller behind a token row, or 401 (403 for a foreign X-Org-Id). An OAuth token
        answers only for the audience it was issued for: ``resource`` (default: the API)."""
        row, now = lookup.row, self.clock.now()
        audience = resource or self.settings.api_resource
        if row is None or not _usable(row, lookup.kind, now, audience):
            raise unauthorized(
                self.settings, INVALID_TOKEN, error="invalid_token", resource=audience
            )
        principal = _bound(row, lookup.kind, lookup.token_hash, org_header)
        if lookup.kind is CredentialKind.PAT and self.key_stamps.take(
            row["id"], row["last_used_at"], now
        ):
            await self.fast.execute(TOUCH_KEY, {"key_id": row["id"], "now": now})
        return principal

    async def confirm(
        self,
        lookup: TokenLookup,
        epoch: str | None,
        org_header: uuid.UUID | None,
        resource: str | None = None,
    ) -> Principal | None:
        """Called with the epoch the rate limiter read after an admitted lookup. Returns None
        when the principal stands; otherwise the token is read again and admitted afresh."""
        if self.cache is None:
            return None
        self.cache.observe(epoch)
        if not lookup.cached:
            if lookup.row is not None:
                self.cache.put(lookup.token_hash, lookup.row, lookup.seen)
            return None
        if self.cache.current(lookup.seen):
            return None
        fresh = await self.lookup(lookup.token, resource)
        return await self.admit(fresh, org_header, resource)

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
        if self.session_stamps.take(row["id"], row["last_seen_at"], now):
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


LOOKUPS = {CredentialKind.PAT: PAT_LOOKUP, CredentialKind.OAUTH: OAUTH_LOOKUP}


def _plain(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if row is None else dict(row)


def _usable(row: Mapping[str, Any], kind: CredentialKind, now: datetime, resource: str) -> bool:
    if row["revoked_at"] is not None or not row["is_active"]:
        return False
    if row["role"] is None:  # the creator has left the org: the token speaks for no one
        return False
    if kind is CredentialKind.OAUTH:
        # Bound to one org like a key, and only for its audience (RFC 8707).
        return bool(
            row["access_expires_at"] > now
            and row["family_expires_at"] > now
            and row["resource"] == resource
        )
    return row["expires_at"] is None or bool(row["expires_at"] > now)


def _bound(
    row: Mapping[str, Any], kind: CredentialKind, token_hash: str, org_header: uuid.UUID | None
) -> Principal:
    """A token's caller, in the one org it is bound to (X-Org-Id may only repeat it)."""
    if org_header is not None and org_header != row["org_id"]:
        raise OrgMismatch()
    return Principal(
        user_id=row["user_id"],
        kind=kind,
        credential_id=row["id"],
        credential_hash=token_hash,
        org_id=row["org_id"],
        role=Role(row["role"]),
        membership_id=row["membership_id"],
        oauth_client_id=row["client_id"] if kind is CredentialKind.OAUTH else None,
    )
