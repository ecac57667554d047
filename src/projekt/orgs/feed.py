"""What the changes feed shows of the org, its members and its invitations (``core.feed``): each
as its REST ``GET`` answers it. An org has one row and few members and invitations, so each
reader reads them all in one statement and keeps the ids asked for."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from projekt.core.feed import Feed, Read, Representations
from projekt.orgs.service import OrgService

feed = Feed()


def _orgs(read: Read) -> OrgService:
    return OrgService(read.session, read.services)


@feed.reader("org")
async def org(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    if read.ctx.org_id not in ids:  # the feed reads one org's record
        return {}
    return {read.ctx.org_id: (await _orgs(read).get_org(read.ctx)).model_dump(mode="json")}


@feed.reader("membership")
async def memberships(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    wanted = set(ids)
    team = await _orgs(read).team(read.ctx)
    return {
        member.employee_id: member.model_dump(mode="json", exclude={"etag"})
        for member in team
        if member.employee_id in wanted
    }


@feed.reader("invitation")
async def invitations(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    # Only admins and owners read these events at all (audit's ADMIN_ONLY).
    wanted = set(ids)
    found = await _orgs(read).invitations(read.ctx)
    return {i.id: i.model_dump(mode="json") for i in found if i.id in wanted}
