from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from projekt.core.conditional import IfMatchDep
from projekt.core.errors import PreconditionFailed, ValidationFailed
from projekt.core.http import none_match
from projekt.core.openapi import BODY, IN_ORG, PAGED, ROLE, SESSION_WRITE, errors
from projekt.core.pagination import ListQuery, list_params
from projekt.core.responses import dumps
from projekt.issues.dependencies import IssueFastPathDep, IssueList, IssueRef, IssueServiceDep
from projekt.issues.errors import BulkFailed, CommentNotFound, IssueNotFound, NotCommentAuthor
from projekt.issues.schemas import (
    ISSUE_TYPES,
    PRIORITIES,
    ActivityRead,
    BulkRequest,
    BulkResult,
    CommentEdit,
    CommentIn,
    CommentItem,
    IssueCreate,
    IssueDetail,
    IssueRead,
    IssueSchema,
    IssueType,
    IssueUpdate,
    Priority,
    StatusRead,
    Transition,
)
from projekt.issues.service import IssueService, Versioned, list_etag, versioned_etag
from projekt.projects.errors import ProjectNotFound
from projekt.projects.service import default_columns

router = APIRouter(tags=["issues"])

CommentList = Annotated[
    ListQuery, Depends(list_params("created_at", "updated_at", default="created_at"))
]
ActivityList = Annotated[ListQuery, Depends(list_params("created_at", default="created_at"))]

LIST_DOC = (
    "Without paging parameters: a plain array (at most 100) with `X-Total-Count` and a `Link` "
    'rel="next" when more exist. With `limit`/`offset` or `page`/`per_page`: `{data, meta}`.'
)


def _json(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(content), status_code, headers, media_type="application/json")


def _tagged(written: Versioned, status_code: int = 200) -> Response:
    return _json(written.issue, status_code, {"ETag": versioned_etag(written)})


@router.get(
    "/api/issues",
    response_model=list[IssueRead],
    responses=errors(*IN_ORG, *PAGED, ValidationFailed),
    description=LIST_DOC,
)
async def list_issues(
    request: Request,
    issues: IssueFastPathDep,
    listed: IssueList,
    project_id: uuid.UUID | None = None,
    status: Annotated[str | None, Query(max_length=60)] = None,
    priority: Priority | None = None,
    type: IssueType | None = None,
    assignee_id: uuid.UUID | None = None,
    sprint_id: uuid.UUID | None = None,
    label: Annotated[str | None, Query(max_length=50)] = None,
    archived: bool = False,
    q: Annotated[str | None, Query(max_length=200, description="Full-text search.")] = None,
) -> Response:
    """List issues, newest first unless sorted otherwise."""
    canonical = str(sorted(request.query_params.multi_items()))
    if_none_match = request.headers.get("if-none-match")
    if project_id is not None and if_none_match:
        # The list changes only when one of the project's issues does: a 304 costs no list query.
        project = await issues.listing_project(project_id)
        etag = list_etag(project, canonical) if project is not None else None
        if etag is not None and none_match(if_none_match, etag):
            return Response(status_code=304, headers={"ETag": etag})
    filters = {
        "project_id": project_id,
        "status": status,
        "priority": priority,
        "type": type,
        "assignee_id": assignee_id,
        "sprint_id": sprint_id,
        "label": label,
        "archived": archived,
    }
    items, total, head = await issues.listing(
        filters, q, listed.sort, listed.sort_text, listed.limit, listed.offset
    )
    # The validator read with the page, so it never claims a newer list than the one sent.
    headers = {"ETag": list_etag(head, canonical)} if head is not None else None
    return listed.respond(items, total, headers)


