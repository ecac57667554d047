"""What each write route records (API.md §9, §10), for the sweep that walks every write.

``RECORDS`` names, per route, the event types one successful call of its recipe
(``tests/test_authz.py``) appends, in order; ``None`` for a route that records nothing, with
the reason beside it. A write route missing here fails the sweep, so a new route must say what
it records. ``EventMarks`` finds what a call appended, in every org (creating an org records
in the new one).
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from sqlalchemy import func, select

from projekt.core.record import Event

RECORDS: dict[str, tuple[str, ...] | None] = {
    # Identity and OAuth: no org's data changes (an OAuth grant is not recorded yet).
    "signup": None,
    "login": None,
    "logout": None,
    "register_client": None,
    "token": None,
    "revoke": None,
    # The org's record is deleted with the org.
    "delete_org": None,
    "create_org": ("org.created", "member.added"),
    "update_org": ("org.updated",),
    "join_org": ("member.joined",),
    "create_invitation": ("member.invited",),
    "change_member_role": ("member.updated",),
    "remove_member": ("member.removed",),
    "mint_api_key": ("api_key.created",),
    "revoke_api_key": ("api_key.revoked",),
    "create_project": ("project.created",),
    "replace_project": ("project.updated",),
    "update_project": ("project.updated",),
    "delete_project": ("project.deleted",),
    "replace_columns": ("project.updated",),
    "add_project_member": ("member.added",),
    "remove_project_member": ("member.removed",),
    "create_issue": ("issue.created",),
    "bulk_issues": ("issue.updated",),
    "replace_issue": ("issue.updated",),
    "update_issue": ("issue.updated",),
    "delete_issue": ("issue.deleted",),
    "transition_issue": ("issue.closed",),  # into Done
    "archive_issue": ("issue.archived",),
    "unarchive_issue": ("issue.updated",),
    "duplicate_issue": ("issue.created",),
    "add_comment": ("comment.created",),
    "edit_comment": ("comment.updated",),
    "delete_comment": ("comment.deleted",),
    "create_sprint": ("sprint.created",),
    "replace_sprint": ("sprint.updated",),
    "update_sprint": ("sprint.updated",),
    "delete_sprint": ("sprint.deleted",),
    "start_sprint": ("sprint.started",),
    "complete_sprint": ("sprint.completed",),
    "create_milestone": ("milestone.created",),
    "replace_milestone": ("milestone.updated",),
    "update_milestone": ("milestone.updated",),
    "delete_milestone": ("milestone.deleted",),
    "revoke_invitation": ("member.invitation_revoked",),
    "log_issue_time": ("time_entry.created",),
    "create_time_entry": ("time_entry.created",),
    "start_timer": ("time_entry.started",),
    # The world's owner runs a timer on that issue already: 200 with it, nothing new
    # (a start that starts records time_entry.started: tests/time_tracking shows it).
    "start_issue_timer": None,
    "stop_issue_timer": ("time_entry.stopped",),
    "stop_time_entry": ("time_entry.stopped",),
    "replace_time_entry": ("time_entry.updated",),
    "update_time_entry": ("time_entry.updated",),
    "delete_time_entry": ("time_entry.deleted",),
    "create_webhook": ("webhook.created",),
    "update_webhook": ("webhook.updated",),
    "delete_webhook": ("webhook.deleted",),
    "rotate_webhook_secret": ("webhook.secret_rotated",),
    # Deliveries of events already recorded (or a ping): the delivery log is their trace.
    "ping_webhook": None,
    "redeliver_webhook_delivery": None,
    "replay_webhook": None,
    "create_doc": ("doc.created",),
    "replace_doc": ("doc.updated",),
    "update_doc": ("doc.updated",),
    "delete_doc": ("doc.deleted",),
    "restore_doc": ("doc.restored",),
}


class EventMarks:
    """The last seq of every org, so that what a call appended can be read back."""

    def __init__(self, app: FastAPI) -> None:
        self.db = app.state.services.db
        self.last: dict[uuid.UUID, int] = {}

    async def _last(self) -> dict[uuid.UUID, int]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(Event.org_id, func.max(Event.seq)).group_by(Event.org_id)
            )
            return {org_id: int(seq) for org_id, seq in rows.all()}

    async def mark(self) -> None:
        self.last = await self._last()

    async def appended(self) -> list[Event]:
        """The events written since ``mark``, by org, in seq order."""
        now = await self._last()
        found: list[Event] = []
        async with self.db.read() as session:
            for org_id, seq in sorted(now.items(), key=lambda item: str(item[0])):
                if seq == self.last.get(org_id):
                    continue
                stmt = (
                    select(Event)
                    .where(Event.org_id == org_id, Event.seq > self.last.get(org_id, 0))
                    .order_by(Event.seq)
                )
                found.extend((await session.execute(stmt)).scalars())
        self.last = now
        return found
