from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from projekt.auth.models import User, WebSession
from projekt.core.repository import Repository


class UserRepository(Repository[User]):
    model = User

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        stmt = select(User).where(User.email == email)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def username_taken(self, username: str) -> bool:
        stmt = select(User.id).where(User.username == username)
        return (await self.session.execute(stmt)).first() is not None


class SessionRepository(Repository[WebSession]):
    model = WebSession

    async def end(self, session_id: uuid.UUID, now: datetime) -> None:
        stmt = (
            update(WebSession)
            .where(WebSession.id == session_id, WebSession.ended_at.is_(None))
            .values(ended_at=now)
        )
        await self.session.execute(stmt)
