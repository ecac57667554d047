"""What the changes feed shows of issues and comments (``core.feed``): each as its REST ``GET``
answers it, read with the feed's page of events (joined: no statement of their own)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from projekt.core.feed import Feed
from projekt.issues.models import Comment, Issue
from projekt.issues.repository import COMMENT_FIELDS, READ_FIELDS, P, issue_data
from projekt.projects.models import Project
from projekt.projects.visibility import visible_to

feed = Feed()

# The columns ``issue_data`` reads: READ_FIELDS in order, then the project's key.
ISSUES = (
    select(*[getattr(Issue, name) for name in READ_FIELDS], Project.key.label("project_key"))
    .join(Project, Project.id == Issue.project_id)
    .where(Issue.org_id == P("org_id"), visible_to(P("user_id")))
)
# A comment is read where its issue is (GET /api/issues/{issue}/comments/{id}).
COMMENTS = (
    select(*[getattr(Comment, name) for name in COMMENT_FIELDS])
    .join(Issue, Issue.id == Comment.issue_id)
    .join(Project, Project.id == Issue.project_id)
    .where(Comment.org_id == P("org_id"), visible_to(P("user_id")))
)


@feed.join("issue", ISSUES)
def issue(values: Sequence[Any]) -> Mapping[str, Any]:
    return issue_data(values, values[-1])


@feed.join("comment", COMMENTS)
def comment(values: Sequence[Any]) -> Mapping[str, Any]:
    return dict(zip(COMMENT_FIELDS, values, strict=True))
