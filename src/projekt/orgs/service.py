"""Organizations, their roster and roles, invitations, and searches over them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.auth.models import User
from projekt.core.conditional import IfMatch, version_etag
from projekt.core.context import OrgContext, Principal, Role
from projekt.core.deps import AppServices
from projekt.core.record import SYSTEM, Actor, changes, record
from projekt.core.repository import lock_row
from projekt.core.security import digest, random_base62
from projekt.orgs.errors import (
    AlreadyMember,
    InvalidInvitation,
    InvitationNotFound,
    InvitationUsed,
    LastOwner,
    MemberNotFound,
    OrgNotFound,
    RoleNotGrantable,
    SlugTaken,
)
from projekt.orgs.models import Invitation, Membership, Org
from projekt.orgs.repository import (
    InvitationRepository,
    MembershipRepository,
    OrgRepository,
    invitation_by_code_hash,
)
from projekt.orgs.schemas import (
    InvitationCreate,
    InvitationInfo,
    InvitationRead,
    InvitationStatus,
    Joined,
    MeOrg,
    MeOrgs,
    OrgCreate,
    OrgHit,
    OrgRead,
    OrgUpdate,
    PersonHit,
    ProjectRef,
    TeamMember,
)
from projekt.projects.service import ProjectService

SEARCH_LIMIT = 20


async def find_membership(
    session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[uuid.UUID, Role] | None:
    found = await MembershipRepository(session, org_id).role_of(user_id)
    return (found[0], Role(found[1])) if found else None


def org_etag(org: Org) -> str:
    """An org's validator, from what an update changes (no version column: ``updated_at``
    moves on every update, and the fields are in it for updates within one clock tick)."""
    updated = org.updated_at.astimezone(UTC).isoformat()
    return version_etag("org", org.id, org.name, org.slug, org.discoverable, updated)


def membership_etag(membership: Membership) -> str:
    """A member's validator: the role is the one thing a member's update changes."""
    return version_etag("membership", membership.id, membership.role)


def invitation_status(invitation: Invitation, now: datetime) -> InvitationStatus:
    if invitation.used_at is not None:
        return "used"
    return "expired" if invitation.expires_at <= now else "pending"


def invitation_etag(invitation: Invitation, now: datetime) -> str:
    """An invitation's validator: its status is the one thing of it that changes."""
    return version_etag("invitation", invitation.id, invitation_status(invitation, now))


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].strip("-")
    return slug or "org"


