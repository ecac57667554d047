"""Issues, comments and activity: the work-tracking core."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.conditional import IfMatch, version_etag
from projekt.core.context import OrgContext, Role
from projekt.core.deps import AppServices
from projekt.core.errors import ValidationFailed
from projekt.core.pagination import SortKeys
from projekt.core.record import Draft, Event, draft, jsonable, record
from projekt.issues.errors import BulkFailed, CommentNotFound, IssueNotFound, NotCommentAuthor
from projekt.issues.models import Comment, Issue
from projekt.issues.repository import (
    SORT_FIELDS,
    ActivityRepository,
    CommentData,
    CommentRepository,
    Detail,
    IssueData,
    IssueReads,
    IssueRepository,
    IssueWrites,
    Listing,
    ProjectHead,
    ProjectHeads,
    References,
    Versioned,
    comment_data,
    parse_issue_key,
    written_issue,
)
from projekt.issues.schemas import BulkRequest, BulkResult, CommentIn, IssueCreate, IssueUpdate
from projekt.projects.models import Project

__all__ = [
    "SORT_FIELDS",
    "Detail",
    "IssueData",
    "IssueFastPath",
    "IssueService",
    "Listing",
    "ProjectHead",
    "Versioned",
]

# What an issue write receives: the issue as a read found it (its id and project).
IssueRow = IssueData
_Found = TypeVar("_Found")
# An issue as written, and its version after the write (what its ETag is made of).
Written = Versioned
# Fields whose history the record keeps (and burndowns replay).
TRACKED = (
    "title",
    "description",
    "status",
    "priority",
    "type",
    "assignee_id",
    "labels",
    "estimated_hours",
    "sprint_id",
    "milestone_id",
    "parent_id",
    "due_date",
    "external_ref",
    "archived",
)
# A create's tracked fields but the status, which the one-statement create picks itself.
TRACKED_UNPICKED = tuple(f for f in TRACKED if f != "status")
# A create's ids that ``_check_references`` looks up.
_REFERENCES = ("assignee_id", "parent_id", "sprint_id", "milestone_id")


def comment_etag(comment: Mapping[str, Any]) -> str:
    """A comment's validator, from what an edit changes (no version column: its text and
    ``updated_at`` change together on every edit)."""
    updated_at: datetime = comment["updated_at"]
    return version_etag("comment", comment["id"], updated_at.astimezone(UTC).isoformat(),
                        comment["text"])  # fmt: skip


def issue_etag(issue_id: uuid.UUID, version: int, project_key: str) -> str:
    return version_etag("issue", issue_id, version, project_key)


def versioned_etag(found: Versioned | Detail) -> str:
    """The ETag of an issue as read or written."""
    issue = found.issue
    return issue_etag(issue["id"], found.version, issue["key"].rsplit("-", 1)[0])


def list_etag(project: ProjectHead, canonical_query: str) -> str:
    return version_etag(
        "issues", project["id"], project["issues_version"], project["key"], canonical_query
    )


async def issue_counts_by_status(
    session: AsyncSession, org_id: uuid.UUID, project_id: uuid.UUID
) -> dict[str, int]:
    return await IssueRepository(session, org_id).status_counts(project_id)


async def rename_status(
    session: AsyncSession, ctx: OrgContext, project_id: uuid.UUID, old: str, new: str
) -> None:
    """A column renamed: its issues follow, each recording its move."""
    moved = await IssueRepository(session, ctx.org_id).rename_status(project_id, old, new)
    for issue_id in moved:
        record(session, ctx, "issue.status_changed", issue_id, project_id=project_id,
               changes={"status": [old, new]})  # fmt: skip


def _closing(status: str, columns: list[dict[str, Any]]) -> bool:
    return any(c["name"] == status and c["category"] in ("done", "cancelled") for c in columns)


def issue_event_type(
    diff: Mapping[str, list[Any]], columns: list[dict[str, Any]], *, transition: bool = False
) -> str:
    """The event an issue write records (API.md §10): the most specific name for what changed.

    A move into a done or cancelled column closes the issue; a transition otherwise is
    ``transitioned``; a write that only moves the status, only assigns, or only archives says
    so; anything else (unarchiving too) is ``updated``."""
    fields = set(diff)
    if "status" in fields and (transition or fields == {"status"}):
        if _closing(diff["status"][1], columns):
            return "issue.closed"
        return "issue.transitioned" if transition else "issue.status_changed"
    if fields == {"assignee_id"}:
        return "issue.assigned"
    if fields == {"archived"} and diff["archived"][1]:
        return "issue.archived"
    return "issue.updated"


def activity_entry(event: Event) -> dict[str, Any]:
    """An event as issue activity shows it: ``action`` is the type without ``issue.``."""
    prefix = "issue."
    return {
        "id": event.id,
        "seq": event.seq,
        "type": event.type,
        "action": event.type.removeprefix(prefix),
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "actor_id": event.actor_user_id,
        "credential_kind": event.credential_kind,
        "credential_id": event.credential_id,
        "oauth_client_id": event.oauth_client_id,
        "request_id": event.request_id,
        "changes": event.changes,
        "created_at": event.occurred_at,
    }


def _status_in(columns: list[dict[str, Any]], value: str) -> str | None:
    folded = value.casefold()
    return next((c["name"] for c in columns if c["name"].casefold() == folded), None)


async def _by_ref(
    ref: str,
    by_key: Callable[[str, int], Awaitable[_Found | None]],
    by_id: Callable[[uuid.UUID], Awaitable[_Found | None]],
) -> _Found:
    parsed = parse_issue_key(ref)
    if parsed is not None:
        found = await by_key(*parsed)
    else:  # a UUID, or nothing that names an issue (a key past the number column too)
        try:
            issue_id = uuid.UUID(ref)
        except ValueError:
            raise IssueNotFound() from None
        found = await by_id(issue_id)
    if found is None:
        raise IssueNotFound()
    return found


def _status_error(columns: list[dict[str, Any]]) -> str:
    return "The status must be one of: " + ", ".join(c["name"] for c in columns)


class IssueFastPath:
    """The issue work that runs on the fast path only: the reads and the create's one fast
    transaction. It takes no session, so it cannot open one: the busiest routes (list, get,
    create) never pay for a unit of work. ``IssueService`` adds the work of the request's
    unit of work."""

    def __init__(self, services: AppServices, ctx: OrgContext) -> None:
        self.services = services
        self.ctx = ctx
        self.reads = IssueReads(services.fast, ctx.org_id, ctx.user_id)
        self.writes = IssueWrites(services.fast, ctx.org_id, ctx.user_id)

    # -- reads ------------------------------------------------------------------------------

    async def resolve(self, ref: str) -> IssueData:
        """An issue by UUID or by key (``WEB-12``), if the caller may see it."""
        return (await self.resolve_versioned(ref)).issue

    async def resolve_versioned(self, ref: str) -> Versioned:
        return await _by_ref(ref, self.reads.by_key, self.reads.by_id)

    async def detail(self, ref: str) -> Detail:
        """Like ``resolve``, with the issue's comments."""
        return await _by_ref(ref, self.reads.detail_by_key, self.reads.detail_by_id)

    async def comments(self, issue_id: uuid.UUID) -> list[dict[str, Any]]:
        """The issue's comments, each with the ``etag`` an edit or delete sends as If-Match."""
        return [_tagged_comment(c) for c in await self.reads.comments(issue_id)]

    async def listing_project(self, project_id: uuid.UUID) -> ProjectHead | None:
        return await self.reads.project_head(project_id)

    async def listing(
        self,
        filters: Mapping[str, Any],
        q: str | None,
        sort: SortKeys,
        sort_text: str,
        limit: int,
        offset: int,
    ) -> Listing:
        """A page of issues, the total, and the project's head when filtered by project."""
        return await self.reads.listing(filters, q, sort, sort_text, limit, offset)

    async def representation(self, issue_id: uuid.UUID) -> IssueData | None:
        """The issue as a read answers it, or None when it is gone or hidden from the caller."""
        found = await self.reads.by_id(issue_id)
        return None if found is None else found.issue

    # -- the create -------------------------------------------------------------------------

    async def create(self, data: IssueCreate, origin: dict[str, Any] | None = None) -> Written:
        """One transaction on the fast path: number, checks, the row and its event (the
        transaction's last statement: it takes the org's record lock). ``origin``: more
        ``changes`` for the event (a duplicate names its source). A plain create (no status
        to check against the project's columns, no ids to look up) is one statement on
        PostgreSQL (``IssueWrites.create_at_once``)."""
        plain = data.status is None and all(getattr(data, f) is None for f in _REFERENCES)
        if plain and self.writes.at_once:
            values = self._new_issue(data, 0, "")  # the statement picks number and status
            event = self._created_event(values, TRACKED_UNPICKED, origin)
            made = await self.writes.create_at_once(values, event)
            if made is None:
                raise ValidationFailed(errors={"project_id": ["The project_id does not exist"]})
            values["number"], values["status"], project_key = made
            return Versioned(written_issue(values, project_key), 1)
        async with self.writes.creating() as tx:
            allocated = await tx.allocate(data.project_id)
            if allocated is None:
                raise ValidationFailed(errors={"project_id": ["The project_id does not exist"]})
            number, project_key, columns = allocated
            errors: dict[str, list[str]] = {}
            status = columns[0]["name"]
            if data.status is not None:
                status = _status_in(columns, data.status) or status
                if _status_in(columns, data.status) is None:
                    errors["status"] = [_status_error(columns)]
            await self._check_references(
                data.model_dump(exclude_unset=True), errors, tx.references, data.project_id
            )
            if errors:
                raise ValidationFailed(errors=errors)
            values = self._new_issue(data, number, status)
            await tx.insert(values)
            await tx.append(self._created_event(values, TRACKED, origin), values["created_at"])
        return Versioned(written_issue(values, project_key), 1)

    def _created_event(
        self, values: Mapping[str, Any], fields: Iterable[str], origin: dict[str, Any] | None
    ) -> Draft:
        """The create's event: each of ``fields`` that has a value, from nothing to it, and
        ``origin``'s changes."""
        created = {f: [None, jsonable(values[f])] for f in fields if values[f] not in (None, [])}
        return draft(
            self.ctx,
            "issue.created",
            values["id"],
            project_id=values["project_id"],
            changes=created | (origin or {}),
        )

    def _new_issue(self, data: IssueCreate, number: int, status: str) -> dict[str, Any]:
        now = self.services.clock.now()
        return {
            "id": uuid.uuid4(),
            "org_id": self.ctx.org_id,
            "project_id": data.project_id,
            "number": number,
            "title": data.title,
            "description": data.description,
            "status": status,
            "priority": data.priority,
            "type": data.type,
            "assignee_id": data.assignee_id,
            "reporter_id": self.ctx.user_id,
            "labels": list(dict.fromkeys(data.labels or [])),
            "estimated_hours": data.estimated_hours,
            "sprint_id": data.sprint_id,
            "milestone_id": data.milestone_id,
            "parent_id": data.parent_id,
            "due_date": data.due_date,
            "external_ref": data.external_ref,
            "archived": False,
            "time_spent_minutes": 0,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }

    async def duplicate(self, source: IssueData) -> Written:
        copy = IssueCreate(
            project_id=source["project_id"],
            title=source["title"],
            description=source["description"],
            priority=source["priority"],
            type=source["type"],
            assignee_id=source["assignee_id"],
            labels=source["labels"],
            estimated_hours=source["estimated_hours"],
            parent_id=source["parent_id"],
            milestone_id=source["milestone_id"],
            due_date=source["due_date"],
        )
        return await self.create(copy, {"duplicated_from": [None, source["key"]]})

    async def _check_references(
        self,
        values: dict[str, Any],
        errors: dict[str, list[str]],
        refs: References,
        project_id: uuid.UUID,
    ) -> None:
        """Every id in a body must name something of the caller's org that they may see.

        ``refs``: where the look-ups run: the create's own transaction, or the repository's
        choice for a write in the unit of work (``IssueWrites.references``)."""
        assignee = values.get("assignee_id")
        if assignee is not None and not await refs.is_member(assignee):
            errors["assignee_id"] = ["The assignee_id must be a member of this organization"]
        parent = values.get("parent_id")
        if parent is not None and not await refs.issue_visible(parent):
            errors["parent_id"] = ["The parent_id does not exist"]
        sprint_id = values.get("sprint_id")
        if sprint_id is not None:
            sprint = await refs.sprint(sprint_id)
            if sprint is None or sprint.project_id != project_id:
                errors["sprint_id"] = ["The sprint_id must name a sprint of the issue's project"]
            elif sprint.state == "completed":
                errors["sprint_id"] = ["The sprint_id names a completed sprint"]
        milestone_id = values.get("milestone_id")
        if milestone_id is not None and await refs.milestone_project(milestone_id) != project_id:
            errors["milestone_id"] = [
                "The milestone_id must name a milestone of the issue's project"
            ]


