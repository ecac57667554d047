"""What the changes feed shows of issues and comments (``core.feed``): each as its REST ``GET``
answers it, read for a whole page in one statement per type on the fast path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from projekt.core.feed import Feed, Read, Representations, among
from projekt.issues.models import Comment, Issue
from projekt.issues.repository import COMMENT_FIELDS, READ_FIELDS, P, comment_data, issue_data
from projekt.projects.models import Project
from projekt.projects.visibility import visible_to

feed = Feed()

# The columns ``issue_data`` reads: READ_FIELDS in order, then the project's key.
ISSUES = (
    select(*[getattr(Issue, name) for name in READ_FIELDS], Project.key.label("project_key"))
    .join(Project, Project.id == Issue.project_id)
    .where(Issue.org_id == P("org_id"), among(Issue.id), visible_to(P("user_id")))
)
# A comment is read where its issue is (GET /api/issues/{issue}/comments/{id}).
COMMENTS = (
    select(*[getattr(Comment, name) for name in COMMENT_FIELDS])
    .join(Issue, Issue.id == Comment.issue_id)
    .join(Project, Project.id == Issue.project_id)
    .where(Comment.org_id == P("org_id"), among(Comment.id), visible_to(P("user_id")))
)


@feed.reader("issue")
async def issues(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    rows = await read.services.fast.fetch(ISSUES, {**read.scope, "ids": ids})
    return {row["id"]: dict(issue_data(tuple(row.values()), row["project_key"])) for row in rows}


@feed.reader("comment")
async def comments(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    rows = await read.services.fast.fetch(COMMENTS, {**read.scope, "ids": ids})
    return {row["id"]: dict(comment_data(row)) for row in rows}
