"""What the changes feed shows of milestones (``core.feed``): each as its REST ``GET`` answers
it, with its issue counts. Two statements for a whole page: the milestones (with their
project's columns, which say what counts as completed), then their issues counted by status."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from projekt.core.feed import Feed, Read, Representations
from projekt.issues.models import Issue
from projekt.milestones.models import Milestone
from projekt.milestones.service import MilestoneService
from projekt.projects.models import Project
from projekt.projects.visibility import visible_to

feed = Feed()


@feed.reader("milestone")
async def milestones(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    org_id = read.ctx.org_id
    stmt = (
        select(Milestone, Project.columns)
        .join(Project, Project.id == Milestone.project_id)
        .where(Milestone.org_id == org_id, Milestone.id.in_(ids), visible_to(read.ctx.user_id))
    )
    found = (await read.session.execute(stmt)).all()
    if not found:
        return {}
    counts = (
        select(Issue.milestone_id, Issue.status, func.count().label("n"))
        .where(
            Issue.org_id == org_id,
            Issue.milestone_id.in_([row.Milestone.id for row in found]),
            Issue.archived.is_(False),
        )
        .group_by(Issue.milestone_id, Issue.status)
    )
    by_status: dict[uuid.UUID, dict[str, int]] = {}
    for row in await read.session.execute(counts):
        by_status.setdefault(row.milestone_id, {})[row.status] = int(row.n)
    service = MilestoneService(read.session, read.services, read.ctx)
    answer: dict[uuid.UUID, dict[str, Any]] = {}
    for row in found:
        milestone, statuses = row.Milestone, by_status.get(row.Milestone.id, {})
        done = {c["name"] for c in row.columns if c["category"] in ("done", "cancelled")}
        total = sum(statuses.values())
        completed = sum(n for status, n in statuses.items() if status in done)
        representation, _ = service._read(milestone, total, completed)
        answer[milestone.id] = representation.model_dump(mode="json")
    return answer
