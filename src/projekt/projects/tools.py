"""Projects through MCP: reading them (their keys and columns are what issue tools need)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from projekt.core.schemas import InputModel, Uuid
from projekt.mcp.registry import Call, Result, Tools
from projekt.projects.models import Project
from projekt.projects.schemas import ProjectStatus
from projekt.projects.service import ProjectService, project_read

tools = Tools()


class ProjectQuery(InputModel):
    q: str | None = Field(default=None, max_length=100, description="Part of a name or key.")
    status: ProjectStatus | None = None
    limit: int = Field(default=50, ge=1, le=100)
    offset: int = Field(default=0, ge=0)


class ProjectRef(InputModel):
    project_id: Uuid


def project_json(project: Project) -> dict[str, Any]:
    return project_read(project).model_dump(mode="json")


@tools.tool("list_projects", title="List projects", route="list_projects", input=ProjectQuery,
            read_only=True)  # fmt: skip
async def list_projects(call: Call, args: ProjectQuery) -> Result:
    """List the org's projects you can see, by name: id, key (the prefix of issue keys),
    name, status and columns (the statuses an issue can have)."""
    found, total = await ProjectService(call.uow.session, call.services).listing(
        call.ctx,
        q=args.q,
        status=args.status,
        order=[Project.name.asc()],
        limit=args.limit,
        offset=args.offset,
    )
    projects = [project_json(p) for p in found]
    lines = [f"{p['key']} {p['name']} ({p['id']})" for p in projects]
    text = f"{len(projects)} of {total} projects" + (":\n" + "\n".join(lines) if lines else ".")
    return Result({"projects": projects, "total": total}, text)


@tools.tool("get_project", title="Get a project", route="get_project", input=ProjectRef,
            read_only=True)  # fmt: skip
async def get_project(call: Call, args: ProjectRef) -> Result:
    """Read one project by id: its key, description, visibility, lead and columns."""
    project = project_json(
        await ProjectService(call.uow.session, call.services).get_visible(call.ctx, args.project_id)
    )
    return Result(project, f"{project['key']} {project['name']}")
