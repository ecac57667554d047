"""Accounts and browser sessions."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.auth.errors import EmailTaken, InvalidCredentials, UsernameTaken, UserNotFound
from projekt.auth.models import User, WebSession
from projekt.auth.repository import SessionRepository, UserRepository
from projekt.auth.schemas import SignupIn, normalize_email
from projekt.core.deps import AppServices
from projekt.core.errors import TooManyRequests
from projekt.core.ratelimit import Bucket, Rate
from projekt.core.security import digest, new_opaque_token


class AuthService:
    def __init__(self, session: AsyncSession, services: AppServices) -> None:
        self.session = session
        self.services = services
        self.users = UserRepository(session)
        self.sessions = SessionRepository(session)

    async def create_user(
        self,
        email: str,
        password: str,
        name: str,
        username: str | None = None,
        locale: str = "en",
    ) -> User:
        email = normalize_email(email)
        if await self.users.by_email(email):
            raise EmailTaken()
        if username and await self.users.username_taken(username):
            raise UsernameTaken()
        now = self.services.clock.now()
        user = User(
            id=uuid.uuid4(),
            email=email,
            name=name,
            username=username,
            locale=locale,
            password_hash=await self.services.passwords.hash(password),
            is_active=True,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.session.begin_nested():
                await self.users.add(user)
        except IntegrityError:  # a concurrent sign-up won the unique index
            raise EmailTaken() from None
        return user

    async def signup(self, data: SignupIn) -> tuple[User, str]:
        user = await self.create_user(
            data.email, data.password, data.name, data.username, data.locale
        )
        return user, await self.start_session(user.id)

    async def login(self, email: str, password: str) -> tuple[User, str]:
        try:
            email = normalize_email(email)
        except ValueError:
            email = ""
        user = await self.users.by_email(email) if email else None
        stored = user.password_hash if user and user.is_active else None
        # Unknown accounts still pay for one verification, so both failures look and time alike.
        if not await self.services.passwords.verify(stored, password) or user is None:
            raise InvalidCredentials()
        if self.services.passwords.needs_rehash(user.password_hash):
            user.password_hash = await self.services.passwords.hash(password)
        return user, await self.start_session(user.id)

    async def throttle_login(self, email: str) -> None:
        """Sign-in attempts per account, whatever IP they come from (password guessing)."""
        limiter = self.services.limiter
        if limiter is None:
            return
        bucket = Bucket(
            "login_account", Rate.parse(self.services.settings.rate_limit_login_account)
        )
        decision = await limiter.hit(f"account:{digest(_account_key(email))}", [bucket])
        if not decision.allowed:
            state = decision.tightest
            retry = str(state.reset_s or 1)
            raise TooManyRequests(
                f"Too many sign-in attempts for this account; retry in {retry} s.",
                headers={
                    "Retry-After": retry,
                    "X-RateLimit-Limit": str(bucket.rate.limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": retry,
                },
            )

    async def start_session(self, user_id: uuid.UUID) -> str:
        """A fresh session id at every sign-in (no fixation); only its digest is stored."""
        raw = new_opaque_token(nbytes=32)
        now = self.services.clock.now()
        await self.sessions.add(
            WebSession(
                id=uuid.uuid4(),
                user_id=user_id,
                token_hash=digest(raw),
                created_at=now,
                last_seen_at=now,
                ended_at=None,
            )
        )
        return raw

    async def logout(self, session_id: uuid.UUID) -> None:
        await self.sessions.end(session_id, self.services.clock.now())

    async def get_user(self, user_id: uuid.UUID) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise UserNotFound()
        return user


def _account_key(email: str) -> str:
    """The per-account sign-in bucket: every look-alike of an address counts against it."""
    try:
        return normalize_email(email)
    except ValueError:
        return email.strip().lower()
