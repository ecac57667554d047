"""What the changes feed shows of sprints (``core.feed``): each as ``GET /api/sprints/{id}``
answers it, read with the feed's page of events (joined: no statement of its own)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, select

from projekt.core.feed import Feed
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
    .where(Sprint.org_id == P("org_id"), visible_to(P("user_id")))
)


@feed.join("sprint", SPRINTS)
def sprint(values: Sequence[Any]) -> Mapping[str, Any]:
    return dict(zip(_FIELDS, values, strict=True))
