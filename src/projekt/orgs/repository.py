from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, or_, select

from projekt.auth.models import User
from projekt.core.repository import OrgScopedRepository, Repository, like_pattern
from projekt.orgs.models import Invitation, Membership, Org


class OrgRepository(Repository[Org]):
    """Orgs are the tenants themselves; reads are always joined to the caller's membership."""

    model = Org

    async def get(self, org_id: uuid.UUID) -> Org | None:
        return await self.session.get(Org, org_id)

    async def slug_taken(self, slug: str) -> bool:
        stmt = select(Org.id).where(Org.slug == slug)
        return (await self.session.execute(stmt)).first() is not None

    async def memberships_of(
        self, user_id: uuid.UUID, only_org: uuid.UUID | None = None, q: str | None = None
    ) -> list[Any]:
        stmt = (
            select(Org, Membership.id.label("membership_id"), Membership.role)
            .join(Membership, Membership.org_id == Org.id)
            .where(Membership.user_id == user_id)
            .order_by(Org.name, Org.id)
        )
        if only_org is not None:
            stmt = stmt.where(Org.id == only_org)
        if q:
            pattern = like_pattern(q)
            stmt = stmt.where(
                or_(
                    func.lower(Org.name).like(pattern, escape="\\"),
                    Org.slug.like(pattern, escape="\\"),
                )
            )
        return list((await self.session.execute(stmt)).all())

    async def discoverable(self, user_id: uuid.UUID, q: str, limit: int) -> list[Org]:
        pattern = like_pattern(q)
        mine = select(Membership.org_id).where(Membership.user_id == user_id)
        stmt = (
            select(Org)
            .where(or_(Org.discoverable.is_(True), Org.id.in_(mine)))
            .where(
                or_(
                    func.lower(Org.name).like(pattern, escape="\\"),
                    Org.slug.like(pattern, escape="\\"),
                )
            )
            .order_by(Org.name, Org.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def delete(self, org_id: uuid.UUID) -> None:
        await self.session.execute(delete(Org).where(Org.id == org_id))


class MembershipRepository(OrgScopedRepository[Membership]):
    model = Membership

    async def roster(self, q: str | None = None, limit: int | None = None) -> list[Any]:
        stmt = (
            self.select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .order_by(Membership.joined_at, Membership.id)
        )
        if q:
            pattern = like_pattern(q)
            stmt = stmt.where(
                or_(
                    func.lower(User.name).like(pattern, escape="\\"),
                    User.email.like(pattern, escape="\\"),
                    func.lower(func.coalesce(User.username, "")).like(pattern, escape="\\"),
                )
            )
        if limit:
            stmt = stmt.limit(limit)
        return list((await self.session.execute(stmt)).all())

    async def for_user(self, user_id: uuid.UUID) -> Membership | None:
        stmt = self.select().where(Membership.user_id == user_id)
        membership: Membership | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return membership

    async def role_of(self, user_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
        """The membership's id and role: what authorization needs, without the row."""
        stmt = self.select(Membership.id, Membership.role).where(Membership.user_id == user_id)
        row = (await self.session.execute(stmt)).first()
        return (row.id, row.role) if row else None

    async def owners(self) -> list[Membership]:
        stmt = self.select().where(Membership.role == "owner")
        return list((await self.session.execute(stmt)).scalars())

    async def remove(self, membership: Membership) -> None:
        await self.session.delete(membership)
        await self.session.flush()


class InvitationRepository(OrgScopedRepository[Invitation]):
    model = Invitation

    async def listing(self) -> list[Invitation]:
        stmt = self.select().order_by(Invitation.created_at.desc(), Invitation.id)
        return list((await self.session.execute(stmt)).scalars())

    async def remove(self, invitation: Invitation) -> None:
        await self.session.delete(invitation)
        await self.session.flush()


async def invitation_by_code_hash(repo: Repository[Any], code_hash: str) -> Invitation | None:
    """Joining happens before the invitee belongs to any org, so this lookup is unscoped."""
    stmt = select(Invitation).where(Invitation.code_hash == code_hash).with_for_update()
    return (await repo.session.execute(stmt)).scalar_one_or_none()
