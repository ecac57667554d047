"""Every statement of the authorization server: clients, codes and tokens.

Not org-scoped: a client belongs to no org, and a code or token is found by its digest
before anyone knows which org it speaks for.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from projekt.auth.models import User
from projekt.core.repository import Repository
from projekt.oauth.models import OAuthClient, OAuthCode, OAuthToken
from projekt.orgs.models import Membership


class ClientRepository(Repository[OAuthClient]):
    model = OAuthClient

    async def by_client_id(self, client_id: str) -> OAuthClient | None:
        stmt = select(OAuthClient).where(OAuthClient.client_id == client_id)
        row: OAuthClient | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return row

    async def add_first(self, client: OAuthClient) -> bool:
        """Store a client now (flushed, before a code that references it), in a savepoint:
        False when another request stored the same ``client_id`` meanwhile."""
        try:
            async with self.session.begin_nested():
                self.session.add(client)
        except IntegrityError:
            return False
        return True

    async def refresh(self, client: OAuthClient) -> None:
        """The stored client takes the name, redirects and grants of ``client``."""
        await self.session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == client.client_id)
            .values(
                client_name=client.client_name,
                redirect_uris=client.redirect_uris,
                grant_types=client.grant_types,
            )
        )


class CodeRepository(Repository[OAuthCode]):
    model = OAuthCode

    async def by_hash(self, code_hash: str) -> OAuthCode | None:
        stmt = select(OAuthCode).where(OAuthCode.code_hash == code_hash)
        row: OAuthCode | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return row

    def stage(self, code: OAuthCode) -> None:
        """Written with the exchange's next statement or flush."""
        self.session.add(code)

    async def redeem(self, code_id: uuid.UUID, at: datetime, family_id: uuid.UUID) -> bool:
        """Mark the code used, if it still is not: False when another redemption won."""
        used = await self.session.execute(
            update(OAuthCode)
            .where(OAuthCode.id == code_id, OAuthCode.used_at.is_(None))
            .values(used_at=at, family_id=family_id)
        )
        return bool(used.rowcount)  # type: ignore[attr-defined]

    async def burn(self, code_id: uuid.UUID, at: datetime) -> None:
        """Mark the code used (if it is not yet) without issuing anything from it."""
        await self.session.execute(
            update(OAuthCode)
            .where(OAuthCode.id == code_id, OAuthCode.used_at.is_(None))
            .values(used_at=at)
        )


class TokenRepository(Repository[OAuthToken]):
    model = OAuthToken

    async def by_hash(self, hashed: str) -> OAuthToken | None:
        """The token whose refresh or access half has this digest."""
        stmt = select(OAuthToken).where(
            (OAuthToken.refresh_hash == hashed) | (OAuthToken.access_hash == hashed)
        )
        row: OAuthToken | None = (await self.session.execute(stmt)).scalars().first()
        return row

    async def member_since(self, org_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> bool:
        """Whether the person is an active member of the org under a membership that began
        no later than ``at``."""
        stmt = (
            select(Membership.id)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.org_id == org_id,
                Membership.user_id == user_id,
                Membership.joined_at <= at,
                User.is_active.is_(True),
            )
        )
        return (await self.session.execute(stmt)).first() is not None

    def stage(self, token: OAuthToken) -> None:
        """Written with the exchange's next statement or flush."""
        self.session.add(token)

    async def rotate(self, token_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            update(OAuthToken)
            .where(OAuthToken.id == token_id, OAuthToken.rotated_at.is_(None))
            .values(rotated_at=at)
        )

    async def revoke_family(self, family_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            update(OAuthToken)
            .where(OAuthToken.family_id == family_id, OAuthToken.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def flush(self) -> None:
        await self.session.flush()
