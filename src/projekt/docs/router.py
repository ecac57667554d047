from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status

from projekt.core.conditional import IfMatchDep, version_etag
from projekt.core.errors import PreconditionFailed, ValidationFailed
from projekt.core.http import none_match
from projekt.core.openapi import BODY, IN_ORG, PAGED, ROLE, SESSION_WRITE, errors
from projekt.core.pagination import ListQuery, list_params
from projekt.docs.dependencies import DocFastPathDep, DocServiceDep, VersionNumber
from projekt.docs.errors import DocHasChildren, DocNotFound, DocVersionNotFound
from projekt.docs.models import Doc
from projekt.docs.schemas import (
    DocCreate,
    DocDiff,
    DocRead,
    DocRestore,
    DocSummary,
    DocUpdate,
    DocVersionRead,
    DocVersionSummary,
)
from projekt.docs.service import doc_etag, doc_json, doc_markdown, doc_read, version_read
from projekt.projects.errors import ProjectNotFound

router = APIRouter(tags=["docs"])

BASE = "/api/projects/{project_id}/docs"
ONE = BASE + "/{doc_id}"
DocList = Annotated[
    ListQuery,
    Depends(list_params("position", "title", "created_at", "updated_at", default="position")),
]
VersionList = Annotated[ListQuery, Depends(list_params("number", "created_at", default="-number"))]
MARKDOWN = "text/markdown; charset=utf-8"
WRITE_ERRORS = (*IN_ORG, *ROLE, *SESSION_WRITE, ProjectNotFound, DocNotFound, PreconditionFailed)


def _tagged(doc: Doc, status_code: int = 200) -> Response:
    body = doc_read(doc).model_dump_json().encode()
    headers = {"ETag": doc_etag(doc.id, doc.revision)}
    return Response(body, status_code, headers, media_type="application/json")


@router.get(
    BASE,
    response_model=list[DocSummary],
    responses=errors(*IN_ORG, *PAGED, ValidationFailed, ProjectNotFound),
)
async def list_docs(
    project_id: uuid.UUID,
    docs: DocFastPathDep,
    listed: DocList,
    include_archived: Annotated[bool, Query(description="Archived docs too.")] = False,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Full-text search.")
    ] = None,
) -> Response:
    """A project's docs (without their content), in tree order of position."""
    found, total = await docs.listing(project_id, listed, include_archived=include_archived, q=q)
    return listed.respond(found, total)