class IssueService(IssueFastPath):
    """Issue work in the request's unit of work (``session``): updates, deletes, bulk changes,
    comments, activity, search; and the fast path's work, which it inherits."""

    def __init__(self, session: AsyncSession, services: AppServices, ctx: OrgContext) -> None:
        super().__init__(services, ctx)
        self.session = session
        self.issues = IssueRepository(session, ctx.org_id)
        self.activity = ActivityRepository(session, ctx.org_id)

    # -- reads in the unit of work -----------------------------------------------------------

    async def comment(self, issue_id: uuid.UUID, comment_id: uuid.UUID) -> dict[str, Any]:
        found = await CommentRepository(self.session, self.ctx.org_id).get(comment_id)
        if found is None or found.issue_id != issue_id:
            raise CommentNotFound()
        return _comment_read(found)

    async def activity_of(self, ref: str) -> list[dict[str, Any]]:
        """The issue's history from the record, oldest first (its comments' events too)."""
        row = await self.resolve(ref)
        return [activity_entry(e) for e in await self.activity.for_issue(row["id"])]

    async def search(self, q: str, limit: int) -> list[IssueData]:
        return await self.issues.search(self.ctx.user_id, q, limit)

    # -- writes -----------------------------------------------------------------------------

    async def update(self, row: IssueRow, data: IssueUpdate, if_match: IfMatch) -> Written:
        changes = data.model_dump(exclude_unset=True)
        issue, project = await self._for_write(row, if_match)
        errors: dict[str, list[str]] = {}
        if "status" in changes:
            canonical = _status_in(project.columns, changes["status"])
            if canonical is None:
                errors["status"] = [_status_error(project.columns)]
            changes["status"] = canonical
        if "labels" in changes:
            changes["labels"] = list(dict.fromkeys(changes["labels"] or []))
        await self._check_update(changes, issue, errors)
        if errors:
            raise ValidationFailed(errors=errors)
        await self._apply(issue, project, changes)
        return await self._written(issue, project)

    async def transition(self, row: IssueRow, status: str, if_match: IfMatch) -> Written:
        issue, project = await self._for_write(row, if_match)
        canonical = _status_in(project.columns, status)
        if canonical is None:
            raise ValidationFailed(errors={"status": [_status_error(project.columns)]})
        await self._apply(issue, project, {"status": canonical}, transition=True)
        return await self._written(issue, project)

    async def set_archived(self, row: IssueRow, archived: bool, if_match: IfMatch) -> Written:
        issue, project = await self._for_write(row, if_match)
        await self._apply(issue, project, {"archived": archived})
        return await self._written(issue, project)

    async def delete(self, row: IssueRow, if_match: IfMatch) -> None:
        issue, _ = await self._for_write(row, if_match, deleting=True)
        orphans_in = await self._delete(issue)
        projects = ProjectHeads(self.session, self.ctx.org_id)
        await projects.issue_deleted(issue.project_id, issue.archived)
        await projects.issues_changed(orphans_in - {issue.project_id})

    async def bulk(self, request: BulkRequest) -> BulkResult:
        """One transaction: every change lands, or (any per-issue error) none does."""
        ids = list(dict.fromkeys(request.issue_ids))
        # Projects before issues, in one order, like every other issue write.
        projects: dict[uuid.UUID, Project] = {}
        for project_id in sorted(await self.issues.projects_of(ids, self.ctx.user_id)):
            projects[project_id] = await self._locked_project(project_id)
        found = {issue.id: issue for issue in await self.issues.many(ids, self.ctx.user_id)}
        skipped = [i for i in ids if i not in found]
        errors: list[dict[str, str]] = []
        updated = 0
        for issue_id in ids:
            issue = found.get(issue_id)
            if issue is None:
                continue
            project = projects.get(issue.project_id)
            if project is None:
                project = await self._project(issue.project_id)
                projects[issue.project_id] = project
            try:
                changes = await self._bulk_changes(request, issue, project)
            except ValidationFailed as exc:
                message = "; ".join(m for msgs in (exc.errors or {}).values() for m in msgs)
                errors.append({"id": str(issue_id), "error": message})
                continue
            if request.action == "delete":
                await self._delete(issue)
                if issue.archived:
                    project.archived_issues -= 1
                else:
                    project.open_issues -= 1
                updated += 1
            elif not changes:
                skipped.append(issue_id)
            else:
                await self._apply(issue, project, changes)
                updated += 1
        if errors:
            # The transaction rolls back with this error: not one of the issues changed.
            raise BulkFailed(errors={e["id"]: [e["error"]] for e in errors})
        for project in projects.values():
            project.issues_version += 1
        await self.session.flush()
        return BulkResult(updated=updated, skipped=skipped, errors=[])

    async def _bulk_changes(
        self, request: BulkRequest, issue: Issue, project: Project
    ) -> dict[str, Any]:
        action, value = request.action, request.value
        if action in ("archive", "unarchive", "delete"):
            target = action == "archive"
            return {} if action == "delete" or issue.archived == target else {"archived": target}
        if action in ("add_label", "remove_label"):
            if not isinstance(value, str) or not value.strip() or len(value) > 50:
                raise ValidationFailed(errors={"value": ["The value must be a label"]})
            labels = list(issue.labels)
            if action == "add_label" and value.strip() not in labels:
                return {"labels": [*labels, value.strip()]}
            if action == "remove_label" and value.strip() in labels:
                return {"labels": [label for label in labels if label != value.strip()]}
            return {}
        field = {
            "set_status": "status",
            "set_priority": "priority",
            "set_type": "type",
            "set_assignee": "assignee_id",
            "set_sprint": "sprint_id",
            "set_milestone": "milestone_id",
        }[action]
        try:
            checked = IssueUpdate.model_validate({field: value})
        except ValueError:
            raise ValidationFailed(
                errors={"value": [f"The value is not a valid {field}"]}
            ) from None
        changes = checked.model_dump(exclude_unset=True)
        errors: dict[str, list[str]] = {}
        if field == "status":
            canonical = _status_in(project.columns, str(value))
            if canonical is None:
                errors["status"] = [_status_error(project.columns)]
            changes["status"] = canonical
        await self._check_update(changes, issue, errors)
        if errors:
            raise ValidationFailed(errors=errors)
        return {k: v for k, v in changes.items() if getattr(issue, k) != v}

    # -- comments ---------------------------------------------------------------------------

    async def add_comment(self, row: IssueRow, data: CommentIn) -> dict[str, Any]:
        # The issue first, as every write to it does: a comment's insert would otherwise take
        # a share lock on it that the version bump then has to upgrade (two comments at once
        # deadlock on PostgreSQL), and a deleted issue is a 404 rather than a foreign key error.
        issue = await self._locked_issue(row["id"])
        if data.parent_id is not None:
            parent = await CommentRepository(self.session, self.ctx.org_id).get(data.parent_id)
            if parent is None or parent.issue_id != row["id"]:
                raise ValidationFailed(errors={"parent_id": ["The parent_id does not exist"]})
        now = self.services.clock.now()
        comment = Comment(
            id=uuid.uuid4(),
            org_id=self.ctx.org_id,
            issue_id=row["id"],
            author_id=self.ctx.user_id,
            parent_id=data.parent_id,
            text=data.text,
            created_at=now,
            updated_at=now,
        )
        await CommentRepository(self.session, self.ctx.org_id).add(comment)
        await self._bump(issue)
        self._record_comment("comment.created", comment, {"text": [None, comment.text]}, issue)
        return _comment_read(comment)

    async def edit_comment(
        self, row: IssueRow, comment_id: uuid.UUID, text: str, if_match: IfMatch
    ) -> dict[str, Any]:
        issue, comment = await self._own_comment(row, comment_id, if_match)
        before = comment.text
        comment.text = text
        comment.updated_at = self.services.clock.now()
        await self.session.flush()
        await self._bump(issue)
        if before != text:
            self._record_comment("comment.updated", comment, {"text": [before, text]}, issue)
        return _comment_read(comment)

    async def delete_comment(self, row: IssueRow, comment_id: uuid.UUID, if_match: IfMatch) -> None:
        issue, comment = await self._own_comment(row, comment_id, if_match)
        await self.session.delete(comment)
        await self.session.flush()
        await self._bump(issue)
        self._record_comment("comment.deleted", comment, {"text": [comment.text, None]}, issue)

    async def _own_comment(
        self, row: IssueRow, comment_id: uuid.UUID, if_match: IfMatch
    ) -> tuple[Issue, Comment]:
        """The issue and then the comment, both locked (issue first, like an issue's delete,
        whose cascade reaches the comments): a comment deleted meanwhile is a 404."""
        issue = await self._locked_issue(row["id"])
        comment = await CommentRepository(self.session, self.ctx.org_id).locked(comment_id)
        if comment is None or comment.issue_id != issue.id:
            raise CommentNotFound()
        if comment.author_id != self.ctx.user_id and not self.ctx.role.at_least(Role.ADMIN):
            raise NotCommentAuthor()
        if_match.check(comment_etag(_comment_read(comment)))
        return issue, comment

    # -- internals --------------------------------------------------------------------------

    async def _for_write(
        self, row: IssueRow, if_match: IfMatch, *, deleting: bool = False
    ) -> tuple[Issue, Project]:
        """The issue locked for this write, and ``If-Match`` checked against it (not against
        ``row``, read before the lock: concurrent writers would all pass that check).

        Its project is locked first: every issue write updates the project's counters anyway,
        and a project's delete (or a sprint's) takes the project before the issues.
        """
        project = await self._locked_project(row["project_id"])
        issue = await self._locked_issue(row["id"], deleting=deleting)
        if_match.check(issue_etag(issue.id, issue.version, project.key))
        return issue, project

    async def _locked_project(self, project_id: uuid.UUID) -> Project:
        project = await ProjectHeads(self.session, self.ctx.org_id).get_for_update(project_id)
        if project is None:
            raise IssueNotFound()
        return project

    async def _locked_issue(self, issue_id: uuid.UUID, *, deleting: bool = False) -> Issue:
        issue = await self.issues.locked(issue_id, deleting=deleting)
        if issue is None:  # deleted between the read and the write
            raise IssueNotFound()
        return issue

    async def _project(self, project_id: uuid.UUID) -> Project:
        project = await ProjectHeads(self.session, self.ctx.org_id).get(project_id)
        if project is None:
            raise IssueNotFound()
        return project

    async def _written(self, issue: Issue, project: Project) -> Written:
        """The issue as a write answers it."""
        return Versioned(written_issue(issue, project.key), issue.version)

    async def _apply(
        self, issue: Issue, project: Project, changes: dict[str, Any], *, transition: bool = False
    ) -> None:
        """Apply ``changes`` to the locked issue and record the event they make (none when
        nothing changed)."""
        diff = {
            field: [jsonable(getattr(issue, field)), jsonable(value)]
            for field, value in changes.items()
            if getattr(issue, field) != value
        }
        now = self.services.clock.now()
        if diff:
            if "archived" in diff:
                step = 1 if changes["archived"] else -1
                project.archived_issues += step
                project.open_issues -= step
            for field, value in changes.items():
                setattr(issue, field, value)
            issue.version += 1
            issue.updated_at = now
            project.issues_version += 1
            await self.session.flush()
            kind = issue_event_type(diff, project.columns, transition=transition)
            record(self.session, self.ctx, kind, issue.id, project_id=issue.project_id,
                   changes=diff)  # fmt: skip

    async def _bump(self, issue: Issue) -> None:
        """Comments are part of the issue's representation: its ETag must change with them."""
        issue.version += 1
        issue.updated_at = self.services.clock.now()
        await self.session.flush()

    async def _delete(self, issue: Issue) -> set[uuid.UUID]:
        """Delete the issue, recording it (its last values; its comments go with it, under
        this one event) and each child it leaves without a parent. Returns the projects of
        those children."""
        last = {f: [jsonable(getattr(issue, f)), None] for f in TRACKED
                if getattr(issue, f) not in (None, [])}  # fmt: skip
        children = await self.issues.delete(issue.id)
        record(self.session, self.ctx, "issue.deleted", issue.id, project_id=issue.project_id,
               changes=last)  # fmt: skip
        for child_id, project_id in children:
            record(self.session, self.ctx, "issue.updated", child_id, project_id=project_id,
                   changes={"parent_id": [str(issue.id), None]})  # fmt: skip
        return {project_id for _, project_id in children}

    def _record_comment(
        self, kind: str, comment: Comment, changes: dict[str, Any], issue: Issue
    ) -> None:
        record(self.session, self.ctx, kind, comment.id, project_id=issue.project_id,
               parent_id=issue.id, changes=changes)  # fmt: skip

    async def _check_update(
        self, changes: dict[str, Any], issue: Issue, errors: dict[str, list[str]]
    ) -> None:
        """The references of a write to ``issue``, and a parent that would make a cycle."""
        refs = self.writes.references(self.session)
        await self._check_references(changes, errors, refs, issue.project_id)
        parent = changes.get("parent_id")
        if (
            parent is not None
            and "parent_id" not in errors
            and issue.id in await self.issues.ancestors(parent)
        ):
            errors["parent_id"] = ["The parent_id would make a cycle"]