@router.post(
    "/api/issues",
    status_code=status.HTTP_201_CREATED,
    response_model=IssueRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY),
)
async def create_issue(body: IssueCreate, issues: IssueFastPathDep) -> Response:
    """Create an issue; its key (WEB-13) is the project's next number."""
    created = await issues.create(body)
    response = _tagged(created, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/api/issues/{created.issue['id']}"
    return response


@router.post(
    "/api/issues/bulk",
    response_model=BulkResult,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, BulkFailed),
)
async def bulk_issues(body: BulkRequest, issues: IssueServiceDep) -> BulkResult:
    """Apply one action to up to 200 issues in one transaction (all or nothing)."""
    return await issues.bulk(body)


@router.get(
    "/api/issue_schema",
    response_model=IssueSchema,
    responses=errors(*IN_ORG, ValidationFailed, ProjectNotFound),
)
async def issue_schema(
    issues: IssueFastPathDep, project_id: uuid.UUID | None = None
) -> IssueSchema:
    """Types, priorities, statuses (the project's columns) and custom fields of issues."""
    columns = default_columns()
    if project_id is not None:
        project = await issues.listing_project(project_id)
        if project is None:
            raise ProjectNotFound()
        columns = project["columns"]
    return IssueSchema(
        issue_types=list(ISSUE_TYPES),
        priorities=list(PRIORITIES),
        statuses=[StatusRead(**c) for c in columns],
        custom_fields=[],
    )


@router.get(
    "/api/issues/{ref}",
    response_model=IssueDetail,
    responses=errors(*IN_ORG, IssueNotFound, ValidationFailed),
)
async def get_issue(ref: IssueRef, request: Request, issues: IssueFastPathDep) -> Response:
    """One issue by id or key, with its comments."""
    found = await issues.detail(ref)
    etag = versioned_etag(found)
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    return _json({**found.issue, "comments": found.comments}, headers={"ETag": etag})


async def _update(ref: str, body: Any, if_match: IfMatchDep, issues: IssueService) -> Response:
    return _tagged(await issues.update(await issues.resolve(ref), body, if_match))


@router.put(
    "/api/issues/{ref}",
    response_model=IssueRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, IssueNotFound, PreconditionFailed),
)
async def replace_issue(
    ref: IssueRef, body: IssueUpdate, if_match: IfMatchDep, issues: IssueServiceDep
) -> Response:
    """Update an issue (PATCH semantics, as the Projekt apps send PUT)."""
    return await _update(ref, body, if_match, issues)


@router.patch(
    "/api/issues/{ref}",
    response_model=IssueRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, IssueNotFound, PreconditionFailed),
)
async def update_issue(
    ref: IssueRef, body: IssueUpdate, if_match: IfMatchDep, issues: IssueServiceDep
) -> Response:
    """Update the fields sent; null clears a nullable field."""
    return await _update(ref, body, if_match, issues)


@router.delete(
    "/api/issues/{ref}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, IssueNotFound, PreconditionFailed, ValidationFailed
    ),
)
async def delete_issue(ref: IssueRef, if_match: IfMatchDep, issues: IssueServiceDep) -> Response:
    """Delete an issue with its comments and activity."""
    await issues.delete(await issues.resolve(ref), if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/issues/{ref}/transition",
    response_model=IssueRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, IssueNotFound, PreconditionFailed),
)
async def transition_issue(
    ref: IssueRef, body: Transition, if_match: IfMatchDep, issues: IssueServiceDep
) -> Response:
    """Move an issue to a column of its project."""
    return _tagged(await issues.transition(await issues.resolve(ref), body.status, if_match))


@router.post(
    "/api/issues/{ref}/archive",
    response_model=IssueRead,
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, IssueNotFound, PreconditionFailed, ValidationFailed
    ),
)
async def archive_issue(ref: IssueRef, if_match: IfMatchDep, issues: IssueServiceDep) -> Response:
    """Archive an issue (hidden from lists unless archived=true)."""
    return _tagged(await issues.set_archived(await issues.resolve(ref), True, if_match))


