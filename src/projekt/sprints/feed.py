"""What the changes feed shows of sprints (``core.feed``): each as ``GET /api/sprints/{id}``
answers it, read for a whole page in one statement on the fast path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, select

from projekt.core.feed import Feed, Read, Representations, among
from projekt.projects.models import Project
from projekt.projects.visibility import visible_to
from projekt.sprints.models import Sprint
from projekt.sprints.schemas import SprintRead

feed = Feed()
P = bindparam

_FIELDS = tuple(SprintRead.model_fields)
# A private project's sprints stay hidden, as in SprintService.get.
SPRINTS = (
    select(*[getattr(Sprint, name) for name in _FIELDS])
    .join(Project, Project.id == Sprint.project_id)
    .where(Sprint.org_id == P("org_id"), among(Sprint.id), visible_to(P("user_id")))
)


@feed.reader("sprint")
async def sprints(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    rows = await read.services.fast.fetch(SPRINTS, {**read.scope, "ids": ids})
    return {row["id"]: {name: row[name] for name in _FIELDS} for row in rows}