def _comment_read(comment: Comment) -> dict[str, Any]:
    return _tagged_comment(comment_data(comment))


def _tagged_comment(comment: CommentData) -> dict[str, Any]:
    tagged: dict[str, Any] = dict(comment)
    tagged["etag"] = comment_etag(tagged)
    return tagged


# -- what planning (sprints, milestones) asks of issues ----------------------------------------


async def sprint_issues(
    session: AsyncSession, org_id: uuid.UUID, sprint_id: uuid.UUID, *, for_update: bool = False
) -> list[Issue]:
    """The sprint's issues; ``for_update`` locks them for a write that moves them."""
    return await IssueRepository(session, org_id).in_sprint(sprint_id, for_update=for_update)


async def sprint_history(
    session: AsyncSession, org_id: uuid.UUID, sprint_id: uuid.UUID, project_id: uuid.UUID
) -> tuple[list[Issue], list[Any]]:
    """Every issue that was ever in the sprint, and all of their events, oldest first."""
    repo = IssueRepository(session, org_id)
    issues = await repo.ever_in_sprint(sprint_id, project_id)
    activity = await ActivityRepository(session, org_id).for_issues([i.id for i in issues])
    return issues, activity


async def move_sprint_issues(
    session: AsyncSession,
    ctx: OrgContext,
    services: AppServices,
    issues: list[Issue],
    target: uuid.UUID | None,
) -> None:
    """Re-home issues (sprint completed or deleted), each recording its own event."""
    await reassign_issues(session, ctx, services, issues, {"sprint_id": target})


