"""Sprints through MCP: what is planned or running, and moving issues in and out."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from projekt.core.conditional import IfMatch
from projekt.core.schemas import InputModel, Uuid
from projekt.issues.schemas import IssueUpdate
from projekt.issues.service import IssueService
from projekt.issues.tools import Ref, issue_json
from projekt.mcp.registry import Call, Result, Tools
from projekt.sprints.models import Sprint
from projekt.sprints.schemas import SprintRead, SprintState
from projekt.sprints.service import SprintService

tools = Tools()


class SprintQuery(InputModel):
    project_id: Uuid | None = None
    state: SprintState | None = None
    limit: int = Field(default=25, ge=1, le=100)
    offset: int = Field(default=0, ge=0)


class ActiveSprints(InputModel):
    project_id: Uuid | None = None


class SprintIssue(InputModel):
    sprint_id: Uuid
    ref: str = Ref


class SprintIssueOut(InputModel):
    ref: str = Ref


def sprint_json(sprint: Sprint) -> dict[str, Any]:
    return SprintRead.model_validate(sprint).model_dump(mode="json")


async def _listing(
    call: Call, project_id: Any, state: str | None, limit: int, offset: int
) -> Result:
    sprints = SprintService(call.uow.session, call.services, call.ctx)
    found, total = await sprints.listing(project_id, state, limit, offset)
    items = [sprint_json(s) for s in found]
    lines = [
        f"{s['name']} [{s['state']}] {s['start_date']}..{s['end_date']} ({s['id']})" for s in items
    ]
    text = f"{len(items)} of {total} sprints" + (":\n" + "\n".join(lines) if lines else ".")
    return Result({"sprints": items, "total": total}, text)


@tools.tool("list_sprints", title="List sprints", route="list_sprints", input=SprintQuery,
            read_only=True)  # fmt: skip
async def list_sprints(call: Call, args: SprintQuery) -> Result:
    """List sprints of the projects you can see, newest first, optionally of one project or
    in one state (planned, active, completed)."""
    return await _listing(call, args.project_id, args.state, args.limit, args.offset)


@tools.tool("active_sprints", title="Active sprints", route="list_sprints", input=ActiveSprints,
            read_only=True)  # fmt: skip
async def active_sprints(call: Call, args: ActiveSprints) -> Result:
    """The sprints running now (state active), optionally of one project."""
    return await _listing(call, args.project_id, "active", 100, 0)


async def _set_sprint(call: Call, ref: str, sprint_id: Any) -> dict[str, Any]:
    issues = IssueService(call.uow.session, call.services, call.ctx)
    change = IssueUpdate.model_validate({"sprint_id": str(sprint_id) if sprint_id else None})
    updated, _ = await issues.update(await issues.resolve(ref), change, IfMatch())
    return issue_json(updated)


@tools.tool("add_issue_to_sprint", title="Add an issue to a sprint", route="update_issue",
            input=SprintIssue, idempotent=True)  # fmt: skip
async def add_issue_to_sprint(call: Call, args: SprintIssue) -> Result:
    """Put an issue into a sprint of its project (moving it out of any other sprint)."""
    issue = await _set_sprint(call, args.ref, args.sprint_id)
    return Result(issue, f"{issue['key']} is in sprint {issue['sprint_id']}")


@tools.tool("remove_issue_from_sprint", title="Remove an issue from its sprint",
            route="update_issue", input=SprintIssueOut, idempotent=True)  # fmt: skip
async def remove_issue_from_sprint(call: Call, args: SprintIssueOut) -> Result:
    """Take an issue out of its sprint, back to the backlog."""
    issue = await _set_sprint(call, args.ref, None)
    return Result(issue, f"{issue['key']} is in no sprint")
