"""Storage for the authorization server: load before authlib runs, write after (see server.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.deps import AppServices
from projekt.core.security import digest, new_opaque_token
from projekt.oauth.cimd import MetadataFetcher, is_metadata_url, stored_id
from projekt.oauth.models import OAuthClient, OAuthCode, OAuthToken
from projekt.oauth.repository import ClientRepository, CodeRepository, TokenRepository
from projekt.oauth.server import (
    CONCURRENT_REDEMPTION,
    Answer,
    ClientView,
    Exchange,
    Grantee,
)


class OAuthStore:
    def __init__(self, session: AsyncSession, services: AppServices) -> None:
        self.clients = ClientRepository(session)
        self.codes = CodeRepository(session)
        self.tokens = TokenRepository(session)
        self.settings = services.settings
        self.clock = services.clock

    def exchange(self) -> Exchange:
        return Exchange(
            now=self.clock.now(),
            issuer=self.settings.base_url,
            access_ttl=timedelta(seconds=self.settings.oauth_access_ttl_s),
            refresh_grace=timedelta(seconds=self.settings.oauth_refresh_grace_s),
        )

    async def client(
        self, client_id: str | None, *, documents: MetadataFetcher | None = None
    ) -> ClientView | None:
        """A registered client, or one named by the URL of its metadata document. With the
        app's ``documents`` (the authorization request): the document is read (cached) and is
        what counts; at the token endpoint the client is the one its code was issued to, as
        stored then. Raises ``MetadataRefused`` when a document cannot be used."""
        if not client_id:
            return None
        if not is_metadata_url(client_id):
            return ClientView(row) if (row := await self.clients.by_client_id(client_id)) else None
        key = stored_id(client_id)
        row = await self.clients.by_client_id(key)
        if documents is None:
            return ClientView(row, client_id) if row else None
        document = await documents.get(client_id)
        fresh = OAuthClient(
            id=row.id if row else uuid.uuid4(),
            client_id=key,
            client_secret_hash=None,
            client_name=document.client_name,
            redirect_uris=document.redirect_uris,
            grant_types=document.grant_types,
            token_endpoint_auth_method="none",
            created_at=row.created_at if row else self.clock.now(),
        )
        return ClientView(fresh, client_id, stored=row is not None)

    async def _keep_client(self, client: ClientView) -> None:
        """A metadata-document client is stored when a code is first issued to it (codes and
        tokens reference it), and refreshed from its document on later ones."""
        if not is_metadata_url(client.public_id):
            return
        # Another first authorization of the same client may have stored it meanwhile: then
        # it is refreshed like any known client.
        if not client.stored and await self.clients.add_first(client.row):
            client.stored = True
            return
        await self.clients.refresh(client.row)

    async def code(self, code: str | None) -> OAuthCode | None:
        if not code:
            return None
        return await self.codes.by_hash(digest(code))

    async def token(self, value: str | None) -> OAuthToken | None:
        if not value:
            return None
        return await self.tokens.by_hash(digest(value))

    async def grant_holds(self, row: OAuthToken) -> bool:
        """Whether the person a grant speaks for is still an active member of its org, under
        the same membership: one that began after this token was issued is a later rejoining,
        and a grant does not outlive the membership it was given under."""
        return await self.tokens.member_since(row.org_id, row.user_id, row.created_at)

    async def register(
        self, metadata: dict[str, Any], confidential: bool
    ) -> tuple[str, str | None]:
        client_id = "pjc_" + new_opaque_token(nbytes=18)
        secret = new_opaque_token("pjs_", 32) if confidential else None
        await self.clients.add(
            OAuthClient(
                id=uuid.uuid4(),
                client_id=client_id,
                client_secret_hash=digest(secret) if secret else None,
                client_name=metadata["client_name"],
                redirect_uris=metadata["redirect_uris"],
                grant_types=metadata["grant_types"],
                token_endpoint_auth_method=metadata["token_endpoint_auth_method"],
                created_at=self.clock.now(),
            )
        )
        return client_id, secret

    async def apply(self, exchange: Exchange, answer: Answer) -> Answer:
        """Write what authlib asked for, settling races; may turn a success into invalid_grant."""
        now = exchange.now
        family: uuid.UUID | None = None
        saved: list[tuple[dict[str, Any], Grantee]] = []
        for kind, value in exchange.effects:
            if kind == "save_code":
                assert exchange.client is not None
                await self._keep_client(exchange.client)
                await self._save_code(exchange, *value)
            elif kind == "replayed_code":
                if value.family_id is not None and not concurrent_with(value, now):
                    await self._revoke_family(value.family_id, now)
            elif kind == "use_code":
                family = uuid.uuid4()
                # The time of the write, not of the request: a duplicate that started before
                # this moment was in flight while the code was still unused (concurrent).
                if not await self.codes.redeem(value.id, self.clock.now(), family):
                    # Another request redeemed it first: that one wins, this one gets nothing.
                    return invalid_grant("The authorization code was already used.")
            elif kind == "save_token":
                saved.append(value)
            elif kind == "rotate":
                await self.tokens.rotate(value.id, now)
            elif kind == "revoke_family":
                await self._revoke_family(value, now)
            elif kind == "revoke":
                await self._revoke_family(value.family_id, now)
        if answer.status >= 400 and exchange.code is not None:
            # Any failed redemption burns the code (wrong verifier, client, redirect, resource):
            # a guessed or stolen code gets one try (security test plan C5 and C7).
            await self.codes.burn(exchange.code.id, now)
        for token, grantee in saved:
            presented = exchange.token
            if family is None and presented is not None:
                family, cap = presented.family_id, presented.family_expires_at
                resource = presented.resource
            else:
                assert exchange.code is not None
                family = family or uuid.uuid4()
                cap = now + timedelta(days=self.settings.oauth_grant_days)
                resource = exchange.code.resource
            self.tokens.stage(
                OAuthToken(
                    id=uuid.uuid4(),
                    family_id=family,
                    client_id=exchange.client.stored_id if exchange.client else "",
                    user_id=grantee.user_id,
                    org_id=grantee.org_id,
                    access_hash=digest(token["access_token"]),
                    refresh_hash=digest(token.get("refresh_token") or new_opaque_token()),
                    resource=resource,
                    scope=token["scope"],
                    created_at=now,
                    access_expires_at=now + exchange.access_ttl,
                    family_expires_at=cap,
                    rotated_at=None,
                    revoked_at=None,
                )
            )
        await self.tokens.flush()
        return answer

    async def _save_code(self, exchange: Exchange, code: str, params: dict[str, Any]) -> None:
        assert exchange.user is not None and exchange.client is not None
        redirect = params.get("redirect_uri") or exchange.client.get_default_redirect_uri()
        self.codes.stage(
            OAuthCode(
                id=uuid.uuid4(),
                code_hash=digest(code),
                client_id=exchange.client.stored_id,
                user_id=exchange.user.user_id,
                org_id=exchange.user.org_id,
                redirect_uri=redirect or "",
                code_challenge=params["code_challenge"],
                code_challenge_method=params.get("code_challenge_method") or "S256",
                resource=params["resource"],
                scope="api",
                created_at=exchange.now,
                expires_at=exchange.now + timedelta(seconds=self.settings.oauth_code_ttl_s),
                used_at=None,
                family_id=None,
            )
        )

    async def _revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        await self.tokens.revoke_family(family_id, now)


def concurrent_with(code: OAuthCode, started: datetime) -> bool:
    """Whether a request that started at ``started`` raced the code's winning redemption
    rather than replaying it afterwards (see CONCURRENT_REDEMPTION)."""
    return code.used_at is not None and started < code.used_at + CONCURRENT_REDEMPTION


def invalid_grant(description: str) -> Answer:
    body = {"error": "invalid_grant", "error_description": description}
    return Answer(400, body, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])