async def lock_project(session: AsyncSession, org_id: uuid.UUID, project_id: uuid.UUID) -> bool:
    """Lock the project before a write that moves its issues (their writes move its counters);
    False when it is gone. Lock order: project, then sprint or milestone, then issues."""
    return await ProjectHeads(session, org_id).get_for_update(project_id) is not None


async def milestone_issues(
    session: AsyncSession, org_id: uuid.UUID, milestone_id: uuid.UUID
) -> list[Issue]:
    """The milestone's issues, locked for a write that moves them."""
    return await IssueRepository(session, org_id).in_milestone(milestone_id)


async def reassign_issues(
    session: AsyncSession,
    ctx: OrgContext,
    services: AppServices,
    issues: list[Issue],
    changes: dict[str, Any],
) -> None:
    """Apply ``changes`` to each issue as the issue's own writes do: version, the project's
    list validator, and one event per issue that changed."""
    service = IssueService(session, services, ctx)
    projects: dict[uuid.UUID, Project] = {}
    for issue in issues:
        project = projects.get(issue.project_id) or await service._project(issue.project_id)
        projects[issue.project_id] = project
        await service._apply(issue, project, changes)


async def lock_for_time(
    session: AsyncSession,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    issue_ids: Collection[uuid.UUID],
) -> set[uuid.UUID]:
    """Lock the project and these issues of it for a time-tracking write that may move their
    logged minutes (``time_changed``), in the order of every issue write: the project, then the
    issues by id, before the write touches any time entry. An issue's delete takes the same
    locks and then its entries (``SET NULL``): taken first, the two writers queue instead of
    deadlocking, and a create never inserts an entry for an issue deleted meanwhile (a foreign
    key error). Returns the ids of the issues that still exist."""
    if await ProjectHeads(session, org_id).get_for_update(project_id) is None:
        return set()
    issues = IssueRepository(session, org_id)
    return {i for i in sorted(issue_ids) if await issues.locked(i) is not None}


async def time_entries_counted(
    session: AsyncSession, org_id: uuid.UUID, project_id: uuid.UUID, change: int
) -> None:
    """Time tracking added (1) or deleted (-1) an entry of the project, whose row
    ``lock_for_time`` holds: the project's entry counter moves in the same transaction."""
    await ProjectHeads(session, org_id).time_entries_counted(project_id, change)


async def time_changed(
    session: AsyncSession,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    issue_ids: Collection[uuid.UUID],
) -> None:
    """Time tracking changed the minutes logged on these issues (of one project), in the same
    transaction: their ``time_spent_minutes`` moved, so their versions (ETags) and the project's
    list validator move too. ``updated_at`` does not: logging time is not an edit of the issue
    (the time entry's own event records it). Lock order: the project, then the issues."""
    if not issue_ids:
        return
    await ProjectHeads(session, org_id).issues_changed([project_id])
    await IssueRepository(session, org_id).time_changed(sorted(issue_ids))
