"""Milestones through MCP: a project's targets and their progress."""

from __future__ import annotations

from projekt.core.schemas import InputModel, Uuid
from projekt.mcp.registry import Call, Result, Tools
from projekt.milestones.schemas import MilestoneStatus
from projekt.milestones.service import MilestoneService

tools = Tools()


class MilestoneQuery(InputModel):
    project_id: Uuid
    status: MilestoneStatus | None = None


class MilestoneRef(InputModel):
    project_id: Uuid
    milestone_id: Uuid


@tools.tool("list_milestones", title="List milestones", route="list_milestones",
            input=MilestoneQuery, read_only=True)  # fmt: skip
async def list_milestones(call: Call, args: MilestoneQuery) -> Result:
    """A project's milestones, soonest target first, each with its issue counts, progress
    (percent done) and whether it is overdue."""
    milestones = MilestoneService(call.uow.session, call.services, call.ctx)
    found = await milestones.listing(await milestones.project(args.project_id), args.status)
    items = [read.model_dump(mode="json") for read, _ in found]
    items.sort(key=lambda m: (m["target_date"] is None, m["target_date"] or ""))
    lines = [
        f"{m['name']} [{m['status']}] {m['progress']:.0f}% due {m['target_date']}" for m in items
    ]
    text = f"{len(items)} milestones" + (":\n" + "\n".join(lines) if lines else ".")
    return Result({"milestones": items}, text)


@tools.tool("get_milestone", title="Get a milestone", route="get_milestone", input=MilestoneRef,
            read_only=True)  # fmt: skip
async def get_milestone(call: Call, args: MilestoneRef) -> Result:
    """Read one milestone of a project, with its progress."""
    milestones = MilestoneService(call.uow.session, call.services, call.ctx)
    project = await milestones.project(args.project_id)
    read, _ = await milestones.get(project, args.milestone_id)
    data = read.model_dump(mode="json")
    return Result(data, f"{data['name']} [{data['status']}] {data['progress']:.0f}% done")