class OrgService:
    def __init__(self, session: AsyncSession, services: AppServices) -> None:
        self.session = session
        self.services = services
        self.orgs = OrgRepository(session)

    # -- orgs -------------------------------------------------------------------------------

    async def create_org(
        self, user_id: uuid.UUID, data: OrgCreate, actor: Actor | None = None
    ) -> OrgRead:
        """A new org owned by ``user_id``; ``actor``: the request (else the server: the cli)."""
        slug = data.slug or await self._free_slug(slugify(data.name))
        if data.slug and await self.orgs.slug_taken(slug):
            raise SlugTaken()
        now = self.services.clock.now()
        org = Org(
            id=uuid.uuid4(),
            name=data.name,
            slug=slug,
            discoverable=False,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.session.begin_nested():
                await self.orgs.add(org)
        except IntegrityError:  # a concurrent create took the slug
            raise SlugTaken() from None
        owner = Membership(
            id=uuid.uuid4(), org_id=org.id, user_id=user_id, role="owner", joined_at=now
        )
        await MembershipRepository(self.session, org.id).add(owner)
        by = (org.id, actor or Actor(user_id, SYSTEM.credential_kind))
        record(self.session, by, "org.created", org.id, changes=changes(None, _org_fields(org)))
        _record_member(
            self.session, by, "member.added", owner, changes(None, _member_fields(owner))
        )
        return _org_read(org, Role.OWNER)

    async def _free_slug(self, base: str) -> str:
        slug = base
        while await self.orgs.slug_taken(slug):
            slug = f"{base[:44]}-{random_base62(5).lower()}"
        return slug

    async def list_orgs(self, principal: Principal) -> list[OrgRead]:
        rows = await self.orgs.memberships_of(principal.user_id, principal.bound_org_id)
        return [_org_read(row.Org, Role(row.role)) for row in rows]

    async def get_org(self, ctx: OrgContext) -> OrgRead:
        return (await self.get_org_tagged(ctx))[0]

    async def get_org_tagged(self, ctx: OrgContext) -> tuple[OrgRead, str]:
        org = await self.orgs.get(ctx.org_id)
        if org is None:
            raise OrgNotFound()
        return _org_read(org, ctx.role), org_etag(org)

    async def _locked_org(self, ctx: OrgContext, if_match: IfMatch) -> Org:
        # Locked first: an org deleted meanwhile is a 404, not an UPDATE that matches nothing;
        # and If-Match is compared with the locked row, so of two writers with one tag one wins.
        org = (
            await self.orgs.get(ctx.org_id)
            if await lock_row(self.session, Org, ctx.org_id)
            else None
        )
        if org is None:
            raise OrgNotFound()
        if_match.check(org_etag(org))
        return org

    async def update_org(
        self, ctx: OrgContext, data: OrgUpdate, if_match: IfMatch
    ) -> tuple[OrgRead, str]:
        org = await self._locked_org(ctx, if_match)
        wanted = data.model_dump(exclude_unset=True)
        if (
            wanted.get("slug")
            and wanted["slug"] != org.slug
            and await self.orgs.slug_taken(wanted["slug"])
        ):
            raise SlugTaken()
        before = _org_fields(org)
        for field in ("name", "slug", "discoverable"):
            if wanted.get(field) is not None:
                setattr(org, field, wanted[field])
        org.updated_at = self.services.clock.now()
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError:
            raise SlugTaken() from None
        diff = changes(before, _org_fields(org))
        if diff:
            record(self.session, ctx, "org.updated", org.id, changes=diff)
        return _org_read(org, ctx.role), org_etag(org)

    async def delete_org(self, ctx: OrgContext, if_match: IfMatch) -> None:
        await self._locked_org(ctx, if_match)
        await self.orgs.delete(ctx.org_id)

    async def me_orgs(self, principal: Principal) -> MeOrgs:
        rows = await self.orgs.memberships_of(principal.user_id, principal.bound_org_id)
        projects = ProjectService(self.session, self.services)
        refs = await projects.refs_in_orgs(principal.user_id, [row.Org.id for row in rows])
        orgs = [
            MeOrg(
                employee_id=row.membership_id,
                org_id=row.Org.id,
                org_name=row.Org.name,
                org_slug=row.Org.slug,
                role=Role(row.role),
                projects=[ProjectRef(id=p.id, name=p.name, key=p.key) for p in refs[row.Org.id]],
            )
            for row in rows
        ]
        return MeOrgs(orgs=orgs, count=len(orgs))

    async def search_my_orgs(self, principal: Principal, q: str) -> list[OrgHit]:
        rows = await self.orgs.memberships_of(principal.user_id, q=q)
        return [OrgHit.model_validate(row.Org) for row in rows[:SEARCH_LIMIT]]

    async def search_crossorg(self, principal: Principal, q: str) -> list[OrgHit]:
        orgs = await self.orgs.discoverable(principal.user_id, q, SEARCH_LIMIT)
        return [OrgHit.model_validate(org) for org in orgs]

    # -- roster -----------------------------------------------------------------------------

    async def team(self, ctx: OrgContext) -> list[TeamMember]:
        rows = await MembershipRepository(self.session, ctx.org_id).roster()
        return [_team_member(row.Membership, row.User) for row in rows]

    async def search_people(self, ctx: OrgContext, q: str) -> list[PersonHit]:
        rows = await MembershipRepository(self.session, ctx.org_id).roster(q, SEARCH_LIMIT)
        return [
            PersonHit(
                employee_id=row.Membership.id,
                user_id=row.User.id,
                name=row.User.name,
                username=row.User.username,
                email=row.User.email,
                role=Role(row.Membership.role),
            )
            for row in rows
        ]

    async def change_role(
        self,
        ctx: OrgContext,
        employee_id: uuid.UUID,
        role: Role,
        if_match: IfMatch,
    ) -> TeamMember:
        members = MembershipRepository(self.session, ctx.org_id)
        # Every change to the roster holds the org row, so the tag is compared under a lock.
        owners = await self._lock_owners(members, ctx.org_id)
        target = await members.get(employee_id)
        if target is None:
            raise MemberNotFound()
        if_match.check(membership_etag(target))
        _check_may_manage(ctx.role, Role(target.role), role)
        if target.role == Role.OWNER and role is not Role.OWNER and len(owners) <= 1:
            raise LastOwner()
        before = target.role
        target.role = role.value
        await self.session.flush()
        if before != target.role:
            _record_member(
                self.session, ctx, "member.updated", target, {"role": [before, target.role]}
            )
        user = await self.session.get(User, target.user_id)
        assert user is not None
        return _team_member(target, user)

    async def remove_member(
        self, ctx: OrgContext, employee_id: uuid.UUID, if_match: IfMatch
    ) -> None:
        members = MembershipRepository(self.session, ctx.org_id)
        owners = await self._lock_owners(members, ctx.org_id)
        target = await members.get(employee_id)
        if target is None:
            raise MemberNotFound()
        if_match.check(membership_etag(target))
        _check_may_manage(ctx.role, Role(target.role), None)
        if target.role == Role.OWNER and len(owners) <= 1:
            raise LastOwner()
        await members.remove(target)
        _record_member(
            self.session, ctx, "member.removed", target, changes(_member_fields(target), None)
        )

    async def add_member(self, org_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> uuid.UUID:
        """Admin CLI path: put a user straight into an org (the server's own event)."""
        if await self.orgs.get(org_id) is None:
            raise OrgNotFound()
        members = MembershipRepository(self.session, org_id)
        if await members.for_user(user_id):
            raise AlreadyMember("This user is already a member of the organization.")
        membership = Membership(
            id=uuid.uuid4(),
            org_id=org_id,
            user_id=user_id,
            role=role.value,
            joined_at=self.services.clock.now(),
        )
        await members.add(membership)
        by = (org_id, SYSTEM)
        _record_member(
            self.session, by, "member.added", membership, changes(None, _member_fields(membership))
        )
        return membership.id

    async def _lock_owners(
        self, members: MembershipRepository, org_id: uuid.UUID
    ) -> list[Membership]:
        """The org row is locked first, so two demotions cannot both see a second owner."""
        await lock_row(self.session, Org, org_id)
        return await members.owners()

    # -- invitations ------------------------------------------------------------------------

    async def invite(self, ctx: OrgContext, data: InvitationCreate) -> InvitationRead:
        role = Role(data.role)
        _check_may_manage(ctx.role, None, role)
        code = random_base62(24)
        now = self.services.clock.now()
        invitation = Invitation(
            id=uuid.uuid4(),
            org_id=ctx.org_id,
            code_hash=digest(code),
            email=data.email,
            role=role.value,
            created_by_id=ctx.user_id,
            created_at=now,
            expires_at=now + timedelta(days=self.services.settings.invitation_days),
            used_at=None,
            used_by_id=None,
        )
        await InvitationRepository(self.session, ctx.org_id).add(invitation)
        # The code never reaches the record (only its digest is kept at all).
        invited = {"email": invitation.email, "role": invitation.role,
                   "expires_at": invitation.expires_at}  # fmt: skip
        record(self.session, ctx, "member.invited", invitation.id,
               resource_type="invitation", changes=changes(None, invited))  # fmt: skip
        return InvitationRead(
            id=invitation.id,
            code=code,
            expires_at=invitation.expires_at,
            role=role,
            email=data.email,
        )

    async def invitation(self, ctx: OrgContext, invitation_id: uuid.UUID) -> InvitationInfo:
        """An invitation of the org, without its code (only its digest is kept)."""
        found = await InvitationRepository(self.session, ctx.org_id).get(invitation_id)
        if found is None:
            raise InvitationNotFound()
        return _invitation_info(found, self.services.clock.now())

    async def invitations(
        self, ctx: OrgContext, status: InvitationStatus | None = None
    ) -> list[InvitationInfo]:
        """The org's invitations, newest first (optionally only those of one status)."""
        now = self.services.clock.now()
        rows = await InvitationRepository(self.session, ctx.org_id).listing()
        found = [_invitation_info(row, now) for row in rows]
        return [i for i in found if status is None or i.status == status]

    async def revoke_invitation(
        self, ctx: OrgContext, invitation_id: uuid.UUID, if_match: IfMatch
    ) -> None:
        """Delete an unused invitation: its code stops working at once."""
        invitations = InvitationRepository(self.session, ctx.org_id)
        # Locked, so a join with this code either ran before (used: 409) or finds nothing.
        found = await invitations.get_for_update(invitation_id, deleting=True)
        if found is None:
            raise InvitationNotFound()
        now = self.services.clock.now()
        if_match.check(invitation_etag(found, now))
        if found.used_at is not None:
            raise InvitationUsed()
        await invitations.remove(found)
        revoked = {"email": found.email, "role": found.role, "expires_at": found.expires_at}
        record(self.session, ctx, "member.invitation_revoked", found.id,
               resource_type="invitation", changes=changes(revoked, None))  # fmt: skip

    async def join(self, user_id: uuid.UUID, code: str, actor: Actor | None = None) -> Joined:
        """Join with an invitation code; ``actor``: the request (else the server)."""
        invitation = await invitation_by_code_hash(self.orgs, digest(code))
        now = self.services.clock.now()
        user = await self.session.get(User, user_id)
        if (
            invitation is None
            or user is None
            or invitation.used_at is not None
            or invitation.expires_at <= now
            or (invitation.email is not None and invitation.email != user.email)
        ):
            raise InvalidInvitation()
        members = MembershipRepository(self.session, invitation.org_id)
        if await members.for_user(user_id):
            raise AlreadyMember()
        membership = Membership(
            id=uuid.uuid4(),
            org_id=invitation.org_id,
            user_id=user_id,
            role=invitation.role,
            joined_at=now,
        )
        try:
            async with self.session.begin_nested():
                await members.add(membership)
        except IntegrityError:
            raise AlreadyMember() from None
        invitation.used_at = now
        invitation.used_by_id = user_id
        org = await self.orgs.get(invitation.org_id)
        assert org is not None
        # One event: the membership it makes (the invitation's use is part of it).
        joined = changes(None, _member_fields(membership)) | {
            "invitation_id": [None, str(invitation.id)]
        }
        by = (org.id, actor or Actor(user_id, SYSTEM.credential_kind))
        _record_member(self.session, by, "member.joined", membership, joined)
        return Joined(
            employee_id=membership.id,
            org_id=org.id,
            org_name=org.name,
            org_slug=org.slug,
            role=Role(membership.role),
        )


def _check_may_manage(actor: Role, target: Role | None, new_role: Role | None) -> None:
    """Admins manage people and roles up to admin; only owners touch owners or grant ownership."""
    if actor is Role.OWNER:
        return
    if target is Role.OWNER or new_role is Role.OWNER or not actor.at_least(Role.ADMIN):
        raise RoleNotGrantable()


def _invitation_info(invitation: Invitation, now: datetime) -> InvitationInfo:
    return InvitationInfo(
        id=invitation.id,
        email=invitation.email,
        role=Role(invitation.role),
        status=invitation_status(invitation, now),
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        used_at=invitation.used_at,
        etag=invitation_etag(invitation, now),
    )


def _org_fields(org: Org) -> dict[str, object]:
    return {"name": org.name, "slug": org.slug, "discoverable": org.discoverable}


def _member_fields(membership: Membership) -> dict[str, object]:
    return {"user_id": membership.user_id, "role": membership.role}


def _record_member(
    session: AsyncSession,
    by: OrgContext | tuple[uuid.UUID, Actor],
    kind: str,
    membership: Membership,
    diff: dict[str, list[object]],
) -> None:
    """An org membership's event: ``member.*`` about the ``membership`` (the employee id)."""
    record(session, by, kind, membership.id, resource_type="membership", changes=diff)


def _org_read(org: Org, role: Role) -> OrgRead:
    return OrgRead(
        id=org.id,
        name=org.name,
        slug=org.slug,
        discoverable=org.discoverable,
        role=role,
        created_at=org.created_at,
        updated_at=org.updated_at,
    )


def _team_member(membership: Membership, user: User) -> TeamMember:
    return TeamMember(
        employee_id=membership.id,
        user_id=user.id,
        name=user.name,
        email=user.email,
        role=Role(membership.role),
        joined_at=membership.joined_at,
        etag=membership_etag(membership),
    )
