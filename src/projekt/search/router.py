from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from projekt.core.deps import OrgDep, ServicesDep, SessionDep
from projekt.core.errors import ValidationFailed
from projekt.core.openapi import IN_ORG, PAGED, errors
from projekt.core.pagination import ListQuery, list_params
from projekt.docs.service import DocService
from projekt.issues.service import IssueService
from projekt.orgs.dependencies import SearchQuery
from projekt.orgs.service import OrgService
from projekt.projects.service import ProjectService
from projekt.search.schemas import PaletteHit

router = APIRouter(tags=["search"])

PALETTE_LIMIT = 10
# Hits come grouped by type (projects, issues, people, docs); sorting regroups them.
PaletteList = Annotated[ListQuery, Depends(list_params("type", "title", default="type"))]


@router.get(
    "/api/palette/search",
    response_model=list[PaletteHit],
    responses=errors(*IN_ORG, *PAGED, ValidationFailed),
)
async def palette_search(
    q: SearchQuery, listed: PaletteList, ctx: OrgDep, session: SessionDep, services: ServicesDep
) -> Response:
    """Command-palette search over projects, issues (by key or title), people and docs."""
    projects = await ProjectService(session, services).visible(
        ctx.org_id, ctx.user_id, q, PALETTE_LIMIT
    )
    issues = await IssueService(session, services, ctx).search(q, PALETTE_LIMIT)
    people = await OrgService(session, services).search_people(ctx, q)
    docs = await DocService(session, services, ctx).search(q, PALETTE_LIMIT)
    hits = [
        PaletteHit(type="project", id=p.id, title=p.name, subtitle=p.description, key=p.key)
        for p in projects
    ]
    hits += [
        PaletteHit(type="issue", id=i["id"], title=i["title"], subtitle=i["status"], key=i["key"])
        for i in issues
    ]
    hits += [
        PaletteHit(type="person", id=p.user_id, title=p.name, subtitle=p.email)
        for p in people[:PALETTE_LIMIT]
    ]
    hits += [PaletteHit(type="doc", id=d.id, title=d.title, subtitle=d.project_name) for d in docs]
    return listed.respond(*listed.page_of(hits))
