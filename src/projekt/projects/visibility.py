"""Who may see a project: the one rule every statement that reads projects applies.

Published by the projects domain for the repositories that join projects in their own
statements (issues, sprints): the hot path compiles it into its precompiled statements, so it is
a SQL expression rather than a service call.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Uuid, bindparam, exists, or_
from sqlalchemy.sql.elements import BindParameter

from projekt.orgs.models import Membership
from projekt.projects.models import Project, ProjectMember


def visible_to(user_id: Any) -> ColumnElement[bool]:
    """Org-wide projects, private ones the user is a member of, and any for admins and owners.

    ``user_id`` is a value or a ``bindparam`` (the precompiled hot-path statements); no IN list,
    so the statement compiles once without post-compile parameters.
    """
    if isinstance(user_id, BindParameter) and user_id.type._isnull:
        # Typed here, not by the columns: a module that builds its statements at import may run
        # before the users model resolves the foreign keys' types, and an untyped bind gets no
        # bind processor (the SQLite reader then hands sqlite3 a UUID it cannot bind).
        user_id = bindparam(user_id.key, type_=Uuid())
    is_member = exists().where(
        ProjectMember.project_id == Project.id, ProjectMember.user_id == user_id
    )
    is_org_admin = exists().where(
        Membership.org_id == Project.org_id,
        Membership.user_id == user_id,
        or_(Membership.role == "owner", Membership.role == "admin"),
    )
    return or_(Project.visibility == "org", is_member, is_org_admin)