@router.post(
    BASE,
    status_code=status.HTTP_201_CREATED,
    response_model=DocRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, ProjectNotFound),
)
async def create_doc(project_id: uuid.UUID, body: DocCreate, docs: DocServiceDep) -> Response:
    """Write a doc (its first version), from EditorJS blocks or markdown."""
    doc = await docs.create(project_id, body)
    response = _tagged(doc, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/api/projects/{project_id}/docs/{doc.id}"
    return response


@router.get(
    ONE,
    response_model=DocRead,
    responses={
        200: {"content": {"text/markdown": {"schema": {"type": "string"}}}},
        **errors(*IN_ORG, ProjectNotFound, DocNotFound, ValidationFailed),
    },
)
async def get_doc(
    project_id: uuid.UUID,
    doc_id: uuid.UUID,
    request: Request,
    docs: DocFastPathDep,
    format: Annotated[
        Literal["json", "markdown"] | None,
        Query(description="`markdown`: the content as markdown (as `Accept: text/markdown`)."),
    ] = None,
) -> Response:
    """One doc with its content; as markdown with ?format=markdown or Accept: text/markdown."""
    accept = request.headers.get("accept", "")
    as_markdown = format == "markdown" or (format is None and "text/markdown" in accept)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match:
        # The validator is the doc's revision: a 304 reads no content.
        etag = _etag(doc_id, await docs.revision(project_id, doc_id), as_markdown)
        if none_match(if_none_match, etag):
            return Response(status_code=304, headers={"ETag": etag, "Vary": "Accept"})
    found = await docs.read(project_id, doc_id)
    headers = {"ETag": _etag(doc_id, found.revision, as_markdown), "Vary": "Accept"}
    if as_markdown:
        return Response(doc_markdown(found).encode(), 200, headers, media_type=MARKDOWN)
    return Response(doc_json(found), 200, headers, media_type="application/json")


def _etag(doc_id: uuid.UUID, revision: int, as_markdown: bool) -> str:
    if as_markdown:
        return version_etag("doc-markdown", doc_id, revision)
    return doc_etag(doc_id, revision)


async def _update(
    project_id: uuid.UUID, doc_id: uuid.UUID, body: DocUpdate, if_match: IfMatchDep,
    docs: DocServiceDep,
) -> Response:  # fmt: skip
    return _tagged(await docs.update(project_id, doc_id, body, if_match))


@router.put(ONE, response_model=DocRead, responses=errors(*WRITE_ERRORS, *BODY))
async def replace_doc(
    project_id: uuid.UUID,
    doc_id: uuid.UUID,
    body: DocUpdate,
    if_match: IfMatchDep,
    docs: DocServiceDep,
) -> Response:
    """Update a doc (PATCH semantics, as the Projekt apps send PUT)."""
    return await _update(project_id, doc_id, body, if_match, docs)


@router.patch(ONE, response_model=DocRead, responses=errors(*WRITE_ERRORS, *BODY))
async def update_doc(
    project_id: uuid.UUID,
    doc_id: uuid.UUID,
    body: DocUpdate,
    if_match: IfMatchDep,
    docs: DocServiceDep,
) -> Response:
    """Update the fields sent; a new title or content is a new version."""
    return await _update(project_id, doc_id, body, if_match, docs)


@router.delete(
    ONE,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*WRITE_ERRORS, ValidationFailed, DocHasChildren),
)
async def delete_doc(
    project_id: uuid.UUID,
    doc_id: uuid.UUID,
    if_match: IfMatchDep,
    docs: DocServiceDep,
    cascade: Annotated[bool, Query(description="Delete the doc's children too.")] = False,
) -> Response:
    """Delete a doc (409 while it has children, unless ?cascade=true)."""
    await docs.delete(project_id, doc_id, if_match, cascade=cascade)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    ONE + "/versions",
    response_model=list[DocVersionSummary],
    responses=errors(*IN_ORG, *PAGED, ValidationFailed, ProjectNotFound, DocNotFound),
)
async def list_doc_versions(
    project_id: uuid.UUID, doc_id: uuid.UUID, docs: DocServiceDep, listed: VersionList
) -> Response:
    """Every save of a doc (author, time, size), newest first."""
    found, total = await docs.versions(project_id, doc_id, listed)
    return listed.respond(found, total)


@router.get(
    ONE + "/versions/{number}",
    response_model=DocVersionRead,
    responses=errors(*IN_ORG, ValidationFailed, ProjectNotFound, DocNotFound, DocVersionNotFound),
)
async def get_doc_version(
    project_id: uuid.UUID, doc_id: uuid.UUID, number: VersionNumber, docs: DocServiceDep
) -> DocVersionRead:
    """One save of a doc, with its content as blocks and as markdown."""
    return version_read(await docs.version(project_id, doc_id, number))


@router.get(
    ONE + "/versions/{number}/diff/{other}",
    response_model=DocDiff,
    responses=errors(*IN_ORG, ValidationFailed, ProjectNotFound, DocNotFound, DocVersionNotFound),
)
async def diff_doc_versions(
    project_id: uuid.UUID,
    doc_id: uuid.UUID,
    number: VersionNumber,
    other: VersionNumber,
    docs: DocServiceDep,
) -> DocDiff:
    """A unified diff of two versions' markdown (the title as its first line)."""
    return await docs.diff(project_id, doc_id, number, other)


@router.post(
    ONE + "/restore",
    response_model=DocRead,
    responses=errors(*WRITE_ERRORS, *BODY, DocVersionNotFound),
)
async def restore_doc(
    project_id: uuid.UUID,
    doc_id: uuid.UUID,
    body: DocRestore,
    if_match: IfMatchDep,
    docs: DocServiceDep,
) -> Response:
    """Bring back an earlier version's title and content, as a new version."""
    return _tagged(await docs.restore(project_id, doc_id, body.version, if_match))