@router.post(
    "/api/issues/{ref}/unarchive",
    response_model=IssueRead,
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, IssueNotFound, PreconditionFailed, ValidationFailed
    ),
)
async def unarchive_issue(ref: IssueRef, if_match: IfMatchDep, issues: IssueServiceDep) -> Response:
    """Bring an archived issue back."""
    return _tagged(await issues.set_archived(await issues.resolve(ref), False, if_match))


@router.post(
    "/api/issues/{ref}/duplicate",
    status_code=status.HTTP_201_CREATED,
    response_model=IssueRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, IssueNotFound, ValidationFailed),
)
async def duplicate_issue(ref: IssueRef, issues: IssueFastPathDep) -> Response:
    """Copy an issue into a new one of the same project."""
    created = await issues.duplicate(await issues.resolve(ref))
    response = _tagged(created, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/api/issues/{created.issue['id']}"
    return response


@router.get(
    "/api/issues/{ref}/comments",
    response_model=list[CommentItem],
    responses=errors(*IN_ORG, *PAGED, IssueNotFound, ValidationFailed),
)
async def list_comments(ref: IssueRef, listed: CommentList, issues: IssueFastPathDep) -> Response:
    """The issue's comments, oldest first."""
    return listed.respond(*listed.page_of(await issues.comments((await issues.resolve(ref))["id"])))


def _comment(comment: dict[str, Any], status_code: int = 200) -> Response:
    return _json(comment, status_code, {"ETag": comment["etag"]})


@router.post(
    "/api/issues/{ref}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentItem,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, IssueNotFound),
)
async def add_comment(ref: IssueRef, body: CommentIn, issues: IssueServiceDep) -> Response:
    """Comment on an issue (optionally replying to another comment)."""
    comment = await issues.add_comment(await issues.resolve(ref), body)
    response = _comment(comment, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/api/issues/{comment['issue_id']}/comments/{comment['id']}"
    return response


@router.get(
    "/api/issues/{ref}/comments/{comment_id}",
    response_model=CommentItem,
    responses=errors(*IN_ORG, IssueNotFound, CommentNotFound, ValidationFailed),
)
async def get_comment(ref: IssueRef, comment_id: uuid.UUID, issues: IssueServiceDep) -> Response:
    """One comment, with the ETag that an edit or delete sends as If-Match."""
    return _comment(await issues.comment((await issues.resolve(ref))["id"], comment_id))


@router.patch(
    "/api/issues/{ref}/comments/{comment_id}",
    response_model=CommentItem,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        *BODY,
        IssueNotFound,
        CommentNotFound,
        NotCommentAuthor,
        PreconditionFailed,
    ),
)
async def edit_comment(
    ref: IssueRef,
    comment_id: uuid.UUID,
    body: CommentEdit,
    if_match: IfMatchDep,
    issues: IssueServiceDep,
) -> Response:
    """Edit a comment (its author, or an admin)."""
    row = await issues.resolve(ref)
    return _comment(await issues.edit_comment(row, comment_id, body.text, if_match))


@router.delete(
    "/api/issues/{ref}/comments/{comment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        IssueNotFound,
        CommentNotFound,
        NotCommentAuthor,
        PreconditionFailed,
        ValidationFailed,
    ),
)
async def delete_comment(
    ref: IssueRef, comment_id: uuid.UUID, if_match: IfMatchDep, issues: IssueServiceDep
) -> Response:
    """Delete a comment (its author, or an admin)."""
    await issues.delete_comment(await issues.resolve(ref), comment_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/issues/{ref}/activity",
    response_model=list[ActivityRead],
    responses=errors(*IN_ORG, *PAGED, IssueNotFound, ValidationFailed),
)
async def issue_activity(ref: IssueRef, listed: ActivityList, issues: IssueServiceDep) -> Response:
    """Who changed what and when, and through which kind of credential."""
    found = [ActivityRead.model_validate(a) for a in await issues.activity_of(ref)]
    return listed.respond(*listed.page_of(found))
