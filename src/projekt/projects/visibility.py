"""Who may see a project: the one rule every statement that reads projects applies.

Published by the projects domain for the repositories that join projects in their own
statements (issues, sprints): the hot path compiles it into its precompiled statements, so it is
a SQL expression rather than a service call.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, or_

from projekt.orgs.models import Membership
from projekt.projects.models import Project, ProjectMember


def visible_to(user_id: Any) -> ColumnElement[bool]:
    """Org-wide projects, private ones the user is a member of, and any for admins and owners.

    ``user_id`` is a value or a ``bindparam`` (the precompiled hot-path statements); no IN list,
    so the statement compiles once without post-compile parameters.
    """
    is_member = exists().where(
        ProjectMember.project_id == Project.id, ProjectMember.user_id == user_id
    )
    is_org_admin = exists().where(
        Membership.org_id == Project.org_id,
        Membership.user_id == user_id,
        or_(Membership.role == "owner", Membership.role == "admin"),
    )
    return or_(Project.visibility == "org", is_member, is_org_admin)
